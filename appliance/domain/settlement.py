"""Batch totals, settlement states and the settlement timetable: pure functions, no I/O.

What a batch's totals count (the same rule on the X report, in the 0500 and on the Z slip):

- approved sales, including payments stored offline and approved when forwarded;
- approved refunds;
- not: voided sales (their void cancels them), voids themselves, declined, reversed,
  never-sent and forward-declined payments, and anything still pending or stored.

Settlement states of one batch, each committed before the step it announces::

    OPEN ──► TOTALS_SENT ──► CLOSED                       (host balanced at once)
                  │
                  └────► UPLOADING(n) ──► CLOSED          (after batch upload, final 0500)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from appliance.domain.money import fee
from appliance.domain.receipts import (
    BatchTotals,
    OperatorTotals,
    SchemeTotals,
    SettlementResult,
    Totals,
)
from appliance.domain.transactions import Transaction, TxnState, TxnType
from appliance.errors import IllegalTransition


class SettleState(StrEnum):
    """Where the settlement of one batch stands."""

    OPEN = "open"  # batch cut: totals frozen, next batch open; nothing sent yet
    TOTALS_SENT = "totals_sent"  # the first 0500 (its STAN journaled) may have left
    UPLOADING = "uploading"  # host out of balance: 0320s under way, ``uploaded`` done
    CLOSED = "closed"  # final answer recorded; never settled again


class SettleResult(StrEnum):
    """How a closed settlement ended."""

    BALANCED = "balanced"
    BALANCED_AFTER_UPLOAD = "balanced_after_upload"
    OUT_OF_BALANCE = "out_of_balance"  # still out of balance after batch upload


_NEXT: dict[SettleState, frozenset[SettleState]] = {
    SettleState.OPEN: frozenset({SettleState.TOTALS_SENT}),
    SettleState.TOTALS_SENT: frozenset({SettleState.CLOSED, SettleState.UPLOADING}),
    SettleState.UPLOADING: frozenset({SettleState.UPLOADING, SettleState.CLOSED}),
    SettleState.CLOSED: frozenset(),
}


def check_settle_transition(old: SettleState, new: SettleState) -> None:
    """Raise ``IllegalTransition`` unless settlement may go from ``old`` to ``new``."""
    if new not in _NEXT[old]:
        raise IllegalTransition(f"settlement state {old.value} → {new.value} is not allowed")


@dataclass(frozen=True)
class SettlementRecord:
    """One row of the ``settlements`` table as the services see it (read by ``appliance.journal.settlements``)."""

    batch: int
    state: SettleState
    totals: BatchTotals
    host_totals: Totals | None
    result: SettleResult | None
    response_code: str | None
    totals_stan: int | None
    totals_at: datetime | None
    upload_total: int
    uploaded: int
    upload_stan_base: int | None
    upload_at: datetime | None
    final_stan: int | None
    final_at: datetime | None
    cut_at: datetime
    closed_at: datetime | None
    slip_queued: bool
    operator: str
    last_error: str

    @property
    def balanced(self) -> bool:
        """True when the host agreed (at once or after batch upload)."""
        return self.result in (SettleResult.BALANCED, SettleResult.BALANCED_AFTER_UPLOAD)

    def slip_result(self) -> SettlementResult | None:
        """What the settlement slip says about the host's verdict (None while not closed)."""
        if self.state != SettleState.CLOSED:
            return None
        return SettlementResult(
            balanced=self.balanced,
            host=self.host_totals,
            uploaded=self.upload_total > 0 or self.result != SettleResult.BALANCED,
            settled_at=self.closed_at,
        )

    def as_dict(self) -> dict[str, Any]:
        """The stable machine-readable form (``countertop settle --json``)."""
        h = self.host_totals
        return {
            "batch": self.batch,
            "state": self.state.value,
            "result": self.result.value if self.result else None,
            "balanced": self.balanced if self.result else None,
            "response_code": self.response_code,
            "terminal": totals_to_dict(self.totals),
            "host": None
            if h is None
            else {
                "sale_count": h.sale_count,
                "sale_amount": h.sale_amount,
                "refund_count": h.refund_count,
                "refund_amount": h.refund_amount,
            },
            "upload_total": self.upload_total,
            "uploaded": self.uploaded,
            "cut_at": self.cut_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "slip_queued": self.slip_queued,
            "last_error": self.last_error,
        }


def counts_in_totals(t: Transaction) -> bool:
    """True when ``t`` is part of its batch's totals (see the module docstring)."""
    return t.state == TxnState.APPROVED and t.type in (TxnType.SALE, TxnType.REFUND)


def upload_items(txns: Iterable[Transaction]) -> list[Transaction]:
    """What batch upload sends, one 0320 each, in a stable order (creation time, then uuid).

    Exactly the transactions the totals count: the host rebuilds its totals from the uploads.
    """
    return sorted((t for t in txns if counts_in_totals(t)), key=lambda t: (t.created_at, t.uuid))


def batch_totals(
    txns: Iterable[Transaction],
    *,
    batch: int,
    currency: str,
    fees_bp: Mapping[str, int],
    opened_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> BatchTotals:
    """Totals of one batch per scheme (with estimated fees) and per operator.

    The fee of a scheme is ``fee(sales, rate)`` on that scheme's sale amount (refunds are not
    charged a fee here; the statement says what the acquirer did). A scheme with no configured
    rate has fee 0 and is flagged by ``unrated_schemes``.
    """
    schemes: dict[str, list[int]] = {}
    operators: dict[str, list[int]] = {}
    first = opened_at
    for t in txns:
        if t.batch != batch:
            continue
        if first is None or t.created_at < first:
            first = t.created_at
        if not counts_in_totals(t):
            continue
        for key, acc in ((t.scheme or "UNKNOWN", schemes), (t.operator or "-", operators)):
            row = acc.setdefault(key, [0, 0, 0, 0])
            if t.type == TxnType.SALE:
                row[0] += 1
                row[1] += t.amount
            else:
                row[2] += 1
                row[3] += t.amount
    rates = {k.upper(): v for k, v in fees_bp.items()}
    return BatchTotals(
        batch=batch,
        currency=currency,
        schemes=tuple(
            SchemeTotals(s, v[0], v[1], v[2], v[3], fee=fee(v[1], rates.get(s.upper(), 0)))
            for s, v in sorted(schemes.items())
        ),
        operators=tuple(OperatorTotals(o, *v) for o, v in sorted(operators.items())),
        opened_at=first,
        closed_at=closed_at,
    )


def unrated_schemes(totals: BatchTotals, fees_bp: Mapping[str, int]) -> list[str]:
    """Schemes with sales but no configured fee rate (their fee is shown as 0)."""
    rates = {k.upper() for k in fees_bp}
    return [s.scheme for s in totals.schemes if s.sale_count and s.scheme.upper() not in rates]


def totals_to_dict(bt: BatchTotals) -> dict[str, object]:
    """A JSON-ready form of ``bt`` (journaled with the settlement, shown by --json)."""
    t = bt.totals
    return {
        "batch": bt.batch,
        "currency": bt.currency,
        "sale_count": t.sale_count,
        "sale_amount": t.sale_amount,
        "refund_count": t.refund_count,
        "refund_amount": t.refund_amount,
        "gross": bt.gross,
        "fees": bt.fees,
        "net": bt.net,
        "opened_at": bt.opened_at.isoformat() if bt.opened_at else None,
        "closed_at": bt.closed_at.isoformat() if bt.closed_at else None,
        "schemes": [
            {
                "scheme": s.scheme,
                "sale_count": s.sale_count,
                "sale_amount": s.sale_amount,
                "refund_count": s.refund_count,
                "refund_amount": s.refund_amount,
                "fee": s.fee,
            }
            for s in bt.schemes
        ],
        "operators": [
            {
                "operator": o.operator,
                "sale_count": o.sale_count,
                "sale_amount": o.sale_amount,
                "refund_count": o.refund_count,
                "refund_amount": o.refund_amount,
            }
            for o in bt.operators
        ],
    }


def totals_from_dict(d: Mapping[str, object]) -> BatchTotals:
    """The inverse of ``totals_to_dict``."""

    def when(v: object) -> datetime | None:
        return datetime.fromisoformat(str(v)) if v else None

    return BatchTotals(
        batch=int(d["batch"]),  # type: ignore[call-overload]
        currency=str(d["currency"]),
        schemes=tuple(SchemeTotals(**s) for s in d.get("schemes", ())),  # type: ignore[attr-defined]
        operators=tuple(OperatorTotals(**o) for o in d.get("operators", ())),  # type: ignore[attr-defined]
        opened_at=when(d.get("opened_at")),
        closed_at=when(d.get("closed_at")),
    )


def totals_equal(a: Totals, b: Totals) -> bool:
    """True when both sides have the same four numbers."""
    return (a.sale_count, a.sale_amount, a.refund_count, a.refund_amount) == (
        b.sale_count,
        b.sale_amount,
        b.refund_count,
        b.refund_amount,
    )


def upload_stan(base: int, index: int) -> int:
    """The STAN of the ``index``-th upload (0-based) in a block starting at ``base`` (cyclic)."""
    return (base - 1 + index) % 999_999 + 1


def parse_hhmm(text: str) -> time:
    """ "23:30" → time(23, 30)."""
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def latest_scheduled(now: datetime, settle_at: time, tz: tzinfo) -> datetime:
    """The most recent scheduled settlement instant not after ``now`` (today's or yesterday's)."""
    local = now.astimezone(tz)
    today = datetime.combine(local.date(), settle_at, tzinfo=tz)
    if local >= today:
        return today
    return datetime.combine(local.date() - timedelta(days=1), settle_at, tzinfo=tz)


def settlement_due(
    now: datetime,
    settle_at: time,
    tz: tzinfo,
    last_settled_at: datetime | None,
    batch_has_activity: bool,
) -> bool:
    """Is the daily settlement due at ``now`` (timezone-aware)?

    Due when the open batch has something in it and no settlement was cut since the latest
    scheduled time (today's ``settle_at`` in ``tz`` once passed, else yesterday's). So a
    settlement missed while powered off runs at the next call, a manual settlement at noon
    does not stop the evening one, and one at 23:45 stops a second run the same night.
    """
    if not batch_has_activity:
        return False
    if last_settled_at is None:
        return True
    return last_settled_at < latest_scheduled(now, settle_at, tz)
