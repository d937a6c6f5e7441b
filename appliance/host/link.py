"""The terminal's connection to the acquirer: one TCP (optionally TLS) socket, many requests.

``HostLink.exchange(req)`` blocks for one answer; ``submit(req)`` returns a Future so several
requests can be outstanding at once. A reader thread per connection splits frames, decodes
them and hands each response to the request it answers: the exact response MTI (0210 for a
0200, never a 0230), the same TID and STAN, and the same field 7 when the answer echoes it.

The contract the services rely on (it decides between "store and retry" and "reverse"):

- ``NotSent``: no byte of the request can have left — the connection could not be made.
- ``NoResponse``: sending started, so the host may have acted — timeout, reset, EOF, an
  undecodable reply (chained from ``ProtocolError``), or ``MacError`` for a bad/missing MAC.
- ``KeyCheckError`` / ``ProtocolError`` from encoding: the request could not be built (no MAK
  loaded, a value that does not fit); nothing was sent.

An undecodable frame cannot be matched to a request, and after one the byte stream cannot be
trusted, so it fails every outstanding request on that connection with ``NoResponse`` and
drops the connection; the next request reconnects.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from appliance.errors import HostError, MacError, NoResponse, NotSent, ProtocolError
from appliance.host.dialects.base import Dialect, FrameMacError, transmission_stamp
from appliance.host.messages import HostRequest, HostResponse, MessageKind

log = logging.getLogger(__name__)

_POLL = 0.5  # longest the reader sleeps when nothing is due; close() wakes it sooner


@dataclass
class LinkStats:
    """Counters for deriving the link state (ONLINE / DEGRADED / OFFLINE) and for benches."""

    connects: int = 0
    connect_failures: int = 0
    sent: int = 0
    answered: int = 0
    timeouts: int = 0
    no_response: int = 0
    mac_errors: int = 0
    protocol_errors: int = 0
    unmatched: int = 0
    consecutive_failures: int = 0
    last_success_at: float | None = None  # time.monotonic()
    last_failure_at: float | None = None


@dataclass
class _Pending:
    key: tuple[str, str, int]  # (response MTI, TID, STAN)
    future: Future[HostResponse]
    deadline: float
    conn: _Connection
    transmitted: str  # field 7 of the request: an answer that echoes field 7 must match it


def response_mti(request_mti: str) -> str:
    """The MTI that answers ``request_mti``: 0200 → 0210, 0401 (a repeat) → 0410."""
    return f"{request_mti[:2]}{int(request_mti[2]) + 1}0"


class _Connection:
    """One socket and its reader thread; dies as a whole."""

    def __init__(self, sock: socket.socket, link: HostLink) -> None:
        self.sock = sock
        self.link = link
        self.alive = True
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.send_lock = threading.Lock()
        # When the reader will next look at deadlines at the latest (time.monotonic(); set
        # under the link's lock): a request due later needs no wake-up syscall.
        self.next_check = 0.0
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_w.setblocking(False)  # a full wake-up buffer already means "wake up"
        self.thread = threading.Thread(target=self._run, name="host-link-reader", daemon=True)

    def start(self) -> None:
        """Start the reader thread."""
        self.thread.start()

    def wake(self) -> None:
        """Make the reader re-check its deadlines now (a request was added or it must stop)."""
        with contextlib.suppress(OSError):
            self.wake_w.send(b"x")

    def kill(self) -> None:
        """Close the socket; the reader fails whatever is still pending on it."""
        self.alive = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.wake()

    def _run(self) -> None:
        reader = self.link.dialect.reader()
        cause: BaseException | None = None
        try:
            while self.alive:
                wait = self.link._expire_due(self)
                ready = _pending_tls(self.sock)
                if not ready:
                    r, _, _ = select.select([self.sock, self.wake_r], [], [], wait)
                    if self.wake_r in r:
                        with contextlib.suppress(OSError):
                            self.wake_r.recv(4096)
                    ready = self.sock in r
                if not ready or not self.alive:
                    continue
                try:
                    if self.tls:
                        # One SSL object must not be read and written by two threads at once;
                        # and a readable socket may hold only a TLS record without data (a
                        # session ticket), so read without blocking while holding the lock.
                        with self.send_lock:
                            timeout = self.sock.gettimeout()
                            self.sock.settimeout(0)
                            try:
                                data = self.sock.recv(65536)
                            finally:
                                self.sock.settimeout(timeout)
                    else:
                        data = self.sock.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError, TimeoutError):
                    continue
                if not data:
                    cause = NoResponse("the host closed the connection")
                    break
                for body in reader.feed(data):
                    self.link._deliver(body, self)
        except ProtocolError as exc:
            self.link._stats_protocol_error()
            cause = NoResponse(f"undecodable reply from the host: {exc}")
            cause.__cause__ = exc
        except (OSError, ValueError) as exc:
            cause = NoResponse(f"connection to the host failed: {exc}")
            cause.__cause__ = exc
        finally:
            self.alive = False
            if cause is None:
                cause = NoResponse("connection to the host was closed")
            self.link._connection_died(self, cause)
            with contextlib.suppress(OSError):
                self.sock.close()
            self.wake_r.close()
            self.wake_w.close()


def _echo_matches(p: _Pending, msg: object) -> bool:
    echoed = getattr(msg, "echoed_transmission", None)
    return echoed is None or echoed == p.transmitted


def _pending_tls(sock: socket.socket) -> bool:
    # Decrypted bytes already buffered inside an SSL object are invisible to select().
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


class HostLink:
    """A thread-safe, lazily connected, self-reconnecting link to the acquirer host."""

    def __init__(
        self,
        address: str,
        port: int,
        dialect: Dialect,
        *,
        connect_timeout: float,
        response_timeout: float,
        tls: bool = False,
        ca_file: str | None = None,
    ) -> None:
        self.address = address
        self.port = port
        self.dialect = dialect
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self.tls = tls
        self.ca_file = ca_file
        self.last_error: HostError | None = None
        self._stats = LinkStats()
        self._lock = threading.RLock()  # guards _conn, _pending, _stats, _mak
        self._connect_lock = threading.Lock()
        self._conn: _Connection | None = None
        self._pending: dict[tuple[str, str, int], _Pending] = {}
        self._mak: bytes | None = None
        self._signon_key: bytes | None = None

    # ---------------------------------------------------------------- public
    def set_mak(self, mak: bytes | None) -> None:
        """Load the MAK from the latest sign-on (None before the first one)."""
        with self._lock:
            self._mak = mak

    def supports(self, kind: MessageKind) -> bool:
        """True when the dialect has a message for ``kind`` (iso87 has no upload end)."""
        return self.dialect.has_kind(kind)

    def set_signon_key(self, key: bytes | None) -> None:
        """Load the TMK-derived key that MACs sign-ons (``keys.signon_key(tmk)``)."""
        with self._lock:
            self._signon_key = key

    def stats(self) -> LinkStats:
        """A snapshot of the link counters."""
        with self._lock:
            return LinkStats(**vars(self._stats))

    @property
    def connected(self) -> bool:
        """True while a connection to the host is open."""
        with self._lock:
            return self._conn is not None and self._conn.alive

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered or failed."""
        with self._lock:
            return len(self._pending)

    def reach(self) -> str:
        """Open the connection now if none is open (pre-dial before a card is tapped).

        Returns "" when connected, else why not. Nothing is sent: the host cannot have acted.
        """
        try:
            self._connection()
        except NotSent as exc:
            self._failed(exc)
            return str(exc)
        return ""

    def exchange(self, req: HostRequest, timeout: float | None = None) -> HostResponse:
        """Send ``req`` and wait for its answer (see the module docstring for what it raises)."""
        fut = self.submit(req, timeout=timeout)
        return fut.result()

    def submit(self, req: HostRequest, timeout: float | None = None) -> Future[HostResponse]:
        """Send ``req`` now and return a Future of its response.

        The Future always completes: with the response, or with NotSent / NoResponse / MacError
        when the response timeout (``timeout`` or the link's) passes. Encoding failures
        (KeyCheckError, ProtocolError) are raised here, before anything is sent.
        """
        return self.submit_many([req], timeout=timeout)[0]

    def submit_many(
        self, reqs: Sequence[HostRequest], timeout: float | None = None
    ) -> list[Future[HostResponse]]:
        """Send several requests in one write; a Future for each, as ``submit`` gives.

        Every request is encoded before any byte is sent, so an encoding failure (raised
        here) sends none of them. A request whose (answer MTI, TID, STAN) is already
        outstanding gets NotSent and is not sent; the others are unaffected.
        """
        with self._lock:
            mak, signon = self._mak, self._signon_key
        encoded: list[tuple[bytes, tuple[str, str, int]]] = []
        for req in reqs:
            key = signon if self.dialect.mac_key_of(req.kind) == "signon" else mak
            body = self.dialect.encode_request(req, key)
            mti = self.dialect.request_mti(req)
            encoded.append((self.dialect.frame(body), (response_mti(mti), req.tid, req.stan)))
        futs: list[Future[HostResponse]] = []
        for _ in reqs:
            fut: Future[HostResponse] = Future()
            fut.set_running_or_notify_cancel()
            futs.append(fut)
        deadline = time.monotonic() + (self.response_timeout if timeout is None else timeout)
        pendings: list[_Pending] = []
        data: list[bytes] = []
        registered = False
        wake = True
        # Two tries: a connection found dead before anything was written to it is replaced.
        for _attempt in range(2):
            try:
                conn = self._connection()
            except NotSent as exc:
                self._failed(exc)
                for fut in futs:
                    fut.set_exception(exc)
                return futs
            with self._lock:
                if not conn.alive:
                    continue
                # Registered before sending, so an instant answer finds its Future; and while
                # the connection is alive, so its reader (or its death) will complete it.
                for (frame, key), fut, req in zip(encoded, futs, reqs, strict=True):
                    if key in self._pending:
                        # Same answer MTI, TID and STAN in flight: answers could not be told
                        # apart.
                        fut.set_exception(
                            NotSent(f"a request with STAN {req.stan:06d} is already outstanding")
                        )
                        continue
                    p = _Pending(key, fut, deadline, conn, transmission_stamp(req.transmitted_at))
                    self._pending[key] = p
                    pendings.append(p)
                    data.append(frame)
                wake = deadline < conn.next_check
                registered = True
            break
        if not registered:
            exc = NotSent("the connection to the host closed before the request was sent")
            self._failed(exc)
            for fut in futs:
                fut.set_exception(exc)
            return futs
        if not pendings:
            return futs
        try:
            with conn.send_lock:
                conn.sock.sendall(b"".join(data))
        except OSError as exc:
            # sendall may have pushed part of the frames out before failing.
            for p in pendings:
                err = NoResponse(f"sending to the host failed: {exc}")
                err.__cause__ = exc
                self._fail_pending(p, err)
            conn.kill()
            return futs
        with self._lock:
            self._stats.sent += len(pendings)
        if wake:
            conn.wake()  # due before the reader's next look: let it recompute its deadline
        return futs

    def close(self) -> None:
        """Drop the connection; outstanding requests fail with NoResponse."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.kill()
            if conn.thread is not threading.current_thread():
                conn.thread.join(timeout=5)

    def __enter__(self) -> HostLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- internals
    def _connection(self) -> _Connection:
        # One connect at a time, without holding _lock: stats(), set_mak() and the reader
        # thread must not wait out a connect timeout.
        with self._connect_lock:
            with self._lock:
                if self._conn is not None and self._conn.alive and not _hung_up(self._conn.sock):
                    return self._conn
                self._conn = None
            try:
                sock = socket.create_connection(
                    (self.address, self.port), timeout=self.connect_timeout
                )
            except OSError as exc:
                with self._lock:
                    self._stats.connect_failures += 1
                raise NotSent(
                    f"cannot connect to the host {self.address}:{self.port}: {exc}"
                ) from exc
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.tls:
                    ctx = ssl.create_default_context(cafile=self.ca_file)
                    sock = ctx.wrap_socket(sock, server_hostname=self.address)
            except (OSError, ssl.SSLError) as exc:
                with contextlib.suppress(OSError):
                    sock.close()
                with self._lock:
                    self._stats.connect_failures += 1
                raise NotSent(f"TLS handshake with the host failed: {exc}") from exc
            # The timeout now bounds sends only; the reader uses select with its own deadline.
            sock.settimeout(max(self.connect_timeout, self.response_timeout))
            conn = _Connection(sock, self)
            with self._lock:
                self._stats.connects += 1
                self._conn = conn
            conn.start()
            return conn

    def _expire_due(self, conn: _Connection) -> float:
        """Fail every request on ``conn`` past its deadline; seconds until the next one."""
        now = time.monotonic()
        expired: list[_Pending] = []
        nxt = now + _POLL
        with self._lock:
            for p in list(self._pending.values()):
                if p.conn is not conn:
                    continue
                if p.deadline <= now:
                    expired.append(p)
                else:
                    nxt = min(nxt, p.deadline)
            # Requests registered from now on see this; those before are counted in it.
            conn.next_check = nxt
        for p in expired:
            with self._lock:
                self._stats.timeouts += 1
            self._fail_pending(p, NoResponse("no response from the host within the timeout"))
        return max(0.0, nxt - time.monotonic())

    def _deliver(self, body: bytes, conn: _Connection) -> None:
        with self._lock:
            mak, signon = self._mak, self._signon_key
        try:
            resp = self.dialect.decode_response(body, mak, signon)
        except FrameMacError as exc:
            msg = exc.message
            key = (self.dialect.mti_of(body), msg.tid, msg.stan)
            with self._lock:
                p = self._pending.get(key)
                self._stats.mac_errors += 1
            if p is not None and not _echo_matches(p, msg):
                p = None
            if p is None:
                log.warning(
                    "dropping response with bad MAC for no pending request (STAN %s)", msg.stan
                )
                return
            self._fail_pending(p, MacError(f"response MAC rejected: {exc}"))
            return
        # Other ProtocolErrors propagate to the reader, which fails the whole connection.
        key = (self.dialect.mti_of(body), resp.tid, resp.stan)
        with self._lock:
            p = self._pending.get(key)
            if p is not None and not _echo_matches(p, resp):
                p = None  # same STAN, another field 7: an answer to some other request
            if p is not None:
                del self._pending[key]
            if p is None:
                self._stats.unmatched += 1
            else:
                self._stats.answered += 1
                self._stats.consecutive_failures = 0
                self._stats.last_success_at = time.monotonic()
                self.last_error = None
        if p is None:
            log.warning(
                "dropping unmatched/late response %s TID %s STAN %06d RC %s",
                self.dialect.mti_of(body),
                resp.tid,
                resp.stan,
                resp.response_code,
            )
            return
        if not p.future.done():
            p.future.set_result(resp)

    def _fail_pending(self, p: _Pending, exc: HostError) -> None:
        with self._lock:
            if self._pending.get(p.key) is p:
                del self._pending[p.key]
            if isinstance(exc, NoResponse) and not isinstance(exc, MacError):
                self._stats.no_response += 1
        self._failed(exc)
        if not p.future.done():
            p.future.set_exception(exc)

    def _failed(self, exc: HostError) -> None:
        with self._lock:
            self.last_error = exc
            self._stats.consecutive_failures += 1
            self._stats.last_failure_at = time.monotonic()

    def _stats_protocol_error(self) -> None:
        with self._lock:
            self._stats.protocol_errors += 1

    def _connection_died(self, conn: _Connection, cause: NoResponse) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
            victims = [p for p in self._pending.values() if p.conn is conn]
        for p in victims:
            err = NoResponse(str(cause))
            err.__cause__ = cause.__cause__
            self._fail_pending(p, err)


def _hung_up(sock: socket.socket) -> bool:
    """True when the host has already closed ``sock`` (its FIN or RST is waiting to be read)
    though the reader thread has not seen it yet: a pre-dial must not call that connected.

    Peeks without consuming (the reader thread still reads everything); a TLS socket cannot
    peek at the raw stream and is left to the reader thread.
    """
    if isinstance(sock, ssl.SSLSocket):
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
