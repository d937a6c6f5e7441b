"""The acquirer statement: fees, signs, and repeatable injected discrepancies."""

from __future__ import annotations

import csv
import io
from datetime import date

from appliance.host.acquirer.statement import COLUMNS, inject, statement_rows, write_csv

DAY = date(2026, 11, 22)


def ledger_rows() -> list[dict[str, object]]:
    base = {
        "tid": "10000001",
        "mid": "898310048160001",
        "batch": 1,
        "currency": "156",
        "masked_pan": "621234******1232",
        "scheme": "UNIONPAY",
        "auth_code": "123456",
        "created_at": "2026-11-22T10:00:00+00:00",
    }
    return [
        {**base, "stan": i, "rrn": f"63260000000{i}", "type": t, "amount": a}
        for i, (t, a) in enumerate(
            [("sale", 10_000), ("sale", 2_550), ("refund", 1_000), ("advice", 800), ("sale", 1)],
            start=1,
        )
    ]


def test_fees_round_half_up_and_refunds_are_negative() -> None:
    rows = statement_rows(ledger_rows(), DAY, mdr_bp=60)
    assert [(r["amount"], r["fee"], r["net"]) for r in rows] == [
        (10_000, 60, 9_940),
        (2_550, 15, 2_535),
        (-1_000, -6, -994),
        (800, 5, 795),
        (1, 0, 1),
    ]
    assert {r["business_date"] for r in rows} == {"2026-11-22"}


def test_injected_discrepancies_are_repeatable_and_recorded() -> None:
    rows = statement_rows(ledger_rows(), DAY)
    a, done_a = inject(rows, missing=1, changed=1, extra=2, seed=7)
    b, done_b = inject(rows, missing=1, changed=1, extra=2, seed=7)
    assert a == b and done_a == done_b
    assert len(a) == len(rows) - 1 + 2
    rrns = {r["rrn"] for r in a}
    assert done_a.missing[0] not in rrns and set(done_a.extra) <= rrns
    rrn, old, new = done_a.changed[0]
    assert old != new and next(r["amount"] for r in a if r["rrn"] == rrn) == new
    assert rows == statement_rows(ledger_rows(), DAY)  # the input is left alone


def test_the_csv_has_the_documented_columns_and_no_full_pan() -> None:
    text = write_csv(statement_rows(ledger_rows(), DAY))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert tuple(parsed[0]) == COLUMNS and len(parsed) == 5
    assert all("*" in r["masked_pan"] for r in parsed)
