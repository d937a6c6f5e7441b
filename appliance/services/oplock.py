"""One financial operation at a time across processes (kiosk, CLI, settlement timer).

A sale, void, refund, forwarding run, settlement and the start-up recovery each hold an
exclusive ``flock`` on ``state_dir/operation.lock``. So a second process that starts while the
kiosk waits for a host answer does not mistake that PENDING row for a crash: its recovery waits
until the sale is finished. The kernel drops the lock when a process dies, so kill -9 never
leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.errors import Refused


class LockBusy(Refused):
    """Another process kept the lock past the wait; the caller did nothing."""


class OperationLock:
    """Re-entrant within a thread, exclusive across processes."""

    def __init__(self, path: Path, *, wait: float = 120.0) -> None:
        self.path = path
        self.wait = wait
        self._local = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self, what: str = "operation") -> Iterator[None]:
        """Hold the lock for ``what``; LockBusy if another process keeps it past ``wait``."""
        with self._local:
            if self._depth == 0:
                self._acquire(what)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()

    def _acquire(self, what: str) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # only the first operation in a new state directory
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(
                        f"another countertop process is busy with a payment ({self.path}): "
                        f"the {what} waited {self.wait:g} s; try again when it has finished"
                    ) from None
                time.sleep(0.05)
        self._fd = fd

    def _release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
