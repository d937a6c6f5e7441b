"""The shell the real scanner adapters share: lazy open, discard stale input, poll, recover.

A subclass says how to connect, how to throw away what arrived before a read, and how to wait
a short while for a complete code; it raises ``ScannerOffline`` (with the device and what to
do) for anything that means the device is gone. This class turns that into the port's
contract: one read at a time, ``waiting`` set while listening, cancel and timeout honoured, a
gone device closed so that the next ``status()`` or read opens it again when it returns.
"""

from __future__ import annotations

import logging
import threading
import time

from appliance.errors import ScanCancelled, ScannerOffline, ScanTimeout
from drivers.scanner.base import ScannedCode, ScannerStatus

log = logging.getLogger(__name__)

#: Seconds between looks at the caller's cancel event while waiting for input.
POLL = 0.05


class DeviceScanner:
    """Base of the evdev and serial adapters.

    Subclasses must override ``_connect``, ``_disconnect``, ``_discard_pending`` and
    ``_wait_code``. ``_connect``, ``_discard_pending`` and ``_wait_code`` raise
    ``ScannerOffline`` when the device is absent or gone and ``ScanError`` for an unusable
    code; ``_disconnect`` never raises.
    """

    def __init__(self, label: str) -> None:
        self.label = label  # "USB scanner /dev/input/by-id/…", named in every error
        self.waiting = threading.Event()
        self._lock = threading.Lock()  # one read (or status check) at a time
        self._connected = False

    # -- for subclasses ------------------------------------------------------------------------

    def _connect(self) -> None:
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError

    def _discard_pending(self) -> None:
        """Throw away every byte or key that arrived while no read was waiting."""
        raise NotImplementedError

    def _wait_code(self, seconds: float) -> str | None:
        """Wait up to ``seconds`` for input; return a completed code, or None."""
        raise NotImplementedError

    # -- port ------------------------------------------------------------------------------

    def _ensure_connected(self) -> None:
        if not self._connected:
            self._connect()
            self._connected = True
            log.info("%s: opened", self.label)

    def _drop(self) -> None:
        if self._connected:
            self._connected = False
            self._disconnect()
            log.warning("%s: offline", self.label)

    def status(self) -> ScannerStatus:
        """READY when the device is open (opening it if needed) and answers; never raises.

        While a read is running the read itself watches the device, so this answers from the
        last known state instead of waiting for it.
        """
        if not self._lock.acquire(blocking=False):
            return ScannerStatus.READY if self._connected else ScannerStatus.OFFLINE
        try:
            self._ensure_connected()
            self._discard_pending()  # also notices a device that went away while idle
            return ScannerStatus.READY
        except ScannerOffline as exc:
            self._drop()
            log.debug("%s: %s", self.label, exc)
            return ScannerStatus.OFFLINE
        finally:
            self._lock.release()

    def read_code(self, timeout: float, cancel: threading.Event | None = None) -> ScannedCode:
        """Wait up to ``timeout`` seconds for a code scanned after this call began."""
        deadline = time.monotonic() + timeout
        with self._lock:
            try:
                self._ensure_connected()
                self._discard_pending()
                self.waiting.set()
                while True:
                    if cancel is not None and cancel.is_set():
                        raise ScanCancelled(f"{self.label}: scan cancelled")
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ScanTimeout(f"{self.label}: no code was scanned in time")
                    code = self._wait_code(min(POLL, remaining))
                    if code:
                        log.info("%s: code read (%d characters)", self.label, len(code))
                        return ScannedCode(code, self.label)
            except ScannerOffline:
                self._drop()
                raise
            finally:
                self.waiting.clear()

    def close(self) -> None:
        """Release the device; a later status() or read opens it again."""
        with self._lock:
            if self._connected:
                self._connected = False
                self._disconnect()
