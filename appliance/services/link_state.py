"""Link state (ONLINE | DEGRADED | OFFLINE) derived from what every exchange with the host did.

``MonitoredLink`` wraps the host link once, in the composition root: every caller (sales,
forwarding, echoes, sign-on, settlement and batch upload) talks through it, so the link state
follows one rule whoever sent the request:

- a valid answer → ONLINE;
- ``NotSent`` (the request never left: no connection) → OFFLINE;
- ``NoResponse`` and ``MacError`` (a request went out, no valid answer came) → DEGRADED;
- any other failure of a request that was handed over (a future's exception) → DEGRADED;
- an encoding failure (``ProtocolError``, ``KeyCheckError`` raised before anything was sent)
  says nothing about the link: the state is unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from appliance.errors import HostError, KeyCheckError, NotSent, ProtocolError
from appliance.host.messages import HostRequest, HostResponse, MessageKind


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

    def failed(self, exc: BaseException, *, sent: bool) -> None:
        """Record what a failed exchange says about the link (the module docstring's rule).

        ``sent``: the failure came after the request was handed to the link (a future's
        exception), so only ``NotSent`` means it never left. Raised by the call itself,
        ``ProtocolError`` and ``KeyCheckError`` are encoding failures (nothing was sent).
        """
        if isinstance(exc, NotSent):
            self.unreachable(str(exc))
        elif sent or (
            isinstance(exc, HostError) and not isinstance(exc, (ProtocolError, KeyCheckError))
        ):
            self.no_answer(str(exc))


class HostLinkPort(Protocol):
    """What ``MonitoredLink`` needs of the link it wraps (``appliance.host.link.HostLink``).

    ``submit_many``, ``reach`` and ``supports`` are used when the link has them.
    """

    def exchange(self, req: HostRequest, timeout: float | None = None) -> HostResponse:
        """Send one request and wait for its answer (NotSent / NoResponse on failure)."""
        ...

    def submit(self, req: HostRequest) -> Future[HostResponse]:
        """Send one request without waiting; the future resolves to the answer."""
        ...

    def set_mak(self, mak: bytes | None) -> None:
        """Use ``mak`` for MACs from now on."""
        ...

    def set_signon_key(self, key: bytes | None) -> None:
        """Use ``key`` (derived from the TMK) to MAC sign-ons."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class MonitoredLink:
    """The host link with the link state kept by every exchange, whoever makes it.

    Built once by ``appliance.bootstrap`` around the real (or a test's) link. Futures it
    returns complete only after the state is updated, so a caller that has its answer (or
    its failure) always sees the state that answer left.
    """

    def __init__(
        self,
        inner: HostLinkPort,
        clock: Callable[[], datetime],
        monitor: LinkMonitor | None = None,
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.monitor = monitor or LinkMonitor()

    def exchange(self, req: HostRequest, timeout: float | None = None) -> HostResponse:
        """Send ``req`` and wait for its answer; the link state follows the outcome."""
        try:
            resp: HostResponse = self.inner.exchange(req, timeout)
        except HostError as exc:
            self.monitor.failed(exc, sent=False)
            raise
        self.monitor.ok(self.clock())
        return resp

    def submit(self, req: HostRequest) -> Future[HostResponse]:
        """Send ``req`` without waiting; the future completes once the state is updated."""
        try:
            inner: Future[HostResponse] = self.inner.submit(req)
        except HostError as exc:
            self.monitor.failed(exc, sent=False)
            raise
        return self._watched(inner)

    def submit_many(self, reqs: Sequence[HostRequest]) -> list[Future[HostResponse]]:
        """Several requests in one write (``HostLink.submit_many``), each watched."""
        submit_many = getattr(self.inner, "submit_many", None)
        if submit_many is None:
            return [self.submit(r) for r in reqs]
        try:
            futs: list[Future[HostResponse]] = submit_many(list(reqs))
        except HostError as exc:
            self.monitor.failed(exc, sent=False)
            raise
        return [self._watched(f) for f in futs]

    def _watched(self, inner: Future[HostResponse]) -> Future[HostResponse]:
        outer: Future[HostResponse] = Future()
        outer.set_running_or_notify_cancel()

        def done(f: Future[HostResponse]) -> None:
            exc = f.exception()
            if exc is None:
                self.monitor.ok(self.clock())
                outer.set_result(f.result())
            else:
                self.monitor.failed(exc, sent=True)
                outer.set_exception(exc)

        inner.add_done_callback(done)
        return outer

    def reach(self) -> str:
        """Connect now if not connected (pre-dial); "" when connected, else why not (then the
        link is OFFLINE). A link without pre-dial answers "": the request will tell."""
        reach = getattr(self.inner, "reach", None)
        if reach is None:
            return ""
        why = str(reach())
        if why:
            self.monitor.unreachable(why)
        return why

    def supports(self, kind: MessageKind) -> bool:
        """True when the link's dialect has a message for ``kind`` (False if it cannot say)."""
        supports = getattr(self.inner, "supports", None)
        return bool(supports(kind)) if supports is not None else False

    def set_mak(self, mak: bytes | None) -> None:
        """Use ``mak`` for MACs from now on."""
        self.inner.set_mak(mak)

    def set_signon_key(self, key: bytes | None) -> None:
        """Use ``key`` (derived from the TMK) to MAC sign-ons."""
        self.inner.set_signon_key(key)

    def close(self) -> None:
        """Close the connection."""
        self.inner.close()
