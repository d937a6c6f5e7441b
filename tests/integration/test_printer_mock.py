"""The mock printer's own helpers: jobs, rendering, failures at any point."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from appliance.errors import PrinterError
from drivers.printer import make_profile
from drivers.printer.base import PrinterStatus
from drivers.printer.mock import MockPrinter

FS_ON, FS_OFF = b"\x1c&", b"\x1c."


def test_completed_jobs_are_recorded_with_their_ids() -> None:
    printer = MockPrinter()
    printer.print_job("a", b"one\n")
    printer.print_job("b", b"two\n")
    assert printer.jobs == [("a", b"one\n"), ("b", b"two\n")]
    assert printer.texts() == ["one\n", "two\n"]
    assert printer.text() == "two\n"


def test_a_failed_job_is_not_recorded_but_its_printed_part_is_received() -> None:
    printer = MockPrinter()
    printer.fail_after_bytes(3)
    with pytest.raises(PrinterError) as caught:
        printer.print_job("a", b"abcdef\n")
    assert caught.value.status is PrinterStatus.PAPER_OUT
    assert printer.jobs == []
    assert printer.received == b"abc"
    assert printer.status() is PrinterStatus.PAPER_OUT


@pytest.mark.parametrize("then", [PrinterStatus.COVER_OPEN, PrinterStatus.OFFLINE])
def test_a_job_can_stop_part_way_for_any_reason(then: PrinterStatus) -> None:
    printer = MockPrinter()
    printer.fail_after_bytes(2, then=then)
    with pytest.raises(PrinterError) as caught:
        printer.print_job("a", b"abcdef\n")
    assert caught.value.status is then
    assert printer.status() is then
    printer.restore()
    printer.print_job("a", b"abcdef\n")
    assert printer.received == b"ab" + b"abcdef\n"


def test_a_failure_can_land_in_a_later_write_of_the_same_job() -> None:
    printer = MockPrinter()
    printer.print_job("a", b"12345")
    printer.fail_after_bytes(7)
    printer.print_job("b", b"67890")
    with pytest.raises(PrinterError):
        printer.print_job("c", b"abcdef")
    assert printer.received == b"1234567890ab"


def test_failing_into_a_printable_state_is_refused() -> None:
    with pytest.raises(ValueError):
        MockPrinter().fail_after_bytes(1, then=PrinterStatus.PAPER_LOW)


def test_text_uses_the_profile_width_for_alignment() -> None:
    printer = MockPrinter(make_profile(80))
    printer.print_job("a", b"\x1ba\x01" + b"ab\n")
    assert printer.text() == " " * 23 + "ab\n"


def test_png_of_the_last_job(tmp_path: Path) -> None:
    printer = MockPrinter(make_profile(58))
    with pytest.raises(ValueError):
        printer.png(tmp_path / "none.png")
    printer.print_job("a", b"hello\n")
    img = printer.png(tmp_path / "a.png")
    assert img.width == 384 and (tmp_path / "a.png").exists()


def test_chinese_in_firmware_mode_reads_back() -> None:
    printer = MockPrinter()
    printer.print_job("a", FS_ON + "商户存根\n".encode("gb18030") + FS_OFF)
    assert printer.text() == "商户存根\n"


def test_status_does_not_wait_for_a_long_job_being_sent_and_says_busy() -> None:
    printer = MockPrinter()
    assert printer.status() is PrinterStatus.ONLINE
    printer.sim.gate = threading.Event()
    job = threading.Thread(target=printer.print_job, args=("long", b"x" * 1000))
    job.start()
    try:
        assert printer.sim.writing.wait(5)
        # The job holds the connection; status answers at once: busy, not offline.
        assert printer.status() is PrinterStatus.BUSY
        printer.paper_low()
        assert printer.status() is PrinterStatus.BUSY
    finally:
        printer.sim.gate.set()
        job.join(5)
    assert printer.status() is PrinterStatus.PAPER_LOW
    assert printer.jobs == [("long", b"x" * 1000)]
