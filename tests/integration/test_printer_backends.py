"""Each configured connection: file, serial (over a pty), USB (absent here), network, mock."""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.errors import ConfigError, PrinterError
from appliance.sim.printer_net import FakeNetworkPrinter
from drivers.printer import make_printer, make_profile
from drivers.printer.base import PrinterStatus
from drivers.printer.escpos_printer import PatientNetwork, decode_status
from drivers.printer.mock import MockPrinter

PROFILE = make_profile(58)


@pytest.mark.parametrize(
    ("backend", "settings", "words"),
    [
        ("cups", {}, "unknown printer backend 'cups'"),
        ("", {}, "unknown printer backend"),
        ("usb", {"usb_vendor": 0x0416}, "usb_vendor and usb_product"),
        ("serial", {}, "serial_device"),
        ("network", {}, "host"),
        ("file", {}, "path"),
    ],
)
def test_a_bad_printer_config_is_a_config_error_never_the_mock(
    backend: str, settings: dict, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        make_printer(backend, profile=PROFILE, **settings)


def test_mock_is_chosen_only_by_name() -> None:
    assert isinstance(make_printer("mock", profile=PROFILE), MockPrinter)


@pytest.mark.parametrize(("width", "columns", "dots"), [(58, 32, 384), (80, 48, 576)])
def test_paper_width_sets_columns_and_dots(width: int, columns: int, dots: int) -> None:
    profile = make_profile(width, chinese="image", cutter=True)
    assert (profile.columns, profile.dots, profile.chinese, profile.cutter) == (
        columns,
        dots,
        "image",
        True,
    )


@pytest.mark.parametrize(("width", "chinese"), [(57, "fs"), (58, "gbk")])
def test_an_impossible_profile_is_refused(width: int, chinese: str) -> None:
    with pytest.raises(ConfigError):
        make_profile(width, chinese=chinese)


def test_file_printer_writes_the_job_to_the_device(tmp_path: Path) -> None:
    lp = tmp_path / "lp0"
    lp.touch()
    printer = make_printer("file", profile=PROFILE, path=str(lp))
    assert printer.status() is PrinterStatus.ONLINE  # write-only: it opened, that is all
    printer.print_job("j1", b"\x1b@hello\n")
    printer.close()
    assert lp.read_bytes() == b"\x1b@hello\n"


def test_file_printer_that_is_switched_off_is_offline_and_recovers(tmp_path: Path) -> None:
    lp = tmp_path / "lp0"
    printer = make_printer("file", profile=PROFILE, path=str(lp))
    assert printer.status() is PrinterStatus.OFFLINE
    with pytest.raises(PrinterError, match=str(lp)) as caught:
        printer.print_job("j1", b"x")
    assert caught.value.status is PrinterStatus.OFFLINE
    assert not lp.exists(), "a missing device node must not be created as a plain file"
    lp.touch()  # printer switched on: the kernel creates the node again
    printer.print_job("j1", b"x")
    printer.close()
    assert lp.read_bytes() == b"x"


def test_usb_printer_that_is_not_there_is_offline_with_what_to_check() -> None:
    printer = make_printer("usb", profile=PROFILE, usb_vendor=0x0416, usb_product=0x5011)
    assert printer.status() is PrinterStatus.OFFLINE
    with pytest.raises(PrinterError, match=r"USB printer 0416:5011.*udev") as caught:
        printer.print_job("j1", b"x")
    assert caught.value.status is PrinterStatus.OFFLINE


@pytest.fixture
def pty_printer() -> Iterator[tuple[str, bytearray, dict[str, int]]]:
    """A serial printer on a pseudo-terminal: answers DLE EOT with the bytes in ``replies``."""
    master, slave = os.openpty()
    received = bytearray()
    replies = {1: 0x12, 2: 0x12, 4: 0x12}
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            data = os.read(master, 4096)
            while b"\x10\x04" in data:
                before, _, rest = data.partition(b"\x10\x04")
                received.extend(before)
                os.write(master, bytes((replies[rest[0]],)))
                data = rest[1:]
            received.extend(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield os.ttyname(slave), received, replies
    stop.set()
    thread.join(timeout=5)
    os.close(slave)
    os.close(master)


def test_serial_printer_reports_paper_from_real_status_queries(
    pty_printer: tuple[str, bytearray, dict[str, int]],
) -> None:
    device, received, replies = pty_printer
    printer = make_printer(
        "serial", profile=PROFILE, serial_device=device, baudrate=19200, timeout=1
    )
    assert printer.status() is PrinterStatus.ONLINE
    printer.print_job("j1", b"serial ok\n")
    replies[4] = 0x1E  # near-end sensor
    assert printer.status() is PrinterStatus.PAPER_LOW
    replies.update({1: 0x1A, 2: 0x32, 4: 0x7E})
    with pytest.raises(PrinterError) as caught:
        printer.print_job("j2", b"no paper\n")
    assert caught.value.status is PrinterStatus.PAPER_OUT
    printer.close()
    assert bytes(received) == b"serial ok\n"


def test_serial_device_that_does_not_exist_is_offline(tmp_path: Path) -> None:
    printer = make_printer("serial", profile=PROFILE, serial_device=str(tmp_path / "ttyUSB9"))
    assert printer.status() is PrinterStatus.OFFLINE


def test_network_printer_that_never_answers_status_is_offline() -> None:
    with FakeNetworkPrinter() as server:
        server.answer = False
        printer = make_printer(
            "network", profile=PROFILE, host=server.host, port=server.port, timeout=0.2
        )
        assert printer.status() is PrinterStatus.OFFLINE
        server.answer = True
        assert printer.status() is PrinterStatus.ONLINE
        printer.close()


def test_network_printer_offline_for_another_reason_is_offline() -> None:
    with FakeNetworkPrinter() as server:
        server.status = PrinterStatus.OFFLINE
        printer = make_printer("network", profile=PROFILE, host=server.host, port=server.port)
        assert printer.status() is PrinterStatus.OFFLINE
        with pytest.raises(PrinterError, match=f"network printer 127.0.0.1:{server.port}"):
            printer.print_job("j1", b"x")
        printer.close()
        assert server.received == b""


@pytest.mark.parametrize(
    ("printer", "cause", "paper", "expected"),
    [
        (0x12, None, 0x12, PrinterStatus.ONLINE),
        (0x12, None, 0x1E, PrinterStatus.PAPER_LOW),
        (0x12, None, 0x7E, PrinterStatus.PAPER_OUT),  # sensor says out before the printer stops
        (0x1A, 0x32, 0x7E, PrinterStatus.PAPER_OUT),
        (0x1A, 0x36, 0x7E, PrinterStatus.COVER_OPEN),  # cover open wins: close it first
        (0x1A, 0x52, 0x12, PrinterStatus.OFFLINE),
        (0x1A, None, None, PrinterStatus.OFFLINE),
        (0x12, None, None, PrinterStatus.ONLINE),
    ],
)
def test_dle_eot_replies_decode_to_one_status(
    printer: int, cause: int | None, paper: int | None, expected: PrinterStatus
) -> None:
    assert decode_status(printer, cause, paper) is expected


def test_a_long_job_to_a_busy_network_printer_outlasts_the_status_timeout() -> None:
    job = bytes(range(256)).replace(b"\x10", b"\x11") * 40_000  # ~10 MB: more than socket buffers
    with FakeNetworkPrinter() as server:
        conn = PatientNetwork(server.host, server.port, timeout=0.2)
        conn.open()
        # Nagle off: a status query right after a job must not wait for a delayed ACK.
        assert conn.device.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        server.stall()
        # The printer takes data again well after the 0.2 s status timeout has passed.
        timer = threading.Timer(0.6, server.resume)
        timer.start()
        try:
            conn._raw(job)
        finally:
            timer.cancel()
            server.resume()
        conn._raw(b"\x10\x04\x01")
        assert conn._read() == b"\x12"  # the short timeout is back for status
        conn.close()
        assert server.received == job
