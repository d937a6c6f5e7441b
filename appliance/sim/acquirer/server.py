"""The reference acquirer: a real threaded TCP host speaking a dialect, with its own ledger.

It exists so the terminal can be tested end to end against something that behaves like an
acquirer — including badly: see ``faults.FAULTS``. Each connection has a reader thread and a
writer thread; one decider thread takes every request waiting from all connections, decides
them in one ledger transaction (group commit: one fsync for the lot) and only then hands the
answers to the writers — an answer never leaves before the commit that records it. An answer
under the ``delay`` or ``latency`` fault is sent from its own thread, so it does not hold up
the others.
A line-based control port (127.0.0.1 only) lets another process switch faults::

    FAULT delay seconds=5 count=1   → OK
    CLEAR [NAME]                    → OK
    FAULTS                          → {"delay": {...}}
    LEDGER                          → [{...}, ...]
    PING                            → PONG
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import select
import socket
import ssl
import struct
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError, CountertopError, ProtocolError
from appliance.host import keys
from appliance.host.dialects import get_dialect
from appliance.host.dialects.base import Dialect
from appliance.host.dialects.fields import FrameMacError
from appliance.host.messages import HostRequest, HostResponse, MessageKind
from appliance.sim.acquirer.faults import FaultSet
from appliance.sim.acquirer.ledger import Ledger

log = logging.getLogger(__name__)

_GROUP_MAX = 256  # most requests decided in one ledger commit

# What the ``extra_fields`` fault adds to every answer: fields real hosts send that no dialect
# here uses (settlement date, acquirer ID, additional response data, private data).
EXTRA_FIELDS = (
    ("15", "1202"),
    ("32", "48020000"),
    ("44", "ISSUER NOTE"),
    ("63", "ADDITIONAL HOST DATA"),
)

# What a connection's reader hands the decider: the socket, its write lock, its writer's
# queue, and the frame body.
_Work = tuple[socket.socket, threading.Lock, "queue.SimpleQueue[Any]", bytes]


class ReferenceAcquirer:
    """A test acquirer host. ``start()`` runs it in background threads; ``stop()`` ends them.

    ``terminals`` maps TID → TMK; requests from other TIDs are answered 03 (invalid merchant).
    ``mids`` optionally maps TID → the MID it must use (else 03). With ``tls_cert`` (PEM,
    and ``tls_key`` unless the key is in the same file) connections are TLS.
    """

    def __init__(
        self,
        host: str,
        port: int,
        dialect: Dialect | str,
        ledger_path: str | Path,
        terminals: Mapping[str, bytes],
        mids: Mapping[str, str] | None = None,
        *,
        control_port: int | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
        self.ledger_path = Path(ledger_path)
        self.terminals = dict(terminals)
        self.mids = dict(mids or {})
        self.faults = FaultSet()
        self.control_port: int | None = control_port
        self._tls: ssl.SSLContext | None = None
        if tls_cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                ctx.load_cert_chain(str(tls_cert), str(tls_key) if tls_key else None)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load the TLS certificate {tls_cert}: {exc}") from exc
            self._tls = ctx
        self._ledger: Ledger | None = None
        self._listener: socket.socket | None = None
        self._control: socket.socket | None = None
        self._stop = threading.Event()
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listen_lock = threading.Lock()
        self._inbox: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self.requests_seen = 0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> int:
        """Open the ledger, bind and serve in background threads; returns the bound port."""
        self._ledger = Ledger(self.ledger_path)
        self._listener = self._bind(self.port)
        self.port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        if self.control_port is not None:
            self._control = self._bind(self.control_port, host="127.0.0.1")
            self.control_port = self._control.getsockname()[1]
            self._spawn(self._control_loop, "acquirer-control")
        self._spawn(self._decide_loop, "acquirer-decide")
        self._spawn(self._accept_loop, "acquirer-accept")
        log.info(
            "reference acquirer (%s) listening on %s:%d", self.dialect.name, self.host, self.port
        )
        return self.port

    def stop(self) -> None:
        """Stop serving, close every connection and the ledger."""
        self._stop.set()
        self._wake()
        self._inbox.put(None)
        for s in (self._listener, self._control):
            if s is not None:
                # close() alone does not wake a thread blocked in accept() on Linux.
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
                with contextlib.suppress(OSError):
                    s.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        for t in list(self._threads):
            if t is not threading.current_thread():
                t.join(timeout=5)
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()

    def __enter__(self) -> ReferenceAcquirer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until ``stop()`` (or Ctrl-C in the caller)."""
        self._stop.wait()

    # ------------------------------------------------------------- control
    def set_fault(self, name: str, **params: Any) -> None:
        """Switch a fault on (see ``faults.FAULTS``); ConfigError for unknown names/params."""
        self.faults.set(name, **params)
        if name == "refuse":
            self._sync_listener()
            self._drop_connections()
        self._wake()

    def clear_faults(self, name: str | None = None) -> None:
        """Switch one fault, or every fault, off."""
        self.faults.clear(name)
        self._sync_listener()
        self._wake()

    def _sync_listener(self) -> None:
        """Close or re-open the listening socket to match the ``refuse`` fault, right now."""
        if self._wake_r is None or self._stop.is_set():
            return  # not started: start() binds
        with self._listen_lock:
            refusing = self.faults.active("refuse")
            if refusing and self._listener is not None:
                # shutdown() first: a listening socket that another thread is select()ing on
                # would otherwise keep completing handshakes until that select returns.
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            elif not refusing and self._listener is None:
                self._listener = self._bind(self.port)

    def ledger(self) -> list[dict[str, Any]]:
        """Every ledger row (tid, stan, rrn, amount, status, type, mti, transmitted_at,
        response_code, masked_pan, batch, …), oldest first."""
        if self._ledger is None:
            ledger = Ledger(self.ledger_path)
            try:
                return ledger.transactions()
            finally:
                ledger.close()
        return self._ledger.transactions()

    @property
    def books(self) -> Ledger:
        """The open ledger (only while started)."""
        if self._ledger is None:
            raise CountertopError("the acquirer is not running")
        return self._ledger

    # ----------------------------------------------------------- internals
    def _bind(self, port: int, host: str | None = None) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or self.host, port))
        except OSError as exc:
            s.close()
            raise ConfigError(f"cannot listen on {host or self.host}:{port}: {exc}") from exc
        s.listen(64)
        return s

    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        t = threading.Thread(target=target, name=name, args=args, daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
        t.start()

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    def _drop_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def _accept_loop(self) -> None:
        assert self._wake_r is not None
        while not self._stop.is_set():
            with self._listen_lock:
                listener = self._listener
            watch = [self._wake_r] + ([listener] if listener else [])
            try:
                r, _, _ = select.select(watch, [], [], 1.0)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return
                continue
            if self._wake_r in r:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            if listener is not None and listener in r:
                try:
                    conn, peer = listener.accept()
                except OSError:
                    continue  # closed under us by the refuse fault, or by stop()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._lock:
                    self._conns.add(conn)
                self._spawn(self._serve_conn, f"acquirer-conn-{peer[1]}", conn)

    def _tls_wrap(self, conn: socket.socket) -> socket.socket | None:
        assert self._tls is not None
        conn.settimeout(5.0)  # a client that never finishes its handshake must not stall us
        try:
            tls = self._tls.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.warning("TLS handshake failed: %s", exc)
            with contextlib.suppress(OSError):
                conn.close()
            return None
        tls.settimeout(None)
        return tls

    def _serve_conn(self, raw: socket.socket) -> None:
        write_lock = threading.Lock()
        conn: socket.socket = raw
        if self._tls is not None:
            # In this thread, so a slow handshake stalls no one else.
            wrapped = self._tls_wrap(raw)  # takes over raw's file descriptor
            with self._lock:
                self._conns.discard(raw)
                if wrapped is not None:
                    self._conns.add(wrapped)
            if wrapped is None:
                return
            conn = wrapped
        outbox: queue.SimpleQueue[tuple[HostRequest, HostResponse] | None] = queue.SimpleQueue()
        self._spawn(self._write_loop, "acquirer-writer", conn, write_lock, outbox)
        reader = self.dialect.reader()
        try:
            while not self._stop.is_set():
                # One recv for whatever has arrived (a pipelining terminal sends many frames
                # at once), split into frames here, rather than two recvs per frame.
                data = conn.recv(65536)
                if not data:
                    if reader.pending:
                        log.warning("closing connection: closed inside a frame")
                    return
                try:
                    for body in reader.split(data):
                        self._inbox.put((conn, write_lock, outbox, body))
                except ProtocolError as exc:
                    log.warning("closing connection: %s", exc)
                    return
        except OSError:
            return
        finally:
            outbox.put(None)
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _write_loop(
        self,
        conn: socket.socket,
        write_lock: threading.Lock,
        outbox: queue.SimpleQueue[tuple[HostRequest, HostResponse] | None],
    ) -> None:
        """Send one connection's committed answers in order (a slow client stalls only itself).

        Every answer already waiting goes out in one write; under the ``reset`` fault each
        goes alone, as that fault cuts one answer in half.
        """
        done = False
        while not done:
            items = [outbox.get()]
            while True:
                try:
                    items.append(outbox.get_nowait())
                except queue.Empty:
                    break
            batch: list[bytes] = []
            stans: list[int] = []
            for item in items:
                if item is None:
                    done = True
                    break
                req, resp = item
                data = self._answer_frame(req, resp)
                if data is None:
                    continue
                if self.faults.active("reset"):
                    self._flush(conn, write_lock, batch, stans)
                    self._send(conn, write_lock, req, data)
                else:
                    batch.append(data)
                    stans.append(req.stan)
            self._flush(conn, write_lock, batch, stans)

    def _flush(
        self, conn: socket.socket, write_lock: threading.Lock, batch: list[bytes], stans: list[int]
    ) -> None:
        if not batch:
            return
        with write_lock:
            try:
                conn.sendall(b"".join(batch))
            except OSError as exc:
                log.info("%d answers (STAN %06d…) not delivered: %s", len(batch), stans[0], exc)
        batch.clear()
        stans.clear()

    def _mak_lookup(self, tid: str) -> bytes | None:
        return self._ledger.mak(tid) if self._ledger else None

    def _signon_lookup(self, tid: str) -> bytes | None:
        # A sign-on must be MACed with the key derived from this TID's TMK: proof that the
        # sender holds the TMK, so no one else can make us rotate a terminal's keys.
        tmk = self.terminals.get(tid)
        return keys.signon_key(tmk) if tmk is not None else None

    def _answer_key(self, req: HostRequest, resp: HostResponse) -> bytes | None:
        if self.dialect.mac_key_of(req.kind) == "signon":
            # A refused sign-on goes without a MAC: the sender did not prove it holds the
            # TMK, so a MAC under it would prove nothing to it (and it carries no keys).
            return self._signon_lookup(req.tid) if resp.approved else None
        return self._mak_lookup(req.tid)

    def _decide_loop(self) -> None:
        """Take every request waiting, decide them in one commit, then release their answers."""
        while not self._stop.is_set():
            first = self._inbox.get()
            if first is None:
                return
            work = [first]
            while len(work) < _GROUP_MAX:
                try:
                    nxt = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    return
                work.append(nxt)
            if self._stop.is_set():
                return
            self._decide_group(work)

    def _decide_group(self, work: list[_Work]) -> None:
        ledger = self._ledger
        if ledger is None:
            return
        jobs: list[tuple[HostRequest, str, bytes | None, bool]] = []
        dests: list[tuple[socket.socket, threading.Lock, queue.SimpleQueue[Any]]] = []
        for conn, write_lock, outbox, body in work:
            with self._lock:
                self.requests_seen += 1
            mac_ok = True
            try:
                req = self.dialect.decode_request(body, self._mak_lookup, self._signon_lookup)
            except FrameMacError as exc:
                assert isinstance(exc.message, HostRequest)
                req, mac_ok = exc.message, False
            except ProtocolError as exc:
                # No trustworthy TID/STAN to answer to: say nothing (the terminal times out).
                log.warning("undecodable request ignored: %s", exc)
                continue
            if self.faults.hit("drop_request"):
                log.info("fault drop_request: STAN %06d ignored", req.stan)
                continue
            if (
                mac_ok
                and req.kind is not MessageKind.SIGN_ON
                and req.tid in self.terminals
                and self.faults.hit("rotate_keys")
            ):
                # As if another sign-on as this TID had just been answered: the request was
                # MACed with the key the host no longer holds, and the answer goes out under
                # the new one.
                ledger.rotate_keys(req.tid)
                mac_ok = False
            if req.kind is MessageKind.SETTLEMENT and self.faults.hit("totals_mismatch"):
                ledger.mismatch_next(req.tid, req.batch)
            mti = self.dialect.request_mti(req)
            tmk = self.terminals.get(req.tid)
            if tmk is not None and req.tid in self.mids and self.mids[req.tid] != req.mid:
                tmk = None
            jobs.append((req, mti, tmk, mac_ok))
            dests.append((conn, write_lock, outbox))
        if not jobs:
            return
        try:
            results = ledger.answer_many(jobs)
        except CountertopError:
            # Nothing was committed, so nothing may be answered: the terminals time out.
            log.exception("cannot commit the answers to %d requests", len(jobs))
            return
        for (conn, write_lock, outbox), (req, *_), res in zip(dests, jobs, results, strict=True):
            if isinstance(res, CountertopError):
                log.error("cannot answer STAN %06d: %s", req.stan, res)
                continue
            if self.faults.active("delay") or self.faults.active("latency"):
                self._spawn(self._reply, "acquirer-reply", conn, write_lock, req, res)
            else:
                outbox.put((req, res))

    def _reply(
        self,
        conn: socket.socket,
        write_lock: threading.Lock,
        req: HostRequest,
        resp: HostResponse,
    ) -> None:
        data = self._answer_frame(req, resp)
        if data is not None:
            self._send(conn, write_lock, req, data)

    def _answer_frame(self, req: HostRequest, resp: HostResponse) -> bytes | None:
        """The framed answer as the faults want it (None: not to be sent)."""
        # An unknown or never-signed-on terminal gets its answer without a MAC (there is no
        # key to make one); the terminal rejects it as a MAC failure, as it should.
        mak = self._answer_key(req, resp)
        kind_maced = self.dialect.is_maced(req.kind)
        try:
            body = self.dialect.encode_response(resp, req, mak)
        except CountertopError:
            log.exception("cannot encode the answer to STAN %06d", req.stan)
            return None
        if self.faults.hit("extra_fields"):
            try:
                body = self.dialect.encode_response(
                    replace(resp, extra_fields=EXTRA_FIELDS), req, mak
                )
            except CountertopError:
                log.exception("cannot add fields to the answer to STAN %06d", req.stan)
        if self.faults.hit("drop_response"):
            log.info("fault drop_response: answer to STAN %06d not sent", req.stan)
            return None
        f = self.faults.hit("delay")
        if f and self._stop.wait(f.params.get("seconds", 30.0)):
            return None
        f = self.faults.hit("latency")
        if f and self._stop.wait(f.params.get("ms", 200.0) / 1000):
            return None
        if self.faults.hit("bad_mac") and kind_maced:
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        if self.faults.hit("garbage"):
            body = os.urandom(max(8, len(body)))
        return self.dialect.frame_response(body)

    def _send(
        self, conn: socket.socket, write_lock: threading.Lock, req: HostRequest, data: bytes
    ) -> None:
        with write_lock:
            try:
                if self.faults.hit("reset"):
                    conn.sendall(data[: len(data) // 2])
                    # SO_LINGER 0 makes the close send RST instead of FIN; SHUT_RD wakes the
                    # connection's reader thread, whose close() then resets the connection.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.shutdown(socket.SHUT_RD)
                    return
                conn.sendall(data)
            except OSError as exc:
                log.info("answer to STAN %06d not delivered: %s", req.stan, exc)

    # ------------------------------------------------------------- control
    def _control_loop(self) -> None:
        assert self._control is not None
        # shutdown() does not wake accept() on every platform: poll with a short timeout.
        self._control.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._control.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            # A client that dies before reading its reply must not end the control channel.
            with contextlib.suppress(OSError), conn, conn.makefile("rwb") as f:
                for raw in f:
                    reply = self._control_command(raw.decode("utf-8", "replace").strip())
                    f.write(reply.encode() + b"\n")
                    f.flush()

    def _control_command(self, line: str) -> str:
        parts = line.split()
        if not parts:
            return "ERR empty command"
        cmd, args = parts[0].upper(), parts[1:]
        try:
            if cmd == "PING":
                return "PONG"
            if cmd == "FAULT" and args:
                params = dict(a.split("=", 1) for a in args[1:])
                self.set_fault(args[0], **params)
                return "OK"
            if cmd == "CLEAR":
                self.clear_faults(args[0] if args else None)
                return "OK"
            if cmd == "FAULTS":
                return json.dumps(self.faults.describe())
            if cmd == "LEDGER":
                return json.dumps(self.ledger())
        except (ConfigError, ValueError) as exc:
            return f"ERR {exc}"
        return f"ERR unknown command {line!r}"


def control(host: str, port: int, command: str, timeout: float = 5.0) -> str:
    """Send one control-channel command to a running acquirer and return its reply line."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s, s.makefile("rwb") as f:
            f.write(command.encode() + b"\n")
            f.flush()
            reply = f.readline().decode().strip()
    except OSError as exc:
        raise ConfigError(
            f"no acquirer control channel at {host}:{port}: {exc} (is it running?)"
        ) from exc
    if reply.startswith("ERR"):
        raise ConfigError(reply[4:])
    return reply
