"""The terminal's connection to the acquirer: one TCP (optionally TLS) socket, many requests.

``HostLink.exchange(req)`` blocks for one answer; ``submit(req)`` returns a Future so several
requests can be outstanding at once. A reader thread per connection splits frames, decodes
them and hands each response to the request it answers: the exact response MTI (0210 for a
0200, never a 0230), the same TID and STAN, and the same field 7 when the answer echoes it.

The contract the services rely on (it decides between "store and retry" and "reverse"):

- ``NotSent``: no byte of the request can have left — the connection could not be made, the
  host had already closed or reset it (it is replaced once, and the request goes on the new
  one), or writing failed before the request's first byte.
- ``NoResponse``: sending started, so the host may have acted — timeout, reset, EOF, an
  undecodable reply (chained from ``ProtocolError``), or ``MacError`` for a bad/missing MAC.
- ``KeyCheckError`` / ``ProtocolError`` from encoding: the request could not be built (no MAK
  loaded, a value that does not fit); nothing was sent.

An undecodable frame cannot be matched to a request, and after one the byte stream cannot be
trusted, so it fails every outstanding request on that connection with ``NoResponse`` and
drops the connection; the next request reconnects.

A connection the host has closed (its FIN or reset has arrived) may still look open to this
side until the reader thread reads that far; sending on it would put a request in doubt that
could never be answered. So before writing, the link asks the kernel whether the host hung up
(``poll`` for ``POLLRDHUP``, which sees a FIN even behind unread answers) and writes only on a
connection that is still open in both directions. A request is in doubt only from its first
byte on: the link counts the bytes the socket took, so the requests of a batch that a failed
write never reached are NotSent.
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
from appliance.host.dialects.base import Dialect
from appliance.host.dialects.fields import FrameMacError
from appliance.host.dialects.wire_time import transmission_stamp
from appliance.host.messages import HostRequest, HostResponse, MessageKind

log = logging.getLogger(__name__)

_POLL = 0.5  # longest the reader sleeps when nothing is due; close() wakes it sooner
# The host closed its side (FIN: POLLRDHUP, Linux), or the connection is reset or failed.
_HUNG_UP = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR


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
    # Set (under the link's lock) once every byte of the request is in the socket: until then
    # the sender decides its fate from what the socket took, and the connection's death is
    # not its reason to fail.
    sent: bool = False


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

    def hung_up(self) -> bool:
        """True when the host has closed or reset this connection, or it is already dead.

        Call with the link's lock held: the reader closes the socket only after
        ``_connection_died``, which takes that lock, so the descriptor stays this socket's.
        """
        if not self.alive:
            return True
        try:
            poller = select.poll()
            poller.register(self.sock, _HUNG_UP)
            events = poller.poll(0)
        except (OSError, ValueError):  # closed under us
            return True
        return any(ev & _HUNG_UP for _, ev in events)

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
        """True while a connection to the host is open (and the host has not closed it)."""
        with self._lock:
            return self._conn is not None and not self._conn.hung_up()

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
                if conn.hung_up():
                    # The host closed it (an idle timeout, a restart) since _connection()
                    # looked: nothing was written, so use a new connection.
                    if self._conn is conn:
                        self._conn = None
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
        payload = memoryview(b"".join(data))
        written = 0
        error: OSError | None = None
        with conn.send_lock:
            try:
                # send, not sendall: each call either took some bytes or took none, so the
                # count says exactly which requests have left.
                while written < len(payload):
                    written += conn.sock.send(payload[written:])
            except OSError as exc:
                error = exc
        self._settle_written(conn, pendings, data, written, error)
        if error is not None:
            conn.kill()
        elif wake:
            conn.wake()  # due before the reader's next look: let it recompute its deadline
        return futs

    def _settle_written(
        self,
        conn: _Connection,
        pendings: list[_Pending],
        frames: list[bytes],
        written: int,
        error: OSError | None,
    ) -> None:
        """Decide each request's fate from how many bytes of ``frames`` the socket took.

        Whole in the socket: sent (it waits for its answer, or fails with the connection).
        Partly: in doubt (NoResponse). Not a byte: NotSent — it never left. Over TLS a failed
        write may already have sent whole records of the bytes it was given, so after an
        error nothing unconfirmed counts as not sent there.
        """
        exact = error is None or not conn.tls
        end = 0
        sent: list[_Pending] = []
        doubt: list[_Pending] = []
        unsent: list[_Pending] = []
        for p, frame in zip(pendings, frames, strict=True):
            start, end = end, end + len(frame)
            if end <= written:
                sent.append(p)
            elif start < written or not exact:
                doubt.append(p)
            else:
                unsent.append(p)
        with self._lock:
            for p in sent:
                p.sent = True
            self._stats.sent += len(sent) + len(doubt)
            # The reader fails only requests already marked sent: if it is gone, these are
            # ours to fail.
            orphaned = not conn.alive
        for p in doubt:
            err = NoResponse(f"sending to the host failed: {error}")
            err.__cause__ = error
            self._fail_pending(p, err)
        if orphaned:
            for p in sent:
                self._fail_pending(p, NoResponse("the connection to the host closed"))
        for p in unsent:
            ns = NotSent(f"sending to the host failed before the request's first byte: {error}")
            ns.__cause__ = error
            self._fail_pending(p, ns)

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
                if self._conn is not None and not self._conn.hung_up():
                    return self._conn
                # Dead, or closed by the host: its reader still hands out any answers that
                # arrived before the close, then fails what is left on it.
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
            if self._pending.get(p.key) is not p:
                return  # answered or failed already
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
            # A request still being written is decided by its sender (_settle_written).
            victims = [p for p in self._pending.values() if p.conn is conn and p.sent]
        for p in victims:
            err = NoResponse(str(cause))
            err.__cause__ = cause.__cause__
            self._fail_pending(p, err)
