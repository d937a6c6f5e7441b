"""A real printer and real GPIO on a Raspberry Pi (skipped elsewhere, with the reason).

Enable with ``COUNTERTOP_HARDWARE=1`` and describe the printer as for ``countertop printer``:
``COUNTERTOP_PRINTER="usb 0416 5011"``, ``"serial /dev/ttyUSB0 9600"``,
``"network 192.168.1.100 9100"`` or ``"file /dev/usb/lp0"``. The printer must have paper.
"""

from __future__ import annotations

import os

import pytest

from drivers.printer import make_printer, make_profile
from drivers.printer.base import PrinterStatus, ReceiptPrinter
from drivers.printer.testpage import build_test_page

pytestmark = pytest.mark.hardware

ENABLED = os.environ.get("COUNTERTOP_HARDWARE") == "1"


def _printer_from_env() -> ReceiptPrinter:
    if not ENABLED:
        pytest.skip("real hardware: set COUNTERTOP_HARDWARE=1 on a Raspberry Pi")
    spec = os.environ.get("COUNTERTOP_PRINTER", "").split()
    if not spec:
        pytest.skip('set COUNTERTOP_PRINTER, e.g. "usb 0416 5011"')
    backend, args = spec[0], spec[1:]
    profile = make_profile(int(os.environ.get("COUNTERTOP_PRINTER_WIDTH", "58")))
    if backend == "usb":
        return make_printer(
            "usb", profile=profile, usb_vendor=int(args[0], 16), usb_product=int(args[1], 16)
        )
    if backend == "serial":
        return make_printer("serial", profile=profile, serial_device=args[0], baudrate=int(args[1]))
    if backend == "network":
        return make_printer("network", profile=profile, host=args[0], port=int(args[1]))
    return make_printer(backend, profile=profile, path=args[0])


def test_a_real_printer_reports_a_printable_status_and_prints_the_test_page() -> None:
    printer = _printer_from_env()
    status = printer.status()
    assert status in (PrinterStatus.ONLINE, PrinterStatus.PAPER_LOW), status
    printer.print_job("hardware-test", build_test_page(printer.profile))
    printer.close()


def test_real_gpio_indicators_run_through_every_state() -> None:
    if not ENABLED:
        pytest.skip("real hardware: set COUNTERTOP_HARDWARE=1 on a Raspberry Pi")
    from drivers.indicators import make_indicators
    from drivers.indicators.base import IndicatorState

    ind = make_indicators("gpio", led_pins=[5, 6, 13, 19], buzzer_pin=12)
    for state in IndicatorState:
        ind.show(state)
    ind.close()
