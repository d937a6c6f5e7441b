"""One contract for every ReceiptPrinter that can run here: the mock and a network printer.

The network printer is the real python-escpos ``Network`` connection talking to a local TCP
server that plays the printer (``appliance.sim.printer_net``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from appliance.errors import PrinterError
from appliance.sim.printer_net import FakeNetworkPrinter
from drivers.printer import make_printer, make_profile
from drivers.printer.base import PrinterStatus, ReceiptPrinter
from drivers.printer.mock import MockPrinter

JOB = b"\x1b@" + b"".join(b"line %03d of the receipt\n" % i for i in range(200)) + b"\x1dV\x00"


@dataclass
class Rig:
    """A printer under test plus the hands that pull its cable and open its cover."""

    printer: ReceiptPrinter
    set_status: Callable[[PrinterStatus], None]
    unplug: Callable[[], None]
    restore: Callable[[], None]
    fail_after_bytes: Callable[[int], None]
    received: Callable[[], bytes]


def _mock_rig() -> Iterator[Rig]:
    printer = MockPrinter(make_profile(58))

    def set_status(status: PrinterStatus) -> None:
        {
            PrinterStatus.PAPER_LOW: printer.paper_low,
            PrinterStatus.PAPER_OUT: printer.paper_out,
            PrinterStatus.COVER_OPEN: printer.cover_open,
        }[status]()

    yield Rig(
        printer,
        set_status,
        printer.unplug,
        printer.restore,
        printer.fail_after_bytes,
        lambda: printer.received,
    )


def _network_rig() -> Iterator[Rig]:
    with FakeNetworkPrinter() as server:
        printer = make_printer(
            "network", profile=make_profile(80), host=server.host, port=server.port, timeout=2
        )

        def set_status(status: PrinterStatus) -> None:
            server.status = status

        yield Rig(
            printer,
            set_status,
            server.unplug,
            server.restore,
            server.close_after_bytes,
            lambda: server.received,
        )
        printer.close()


@pytest.fixture(params=["mock", "network"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    yield from {"mock": _mock_rig, "network": _network_rig}[request.param]()


def test_a_fresh_printer_is_online(rig: Rig) -> None:
    assert rig.printer.status() is PrinterStatus.ONLINE


def test_a_job_arrives_byte_for_byte(rig: Rig) -> None:
    rig.printer.print_job("job-1", JOB)
    assert rig.received() == JOB


def test_two_jobs_arrive_in_order(rig: Rig) -> None:
    rig.printer.print_job("job-1", b"first\n")
    rig.printer.print_job("job-2", b"second\n")
    assert rig.received() == b"first\nsecond\n"


def test_paper_low_is_reported_and_still_prints(rig: Rig) -> None:
    rig.set_status(PrinterStatus.PAPER_LOW)
    assert rig.printer.status() is PrinterStatus.PAPER_LOW
    rig.printer.print_job("job-1", b"still printing\n")
    assert rig.received() == b"still printing\n"


@pytest.mark.parametrize("status", [PrinterStatus.PAPER_OUT, PrinterStatus.COVER_OPEN])
def test_a_printer_that_cannot_print_refuses_the_job_and_says_why(
    rig: Rig, status: PrinterStatus
) -> None:
    rig.set_status(status)
    assert rig.printer.status() is status
    with pytest.raises(PrinterError) as caught:
        rig.printer.print_job("job-7", JOB)
    assert caught.value.status is status
    assert "job-7" in str(caught.value)
    assert rig.received() == b""


def test_an_unplugged_printer_is_offline_and_names_itself(rig: Rig) -> None:
    rig.printer.print_job("job-1", b"before\n")
    rig.unplug()
    assert rig.printer.status() is PrinterStatus.OFFLINE
    with pytest.raises(PrinterError) as caught:
        rig.printer.print_job("job-2", b"while unplugged\n")
    assert caught.value.status is PrinterStatus.OFFLINE
    assert "printer" in str(caught.value) and "check" in str(caught.value)


def test_a_printer_that_comes_back_is_used_again_without_restart(rig: Rig) -> None:
    rig.unplug()
    assert rig.printer.status() is PrinterStatus.OFFLINE
    rig.restore()
    assert rig.printer.status() is PrinterStatus.ONLINE
    rig.printer.print_job("job-3", b"after\n")
    assert rig.received().endswith(b"after\n")


def test_a_job_cut_short_raises_and_only_a_prefix_reached_the_paper(rig: Rig) -> None:
    rig.fail_after_bytes(1000)
    with pytest.raises(PrinterError) as caught:
        rig.printer.print_job("job-9", JOB)
    assert caught.value.status in (PrinterStatus.PAPER_OUT, PrinterStatus.OFFLINE)
    partial = rig.received()
    assert len(partial) == 1000 and JOB.startswith(partial)


def test_a_job_cut_short_can_be_printed_whole_after_recovery(rig: Rig) -> None:
    rig.fail_after_bytes(10)
    with pytest.raises(PrinterError):
        rig.printer.print_job("job-9", JOB)
    rig.restore()
    rig.printer.print_job("job-9", JOB)
    assert rig.received() == JOB[:10] + JOB


def test_status_never_raises_whatever_the_printer_does(rig: Rig) -> None:
    for change in (rig.unplug, rig.restore, rig.unplug, rig.unplug, rig.restore):
        change()
        assert isinstance(rig.printer.status(), PrinterStatus)
    rig.printer.close()
    assert rig.printer.status() is PrinterStatus.ONLINE
