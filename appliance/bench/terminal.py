"""Benches of the terminal itself: ``sale`` (overhead against the floor) and ``drain``."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from appliance.bench.stats import percentile


class _TimedLink:
    """Wraps the host link and adds up the time spent inside its round trips."""

    def __init__(self, link: Any) -> None:
        self.link = link
        self.inside = 0.0
        self.frame_bytes = 0

    def exchange(self, req: Any, timeout: float | None = None) -> Any:
        start = time.perf_counter()
        try:
            return self.link.exchange(req, timeout)
        finally:
            self.inside += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self.link, name)


@contextmanager
def _acquirer_process(cfg: Any) -> Iterator[int]:
    """The reference acquirer for ``cfg`` in its own process (as a real host would be: it must
    not share this interpreter's GIL); yields its control port."""
    import subprocess
    import sys

    from appliance.sim.shop import free_port

    control_port = free_port()
    code = (
        "import sys; from appliance.sim.shop import acquirer_for; "
        "from appliance.config import load_config; "
        f"a = acquirer_for(load_config(sys.argv[1]), control_port={control_port}); a.start(); "
        "print('READY', flush=True); sys.stdin.read(); a.stop()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(cfg.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"READY":
            raise RuntimeError("the reference acquirer did not start")
        yield control_port
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def _shop(tmp: Path, **config: Any) -> Iterator[tuple[Any, int, Any]]:
    """A demo shop in ``tmp``: (config, acquirer control port, terminal)."""
    from appliance.bootstrap import build_terminal
    from appliance.sim.torture import make_shop_config

    cfg = make_shop_config(tmp, response_timeout=5.0, connect_timeout=2.0, **config)
    with _acquirer_process(cfg) as control_port:
        term = build_terminal(cfg)
        try:
            yield cfg, control_port, term
        finally:
            term.close()


def _card(term: Any) -> Any:
    """One card read by the configured (mock) reader, to reuse for every payment."""
    from drivers.reader.base import ReadContext

    return term.reader.read_card(
        ReadContext(
            amount=100,
            currency_numeric=term.cur.numeric,
            country_numeric=term.config.merchant.country_numeric,
            txn_date=term.journal.clock().date(),
            txn_type="00",
        ),
        timeout=5.0,
    )


class _Floor:
    """The floor of a sale: one fsync'd SQLite commit (WAL+FULL) and one loopback round trip
    of a frame of the sale's size. Sampled between sales, so both see the same machine load."""

    def __init__(self, tmp: Path, frame: int) -> None:
        from appliance.journal.db import connect

        self.frame = frame
        self.commits: list[float] = []
        self.trips: list[float] = []
        self.conn = connect(tmp / "floor.db")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.thread = threading.Thread(target=self._echo, daemon=True)
        self.thread.start()
        self.cli = socket.create_connection(self.srv.getsockname())
        self.cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.payload = b"\x00" * frame

    def _echo(self) -> None:
        c, _ = self.srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with c:
            while True:
                got = b""
                while len(got) < self.frame:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    got += chunk
                c.sendall(got)

    def sample(self) -> float:
        """Two commits and one round trip, as a sale needs at least; returns their time."""
        total = 0.0
        for _ in range(2):
            start = time.perf_counter()
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO t (v) VALUES (?)", (b"x" * 200,))
            self.conn.execute("COMMIT")
            self.commits.append(time.perf_counter() - start)
            total += self.commits[-1]
        start = time.perf_counter()
        self.cli.sendall(self.payload)
        got = 0
        while got < self.frame:
            got += len(self.cli.recv(65536))
        self.trips.append(time.perf_counter() - start)
        return total + self.trips[-1]

    def close(self) -> None:
        """Release the database and the sockets."""
        self.cli.close()
        self.srv.close()
        self.thread.join(timeout=2)
        self.conn.close()


def bench_sale(n: int = 300) -> dict[str, Any]:
    """``n`` online sales against the loopback reference acquirer.

    Reports p50/p99 of the whole sale and of the terminal's own overhead (the sale minus the
    time inside the link round trip), and the floor measured in the same run: two fsync'd
    SQLite commits (WAL+FULL) plus one loopback round trip of a sale-sized frame. Target:
    overhead p50 ≤ 2 × floor. The card is read once beforehand (``bench card`` times reads).

    The floor is sampled after each sale, once the indicators' owner thread has shown the
    sale's state (``flush``: LEDs set, tone started): that work runs after the sale returns,
    and sampled on top of it the floor would rise and flatter the ratio.
    """
    with tempfile.TemporaryDirectory(prefix="bench-sale-") as d, _shop(Path(d)) as shop:
        _cfg, _acq, term = shop
        term.sign_on("01")
        card = _card(term)
        timed = _TimedLink(term.link)
        term.link = timed
        floor = _Floor(Path(d), _sale_frame_size(term, card))
        settle = getattr(term.indicators, "flush", None)
        totals, overheads, floors = [], [], []
        try:
            for i in range(n + 10):
                timed.inside = 0.0
                start = time.perf_counter()
                out = term.sale(1000 + i % 40 * 100, card=card, operator="01")
                total = time.perf_counter() - start
                if out.result != "approved":
                    raise RuntimeError(f"bench sale {i} was {out.result}: {out.message_en}")
                # The indicators' owner thread shows the sale's state after the sale returns;
                # let it finish that, so its work does not land inside the floor sample.
                if settle is not None:
                    settle(timeout=1.0)
                f = floor.sample()
                if i >= 10:  # the first few warm caches and the connection
                    totals.append(total)
                    overheads.append(total - timed.inside)
                    floors.append(f)
        finally:
            floor.close()
    p50, floor_p50 = percentile(overheads, 50) * 1000, percentile(floors, 50) * 1000
    return {
        "sales": n,
        "sale_p50_ms": round(percentile(totals, 50) * 1000, 3),
        "sale_p99_ms": round(percentile(totals, 99) * 1000, 3),
        "overhead_p50_ms": round(p50, 3),
        "overhead_p99_ms": round(percentile(overheads, 99) * 1000, 3),
        "frame_bytes": floor.frame,
        "commit_p50_ms": round(percentile(floor.commits, 50) * 1000, 3),
        "loopback_p50_ms": round(percentile(floor.trips, 50) * 1000, 3),
        "floor_p50_ms": round(floor_p50, 3),
        "overhead_over_floor": round(p50 / floor_p50, 2),
        "target": "overhead p50 <= 2 x floor",
        "ok": p50 <= 2 * floor_p50,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def _sale_frame_size(term: Any, card: Any) -> int:
    """Bytes on the wire of a sale request like the ones benched."""
    from appliance.host.messages import CardFields, HostRequest, MessageKind

    req = HostRequest(
        MessageKind.SALE,
        term.tid,
        term.mid,
        1,
        term.journal.clock().replace(microsecond=0),
        amount=1000,
        currency=term.cur.numeric,
        card=CardFields.of(card),
        batch=term.journal.batch,
    )
    link = term.link.link if isinstance(term.link, _TimedLink) else term.link
    link = getattr(link, "inner", link)  # the MonitoredLink around the host link
    body = link.dialect.encode_request(req, term._mak)
    return len(link.dialect.frame(body))


def store_payments(term: Any, card: Any, n: int) -> int:
    """Create ``n`` real stored payments (PENDING → STORED with sealed card data and an owed
    advice, exactly as an offline sale leaves them) without going through the link."""
    from appliance.domain.transactions import TxnType
    from appliance.host.messages import CardFields

    fields = CardFields.of(card)
    for i in range(n):
        txn = term.journal.begin(
            TxnType.SALE,
            100 + i,
            term.cur.alpha,
            masked_pan=card.masked_pan,
            scheme=card.scheme,
            entry_mode=card.entry_mode,
            aid=card.aid,
            label=card.label,
            operator="01",
        )
        term.journal.store_offline(txn.uuid, term.vault.seal(txn.uuid, fields))
    return n


def _drain_once(n: int, window: int, latency_ms: float, stubs: bool) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-drain-") as d,
        _shop(Path(d), print_after_forward=stubs) as shop,
    ):
        from appliance.sim.acquirer.server import control

        _cfg, control_port, term = shop
        term.sign_on("01")
        store_payments(term, _card(term), n)
        control("127.0.0.1", control_port, f"FAULT latency ms={latency_ms}")
        start = time.perf_counter()
        report = term.send_owed(kinds=("advice",), window=window)
        seconds = time.perf_counter() - start
        return {
            "seconds": round(seconds, 2),
            "acknowledged": report.acknowledged,
            "still_owed": report.still_owed,
            "per_second": round(report.acknowledged / seconds, 1) if seconds else 0.0,
        }


def bench_drain(
    n: int = 1000,
    latency_ms: float = 50.0,
    window: int | None = None,
    window1_n: int | None = None,
    stubs: bool = True,
) -> dict[str, Any]:
    """Forward ``n`` stored payments with ``latency_ms`` added by the acquirer to every answer,
    with the configured window (8) and, in the same run, with window 1.

    Target: ≤ 10 s with the window and ≥ 5× faster than window 1. ``window1_n`` forwards fewer
    payments with window 1 (its time is then scaled to ``n`` and marked ``extrapolated``).
    ``stubs=False`` forwards without a stub per forwarded payment
    (``receipts.print_after_forward = false``), to show what the stubs cost.
    """
    win = window or _default_window()
    fast = _drain_once(n, win, latency_ms, stubs)
    m = window1_n or n
    slow = _drain_once(m, 1, latency_ms, stubs)
    slow_n = slow["seconds"] * n / m
    speedup = slow_n / fast["seconds"] if fast["seconds"] else 0.0
    return {
        "payments": n,
        "latency_ms": latency_ms,
        "stubs": stubs,
        "window": win,
        "window_seconds": fast["seconds"],
        "window_acknowledged": fast["acknowledged"],
        "window1_payments": m,
        "window1_seconds": round(slow_n, 2),
        "window1_extrapolated": m != n,
        "speedup": round(speedup, 1),
        "target": "window <= 10 s and >= 5x faster than window 1",
        "ok": fast["seconds"] <= 10 and speedup >= 5 and fast["still_owed"] == 0,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def _default_window() -> int:
    """The ``host.window`` default of a fresh config."""
    from appliance.config import SCHEMA

    return int(SCHEMA["host"]["window"][0])
