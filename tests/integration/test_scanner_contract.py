"""One contract for every BarcodeScanner that can run here.

- ``mock``: the simulating scanner.
- ``serial``: the real pyserial adapter on the slave side of a pty pair; the test writes to the
  master as the scanner would down its cable. The adapter opens a symlink to the slave (as
  udev's /dev/serial/by-id links), so "replugging" is a new pty pair behind the same name.
- ``evdev``: the real evdev adapter on a uinput virtual keyboard that types like a wedge
  scanner; skipped (with the reason) where the kernel offers no /dev/uinput.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.errors import ScanCancelled, ScanError, ScannerOffline, ScanTimeout
from drivers.scanner import make_scanner
from drivers.scanner.base import MAX_CODE_LENGTH, BarcodeScanner, ScannedCode, ScannerStatus
from drivers.scanner.keymap import key_events
from drivers.scanner.mock import MockScanner

WALLET_CODE = "134567890123456789"  # 18 digits, shaped like a wallet's 付款码
QR_URL = "https://qr.95516.com/00010000/01234567890123456789ABCdef?x=1&y=_~"
WAIT = 5.0  # seconds a read may take before the test calls the adapter broken


@dataclass
class Rig:
    """A scanner under test and the hands that scan into it and pull its cable."""

    scanner: BarcodeScanner
    scan: Callable[[str], None]  # what the scanner sends for one code (with its terminator)
    unplug: Callable[[], None]
    plug: Callable[[], None]
    send_raw: Callable[[str], None] | None = None  # characters without the terminator


def _mock_rig(tmp_path: Path) -> Iterator[Rig]:
    scanner = MockScanner()

    def scan(code: str) -> None:
        scanner.scan(code)

    yield Rig(scanner, scan, scanner.unplug, scanner.plug)


def _serial_rig(tmp_path: Path) -> Iterator[Rig]:
    link = tmp_path / "ttyScanner"
    fds: dict[str, int] = {}

    def plug() -> None:
        master, slave = os.openpty()
        fds.update(master=master, slave=slave)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.ttyname(slave))

    def unplug() -> None:
        for name in ("master", "slave"):
            fd = fds.pop(name, None)
            if fd is not None:
                os.close(fd)
        link.unlink()

    def send_raw(text: str) -> None:
        os.write(fds["master"], text.encode())

    plug()
    scanner = make_scanner("serial", device=str(link), baudrate=9600)
    yield Rig(scanner, lambda code: send_raw(code + "\r\n"), unplug, plug, send_raw)
    scanner.close()
    unplug() if fds else None


def _uinput_or_skip() -> None:
    if not os.path.exists("/dev/uinput"):
        pytest.skip(
            "evdev contract needs /dev/uinput (a virtual keyboard), which this kernel does not "
            "offer (no uinput in /proc/misc; try `modprobe uinput` as root on a Pi)"
        )
    if not os.access("/dev/uinput", os.W_OK):
        pytest.skip("evdev contract needs write access to /dev/uinput (run as root)")


def _evdev_rig(tmp_path: Path) -> Iterator[Rig]:
    _uinput_or_skip()
    evdev = pytest.importorskip("evdev", reason="evdev contract needs the python evdev package")
    from drivers.scanner.keymap import KEY_ENTER, KEY_LEFTSHIFT, KEYMAP

    link = tmp_path / "scanner-event-kbd"
    state: dict[str, object] = {}

    def plug() -> None:
        keys = [*KEYMAP, KEY_ENTER, KEY_LEFTSHIFT]
        ui = evdev.UInput({evdev.ecodes.EV_KEY: keys}, name="countertop test scanner")
        state["ui"] = ui
        if link.is_symlink():
            link.unlink()
        link.symlink_to(ui.device.path)

    def unplug() -> None:
        ui = state.pop("ui", None)
        if ui is not None:
            ui.close()  # type: ignore[attr-defined]

    def send_raw(text: str) -> None:
        ui = state["ui"]
        for ev_type, code, value in key_events(text)[:-2]:
            ui.write(ev_type, code, value)  # type: ignore[attr-defined]
        ui.syn()  # type: ignore[attr-defined]

    def scan(code: str) -> None:
        ui = state["ui"]
        for ev_type, code_, value in key_events(code):
            ui.write(ev_type, code_, value)  # type: ignore[attr-defined]
            ui.syn()  # type: ignore[attr-defined]

    plug()
    scanner = make_scanner("evdev", device=str(link))
    yield Rig(scanner, scan, unplug, plug, send_raw)
    scanner.close()
    unplug()


@pytest.fixture(params=["mock", "serial", "evdev"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    yield from {"mock": _mock_rig, "serial": _serial_rig, "evdev": _evdev_rig}[request.param](
        tmp_path
    )


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as executor:
        yield executor


def _reading(
    rig: Rig, pool: ThreadPoolExecutor, *, timeout: float = WAIT, cancel=None
) -> Future[ScannedCode]:
    """Start a read on a worker thread and return once it listens."""
    future = pool.submit(rig.scanner.read_code, timeout, cancel)
    assert rig.scanner.waiting.wait(WAIT), "the read never started listening"
    return future


def test_a_fresh_scanner_is_ready(rig: Rig) -> None:
    assert rig.scanner.status() is ScannerStatus.READY


@pytest.mark.parametrize("code", [WALLET_CODE, QR_URL])
def test_a_code_scanned_while_reading_comes_back_exactly(
    rig: Rig, pool: ThreadPoolExecutor, code: str
) -> None:
    rig.scanner.status()
    future = _reading(rig, pool)
    rig.scan(code)
    got = future.result(WAIT)
    assert got.value == code
    assert not rig.scanner.waiting.is_set()


def test_a_code_scanned_before_the_read_never_pays_later(
    rig: Rig, pool: ThreadPoolExecutor
) -> None:
    rig.scanner.status()
    rig.scan("999999999999999999")  # shown to the scanner before any prompt
    future = _reading(rig, pool)
    rig.scan(WALLET_CODE)
    assert future.result(WAIT).value == WALLET_CODE


def test_no_code_in_time_is_a_scan_timeout(rig: Rig) -> None:
    with pytest.raises(ScanTimeout) as err:
        rig.scanner.read_code(0.2)
    assert err.value.code == "scan.timeout"


def test_cancel_ends_a_waiting_read(rig: Rig, pool: ThreadPoolExecutor) -> None:
    cancel = threading.Event()
    future = _reading(rig, pool, cancel=cancel)
    cancel.set()
    with pytest.raises(ScanCancelled):
        future.result(WAIT)


def test_unplugging_during_a_read_says_which_scanner_and_what_to_do(
    rig: Rig, pool: ThreadPoolExecutor
) -> None:
    future = _reading(rig, pool)
    rig.unplug()
    with pytest.raises(ScannerOffline) as err:
        future.result(WAIT)
    message = str(err.value)
    assert "scanner" in message and "plug" in message
    assert err.value.code == "scan.offline"
    assert rig.scanner.status() is ScannerStatus.OFFLINE


def test_an_unplugged_scanner_refuses_reads_and_recovers_when_plugged_back(
    rig: Rig, pool: ThreadPoolExecutor
) -> None:
    assert rig.scanner.status() is ScannerStatus.READY
    rig.unplug()
    assert rig.scanner.status() is ScannerStatus.OFFLINE
    with pytest.raises(ScannerOffline):
        rig.scanner.read_code(0.5)
    rig.plug()
    assert rig.scanner.status() is ScannerStatus.READY
    future = _reading(rig, pool)
    rig.scan(WALLET_CODE)
    assert future.result(WAIT).value == WALLET_CODE


def test_a_code_too_long_is_an_error_and_the_next_scan_works(
    rig: Rig, pool: ThreadPoolExecutor
) -> None:
    future = _reading(rig, pool)
    if rig.send_raw is None:
        rig.scan("7" * (MAX_CODE_LENGTH + 1))
    else:
        rig.send_raw("7" * (MAX_CODE_LENGTH + 10))  # a stuck key, no terminator
    with pytest.raises(ScanError) as err:
        future.result(WAIT)
    assert err.value.code == "scan.too_long"
    future = _reading(rig, pool)
    rig.scan(WALLET_CODE)
    assert future.result(WAIT).value == WALLET_CODE


def test_the_code_never_reaches_the_log_in_clear(
    rig: Rig, pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    future = _reading(rig, pool)
    rig.scan(WALLET_CODE)
    got = future.result(WAIT)
    logging.getLogger("test").info("scanned %s / %r", got, got)
    assert WALLET_CODE not in caplog.text
    assert got.masked in caplog.text  # the masked form is what a log line shows
    assert WALLET_CODE not in str(got) and WALLET_CODE not in repr(got)


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown scanner backend 'laser'"):
        make_scanner("laser")


@pytest.mark.parametrize("backend", ["evdev", "serial"])
def test_a_real_backend_without_a_device_is_a_config_error(backend: str) -> None:
    with pytest.raises(ValueError, match=f"scanner backend {backend} needs device"):
        make_scanner(backend)


def test_the_none_backend_is_not_configured_and_refuses_reads() -> None:
    scanner = make_scanner("none")
    assert scanner.status() is ScannerStatus.NOT_CONFIGURED
    with pytest.raises(ScannerOffline, match="no scanner"):
        scanner.read_code(1)


def test_a_serial_device_that_does_not_exist_is_offline_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "ttyACM9"
    scanner = make_scanner("serial", device=str(path))
    assert scanner.status() is ScannerStatus.OFFLINE
    with pytest.raises(ScannerOffline, match=r"ttyACM9.*check the cable"):
        scanner.read_code(0.1)
