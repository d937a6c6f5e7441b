"""Barcode / QR scanner port (``base``): evdev keyboard wedge, serial, a simulating mock, none.

``make_scanner`` builds the backend named in config. Nothing is opened here: the real
adapters open their device on the first ``status()`` or ``read_code()``.
"""

from __future__ import annotations

import importlib.util

from appliance.errors import ConfigError
from drivers.scanner.base import BarcodeScanner, ScannedCode, ScannerStatus, mask_code

__all__ = [
    "BACKENDS",
    "BarcodeScanner",
    "ScannedCode",
    "ScannerStatus",
    "make_scanner",
    "mask_code",
]

BACKENDS = ("evdev", "serial", "mock", "none")


def make_scanner(
    backend: str,
    *,
    device: str = "",
    baudrate: int = 9600,
    mock_code: str | None = None,
) -> BarcodeScanner:
    """The scanner for ``backend``: "evdev", "serial", "mock" or "none".

    An unknown backend, a missing device path or a missing library is a ConfigError; this
    never substitutes the mock.
    """
    if backend == "evdev":
        if not device:
            raise ConfigError(
                "scanner backend evdev needs device (e.g. /dev/input/by-id/usb-…-event-kbd)"
            )
        _require("evdev", "evdev")
        from drivers.scanner.evdev_scanner import EvdevScanner

        return EvdevScanner(device)
    if backend == "serial":
        if not device:
            raise ConfigError("scanner backend serial needs device (e.g. /dev/ttyACM0)")
        _require("serial", "pyserial")
        from drivers.scanner.serial_scanner import SerialScanner

        return SerialScanner(device, baudrate=baudrate)
    if backend == "mock":
        from drivers.scanner.mock import MockScanner

        return MockScanner(mock_code)
    if backend == "none":
        from drivers.scanner.mock import NoScanner

        return NoScanner()
    raise ConfigError(f"unknown scanner backend {backend!r}: expected one of {', '.join(BACKENDS)}")


def _require(module: str, package: str) -> None:
    """ConfigError naming ``package`` when the backend's library is not installed."""
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"this scanner backend needs the {package} package: pip install {package}"
        )
