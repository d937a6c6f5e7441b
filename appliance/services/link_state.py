"""Link state (ONLINE | DEGRADED | OFFLINE) derived from what the last exchanges did."""

from __future__ import annotations

import threading
from datetime import datetime
from enum import StrEnum


class LinkState(StrEnum):
    """How the acquirer link is doing."""

    ONLINE = "online"  # the last exchange got a valid answer
    DEGRADED = "degraded"  # connected, but answers are missing, late or invalid
    OFFLINE = "offline"  # the host cannot be reached at all


class LinkMonitor:
    """Tracks consecutive failures.

    OFFLINE means the host cannot be reached (nothing can be sent); DEGRADED means requests
    go out but answers are missing or invalid. Only OFFLINE lets a sale be stored offline.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.state = LinkState.OFFLINE
        self.failures = 0
        self.last_error = ""
        self.last_ok: datetime | None = None
        self.next_retry: datetime | None = None
        self.failed_total = 0  # link failures ever seen (a worker notices outages it missed)

    def ok(self, at: datetime) -> None:
        """An exchange got a valid answer."""
        with self._guard:
            self.state, self.failures, self.last_error, self.last_ok = LinkState.ONLINE, 0, "", at

    def unreachable(self, error: str) -> None:
        """A connection could not be made."""
        with self._guard:
            self.state, self.failures, self.last_error = (
                LinkState.OFFLINE,
                self.failures + 1,
                error,
            )
            self.failed_total += 1

    def no_answer(self, error: str) -> None:
        """A request got no valid answer."""
        with self._guard:
            self.failures += 1
            self.failed_total += 1
            self.last_error = error
            self.state = LinkState.DEGRADED
