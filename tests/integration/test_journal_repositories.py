"""The journal's repositories on a real SQLite file: settlements, reconciliations, retention."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.domain.receipts import Totals
from appliance.domain.settlement import SettleResult, SettleState, batch_totals
from appliance.domain.transactions import TxnType
from appliance.errors import IllegalTransition, JournalError
from appliance.journal import Journal

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal.open(tmp_path / "journal.db", clock=lambda: T0)
    yield j
    j.close()


def _cut(journal: Journal) -> int:
    with journal.unit() as uow:
        cut = uow.settlements.batch_to_cut()
        totals = batch_totals(cut.transactions, batch=cut.batch, currency="CNY", fees_bp={})
        uow.settlements.cut(totals, at=T0, operator="01")
        uow.commit()
    return cut.batch


def test_a_reader_refuses_to_write(journal: Journal) -> None:
    with journal.read() as r, pytest.raises(JournalError, match=r"journal\.unit\(\)"):
        r.execute("DELETE FROM settlements")


def test_the_cut_sees_what_decides_it_and_opens_the_next_batch(journal: Journal) -> None:
    sale = journal.begin(TxnType.SALE, 500, "CNY")
    with journal.read() as r:
        cut = r.settlements.batch_to_cut()
    assert (cut.batch, cut.pending, cut.owed, cut.already_settled) == (1, 1, 0, False)
    assert [t.uuid for t in cut.transactions] == [sale.uuid]
    journal.record_outcome(sale.uuid, approved=True, response_code="00", rrn="1", auth_code="A")
    assert _cut(journal) == 1
    assert journal.batch == 2
    with journal.read() as r:
        rec = r.settlements.get(1)
        assert r.settlements.exists(1) and not r.settlements.exists(2)
        assert r.settlements.unfinished() == rec
        assert r.settlements.last_cut_at() == T0
    assert rec is not None and rec.state == SettleState.OPEN
    assert rec.totals.totals.sale_amount == 500 and rec.operator == "01"


def test_a_step_is_checked_against_the_stored_state_and_its_values_are_typed(
    journal: Journal,
) -> None:
    batch = _cut(journal)
    with journal.unit() as uow:
        uow.settlements.advance(batch, SettleState.TOTALS_SENT, totals_stan=7, totals_at=T0)
        uow.commit()
    host = Totals(1, 500, 0, 0)
    with journal.unit() as uow:
        uow.settlements.advance(
            batch,
            SettleState.CLOSED,
            result=SettleResult.BALANCED,
            host_totals=host,
            closed_at=T0 + timedelta(seconds=3),
        )
        uow.commit()
    with journal.read() as r:
        rec = r.settlements.get(batch)
        assert r.settlements.slips_not_queued() == [batch]
    assert rec is not None
    assert (rec.state, rec.result, rec.host_totals) == (
        SettleState.CLOSED,
        SettleResult.BALANCED,
        host,
    )
    assert rec.totals_at == T0 and rec.closed_at == T0 + timedelta(seconds=3)
    with journal.unit() as uow, pytest.raises(IllegalTransition, match="closed → closed"):
        uow.settlements.advance(batch, SettleState.CLOSED)
    with journal.unit() as uow, pytest.raises(JournalError, match="no column state_of_mind"):
        uow.settlements.advance(batch, SettleState.CLOSED, state_of_mind="calm")


def test_upload_stans_are_reserved_as_one_block_that_wraps_after_999999(
    journal: Journal,
) -> None:
    with journal.unit() as uow:
        uow.execute("UPDATE counters SET value=999998 WHERE name='stan'")
        first = uow.settlements.reserve_stans(3)
        uow.commit()
    assert first == 999999
    assert journal.counter("stan") == 2  # 999999, 1, 2


def test_the_last_reconciliation_comes_back_as_it_was_kept(journal: Journal) -> None:
    with journal.read() as r:
        assert r.reconciliations.last() is None
    for name in ("a.csv", "b.csv"):
        with journal.unit() as uow:
            uow.reconciliations.add(at=T0, statement=name, result={"statement": name, "n": 1})
            uow.commit()
    with journal.read() as r:
        last = r.reconciliations.last()
    assert last is not None
    assert (last.statement, last.result, last.imported_at) == (
        "b.csv",
        {"statement": "b.csv", "n": 1},
        T0,
    )


def test_retention_keeps_what_is_still_owed(journal: Journal) -> None:
    done = journal.begin(TxnType.SALE, 100, "CNY")
    journal.record_outcome(done.uuid, approved=True, response_code="00", rrn="1", auth_code="A")
    owed = journal.begin(TxnType.SALE, 200, "CNY")
    journal.owe_reversal(owed.uuid, "no answer")
    with journal.unit() as uow:
        assert uow.retention.purge_before(T0 + timedelta(days=1)) == 1
        uow.commit()
    assert [t.uuid for t in journal.transactions()] == [owed.uuid]
