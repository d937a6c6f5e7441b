"""The settlements repository: one row per batch cut for settlement (table ``settlements``).

Reached through the journal: ``with journal.unit() as uow: uow.settlements.…`` to change
(committed with ``uow.commit()``), ``with journal.read() as r: r.settlements.…`` to read.
Rows come back as ``appliance.domain.settlement.SettlementRecord``; times, totals and states
are stored here and nowhere else (see ``appliance.services.settlement`` for the steps).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from appliance.domain.receipts import BatchTotals, Totals
from appliance.domain.settlement import (
    SettlementRecord,
    SettleResult,
    SettleState,
    check_settle_transition,
    totals_from_dict,
    totals_to_dict,
    upload_stan,
)
from appliance.domain.stan import next_stan
from appliance.domain.transactions import Transaction
from appliance.errors import JournalError
from appliance.journal.codec import (
    TXN_COLUMNS,
    Executor,
    iso,
    maybe_time,
    parse_time,
    transaction_from_row,
)

# The columns a step may set (``advance``); anything else is a programming error.
_STEP_COLUMNS = frozenset(
    {
        "host_totals",
        "result",
        "response_code",
        "totals_stan",
        "totals_at",
        "upload_total",
        "uploaded",
        "upload_stan_base",
        "upload_at",
        "final_stan",
        "final_at",
        "closed_at",
        "last_error",
    }
)


@dataclass(frozen=True)
class BatchToCut:
    """What the cut of the open batch must know, read in the cut's own transaction."""

    batch: int
    owed: int  # messages still owed to the host (reversals and advices)
    pending: int  # payments of this batch whose answer is not journaled yet
    already_settled: bool  # this batch number has a settlement row
    transactions: list[Transaction]


def _stored(value: Any) -> Any:
    """A step's value as the column stores it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Totals):
        return json.dumps(vars(value))
    if isinstance(value, bool):
        return int(value)
    return value


def _record(r: Any) -> SettlementRecord:
    ht = json.loads(r["host_totals"]) if r["host_totals"] else None
    return SettlementRecord(
        batch=r["batch"],
        state=SettleState(r["state"]),
        totals=totals_from_dict(json.loads(r["terminal_totals"])),
        host_totals=Totals(**ht) if ht else None,
        result=SettleResult(r["result"]) if r["result"] else None,
        response_code=r["response_code"],
        totals_stan=r["totals_stan"],
        totals_at=maybe_time(r["totals_at"]),
        upload_total=r["upload_total"],
        uploaded=r["uploaded"],
        upload_stan_base=r["upload_stan_base"],
        upload_at=maybe_time(r["upload_at"]),
        final_stan=r["final_stan"],
        final_at=maybe_time(r["final_at"]),
        cut_at=parse_time(r["cut_at"]),
        closed_at=maybe_time(r["closed_at"]),
        slip_queued=bool(r["slip_queued"]),
        operator=r["operator"],
        last_error=r["last_error"],
    )


class Settlements:
    """The ``settlements`` table (and the counters the cut and the upload move)."""

    def __init__(self, ex: Executor) -> None:
        self._ex = ex

    # ---- reading ------------------------------------------------------------------------

    def get(self, batch: int) -> SettlementRecord | None:
        """The settlement of ``batch`` (None: never cut here)."""
        r = self._ex.execute("SELECT * FROM settlements WHERE batch=?", (batch,)).fetchone()
        return None if r is None else _record(r)

    def exists(self, batch: int) -> bool:
        """True when ``batch`` was cut for settlement."""
        r = self._ex.execute("SELECT 1 FROM settlements WHERE batch=?", (batch,)).fetchone()
        return r is not None

    def history(self, limit: int = 50) -> list[SettlementRecord]:
        """Settlements, newest first."""
        rows = self._ex.execute(
            "SELECT * FROM settlements ORDER BY cut_at DESC, batch DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_record(r) for r in rows]

    def unfinished(self) -> SettlementRecord | None:
        """A settlement cut but not closed (interrupted), if any: the oldest."""
        r = self._ex.execute(
            "SELECT * FROM settlements WHERE state != 'closed' ORDER BY batch LIMIT 1"
        ).fetchone()
        return None if r is None else _record(r)

    def last_cut_at(self) -> datetime | None:
        """When the newest batch was cut (None: never)."""
        r = self._ex.execute("SELECT MAX(cut_at) FROM settlements").fetchone()
        return maybe_time(r[0]) if r else None

    def slips_not_queued(self) -> list[int]:
        """Closed settlements whose slip was not queued yet (a crash in between)."""
        rows = self._ex.execute(
            "SELECT batch FROM settlements WHERE state='closed' AND slip_queued=0 ORDER BY batch"
        ).fetchall()
        return [int(r[0]) for r in rows]

    # ---- the cut ------------------------------------------------------------------------

    def batch_to_cut(self) -> BatchToCut:
        """The open batch and what decides whether it may be cut (read in the cut's unit)."""
        ex = self._ex
        batch = int(ex.execute("SELECT value FROM counters WHERE name='batch'").fetchone()[0])
        owed = int(ex.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        pending = int(
            ex.execute(
                "SELECT COUNT(*) FROM transactions WHERE batch=? AND state='pending'", (batch,)
            ).fetchone()[0]
        )
        rows = ex.execute(
            f"SELECT {TXN_COLUMNS} FROM transactions WHERE batch=?", (batch,)
        ).fetchall()
        return BatchToCut(
            batch=batch,
            owed=owed,
            pending=pending,
            already_settled=self.exists(batch),
            transactions=[transaction_from_row(r) for r in rows],
        )

    def cut(self, totals: BatchTotals, *, at: datetime, operator: str) -> int:
        """Freeze ``totals`` as batch ``totals.batch``'s settlement (OPEN) and open the next
        batch number; returns the next batch."""
        self._ex.execute(
            "INSERT INTO settlements (batch, state, terminal_totals, opened_at, cut_at, "
            "operator) VALUES (?,?,?,?,?,?)",
            (
                totals.batch,
                SettleState.OPEN.value,
                json.dumps(totals_to_dict(totals)),
                iso(totals.opened_at) if totals.opened_at else None,
                iso(at),
                operator,
            ),
        )
        nxt = totals.batch % 999_999 + 1
        self._ex.execute("UPDATE counters SET value=? WHERE name='batch'", (nxt,))
        return nxt

    # ---- the steps ----------------------------------------------------------------------

    def advance(self, batch: int, new: SettleState, **fields: Any) -> None:
        """Move ``batch``'s settlement to ``new`` (checked against the stored state) and set
        the step's ``fields`` (times, totals and enums are stored here)."""
        unknown = set(fields) - _STEP_COLUMNS
        if unknown:
            raise JournalError(f"settlement has no column {', '.join(sorted(unknown))}")
        row = self._ex.execute("SELECT state FROM settlements WHERE batch=?", (batch,)).fetchone()
        if row is None:
            raise JournalError(f"batch {batch:06d} has no settlement to advance")
        check_settle_transition(SettleState(row[0]), new)
        cols = {"state": new.value, **{k: _stored(v) for k, v in fields.items()}}
        names = ", ".join(f"{k}=?" for k in cols)
        self._ex.execute(f"UPDATE settlements SET {names} WHERE batch=?", (*cols.values(), batch))

    def note_error(self, batch: int, error: str) -> None:
        """Why the last step of ``batch``'s settlement failed (kept for status and support)."""
        self._ex.execute("UPDATE settlements SET last_error=? WHERE batch=?", (error[:300], batch))

    def uploaded(self, batch: int, done: int) -> None:
        """Every upload of ``batch`` before ``done`` was answered 00."""
        self._ex.execute(
            "UPDATE settlements SET uploaded=? WHERE batch=? AND state='uploading'", (done, batch)
        )

    def slip_queued(self, batch: int) -> None:
        """The settlement slip of ``batch`` is in the print queue."""
        self._ex.execute("UPDATE settlements SET slip_queued=1 WHERE batch=?", (batch,))

    def reserve_stans(self, n: int) -> int:
        """Reserve ``n`` consecutive STANs (cyclic) for a batch upload; returns the first."""
        cur = int(self._ex.execute("SELECT value FROM counters WHERE name='stan'").fetchone()[0])
        first = next_stan(cur)
        last = upload_stan(first, max(n, 1) - 1)
        self._ex.execute("UPDATE counters SET value=? WHERE name='stan'", (last,))
        return first
