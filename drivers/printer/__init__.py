"""Receipt printer port (``base``), python-escpos connections and a simulating mock.

``make_printer`` builds the printer named in config; ``make_profile`` turns the config's paper
width and firmware facts into a ``PrinterProfile``. Nothing here opens a device until the first
``status()`` or ``print_job()``.
"""

from __future__ import annotations

from appliance.errors import ConfigError
from drivers.printer.base import PrinterProfile, PrinterStatus, ReceiptPrinter

__all__ = [
    "BACKENDS",
    "PrinterProfile",
    "PrinterStatus",
    "ReceiptPrinter",
    "make_printer",
    "make_profile",
]

BACKENDS = ("usb", "serial", "network", "file", "mock")

#: Seconds to wait for a network/serial printer before calling it offline.
DEFAULT_TIMEOUT = 3.0


def make_profile(
    width_mm: int = 58, *, chinese: str = "fs", cutter: bool = False, drawer: bool = False
) -> PrinterProfile:
    """Profile for 58 mm (32 columns, 384 dots) or 80 mm (48 columns, 576 dots) paper."""
    if width_mm == 58:
        columns, dots = 32, 384
    elif width_mm == 80:
        columns, dots = 48, 576
    else:
        raise ConfigError(f"printer width_mm must be 58 or 80, not {width_mm}")
    if chinese not in ("fs", "image"):
        raise ConfigError(f'printer chinese must be "fs" or "image", not {chinese!r}')
    return PrinterProfile(
        columns=columns,  # type: ignore[arg-type]
        width_mm=width_mm,  # type: ignore[arg-type]
        dots=dots,
        chinese=chinese,  # type: ignore[arg-type]
        cutter=cutter,
        drawer=drawer,
    )


def make_printer(
    backend: str,
    *,
    profile: PrinterProfile,
    usb_vendor: int | None = None,
    usb_product: int | None = None,
    serial_device: str = "",
    baudrate: int = 9600,
    host: str = "",
    port: int = 9100,
    path: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    rate: float | None = None,
    margin: float | None = None,
) -> ReceiptPrinter:
    """The printer for ``backend`` ("usb", "serial", "network", "file" or "mock").

    An unknown backend or a missing setting is a ConfigError; this never substitutes the mock.
    The device is not opened here: an absent printer shows as OFFLINE and recovers by itself.
    ``rate`` (slowest bytes/s the printer takes) and ``margin`` (seconds) bound the wait for a
    job to drain; a serial line is never assumed faster than its baud rate allows.
    """
    from drivers.printer.escpos_printer import (
        DEFAULT_MARGIN,
        DEFAULT_RATE,
        EscposPrinter,
        ExistingFile,
    )

    drain = {"rate": rate or DEFAULT_RATE, "margin": margin or DEFAULT_MARGIN}

    if backend == "usb":
        if not usb_vendor or not usb_product:
            raise ConfigError("printer backend usb needs usb_vendor and usb_product (hex ids)")
        _require("usb", "pyusb")
        from escpos.printer import Usb

        from drivers.printer.escpos_printer import WRITE_TIMEOUT

        vendor, product = usb_vendor, usb_product
        return EscposPrinter(
            # Usb's timeout (ms) bounds writes only; 0 would block forever on a stalled printer
            lambda: Usb(vendor, product, timeout=int(WRITE_TIMEOUT * 1000)),
            profile=profile,
            device=f"USB printer {vendor:04x}:{product:04x}",
            **drain,
            hint="check the USB cable and the printer's power, and that the udev rule "
            "gives countertop access to the device (see docs/printer.md)",
        )
    if backend == "serial":
        if not serial_device:
            raise ConfigError("printer backend serial needs serial_device (e.g. /dev/ttyUSB0)")
        _require("serial", "pyserial")
        from drivers.printer.escpos_printer import PromptSerial

        dev, baud = serial_device, baudrate
        return EscposPrinter(
            lambda: PromptSerial(dev, baudrate=baud, timeout=timeout),
            profile=profile,
            device=f"serial printer {dev}",
            rate=min(drain["rate"], baud / 10),  # 8N1: ten bits a byte
            margin=drain["margin"],
            hint=f"check the cable, the printer's power and that it is set to {baud} baud",
        )
    if backend == "network":
        if not host:
            raise ConfigError("printer backend network needs host")
        from drivers.printer.escpos_printer import PatientNetwork

        addr, tcp_port = host, port
        return EscposPrinter(
            lambda: PatientNetwork(addr, tcp_port, timeout=timeout),
            profile=profile,
            device=f"network printer {addr}:{tcp_port}",
            **drain,
            hint="check the printer's power and network cable and that its IP address "
            "matches the config (print its self-test page to see it)",
        )
    if backend == "file":
        if not path:
            raise ConfigError("printer backend file needs path (e.g. /dev/usb/lp0)")
        devfile = path
        return EscposPrinter(
            lambda: ExistingFile(devfile),
            profile=profile,
            device=f"printer {devfile}",
            **drain,
            hint="check the USB cable and the printer's power "
            f"({devfile} exists only while the printer is on) and its permissions",
        )
    if backend == "mock":
        from drivers.printer.mock import MockPrinter

        return MockPrinter(profile)
    raise ConfigError(f"unknown printer backend {backend!r}: expected one of {', '.join(BACKENDS)}")


def _require(module: str, package: str) -> None:
    """ConfigError naming ``package`` when the connection's library is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"this printer connection needs the {package} package: "
            f"pip install {package} (python-escpos[usb,serial])"
        )
