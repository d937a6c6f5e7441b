"""A simulated scanner for tests, demos and laptops, and the "none" scanner.

``MockScanner.scan(code)`` is a customer holding a code under the scanner: it reaches a read
that is waiting, and is discarded otherwise, exactly as the real adapters discard what arrived
before a read. ``auto_code`` is returned by every read when nobody scans (the demo and the CLI
"scan" without a person), like the mock reader's auto card.
"""

from __future__ import annotations

import threading
import time

from appliance.errors import ScanCancelled, ScanError, ScannerOffline, ScanTimeout
from drivers.scanner.base import MAX_CODE_LENGTH, ScannedCode, ScannerStatus

_POLL = 0.02  # seconds between looks at the caller's cancel event


class MockScanner:
    """``BarcodeScanner`` simulated in memory, with helpers to drive it."""

    label = "mock scanner"

    def __init__(self, auto_code: str | None = None) -> None:
        self._auto = auto_code or None
        self._cond = threading.Condition()
        self._code: str | None = None
        self._plugged = True
        self.waiting = threading.Event()
        self.discarded = 0  # codes scanned while no read was waiting
        self.reads = 0  # codes delivered

    # -- helpers -----------------------------------------------------------------------------

    def scan(self, code: str) -> bool:
        """Scan ``code``; True if a waiting read takes it, False if it was discarded."""
        with self._cond:
            if not self._plugged or not self.waiting.is_set():
                self.discarded += 1
                return False
            self._code = code
            self._cond.notify_all()
            return True

    def unplug(self) -> None:
        """Pull the cable: status OFFLINE, a waiting read raises ScannerOffline."""
        with self._cond:
            self._plugged = False
            self._cond.notify_all()

    def plug(self) -> None:
        """Plug the scanner back in."""
        with self._cond:
            self._plugged = True
            self._cond.notify_all()

    # -- port --------------------------------------------------------------------------------

    def status(self) -> ScannerStatus:
        """READY or OFFLINE (never raises)."""
        return ScannerStatus.READY if self._plugged else ScannerStatus.OFFLINE

    def _offline(self) -> ScannerOffline:
        return ScannerOffline(
            f"{self.label} is unplugged: plug it back in (simulated: call plug())"
        )

    def read_code(self, timeout: float, cancel: threading.Event | None = None) -> ScannedCode:
        """Wait for a code scanned (or the auto code) after this call began."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if not self._plugged:
                raise self._offline()
            self._code = self._auto
            self.waiting.set()
            try:
                while True:
                    if not self._plugged:
                        raise self._offline()
                    if cancel is not None and cancel.is_set():
                        raise ScanCancelled(f"{self.label}: scan cancelled")
                    if self._code is not None:
                        code, self._code = self._code, None
                        if len(code) > MAX_CODE_LENGTH:
                            raise ScanError(
                                f"{self.label}: more than {MAX_CODE_LENGTH} characters",
                                code="scan.too_long",
                            )
                        self.reads += 1
                        return ScannedCode(code, self.label)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ScanTimeout(f"{self.label}: no code was scanned in time")
                    self._cond.wait(min(_POLL, remaining) if cancel is not None else remaining)
            finally:
                self.waiting.clear()

    def close(self) -> None:
        """Nothing to release."""


class NoScanner:
    """The scanner of a terminal without one (backend "none"): customer codes are refused."""

    label = "no scanner"

    def __init__(self) -> None:
        self.waiting = threading.Event()

    def status(self) -> ScannerStatus:
        """Always NOT_CONFIGURED."""
        return ScannerStatus.NOT_CONFIGURED

    def read_code(self, timeout: float, cancel: threading.Event | None = None) -> ScannedCode:
        """Always raises ScannerOffline: there is no scanner to read."""
        raise ScannerOffline(
            'this terminal has no scanner ([scanner] backend = "none"): set backend to '
            '"evdev" or "serial", or let the customer scan the terminal\'s code instead'
        )

    def close(self) -> None:
        """Nothing to release."""
