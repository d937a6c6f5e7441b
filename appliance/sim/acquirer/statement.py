"""The reference acquirer's settlement statement for one business day, as CSV.

Columns are ``appliance.domain.reconcile.COLUMNS`` (documented in docs/settlement.md). Every
approved, unreversed sale, forwarded advice (listed as a sale) and refund of the day, with the
acquirer's fee at the merchant's rates and the net credited.

For testing reconciliation, discrepancies can be injected, each on a different line, chosen
deterministically (first suitable lines in ledger order):

- ``missing``: the first sale is left out (the terminal will see a one-sided 单边账);
- ``amount``: a sale's amount is raised by 1.00 (fee and net follow the new amount);
- ``fee``: a sale's fee is one minor unit too high (net follows);
- ``unknown``: a charge the terminal never made is added;
- ``reversed_charged``: a sale the acquirer holds as reversed or voided is listed as charged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from appliance.domain.reconcile import expected_fee, line_net, statement_csv
from appliance.errors import ConfigError
from appliance.sim.acquirer.ledger import Ledger

INJECTIONS: tuple[str, ...] = ("missing", "amount", "fee", "unknown", "reversed_charged")


def _line(row: Mapping[str, Any], day: date, fees_bp: Mapping[str, int]) -> dict[str, Any]:
    typ = "refund" if row["type"] == "refund" else "sale"
    amount = int(row["amount"])
    scheme = row["scheme"] or "UNKNOWN"
    f = expected_fee(typ, amount, scheme, fees_bp)
    return {
        "settlement_date": day.isoformat(),
        "tid": row["tid"],
        "batch": row["batch"],
        "stan": row["stan"],
        "rrn": row["rrn"] or "",
        "auth_code": row["auth_code"] or "",
        "type": typ,
        "amount": amount,
        "fee": f,
        "net": line_net(typ, amount, f),
        "scheme": scheme,
        "masked_pan": row["masked_pan"] or "",
    }


def qr_lines(
    ledger: Ledger, day: date, fees_bp: Mapping[str, int], *, tid: str | None = None
) -> list[dict[str, Any]]:
    """The QR gateway's lines of ``day`` (its books share the ledger's file)."""
    from appliance.domain.qr import mask_payer
    from appliance.domain.qr_books import qr_statement_line
    from appliance.sim.qrgateway.book import QrBook

    book = QrBook(ledger.path)
    try:
        rows = [r for r in book.statement(day) if tid is None or r["tid"] == tid]
    finally:
        book.close()
    return [
        qr_statement_line(
            r["out_trade_no"],
            r["trade_no"],
            r["type"],
            int(r["amount"]),
            r["wallet"] or "UNKNOWN",
            mask_payer(r["buyer"]),
            day=day,
            tid=r["tid"],
            fees_bp=fees_bp,
        )
        for r in rows
    ]


def statement_lines(
    ledger: Ledger,
    day: date,
    fees_bp: Mapping[str, int],
    inject: Iterable[str] = (),
    *,
    tid: str | None = None,
) -> list[dict[str, Any]]:
    """The statement of ``day`` (optionally one TID's), with ``inject`` discrepancies."""
    wanted = list(dict.fromkeys(inject))
    unknown = [w for w in wanted if w not in INJECTIONS]
    if unknown:
        raise ConfigError(
            f"unknown discrepancy {', '.join(unknown)}: choose from {', '.join(INJECTIONS)}"
        )
    rows = [r for r in ledger.statement(day) if tid is None or r["tid"] == tid]
    lines = [_line(r, day, fees_bp) for r in rows]
    lines += qr_lines(ledger, day, fees_bp, tid=tid)
    sales = [i for i, line in enumerate(lines) if line["type"] == "sale"]
    need = sum(1 for w in wanted if w in ("missing", "amount", "fee"))
    if len(sales) < need:
        raise ConfigError(
            f"the statement of {day} has {len(sales)} sale(s): {need} are needed to inject "
            f"{', '.join(w for w in wanted if w in ('missing', 'amount', 'fee'))}"
        )
    picks = iter(sales)
    drop: int | None = None
    for w in wanted:
        if w == "amount":
            i = next(picks)
            ln = lines[i]
            ln["amount"] += 100
            ln["fee"] = expected_fee("sale", ln["amount"], ln["scheme"], fees_bp)
            ln["net"] = line_net("sale", ln["amount"], ln["fee"])
        elif w == "fee":
            ln = lines[next(picks)]
            ln["fee"] += 1
            ln["net"] = line_net("sale", ln["amount"], ln["fee"])
        elif w == "missing":
            drop = next(picks)
    extra: list[dict[str, Any]] = []
    if "reversed_charged" in wanted:
        gone = [
            r
            for r in ledger.transactions()
            if r["business_date"] == day.isoformat()
            and r["type"] in ("sale", "advice")
            and r["status"] in ("reversed", "voided")
            and (tid is None or r["tid"] == tid)
        ]
        if not gone:
            raise ConfigError(
                f"no reversed or voided sale on {day} in the ledger to list as charged"
            )
        extra.append(_line(gone[0], day, fees_bp))
    if "unknown" in wanted:
        some_tid = tid or (rows[0]["tid"] if rows else "00000000")
        f = expected_fee("sale", 8888, "VISA", fees_bp)
        extra.append(
            {
                "settlement_date": day.isoformat(),
                "tid": some_tid,
                "batch": rows[-1]["batch"] if rows else "",
                "stan": 999_999,
                "rrn": "999999999999",
                "auth_code": "999999",
                "type": "sale",
                "amount": 8888,
                "fee": f,
                "net": line_net("sale", 8888, f),
                "scheme": "VISA",
                "masked_pan": "400000******9999",
            }
        )
    kept = [line for i, line in enumerate(lines) if i != drop]
    return kept + extra


def statement_text(
    ledger: Ledger,
    day: date,
    fees_bp: Mapping[str, int],
    inject: Iterable[str] = (),
    *,
    tid: str | None = None,
) -> str:
    """The statement of ``day`` as CSV text."""
    return statement_csv(statement_lines(ledger, day, fees_bp, inject, tid=tid))
