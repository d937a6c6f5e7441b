"""The batch lock: a lock file in the state directory that payments and settlement share.

Sales, voids and refunds hold it *shared* while they run; settlement holds it *exclusive*
while it cuts the batch (delivers owed messages, freezes the totals, opens the next batch).
So settlement waits for a payment in progress to finish and never interrupts one, and a
payment that arrives while the batch is being cut waits (up to ``wait`` seconds) and then goes
into the next batch. ``flock`` locks belong to an open file, so this works between processes
(the touchscreen and ``countertop settle`` from the timer) and between threads of one process,
and the kernel drops them when a process dies: a crash never leaves the lock taken.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from appliance.errors import JournalError, Refused

POLL = 0.05  # seconds between attempts: flock has no timeout of its own


class BatchLock:
    """A shared/exclusive lock on ``path`` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the batch lock {self.path}: {exc}") from exc

    @contextmanager
    def _hold(
        self, mode: int, wait: float, on_wait: Callable[[], None] | None, refusal: str
    ) -> Iterator[None]:
        fd = self._open()
        try:
            deadline = time.monotonic() + wait
            told = False
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Refused(refusal) from None
                    if on_wait is not None and not told:
                        on_wait()
                        told = True
                    time.sleep(POLL)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def shared(self, wait: float = 60.0) -> AbstractContextManager[None]:
        """Held by a payment: waits while a settlement cuts the batch, then Refused."""
        return self._hold(
            fcntl.LOCK_SH,
            wait,
            None,
            "settlement is closing the batch: try the payment again in a moment",
        )

    def exclusive(
        self, wait: float = 600.0, on_wait: Callable[[], None] | None = None
    ) -> AbstractContextManager[None]:
        """Held by settlement while it cuts the batch; waits for payments in progress."""
        return self._hold(
            fcntl.LOCK_EX,
            wait,
            on_wait,
            f"a payment was still in progress after {wait:.0f} s: settlement not started, "
            f"run countertop settle again",
        )
