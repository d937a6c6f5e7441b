"""The torture test's invariant checker catches what it must (a checker that never fails
proves nothing), and the told log keeps only complete entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.domain.transactions import TxnType
from appliance.journal import Journal
from appliance.sim.shift import ToldLog
from appliance.sim.torture import check

TID = "10000001"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "journal.db")
    yield j
    j.close()


def approved_sale(journal: Journal, amount: int = 1000) -> Any:
    t = journal.begin(TxnType.SALE, amount, "CNY")
    return journal.record_outcome(
        t.uuid, approved=True, response_code="00", rrn="000000000001", auth_code="123456"
    )


def row(t: Any, status: str = "approved", type: str = "sale", amount: int | None = None) -> dict:
    return {
        "tid": TID,
        "stan": t.stan,
        "type": type,
        "status": status,
        "amount": t.amount if amount is None else amount,
    }


def told(t: Any, result: str = "approved") -> dict:
    return {"op": "sale", "result": result, "uuid": t.uuid, "stan": t.stan}


def test_books_in_agreement_pass(journal: Journal) -> None:
    t = approved_sale(journal)
    assert check(journal, [row(t)], TID, [told(t)]) == []


def test_an_approved_sale_missing_at_the_acquirer_is_caught(journal: Journal) -> None:
    t = approved_sale(journal)
    problems = check(journal, [], TID, [told(t)])
    assert any("told approved: 0 live" in p for p in problems)
    assert any("sales total 1000 in the journal, 0 in the ledger" in p for p in problems)


def test_a_double_charge_is_caught(journal: Journal) -> None:
    t = approved_sale(journal)
    problems = check(journal, [row(t), row(t, type="advice")], TID, [told(t)])
    assert any("live ledger record(s)" in p or "acquirer has 2" in p for p in problems)


def test_a_payment_told_failed_but_charged_is_caught(journal: Journal) -> None:
    t = journal.begin(TxnType.SALE, 500, "CNY")
    t = journal.owe_reversal(t.uuid, "timeout")
    problems = check(journal, [row(t)], TID, [told(t, "failed")])
    assert any("told failed" in p for p in problems)
    assert any("still owed" in p for p in problems)


def test_a_pending_row_is_caught(journal: Journal) -> None:
    journal.begin(TxnType.SALE, 700, "CNY")
    assert any("still pending" in p for p in check(journal, [], TID, []))


def test_an_amount_mismatch_is_caught(journal: Journal) -> None:
    t = approved_sale(journal, 1000)
    problems = check(journal, [row(t, amount=1001)], TID, [told(t)])
    assert any("amount 1000 here, 1001 there" in p for p in problems)


def test_the_told_log_skips_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "told.jsonl"
    log = ToldLog(path)
    log.tell({"op": "sale", "result": "approved", "uuid": "a"})
    with path.open("a") as f:
        f.write('{"op": "sale", "res')  # the process died mid-write
    assert ToldLog.read(path) == [{"op": "sale", "result": "approved", "uuid": "a"}]
    assert ToldLog.read(tmp_path / "missing.jsonl") == []
