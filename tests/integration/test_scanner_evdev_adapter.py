"""The evdev adapter over a stand-in for the input device, where no uinput exists.

The contract suite runs the adapter against a real uinput keyboard when the kernel has one.
Here the kernel device is replaced (hardware only): a class with python-evdev's
``InputDevice`` surface (``fd`` that select() can watch, ``read()`` yielding real
``evdev.InputEvent`` objects or raising ``BlockingIOError``/``OSError``, ``grab``/``ungrab``)
so the adapter's grab, error translation and stale-input rule are checked on every machine.
"""

from __future__ import annotations

import errno
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from appliance.errors import ScannerOffline
from drivers.scanner import make_scanner
from drivers.scanner.base import ScannerStatus
from drivers.scanner.keymap import key_events

evdev = pytest.importorskip("evdev", reason="the evdev adapter needs the python evdev package")

CODE = "134567890123456789"


class StandInDevice:
    """What ``evdev.InputDevice`` offers the adapter, backed by a pipe and a queue."""

    opened: list[StandInDevice]
    fail_open: OSError | None = None
    fail_grab: OSError | None = None

    def __init__(self, path: str) -> None:
        if StandInDevice.fail_open is not None:
            raise StandInDevice.fail_open
        self.path = path
        self._r, self._w = os.pipe()  # readable while events wait, as the device fd is
        os.set_blocking(self._r, False)
        self.fd = self._r
        self.events: deque[object] = deque()
        self.grabbed = False
        self.closed = False
        self.gone = False
        self._lock = threading.Lock()
        StandInDevice.opened.append(self)

    def grab(self) -> None:
        if StandInDevice.fail_grab is not None:
            raise StandInDevice.fail_grab
        self.grabbed = True

    def ungrab(self) -> None:
        if self.gone:
            raise OSError(errno.ENODEV, "No such device")
        self.grabbed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._r)
            os.close(self._w)

    # the hand of the scanner
    def type(self, text: str) -> None:
        with self._lock:
            for ev_type, code, value in key_events(text):
                self.events.append(evdev.InputEvent(0, 0, ev_type, code, value))
        os.write(self._w, b"x")

    def unplug(self) -> None:
        self.gone = True
        os.write(self._w, b"x")

    def read(self) -> Iterator[object]:
        if self.gone:
            raise OSError(errno.ENODEV, "No such device")
        with self._lock:
            if not self.events:
                raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
            batch = list(self.events)
            self.events.clear()
        try:
            while os.read(self._r, 4096):
                pass
        except BlockingIOError:
            pass
        yield from batch


@pytest.fixture
def device(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[StandInDevice]]:
    StandInDevice.opened = []
    StandInDevice.fail_open = None
    StandInDevice.fail_grab = None
    monkeypatch.setattr(evdev, "InputDevice", StandInDevice)
    yield StandInDevice
    for dev in StandInDevice.opened:
        dev.close()


def test_status_opens_and_grabs_the_device_so_codes_never_reach_the_ui(device) -> None:
    scanner = make_scanner("evdev", device="/dev/input/by-id/usb-scanner-event-kbd")
    assert scanner.status() is ScannerStatus.READY
    assert device.opened[0].grabbed
    scanner.close()
    assert not device.opened[0].grabbed and device.opened[0].closed


def test_keys_typed_while_reading_come_back_as_the_code(device) -> None:
    scanner = make_scanner("evdev", device="/dev/input/event3")
    scanner.status()
    dev = device.opened[0]
    dev.type("000000000000000000")  # before the prompt: discarded
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(scanner.read_code, 5.0)
        assert scanner.waiting.wait(5)
        dev.type(CODE)
        assert future.result(5).value == CODE


def test_a_missing_device_names_the_path_and_by_id(device) -> None:
    device.fail_open = FileNotFoundError(errno.ENOENT, "No such file or directory")
    scanner = make_scanner("evdev", device="/dev/input/by-id/usb-gone-event-kbd")
    assert scanner.status() is ScannerStatus.OFFLINE
    with pytest.raises(ScannerOffline, match=r"usb-gone-event-kbd is not there.*by-id"):
        scanner.read_code(0.1)


def test_no_permission_says_which_group(device) -> None:
    device.fail_open = PermissionError(errno.EACCES, "Permission denied")
    scanner = make_scanner("evdev", device="/dev/input/event3")
    with pytest.raises(ScannerOffline, match="'input' group"):
        scanner.read_code(0.1)


def test_a_device_grabbed_by_another_program_is_offline_and_closed(device) -> None:
    device.fail_grab = OSError(errno.EBUSY, "Device or resource busy")
    scanner = make_scanner("evdev", device="/dev/input/event3")
    with pytest.raises(ScannerOffline, match="held by another program"):
        scanner.read_code(0.1)
    assert device.opened[0].closed


def test_unplugged_while_reading_is_offline_then_recovers_on_replug(device) -> None:
    scanner = make_scanner("evdev", device="/dev/input/event3")
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(scanner.read_code, 5.0)
        assert scanner.waiting.wait(5)
        device.opened[0].unplug()
        with pytest.raises(ScannerOffline, match="was unplugged: plug it back in"):
            future.result(5)
        assert device.opened[0].closed
        assert scanner.status() is ScannerStatus.READY  # a new device node opened
        assert len(device.opened) == 2 and device.opened[1].grabbed
