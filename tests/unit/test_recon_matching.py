"""Reconciliation matching (pure): properties and each kind of discrepancy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.domain.reconcile import (
    COLUMNS,
    parse_statement,
    reconcile,
    statement_csv,
    statement_from_journal,
)
from appliance.domain.transactions import Transaction, TxnState, TxnType

TID = "10000001"
DAY = date(2026, 11, 22)
FEES = {"VISA": 60, "UNIONPAY": 38, "MASTERCARD": 55}
T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def make(i: int, amount: int, type: TxnType, state: TxnState, scheme: str) -> Transaction:
    t = T0 + timedelta(seconds=i)
    return Transaction(
        uuid=f"u{i:05d}",
        type=type,
        state=state,
        amount=amount,
        currency="CNY",
        stan=i + 1,
        batch=3,
        invoice=i + 1,
        created_at=t,
        updated_at=t,
        transmitted_at=t,
        masked_pan="476173******0119",
        scheme=scheme,
        rrn=f"R{i:011d}",
        auth_code=f"{i % 1_000_000:06d}",
    )


journals = st.lists(
    st.tuples(
        st.integers(1, 10_000_000),
        st.sampled_from([TxnType.SALE, TxnType.SALE, TxnType.REFUND]),
        st.sampled_from([TxnState.APPROVED, TxnState.APPROVED, TxnState.REVERSED, TxnState.VOIDED]),
        st.sampled_from(["VISA", "UNIONPAY", "MASTERCARD", "JCB"]),
    ),
    max_size=40,
).map(lambda rows: [make(i, *r) for i, r in enumerate(rows)])


def run(text: str, journal: list[Transaction]):  # type: ignore[no-untyped-def]
    lines, bad = parse_statement(text)
    scope = [t.uuid for t in journal if t.state == TxnState.APPROVED]
    return reconcile(lines, journal, tid=TID, in_scope=scope, fees_bp=FEES, bad_lines=bad)


@settings(max_examples=150, deadline=None)
@given(journals)
def test_a_statement_generated_from_the_journal_always_matches_fully(journal) -> None:  # type: ignore[no-untyped-def]
    text = statement_csv(statement_from_journal(journal, TID, DAY, FEES))
    r = run(text, journal)
    assert r.clean, r.as_dict()
    approved = [t for t in journal if t.state == TxnState.APPROVED]
    assert r.matched_count == len(approved)
    assert r.stated_net == r.expected_net


@settings(max_examples=150, deadline=None)
@given(journals, st.data())
def test_removing_a_line_yields_exactly_that_terminal_only_item(journal, data) -> None:  # type: ignore[no-untyped-def]
    lines = statement_from_journal(journal, TID, DAY, FEES)
    if not lines:
        return
    k = data.draw(st.integers(0, len(lines) - 1))
    gone = lines.pop(k)
    r = run(statement_csv(lines), journal)
    assert [(d.kind, d.rrn) for d in r.discrepancies] == [("terminal_only", gone["rrn"])]
    assert r.expected_net - r.stated_net == gone["net"]


@settings(max_examples=100, deadline=None)
@given(journals, st.data())
def test_changing_an_amount_yields_exactly_that_mismatch(journal, data) -> None:  # type: ignore[no-untyped-def]
    lines = statement_from_journal(journal, TID, DAY, FEES)
    if not lines:
        return
    k = data.draw(st.integers(0, len(lines) - 1))
    ln = lines[k]
    ln["amount"] += 100
    ln["fee"] = (
        0 if ln["type"] == "refund" else (ln["amount"] * FEES.get(ln["scheme"], 0) + 5000) // 10000
    )
    ln["net"] = ln["amount"] - ln["fee"] if ln["type"] == "sale" else -ln["amount"]
    r = run(statement_csv(lines), journal)
    assert [(d.kind, d.rrn, d.stated_amount) for d in r.discrepancies] == [
        ("amount_mismatch", ln["rrn"], ln["amount"])
    ]


def test_each_kind_of_discrepancy_with_its_evidence() -> None:
    sale = make(0, 10_000, TxnType.SALE, TxnState.APPROVED, "VISA")
    other = make(1, 2_000, TxnType.SALE, TxnState.APPROVED, "UNIONPAY")
    missing = make(2, 3_000, TxnType.SALE, TxnState.APPROVED, "VISA")
    reversed_ = make(3, 4_000, TxnType.SALE, TxnState.REVERSED, "VISA")
    journal = [sale, other, missing, reversed_]
    lines = statement_from_journal([sale, other], TID, DAY, FEES)
    lines[0]["fee"] += 1
    lines[0]["net"] -= 1
    charged = statement_from_journal([replace(reversed_, state=TxnState.APPROVED)], TID, DAY, FEES)
    unknown = statement_from_journal(
        [make(9, 8_888, TxnType.SALE, TxnState.APPROVED, "VISA")], TID, DAY, FEES
    )
    dup = dict(lines[1])
    r = run(statement_csv(lines + charged + unknown + [dup]), journal)
    kinds = {d.kind: d for d in r.discrepancies}
    assert set(kinds) == {
        "fee_mismatch",
        "reversed_charged",
        "acquirer_only",
        "duplicate",
        "terminal_only",
    }
    fee_d = kinds["fee_mismatch"]
    assert (fee_d.stated_fee, fee_d.expected_fee, fee_d.line_no) == (61, 60, 2)
    assert kinds["terminal_only"].txn_uuid == missing.uuid
    assert kinds["terminal_only"].rrn == missing.rrn and kinds["terminal_only"].auth_code
    assert kinds["reversed_charged"].terminal_state == "reversed"
    assert kinds["acquirer_only"].txn_uuid is None and kinds["acquirer_only"].amount == 8_888
    assert kinds["duplicate"].line_no == 6
    assert all(d.advice[0] and d.advice[1] for d in r.discrepancies)
    assert r.matched_count == 2


def test_malformed_and_foreign_lines_are_reported_with_their_line_numbers() -> None:
    good = statement_from_journal(
        [make(0, 100, TxnType.SALE, TxnState.APPROVED, "VISA")], TID, DAY, FEES
    )
    text = statement_csv(good)
    text += "2026-11-22,10000001,3,abc,R1,1,sale,100,0,100,VISA,4761\n"  # bad stan
    text += "not,enough,columns\n"
    text += "2026-11-22,10000001,3,5,R5,1,sale,100,1,100,VISA,4761\n"  # net wrong
    text += "\n"
    text += "2026-11-22,99999999,3,6,R6,1,sale,100,0,100,VISA,4761\n"  # another terminal
    text += "2026-11-22,10000001,3,7,R7,1,cashback,100,0,100,VISA,4761\n"
    r = run(text, [make(0, 100, TxnType.SALE, TxnState.APPROVED, "VISA")])
    assert [b.line_no for b in r.bad_lines] == [3, 4, 5, 7, 8]
    assert "stan" in r.bad_lines[0].reason
    assert "net" in r.bad_lines[2].reason
    assert "99999999" in r.bad_lines[3].reason
    assert r.matched_count == 1


def test_a_statement_without_the_documented_header_is_rejected_line_by_line() -> None:
    lines, bad = parse_statement("date,amount\n2026-11-22,100\n")
    assert lines == []
    assert bad[0].line_no == 1 and "settlement_date" in bad[0].reason
    assert bad[1].line_no == 2
    assert parse_statement(",".join(COLUMNS) + "\n") == ([], [])
