"""``countertop bench qr``: a QR payment's overhead on the terminal against its floor.

The reference QR gateway runs in its own process (as a real gateway would: it must not share
this interpreter's GIL). Each payment is timed whole and inside the gateway client's calls; the
terminal's overhead is the difference (journal commits, code check, decisions, stub). The floor,
sampled between payments under the same load: two fsync'd SQLite commits (WAL+FULL: the
PENDING row and the outcome) plus one loopback HTTP round trip to the same server
(``GET /sim/ping`` over the same kind of keep-alive httpx client). Target: overhead p50 ≤ 2 × floor.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from appliance.bench.stats import percentile


class _TimedGateway:
    """Wraps the gateway client and adds up the time spent inside its calls."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.inside = 0.0

    def call(self, api: str, params: dict[str, Any], timeout: float | None = None) -> Any:
        start = time.perf_counter()
        try:
            return self.gateway.call(api, params, timeout)
        finally:
            self.inside += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gateway, name)


@contextmanager
def _gateway_process(cfg: Any) -> Iterator[None]:
    code = (
        "import sys; from appliance.sim.shop import qr_gateway_for; "
        "from appliance.config import load_config; "
        "g = qr_gateway_for(load_config(sys.argv[1])).start(); "
        "print('READY', flush=True); sys.stdin.read(); g.stop()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(cfg.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"READY":
            raise RuntimeError("the reference QR gateway did not start")
        yield
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


def bench_qr(n: int = 200) -> dict[str, Any]:
    """``n`` customer-presented QR payments against the loopback reference QR gateway."""
    import httpx

    from appliance.bootstrap import build_terminal
    from appliance.journal.db import connect
    from appliance.sim.shop import demo_config

    with tempfile.TemporaryDirectory(prefix="bench-qr-") as d:
        cfg = demo_config(Path(d), overrides={"qr": {"timeout": 5.0}})
        with _gateway_process(cfg):
            term = build_terminal(cfg)
            timed = _TimedGateway(term.qr.gateway)
            term.qr.gateway = timed
            conn = connect(Path(d) / "floor.db")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
            ping = httpx.Client(base_url=cfg.qr.gateway, timeout=5.0)
            totals, overheads, floors = [], [], []
            try:
                for i in range(n + 10):
                    timed.inside = 0.0
                    start = time.perf_counter()
                    out = term.qr.pay(1000 + i % 40 * 100, "134567890123456789", operator="01")
                    total = time.perf_counter() - start
                    if out.result != "approved":
                        raise RuntimeError(f"bench QR payment {i} was {out.result}: {out.code}")
                    f = time.perf_counter()
                    for _ in range(2):
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute("INSERT INTO t (v) VALUES (?)", (b"x" * 200,))
                        conn.execute("COMMIT")
                    ping.get("/sim/ping").raise_for_status()
                    floor = time.perf_counter() - f
                    if i >= 10:  # warm caches and the keep-alive connection first
                        totals.append(total)
                        overheads.append(total - timed.inside)
                        floors.append(floor)
            finally:
                ping.close()
                conn.close()
                term.close()
    p50, floor_p50 = percentile(overheads, 50) * 1000, percentile(floors, 50) * 1000
    return {
        "payments": n,
        "pay_p50_ms": round(percentile(totals, 50) * 1000, 3),
        "pay_p99_ms": round(percentile(totals, 99) * 1000, 3),
        "overhead_p50_ms": round(p50, 3),
        "overhead_p99_ms": round(percentile(overheads, 99) * 1000, 3),
        "floor_p50_ms": round(floor_p50, 3),
        "target": "overhead p50 <= 2 x floor p50",
        "ok": p50 <= 2 * floor_p50,
    }
