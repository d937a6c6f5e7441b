"""``countertop bench settle``: batch upload of a large batch against the reference acquirer.

A throw-away demo shop (temporary directory, loopback acquirer) gets ``n`` approved sales
written straight into its journal in one SQLite transaction — sales the acquirer never saw, so
the first 0500 is out of balance and every one of them is uploaded as a 0320 before the final
0500 balances. The upload is windowed (``window`` requests outstanding at once); uploads are
idempotent at the host, so pipelining them is safe.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.domain.roles import System
from appliance.domain.transactions import Transaction, TxnState, TxnType
from appliance.errors import CountertopError

SCHEMES = (("VISA", "476173******0119"), ("MASTERCARD", "520000******0007"))


def _fill(journal: Any, n: int, currency: str) -> None:
    """Insert ``n`` approved sales of the open batch in one transaction (fast, not realistic)."""
    now = datetime.now(UTC)
    sent = now.replace(microsecond=0)
    batch, stan0 = journal.batch, journal.counter("stan")
    txns = []
    for i in range(n):
        scheme, pan = SCHEMES[i % 2]
        txns.append(
            Transaction(
                uuid=str(uuidlib.uuid4()),
                type=TxnType.SALE,
                state=TxnState.APPROVED,
                amount=100 + i,
                currency=currency,
                stan=(stan0 + i) % 999_999 + 1,
                batch=batch,
                invoice=i + 1,
                created_at=now,
                updated_at=now,
                transmitted_at=sent,
                masked_pan=pan,
                scheme=scheme,
                entry_mode="07",
                rrn=f"B{i:011d}",
                auth_code=f"{i % 1_000_000:06d}",
                response_code="00",
                operator="bench",
            )
        )
    with journal.unit() as uow:
        uow.bulk.insert(txns, tz=UTC)
        uow.bulk.set_stan((stan0 + n - 1) % 999_999 + 1)
        uow.commit()


def _acquirer_process(cfg_path: Path, latency_ms: float) -> subprocess.Popen[bytes]:
    """The reference acquirer in its own process (as a real host is): started, listening."""
    from appliance.sim.shop import free_port

    cmd = [
        sys.executable,
        "-m",
        "appliance",
        "--config",
        str(cfg_path),
        "acquirer",
        "--control-port",
        str(free_port()),
    ]
    if latency_ms:
        cmd += ["--fault", f"latency:ms={latency_ms}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed once it listens
    if not line:
        proc.wait(5)
        raise CountertopError("the reference acquirer did not start for the benchmark")
    return proc


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of process ``pid`` so far, from /proc; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def bench_settle(
    n: int = 10_000, latency_ms: float = 0, window: int = 256, *, separate: bool = True
) -> dict[str, Any]:
    """Settle a batch of ``n`` sales unknown to the acquirer (full batch upload); timings.

    With ``separate`` (the default) the acquirer runs in its own process, as a real host does,
    and ``terminal_cpu_ms_per_upload`` is this process's CPU time alone.
    """
    from appliance.bootstrap import build_terminal
    from appliance.config import load_config
    from appliance.services.settlement import Settlement
    from appliance.sim.shop import acquirer_for, free_port, init_demo

    with tempfile.TemporaryDirectory(prefix="countertop-bench-") as tmp:
        path = init_demo(Path(tmp) / "terminal.toml", port=free_port())
        cfg = load_config(path)
        proc = None
        acq = None
        if separate:
            proc = _acquirer_process(path, latency_ms)
        else:
            acq = acquirer_for(cfg, control_port=0)
            acq.start()
            if latency_ms:
                acq.set_fault("latency", ms=latency_ms)
        term = build_terminal(cfg)
        try:
            term.sign_on("bench")
            t0 = time.perf_counter()
            _fill(term.journal, n, cfg.currency.alpha)
            fill_s = time.perf_counter() - t0
            a1 = _cpu_seconds(proc.pid) if proc is not None else None
            t1, c1 = time.perf_counter(), time.process_time()
            out = Settlement(term, window=window).settle(approver=System("bench"))
            settle_s, cpu_s = time.perf_counter() - t1, time.process_time() - c1
            a2 = _cpu_seconds(proc.pid) if proc is not None else None
            rec = out.record
            return {
                "n": n,
                "latency_ms": latency_ms,
                "window": window,
                "acquirer": "separate process" if separate else "same process",
                "fill_s": round(fill_s, 3),
                "settle_s": round(settle_s, 3),
                "uploads_per_s": round(rec.uploaded / settle_s, 1) if settle_s else None,
                "terminal_cpu_ms_per_upload": round(cpu_s * 1000 / max(1, rec.uploaded), 3),
                "acquirer_cpu_ms_per_upload": None
                if a1 is None or a2 is None
                else round((a2 - a1) * 1000 / max(1, rec.uploaded), 3),
                "uploaded": rec.uploaded,
                "result": rec.result.value if rec.result else None,
                "target_s": 5.0,
                "within_target": settle_s <= 5.0,
            }
        finally:
            term.close()
            if acq is not None:
                acq.stop()
            if proc is not None:
                proc.terminate()
                proc.wait(10)
