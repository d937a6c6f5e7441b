"""QR payments in the books, pure: per-wallet totals for the X/Z reports and the matching of
the acquirer statement's QR lines against the journal's QR orders.

QR payments settle with the QR gateway, not in the card host's 0500: their lines are printed
in their own block of the X and Z slips (one line per wallet: WeChat Pay, Alipay, UnionPay QR)
and never enter the card totals the host balances.

A QR statement line (``scheme`` WECHATPAY / ALIPAY / UNIONPAYQR) carries the gateway's trade
number in ``rrn``, the order's sequence (the last 6 digits of the order number) in ``stan`` and
the masked payer in ``masked_pan``. It is matched to a QR order by trade number, else by order
sequence and amount. One-sided QR cases, each with its evidence:

- ``terminal_only``: paid here (SUCCESS) but not on the statement;
- ``acquirer_only``: on the statement, unknown here;
- ``qr_charged_not_paid``: on the statement but the terminal told the cashier it was not paid
  (DECLINED, NOT_SENT, CANCELLED): the customer may be charged for nothing;
- ``qr_cancel_owed``: on the statement while the terminal still owes its cancel (the cancel,
  once acknowledged, returns the money).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from appliance.domain.qr import QR_SCHEMES, QrKind, QrOrder, QrState


@dataclass(frozen=True)
class QrSchemeLine:
    """One wallet's counts and amounts (minor units, positive) in a batch."""

    scheme: str
    sale_count: int = 0
    sale_amount: int = 0
    refund_count: int = 0
    refund_amount: int = 0

    @property
    def gross(self) -> int:
        """Payments minus refunds."""
        return self.sale_amount - self.refund_amount

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "scheme": self.scheme,
            "sale_count": self.sale_count,
            "sale_amount": self.sale_amount,
            "refund_count": self.refund_count,
            "refund_amount": self.refund_amount,
        }


def counts_in_qr_totals(o: QrOrder) -> bool:
    """True when a QR order is part of the totals: paid payments and completed refunds."""
    return o.state == QrState.SUCCESS


def qr_totals(orders: Iterable[QrOrder], *, batch: int | None = None) -> tuple[QrSchemeLine, ...]:
    """Per-wallet lines of ``orders`` (of ``batch`` when given), in wallet order."""
    acc: dict[str, list[int]] = {}
    for o in orders:
        if (batch is not None and o.batch != batch) or not counts_in_qr_totals(o):
            continue
        row = acc.setdefault(o.wallet or "UNKNOWN", [0, 0, 0, 0])
        if o.kind == QrKind.PAY:
            row[0] += 1
            row[1] += o.amount
        else:
            row[2] += 1
            row[3] += o.amount
    order = {s: i for i, s in enumerate(QR_SCHEMES)}
    return tuple(
        QrSchemeLine(s, *v) for s, v in sorted(acc.items(), key=lambda kv: order.get(kv[0], 99))
    )


def order_sequence(order_no: str) -> int:
    """The sequence of an order or refund number (its 6 digits after the date)."""
    cut = order_no.find("R", 2)  # a refund number: the order's number + "R" + count
    core = order_no[:cut] if cut > 0 else order_no
    digits = core[-6:]
    return int(digits) if digits.isdigit() else 0


@dataclass(frozen=True)
class QrMatch:
    """The outcome of matching the statement's QR lines against the journal's QR orders."""

    matched_count: int
    matched_amount: int  # payments minus refunds of the matched lines
    found: tuple[dict[str, Any], ...]  # discrepancies: kind, line_no, order, evidence
    used_lines: frozenset[int]  # statement line numbers that were QR lines


def is_qr_line(scheme: str) -> bool:
    """True for a statement line of a QR wallet."""
    return scheme.upper() in QR_SCHEMES


def match_qr(
    lines: Sequence[Any],
    orders: Sequence[QrOrder],
    *,
    in_scope: Iterable[str],
) -> QrMatch:
    """Match the QR lines among ``lines`` (``appliance.domain.reconcile.StatementLine``) to
    ``orders``; ``in_scope`` are the order numbers the statement must contain."""
    by_trade = {o.trade_no: o for o in orders if o.trade_no}
    by_seq: dict[tuple[str, int, int], list[QrOrder]] = {}
    for each in orders:
        kind = "sale" if each.kind == QrKind.PAY else "refund"
        by_seq.setdefault((kind, order_sequence(each.order), each.amount), []).append(each)
    used: set[str] = set()
    found: list[dict[str, Any]] = []
    qr_lines: set[int] = set()
    matched = amount = 0
    for line in lines:
        if not is_qr_line(line.scheme):
            continue
        qr_lines.add(line.line_no)
        o: QrOrder | None = by_trade.get(line.rrn) if line.rrn else None
        if o is None:
            cands = by_seq.get((line.type, line.stan, line.amount), [])
            o = next((c for c in cands if c.order not in used), cands[-1] if cands else None)
        if o is None:
            found.append(_evidence("acquirer_only", None, line))
            continue
        if o.state == QrState.CANCEL_OWED:
            found.append(_evidence("qr_cancel_owed", o, line))
            continue
        if not counts_in_qr_totals(o):
            found.append(_evidence("qr_charged_not_paid", o, line))
            continue
        if o.order in used:
            found.append(_evidence("duplicate", o, line))
            continue
        used.add(o.order)
        matched += 1
        amount += o.amount if o.kind == QrKind.PAY else -o.amount
        if line.amount != o.amount:
            found.append(_evidence("amount_mismatch", o, line))
    scope = set(in_scope)
    for o in orders:
        if o.order in scope and counts_in_qr_totals(o) and o.order not in used:
            found.append(_evidence("terminal_only", o, None))
    return QrMatch(matched, amount, tuple(found), frozenset(qr_lines))


def _evidence(kind: str, o: QrOrder | None, line: Any) -> dict[str, Any]:
    """The Discrepancy fields (``appliance.domain.reconcile``) of a QR case."""
    when: datetime | date | None = o.updated_at if o else (line.settlement_date if line else None)
    return {
        "kind": kind,
        "line_no": line.line_no if line is not None else None,
        "txn_uuid": o.order if o else None,
        "type": (
            line.type if line is not None else ("sale" if o and o.kind == QrKind.PAY else "refund")
        ),
        "trace": o.order if o else f"{line.stan:06d}",
        "rrn": (o.trade_no if o and o.trade_no else (line.rrn if line is not None else "")),
        "auth_code": "",
        "when": when,
        "masked_pan": o.payer if o and o.payer else (line.masked_pan if line is not None else ""),
        "scheme": (o.wallet if o and o.wallet else (line.scheme if line is not None else "")),
        "amount": o.amount if o else line.amount,
        "stated_amount": line.amount if line is not None else None,
        "terminal_state": o.state.value if o else None,
    }


def qr_in_scope(orders: Iterable[QrOrder], dates: Iterable[str], business_tz: tzinfo) -> list[str]:
    """Order numbers the statement of ``dates`` must contain: paid payments and completed
    refunds whose final answer fell on one of those business days in ``business_tz``."""
    days = set(dates)
    return [
        o.order
        for o in orders
        if counts_in_qr_totals(o)
        and o.updated_at.astimezone(business_tz).date().isoformat() in days
    ]


def qr_statement_line(
    order_no: str,
    trade_no: str,
    typ: str,
    amount: int,
    scheme: str,
    payer: str,
    *,
    day: date,
    tid: str,
    fees_bp: Mapping[str, int],
) -> dict[str, Any]:
    """A statement line (``appliance.domain.reconcile.COLUMNS``) for one QR trade or refund."""
    from appliance.domain.reconcile import expected_fee, line_net

    f = expected_fee(typ, amount, scheme, fees_bp)
    return {
        "settlement_date": day.isoformat(),
        "tid": tid,
        "batch": "",
        "stan": order_sequence(order_no),
        "rrn": trade_no,
        "auth_code": "",
        "type": typ,
        "amount": amount,
        "fee": f,
        "net": line_net(typ, amount, f),
        "scheme": scheme,
        "masked_pan": payer,
    }
