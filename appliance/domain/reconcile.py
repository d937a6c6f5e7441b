"""Reconciliation (对账): match an acquirer settlement statement against the journal. Pure.

Statement CSV columns (header row required, in any order; extra columns are ignored)::

    settlement_date  YYYY-MM-DD, the acquirer's business day
    tid              terminal id (8)
    batch            batch number (may be empty)
    stan             trace number of the original request (1-999999)
    rrn              retrieval reference number (12)
    auth_code        authorisation code (may be empty for refunds)
    type             sale | refund
    amount           minor units, positive
    fee              minor units charged on this line (0 for refunds here)
    net              minor units credited: amount - fee for a sale, -amount for a refund
    scheme           VISA | MASTERCARD | UNIONPAY | ...
    masked_pan       first 6 and last 4 digits

A line is matched to a journal row by RRN, else by (type, STAN). What each outcome means is in
``KIND_ADVICE``; lines that cannot be read are returned with their line numbers, never dropped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Literal

from appliance.domain.money import fee
from appliance.domain.settlement import counts_in_totals
from appliance.domain.transactions import Transaction, TxnType

COLUMNS: tuple[str, ...] = (
    "settlement_date",
    "tid",
    "batch",
    "stan",
    "rrn",
    "auth_code",
    "type",
    "amount",
    "fee",
    "net",
    "scheme",
    "masked_pan",
)

Kind = Literal[
    "terminal_only",
    "acquirer_only",
    "reversed_charged",
    "duplicate",
    "amount_mismatch",
    "fee_mismatch",
    "qr_charged_not_paid",
    "qr_cancel_owed",
]

# What the merchant should do about each kind of discrepancy (en, zh_CN).
KIND_ADVICE: dict[str, tuple[str, str]] = {
    "terminal_only": (
        "Approved here but not on the statement (one-sided, 单边账): the money will not "
        "arrive. Give the acquirer the trace, RRN, auth code, date and card with the "
        "merchant stub and ask them to settle it.",
        "本终端成功但对账单无记录（单边账），款项不会入账。请携商户存根及凭证号、参考号、授权码、"
        "日期、卡号联系收单机构补入账。",
    ),
    "acquirer_only": (
        "Charged on the statement but unknown to this terminal: ask the acquirer for the "
        "transaction's details; if it is not yours, dispute it.",
        "对账单有扣款但本终端无此交易：请向收单机构查询；如非本店交易，请提出争议。",
    ),
    "reversed_charged": (
        "Reversed, voided or declined here but charged on the statement: the customer may be "
        "charged for nothing. Ask the acquirer to reverse it; keep the stub as evidence.",
        "本终端已冲正/撤销/失败，但对账单仍有扣款，持卡人可能被误扣。请要求收单机构退回，保留存根作凭证。",
    ),
    "duplicate": (
        "The same transaction appears twice on the statement: ask the acquirer to remove the "
        "duplicate.",
        "对账单中同一交易出现两次：请要求收单机构删除重复记录。",
    ),
    "amount_mismatch": (
        "The statement's amount differs from the approved amount: dispute the difference "
        "with the stub.",
        "对账单金额与授权金额不符：请凭存根就差额提出争议。",
    ),
    "fee_mismatch": (
        "The fee differs from the agreed rate: check the rate in your contract and ask the "
        "acquirer to correct it.",
        "手续费与约定费率不符：请核对合同费率并要求收单机构更正。",
    ),
    "qr_charged_not_paid": (
        "A QR payment the cashier was told had failed, was declined or was cancelled is charged "
        "on the statement (one-sided, 单边账): the customer paid for nothing. Give the gateway "
        "the order number and trade number and ask for a refund; keep the journal entry.",
        "收银员被告知失败、被拒或已撤销的扫码支付在对账单上已扣款（单边账），顾客被误扣。"
        "请凭订单号和交易单号向支付机构申请退款，保留流水记录。",
    ),
    "qr_cancel_owed": (
        "A QR payment whose cancel is still owed is charged on the statement: the cancel, once "
        "the gateway acknowledges it, returns the money. Check the link (countertop qr "
        "forward) and reconcile again.",
        "撤销待发送的扫码支付在对账单上已扣款：网关确认撤销后款项将退回。请检查网络"
        "（countertop qr forward）后重新对账。",
    ),
}

_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class StatementLine:
    """One readable line of an acquirer statement (amounts in minor units)."""

    line_no: int
    settlement_date: date
    tid: str
    batch: int | None
    stan: int
    rrn: str
    auth_code: str
    type: str  # "sale" | "refund"
    amount: int
    fee: int
    net: int
    scheme: str
    masked_pan: str


@dataclass(frozen=True)
class BadLine:
    """A statement line that could not be used, with why."""

    line_no: int
    text: str
    reason: str


@dataclass(frozen=True)
class Discrepancy:
    """One disagreement, with the evidence a merchant hands to the payment institution."""

    kind: Kind
    line_no: int | None  # statement line (None for terminal-only)
    txn_uuid: str | None  # journal row (None for acquirer-only unknown lines)
    type: str
    trace: str
    rrn: str
    auth_code: str
    when: datetime | date | None
    masked_pan: str
    scheme: str
    amount: int  # the terminal's amount (the statement's when unknown here)
    stated_amount: int | None = None
    stated_fee: int | None = None
    expected_fee: int | None = None
    terminal_state: str | None = None

    @property
    def advice(self) -> tuple[str, str]:
        """What to do (en, zh_CN)."""
        return KIND_ADVICE[self.kind]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = asdict(self)
        d["when"] = self.when.isoformat() if self.when else None
        d["advice"], d["advice_zh"] = self.advice
        return d


@dataclass(frozen=True)
class Reconciliation:
    """The outcome of matching one statement against the journal."""

    dates: tuple[str, ...]
    line_count: int
    matched_count: int
    matched_amount: int  # sales minus refunds of the matched lines (terminal amounts)
    discrepancies: tuple[Discrepancy, ...]
    bad_lines: tuple[BadLine, ...]
    expected_net: int  # what the journal says should be deposited for these dates
    stated_net: int  # what the statement says is deposited
    stated_fees: int
    expected_fees: int
    statement: str = ""

    @property
    def clean(self) -> bool:
        """No discrepancy and no unreadable line."""
        return not self.discrepancies and not self.bad_lines

    def of_kind(self, kind: str) -> list[Discrepancy]:
        """The discrepancies of one kind."""
        return [d for d in self.discrepancies if d.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (stored in the journal for the UI, printed by --json)."""
        return {
            "statement": self.statement,
            "dates": list(self.dates),
            "line_count": self.line_count,
            "matched_count": self.matched_count,
            "matched_amount": self.matched_amount,
            "expected_net": self.expected_net,
            "stated_net": self.stated_net,
            "net_difference": self.stated_net - self.expected_net,
            "expected_fees": self.expected_fees,
            "stated_fees": self.stated_fees,
            "clean": self.clean,
            "counts": {k: len(self.of_kind(k)) for k in KIND_ADVICE},
            "discrepancies": [d.as_dict() for d in self.discrepancies],
            "bad_lines": [asdict(b) for b in self.bad_lines],
        }


# --------------------------------------------------------------------------- parsing


def _int(v: str, name: str, *, positive: bool = False, signed: bool = False) -> int:
    s = v.strip()
    body = s[1:] if signed and s.startswith("-") else s
    if not _DIGITS.fullmatch(body):
        raise ValueError(f"{name} {v!r} is not a whole number of minor units")
    n = int(s)
    if positive and n <= 0:
        raise ValueError(f"{name} must be greater than zero")
    return n


def parse_statement(text: str) -> tuple[list[StatementLine], list[BadLine]]:
    """Read a statement CSV; every line is either a ``StatementLine`` or a ``BadLine``.

    Line numbers count the header as line 1. A missing required column makes every line bad
    (line 1 names the missing columns).
    """
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [], [BadLine(1, "", "the statement is empty (no header row)")]
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [
            BadLine(1, ",".join(rows[0]), f"header lacks column(s): {', '.join(missing)}")
        ] + [
            BadLine(i, ",".join(r), "unreadable: header is wrong")
            for i, r in enumerate(rows[1:], 2)
        ]
    idx = {c: header.index(c) for c in COLUMNS}
    good: list[StatementLine] = []
    bad: list[BadLine] = []
    for n, row in enumerate(rows[1:], 2):
        raw = ",".join(row)
        if not any(cell.strip() for cell in row):
            continue  # blank line: nothing to reconcile, nothing hidden
        if len(row) < len(header):
            bad.append(BadLine(n, raw, f"{len(row)} columns, expected {len(header)}"))
            continue
        v = {c: row[i].strip() for c, i in idx.items()}
        try:
            typ = v["type"].lower()
            if typ not in ("sale", "refund"):
                raise ValueError(f"type {v['type']!r} is not sale or refund")
            line = StatementLine(
                line_no=n,
                settlement_date=date.fromisoformat(v["settlement_date"]),
                tid=v["tid"],
                batch=_int(v["batch"], "batch") if v["batch"] else None,
                stan=_int(v["stan"], "stan", positive=True),
                rrn=v["rrn"],
                auth_code=v["auth_code"],
                type=typ,
                amount=_int(v["amount"], "amount", positive=True),
                fee=_int(v["fee"], "fee", signed=True),
                net=_int(v["net"], "net", signed=True),
                scheme=v["scheme"].upper(),
                masked_pan=v["masked_pan"],
            )
            if not 1 <= line.stan <= 999_999:
                raise ValueError(f"stan {line.stan} is outside 1-999999")
            if not line.tid:
                raise ValueError("tid is empty")
            expected_net = line.amount - line.fee if typ == "sale" else -line.amount - line.fee
            if line.net != expected_net:
                raise ValueError(
                    f"net {line.net} does not equal amount {line.amount} and fee {line.fee}"
                )
        except ValueError as exc:
            bad.append(BadLine(n, raw, str(exc)))
            continue
        good.append(line)
    return good, bad


def line_net(typ: str, amount: int, line_fee: int) -> int:
    """The net of a statement line: amount - fee for a sale, -amount - fee for a refund."""
    return amount - line_fee if typ == "sale" else -amount - line_fee


def expected_fee(typ: str, amount: int, scheme: str, fees_bp: Mapping[str, int]) -> int:
    """The fee the configured rate gives for a line (refunds carry no fee)."""
    if typ != "sale":
        return 0
    rates = {k.upper(): v for k, v in fees_bp.items()}
    return fee(amount, rates.get(scheme.upper(), 0))


def statement_csv(lines: Iterable[Mapping[str, Any]]) -> str:
    """Statement lines (dicts keyed by ``COLUMNS``) as CSV text with the header."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for line in lines:
        w.writerow({c: "" if line.get(c) is None else line[c] for c in COLUMNS})
    return out.getvalue()


def statement_from_journal(
    txns: Iterable[Transaction], tid: str, day: date, fees_bp: Mapping[str, int]
) -> list[dict[str, Any]]:
    """The statement an honest acquirer would send for these journal rows (for tests, demos)."""
    out = []
    for t in txns:
        if not counts_in_totals(t):
            continue
        typ = t.type.value
        f = expected_fee(typ, t.amount, t.scheme, fees_bp)
        out.append(
            {
                "settlement_date": day.isoformat(),
                "tid": tid,
                "batch": t.batch,
                "stan": t.stan,
                "rrn": t.rrn or "",
                "auth_code": t.auth_code or "",
                "type": typ,
                "amount": t.amount,
                "fee": f,
                "net": line_net(typ, t.amount, f),
                "scheme": t.scheme,
                "masked_pan": t.masked_pan,
            }
        )
    return out


# --------------------------------------------------------------------------- matching


@dataclass
class _Index:
    by_rrn: dict[str, Transaction] = field(default_factory=dict)
    by_stan: dict[tuple[str, int], list[Transaction]] = field(default_factory=dict)


def _evidence(kind: Kind, t: Transaction, **kw: Any) -> Discrepancy:
    return Discrepancy(
        kind=kind,
        line_no=kw.pop("line_no", None),
        txn_uuid=t.uuid,
        type=t.type.value,
        trace=t.trace,
        rrn=t.rrn or "",
        auth_code=t.auth_code or "",
        when=t.transmitted_at,
        masked_pan=t.masked_pan,
        scheme=t.scheme,
        amount=t.amount,
        terminal_state=t.state.value,
        **kw,
    )


def _line_evidence(kind: Kind, line: StatementLine, t: Transaction | None = None) -> Discrepancy:
    return Discrepancy(
        kind=kind,
        line_no=line.line_no,
        txn_uuid=t.uuid if t else None,
        type=line.type,
        trace=f"{line.stan:06d}",
        rrn=line.rrn,
        auth_code=line.auth_code,
        when=t.transmitted_at if t else line.settlement_date,
        masked_pan=line.masked_pan,
        scheme=line.scheme,
        amount=t.amount if t else line.amount,
        stated_amount=line.amount,
        stated_fee=line.fee,
        terminal_state=t.state.value if t else None,
    )


def reconcile(
    lines: Sequence[StatementLine],
    journal: Sequence[Transaction],
    *,
    tid: str,
    in_scope: Iterable[str],
    fees_bp: Mapping[str, int],
    bad_lines: Sequence[BadLine] = (),
    statement: str = "",
) -> Reconciliation:
    """Match ``lines`` against ``journal`` (every row that could be referred to).

    ``in_scope`` are the uuids of the journal rows the statement must contain (approved sales
    and refunds of its dates): any of them not matched is terminal-only (单边账). A line of
    another TID is reported as a bad line.
    """
    scope = set(in_scope)
    idx = _Index()
    for row in journal:
        if row.rrn:
            idx.by_rrn.setdefault(row.rrn, row)
        idx.by_stan.setdefault((row.type.value, row.stan), []).append(row)
    bad = list(bad_lines)
    found: list[Discrepancy] = []
    used: set[str] = set()
    matched_count = matched_amount = 0
    stated_net = stated_fees = 0
    for line in lines:
        if line.tid != tid:
            bad.append(BadLine(line.line_no, "", f"TID {line.tid} is not this terminal ({tid})"))
            continue
        stated_net += line.net
        stated_fees += line.fee
        t: Transaction | None = idx.by_rrn.get(line.rrn) if line.rrn else None
        if t is not None and (t.type.value != line.type or t.stan != line.stan):
            t = None  # an RRN is only trusted with its own type and trace
        if t is None:
            cands = idx.by_stan.get((line.type, line.stan), [])
            cands = [c for c in cands if not line.rrn or not c.rrn or c.rrn == line.rrn]
            live = [c for c in cands if counts_in_totals(c) and c.uuid not in used]
            t = live[0] if live else (cands[-1] if cands else None)
        if t is None:
            found.append(_line_evidence("acquirer_only", line))
            continue
        if not counts_in_totals(t):
            found.append(_line_evidence("reversed_charged", line, t))
            continue
        if t.uuid in used:
            found.append(_line_evidence("duplicate", line, t))
            continue
        used.add(t.uuid)
        matched_count += 1
        matched_amount += t.amount if t.type == TxnType.SALE else -t.amount
        if line.amount != t.amount:
            found.append(_line_evidence("amount_mismatch", line, t))
        want = expected_fee(line.type, line.amount, t.scheme or line.scheme, fees_bp)
        if line.fee != want:
            found.append(replace(_line_evidence("fee_mismatch", line, t), expected_fee=want))
    expected_net = expected_fees = 0
    for t in journal:
        if t.uuid not in scope or not counts_in_totals(t):
            continue
        f = expected_fee(t.type.value, t.amount, t.scheme, fees_bp)
        expected_fees += f
        expected_net += line_net(t.type.value, t.amount, f)
        if t.uuid not in used:
            found.append(_evidence("terminal_only", t))
    dates = sorted({line.settlement_date.isoformat() for line in lines})
    bad.sort(key=lambda b: b.line_no)
    return Reconciliation(
        dates=tuple(dates),
        line_count=len(lines) + len(bad_lines),
        matched_count=matched_count,
        matched_amount=matched_amount,
        discrepancies=tuple(found),
        bad_lines=tuple(bad),
        expected_net=expected_net,
        stated_net=stated_net,
        stated_fees=stated_fees,
        expected_fees=expected_fees,
        statement=statement,
    )


def in_scope(
    journal: Iterable[Transaction], dates: Iterable[str], business_tz: tzinfo = UTC
) -> list[str]:
    """The uuids the statement for ``dates`` must contain: approved sales and refunds whose
    host answer (``updated_at``) fell on one of those business days in ``business_tz``.

    The reference acquirer keeps its business day in UTC.
    """
    days = set(dates)
    return [
        t.uuid
        for t in journal
        if counts_in_totals(t) and t.updated_at.astimezone(business_tz).date().isoformat() in days
    ]
