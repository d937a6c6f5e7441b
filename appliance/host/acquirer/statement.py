"""The acquirer's daily settlement statement (CSV), optionally with injected discrepancies.

Reconciliation (对账) compares the terminal's journal with this statement. To test it, a
statement can be damaged on purpose, repeatably (seeded): rows left out (the acquirer has no
record: a one-sided transaction), amounts changed, rows the terminal never saw added.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TextIO

COLUMNS = (
    "business_date",
    "tid",
    "mid",
    "batch",
    "stan",
    "rrn",
    "auth_code",
    "type",
    "amount",
    "fee",
    "net",
    "currency",
    "masked_pan",
    "scheme",
    "created_at",
)


@dataclass
class Injected:
    """What was done to a statement: RRNs removed, changed (old, new amount), added."""

    missing: list[str] = field(default_factory=list)
    changed: list[tuple[str, int, int]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


def statement_rows(
    ledger_rows: list[dict[str, Any]], day: date, *, mdr_bp: int = 0
) -> list[dict[str, Any]]:
    """Statement rows from ``Ledger.statement(day)``: fee at ``mdr_bp`` basis points (rounded
    half up, minor units), refunds negative."""
    out = []
    for r in ledger_rows:
        sign = -1 if r["type"] == "refund" else 1
        amount = sign * int(r["amount"])
        fee = sign * ((int(r["amount"]) * mdr_bp + 5_000) // 10_000)
        out.append(
            {
                **r,
                "business_date": day.isoformat(),
                "amount": amount,
                "fee": fee,
                "net": amount - fee,
            }
        )
    return out


def inject(
    rows: list[dict[str, Any]],
    *,
    missing: int = 0,
    changed: int = 0,
    extra: int = 0,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], Injected]:
    """A damaged copy of ``rows`` and a record of the damage (same seed → same damage)."""
    rng = random.Random(seed)
    rows = [dict(r) for r in rows]
    done = Injected()
    for _ in range(min(missing, len(rows))):
        victim = rows.pop(rng.randrange(len(rows)))
        done.missing.append(victim["rrn"])
    for r in rng.sample(rows, min(changed, len(rows))):
        old = r["amount"]
        delta = rng.choice((-100, -1, 1, 100))
        r["amount"] = old + delta
        r["net"] = r["amount"] - r["fee"]
        done.changed.append((r["rrn"], old, r["amount"]))
    template = rows[0] if rows else {c: "" for c in COLUMNS}
    for i in range(extra):
        rrn = f"X{rng.randrange(10**11):011d}"
        amount = rng.randrange(100, 100_000)
        rows.append(
            {
                **template,
                "stan": 900_000 + i,
                "rrn": rrn,
                "auth_code": "",
                "type": "sale",
                "amount": amount,
                "fee": 0,
                "net": amount,
            }
        )
        done.extra.append(rrn)
    return rows, done


def write_csv(rows: list[dict[str, Any]], out: TextIO | None = None) -> str:
    """Write the statement as CSV (header + one row per transaction); returns the text."""
    buf = out or io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: "" if r.get(c) is None else r.get(c) for c in COLUMNS})
    return buf.getvalue() if isinstance(buf, io.StringIO) else ""
