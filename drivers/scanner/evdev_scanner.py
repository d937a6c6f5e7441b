"""A USB HID keyboard-wedge scanner read through evdev, grabbed exclusively.

The scanner "types" each code and presses Enter. Without the grab those keystrokes would also
reach the touchscreen UI (SDL reads every /dev/input/event* device under KMSDRM) and any
console; ``EVIOCGRAB`` makes this process the device's only reader, for as long as it is open.
The device is therefore opened (and grabbed) by the first ``status()`` and kept open; the UI
asks for the status at start. Key codes become characters in ``drivers.scanner.keymap``.
"""

from __future__ import annotations

import contextlib
import errno
import select
from typing import Any

from appliance.errors import ScanError, ScannerOffline
from drivers.scanner.device import DeviceScanner
from drivers.scanner.keymap import CodeTooLong, KeyDecoder


class EvdevScanner(DeviceScanner):
    """``BarcodeScanner`` over an evdev input device (``/dev/input/by-id/…-event-kbd``)."""

    def __init__(self, path: str, *, grab: bool = True) -> None:
        super().__init__(f"USB scanner {path}")
        self.path = path
        self.grab = grab
        self._dev: Any = None
        self._decoder = KeyDecoder()

    def _connect(self) -> None:
        import evdev

        try:
            dev = evdev.InputDevice(self.path)
        except FileNotFoundError as exc:
            raise ScannerOffline(
                f"{self.label} is not there: plug the scanner in, and check [scanner] device "
                "against ls -l /dev/input/by-id/"
            ) from exc
        except PermissionError as exc:
            raise ScannerOffline(
                f"{self.label}: no permission to read it: countertop's user must be in the "
                "'input' group (see docs/scanner.md)"
            ) from exc
        except OSError as exc:
            raise ScannerOffline(
                f"{self.label} cannot be opened ({exc.strerror or exc}): unplug it and plug it "
                "back in"
            ) from exc
        if self.grab:
            try:
                dev.grab()
            except OSError as exc:
                dev.close()
                if exc.errno == errno.EBUSY:
                    raise ScannerOffline(
                        f"{self.label} is held by another program (exclusive grab): stop it "
                        "(fuser -v on the device shows which)"
                    ) from exc
                raise ScannerOffline(
                    f"{self.label} cannot be grabbed ({exc.strerror or exc}): unplug it and "
                    "plug it back in"
                ) from exc
        self._dev = dev
        self._decoder = KeyDecoder()

    def _disconnect(self) -> None:
        dev, self._dev = self._dev, None
        if dev is None:
            return
        # A device that is gone has no grab left to release and nothing to close.
        with contextlib.suppress(OSError):
            if self.grab:
                dev.ungrab()
        with contextlib.suppress(OSError):
            dev.close()

    def _gone(self, exc: OSError) -> ScannerOffline:
        if exc.errno == errno.ENODEV:
            return ScannerOffline(
                f"{self.label} was unplugged: plug it back in; codes are read again once it returns"
            )
        return ScannerOffline(
            f"{self.label} failed ({exc.strerror or exc}): unplug it and plug it back in"
        )

    def _events(self) -> list[Any]:
        """Every event the kernel holds now ([] when none)."""
        try:
            return list(self._dev.read())
        except BlockingIOError:
            return []
        except OSError as exc:
            raise self._gone(exc) from exc

    def _discard_pending(self) -> None:
        while events := self._events():
            for ev in events:
                with contextlib.suppress(CodeTooLong):
                    self._decoder.feed(ev.type, ev.code, ev.value)  # keeps the shift state
        self._decoder.reset()

    def _wait_code(self, seconds: float) -> str | None:
        try:
            ready, _, _ = select.select([self._dev.fd], [], [], seconds)
        except (OSError, ValueError) as exc:
            raise ScannerOffline(f"{self.label} was closed: plug it back in") from exc
        if not ready:
            return None
        code = None
        for ev in self._events():
            try:
                done = self._decoder.feed(ev.type, ev.code, ev.value)
            except CodeTooLong as exc:
                raise ScanError(
                    f"{self.label}: {exc}: set the scanner to send Enter after each code",
                    code="scan.too_long",
                ) from exc
            if done and code is None:
                code = done  # one code per read; a second one in the batch is stale later
        return code
