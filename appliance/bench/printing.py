"""``countertop bench print``: the kiosk's print worker idle, and how soon it prints a job that
another process queued (the settlement timer's Z slip, a CLI reprint).

The worker runs in its own process (as the kiosk does) over a LAN printer on loopback; this
process measures the worker's CPU time while nothing happens, then queues jobs through its own
journal connection and times each until its bytes reach the printer. Targets: within 1 s, and
idle CPU below 1 % of a core.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.bench.stats import percentile

_WORKER = (
    "import sys; from appliance.bootstrap import build_printer; "
    "from appliance.config import load_config; from appliance.journal import Journal; "
    "from appliance.services.printing import PrintQueue; "
    "cfg = load_config(sys.argv[1]); j = Journal.open(cfg.journal_path); "
    "q = PrintQueue(cfg, j, build_printer(cfg)); q.start(); print('READY', flush=True); "
    "sys.stdin.read(); q.stop(); j.close()"
)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_print(idle_seconds: float = 20.0, jobs: int = 20) -> dict[str, Any]:
    """Idle CPU of the print worker over ``idle_seconds``, then ``jobs`` jobs queued by another
    process: p50/max from commit to the first byte at the printer."""
    from appliance.bootstrap import build_printer
    from appliance.config import load_config
    from appliance.domain.receipts import Cut, Document, Text
    from appliance.journal import Journal
    from appliance.services.printing import PrintQueue
    from appliance.sim.printer_net import FakeNetworkPrinter
    from appliance.sim.shop import init_demo

    with tempfile.TemporaryDirectory(prefix="bench-print-") as d, FakeNetworkPrinter() as fake:
        path = init_demo(
            Path(d) / "terminal.toml",
            overrides={"printer": {"backend": "network", "host": fake.host, "port": fake.port}},
        )
        worker = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "READY":
                raise RuntimeError("the print worker did not start")
            time.sleep(2)  # let it settle (imports, first heartbeat)
            cpu0, t0 = _cpu_seconds(worker.pid), time.monotonic()
            time.sleep(idle_seconds)
            idle = (_cpu_seconds(worker.pid) - cpu0) / (time.monotonic() - t0)
            cfg = load_config(path)
            journal = Journal.open(cfg.journal_path)
            queue = PrintQueue(cfg, journal, build_printer(cfg))
            waits = []
            try:
                for n in range(jobs):
                    before = len(fake.received)
                    start = time.monotonic()
                    queue.document(Document("bench", "en", (Text(f"JOB {n}"), Cut())), "bench")
                    while len(fake.received) == before:
                        if time.monotonic() - start > 30:
                            raise RuntimeError(f"job {n} did not print within 30 s")
                        time.sleep(0.002)
                    waits.append(time.monotonic() - start)
                    time.sleep(0.1)
            finally:
                journal.close()
        finally:
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait(timeout=20)
    p50, worst = percentile(waits, 50), max(waits)
    return {
        "idle_seconds": idle_seconds,
        "idle_cpu_percent": round(idle * 100, 3),
        "jobs": jobs,
        "queued_elsewhere_to_printer_p50_ms": round(p50 * 1000, 1),
        "queued_elsewhere_to_printer_max_ms": round(worst * 1000, 1),
        "target": "every job within 1 s; idle CPU < 1 % of a core",
        "ok": worst < 1.0 and idle < 0.01,
    }
