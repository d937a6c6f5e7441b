"""A small sd_notify(3) client: readiness, status, watchdog and stopping messages to systemd.

``countertop.service`` is ``Type=notify`` with ``WatchdogSec=``: systemd waits for ``READY=1``
before it counts the terminal as started, and restarts it when ``WATCHDOG=1`` stops arriving
(a hung UI loop is a dead till). The protocol is one datagram per message on the AF_UNIX socket
named by ``$NOTIFY_SOCKET``; a leading ``@`` means a Linux abstract address.

Outside systemd (a laptop, tests, ``countertop`` commands run by hand) ``$NOTIFY_SOCKET`` is
unset and every call is a no-op. A notification must never break a payment, so failures are
logged once per notifier and swallowed; the caller only sees ``False``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | bytes:
    """The socket address for a ``$NOTIFY_SOCKET`` value (``@name`` is abstract: ``\\0name``)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings systemd expects, or None when no watchdog applies to us.

    systemd sets ``$WATCHDOG_USEC`` to the full timeout; we return half of it, the margin
    sd_watchdog_enabled(3) recommends. ``$WATCHDOG_PID``, when set, must be our pid: the
    variables may have leaked from a parent that was the supervised process.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    try:
        timeout_us = int(usec)
    except ValueError:
        return None
    if timeout_us <= 0:
        return None
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    return timeout_us / 2_000_000


class Notifier:
    """Sends sd_notify messages to ``$NOTIFY_SOCKET``; a no-op when it is unset.

    The socket is opened lazily on the first message and kept; nothing is created at construction
    beyond reading the environment. Every method returns True when the datagram was sent.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if environ is None else environ
        value = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = _address(value) if value else None
        self._sock: socket.socket | None = None
        self._failed_logged = False
        self._interval = watchdog_interval(env)
        self._monotonic = monotonic
        self._last_ping: float | None = None

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens for notifications."""
        return self._address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines in one datagram, e.g. ``notify(READY=1, STATUS="idle")``."""
        if self._address is None or not fields:
            return False
        # Newlines inside a value would forge extra assignments; systemd splits on them.
        message = "\n".join(
            f"{key}={str(value).replace(chr(10), ' ')}" for key, value in fields.items()
        )
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode("utf-8"), self._address)
        except OSError as exc:
            if not self._failed_logged:
                log.warning(
                    "sd_notify to %r failed (further failures not logged): %s", self._address, exc
                )
                self._failed_logged = True
            self._close_socket()
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete (``READY=1``), optionally with a status line."""
        if status is None:
            return self.notify(READY=1)
        return self.notify(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        """Set the free-text status shown by ``systemctl status`` (``STATUS=...``)."""
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        """Ping the watchdog (``WATCHDOG=1``); call at least every :func:`watchdog_interval`."""
        return self.notify(WATCHDOG=1)

    def tick(self) -> bool:
        """Ping the watchdog if one is configured and a ping is due; cheap enough for every frame.

        The main loop calls this on every iteration (10-30 times a second); a datagram goes out
        at most every :func:`watchdog_interval` / 2, i.e. four times per watchdog timeout.
        """
        if self._interval is None or self._address is None:
            return False
        now = self._monotonic()
        if self._last_ping is not None and now - self._last_ping < self._interval / 2:
            return False
        self._last_ping = now
        return self.watchdog()

    def stopping(self) -> bool:
        """Tell systemd an orderly shutdown has begun (``STOPPING=1``)."""
        return self.notify(STOPPING=1)

    def close(self) -> None:
        """Close the socket (a later message reopens it)."""
        self._close_socket()

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
