"""The journal on real SQLite files: write-ahead, atomic state changes, recovery."""

import sqlite3
from pathlib import Path

import pytest

from appliance.cardvault import CardVault
from appliance.domain.transactions import TxnState, TxnType
from appliance.errors import IllegalTransition, JournalError, NotFound
from appliance.host.messages import CardFields
from appliance.journal import Journal
from appliance.journal.db import migrate
from appliance.journal.schema import MIGRATIONS


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal.open(tmp_path / "journal.db")
    yield j
    j.close()


def test_every_connection_uses_wal_and_synchronous_full(journal: Journal) -> None:
    assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_pending_row_is_committed_before_anything_is_sent(tmp_path: Path, journal: Journal) -> None:
    txn = journal.begin(TxnType.SALE, 1250, "CNY", masked_pan="476173******0119")
    other = sqlite3.connect(tmp_path / "journal.db")  # a second reader sees it: it is committed
    row = other.execute("SELECT state, stan FROM transactions WHERE uuid=?", (txn.uuid,)).fetchone()
    assert row == ("pending", 1)


def test_stans_are_consecutive_and_unique(journal: Journal) -> None:
    stans = [journal.begin(TxnType.SALE, 100, "CNY").stan for _ in range(5)]
    assert stans == [1, 2, 3, 4, 5]


def test_stan_wraps_after_999999(journal: Journal) -> None:
    journal.conn.execute("UPDATE counters SET value=999999 WHERE name='stan'")
    assert journal.begin(TxnType.SALE, 100, "CNY").stan == 1


def test_illegal_transition_raises_and_changes_nothing(journal: Journal) -> None:
    txn = journal.begin(TxnType.SALE, 100, "CNY")
    journal.record_outcome(txn.uuid, approved=False, response_code="05", rrn=None, auth_code=None)
    with pytest.raises(IllegalTransition):
        journal.owe_reversal(txn.uuid, "late")
    assert journal.get(txn.uuid).state == TxnState.DECLINED
    assert journal.owed() == []


def test_approved_void_marks_the_sale_voided_in_the_same_transaction(journal: Journal) -> None:
    sale = journal.begin(TxnType.SALE, 500, "CNY")
    journal.record_outcome(sale.uuid, approved=True, response_code="00", rrn="R1", auth_code="A1")
    void = journal.begin(TxnType.VOID, 500, "CNY", original=journal.get(sale.uuid))
    journal.record_outcome(void.uuid, approved=True, response_code="00", rrn="R2", auth_code="A2")
    assert journal.get(sale.uuid).state == TxnState.VOIDED


def test_recovery_turns_every_pending_row_into_an_owed_reversal(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j.db")
    a = j.begin(TxnType.SALE, 100, "CNY")
    b = j.begin(TxnType.SALE, 200, "CNY")
    j.record_outcome(b.uuid, approved=True, response_code="00", rrn="R", auth_code="A")
    j.close()  # simulated crash after a was sent
    j2 = Journal.open(tmp_path / "j.db")
    recovered = j2.recover()
    assert [t.uuid for t in recovered] == [a.uuid]
    owed = j2.owed()
    assert [(o.kind, o.stan) for o in owed] == [("reversal", a.stan)]
    j2.settle_owed(owed[0], response_code="00")
    assert j2.get(a.uuid).state == TxnState.REVERSED
    assert j2.owed() == []
    assert j2.recover() == []


def test_reversal_keeps_its_transmission_time_across_retries(journal: Journal) -> None:
    from datetime import UTC, datetime

    txn = journal.begin(TxnType.SALE, 100, "CNY")
    journal.owe_reversal(txn.uuid, "timeout")
    first = journal.owed()[0]
    journal.owed_attempted(first)
    journal.owed_failed(first, "refused", datetime(2030, 1, 1, tzinfo=UTC))
    again = journal.owed()[0]
    assert again.transmitted_at == first.transmitted_at
    assert again.attempts == 1 and again.last_error == "refused"
    assert journal.owed(due_before=datetime(2029, 1, 1, tzinfo=UTC)) == []


def test_owed_messages_come_reversals_first(journal: Journal) -> None:
    vault = CardVault(b"k" * 32)
    s = journal.begin(TxnType.SALE, 100, "CNY")
    journal.store_offline(s.uuid, vault.seal(s.uuid, CardFields("4761739001010119", "2812")))
    r = journal.begin(TxnType.SALE, 100, "CNY")
    journal.owe_reversal(r.uuid, "timeout")
    assert [o.kind for o in journal.owed()] == ["reversal", "advice"]


def test_forwarded_advice_purges_the_card_data(journal: Journal) -> None:
    vault = CardVault(b"k" * 32)
    s = journal.begin(TxnType.SALE, 100, "CNY")
    journal.store_offline(s.uuid, vault.seal(s.uuid, CardFields("4761739001010119", "2812")))
    assert journal.card_blob(s.uuid)
    owed = journal.owed("advice")[0]
    journal.settle_owed(owed, approved=True, response_code="00", rrn="R9", auth_code="A9")
    t = journal.get(s.uuid)
    assert (t.state, t.rrn, t.offline) == (TxnState.APPROVED, "R9", True)
    assert journal.card_blob(s.uuid) is None


def test_settling_the_same_owed_message_twice_is_refused(journal: Journal) -> None:
    t = journal.begin(TxnType.SALE, 100, "CNY")
    journal.owe_reversal(t.uuid, "timeout")
    owed = journal.owed()[0]
    journal.settle_owed(owed, response_code="00")
    with pytest.raises(IllegalTransition):
        journal.settle_owed(owed, response_code="00")


def test_unit_of_work_rolls_back_unless_committed(journal: Journal) -> None:
    with journal.unit() as uow:
        uow.execute("UPDATE counters SET value=77 WHERE name='batch'")
    assert journal.batch == 1
    with pytest.raises(RuntimeError), journal.unit() as uow:
        uow.execute("UPDATE counters SET value=78 WHERE name='batch'")
        raise RuntimeError("crash mid-way")
    assert journal.batch == 1


def test_find_by_trace_and_rrn(journal: Journal) -> None:
    t = journal.begin(TxnType.SALE, 100, "CNY")
    journal.record_outcome(
        t.uuid, approved=True, response_code="00", rrn="123456789012", auth_code="A"
    )
    assert journal.find(trace=t.stan).uuid == t.uuid
    assert journal.find(rrn="123456789012").uuid == t.uuid
    with pytest.raises(NotFound, match="trace 000099"):
        journal.find(trace=99)


def test_migrations_are_atomic_with_their_version_row(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    last = MIGRATIONS[-1][0]
    bad = (last + 1, "broken", "CREATE TABLE x (a INTEGER); CREATE TABLE x (b);")
    with pytest.raises(JournalError, match=f"migration {last + 1} failed"):
        migrate(conn, [*MIGRATIONS, bad])
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == last
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='x'").fetchone() is None


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "n.db")
    j.conn.execute("INSERT INTO schema_version VALUES (99)")
    j.close()
    with pytest.raises(JournalError, match="newer than this software"):
        Journal.open(tmp_path / "n.db")


def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal.open(blocker / "journal.db")
