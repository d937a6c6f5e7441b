"""A journal that runs out of room: one typed error that says what is durable, never a raw one.

SQLite rolls a transaction back by itself after SQLITE_FULL; the unit of work must not then
fail with "cannot rollback - no transaction is active". ``PRAGMA max_page_count`` makes the
database file full on purpose, at a chosen page, without root or a small file system (the
tmpfs sweep in tests/e2e/test_storage_full.py covers the real ENOSPC).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.domain.transactions import TxnState, TxnType
from appliance.errors import JournalError, JournalWriteError
from appliance.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.open(tmp_path / "journal.db")


def fill_up(journal: Journal) -> None:
    """No page may be added to the file any more: the next write that needs one fails."""
    pages = journal.conn.execute("PRAGMA page_count").fetchone()[0]
    journal.conn.execute(f"PRAGMA max_page_count={pages}")


def room_again(journal: Journal) -> None:
    journal.conn.execute("PRAGMA max_page_count=1073741823")


def test_a_full_database_raises_one_typed_error_saying_nothing_was_committed(
    journal: Journal,
) -> None:
    journal.begin(TxnType.SALE, 100, "CNY")  # the tables have their first pages
    fill_up(journal)
    with pytest.raises(JournalWriteError) as failed:
        for _ in range(200):  # until a page is needed
            journal.begin(TxnType.SALE, 100_00, "CNY", masked_pan="6" * 16)
    error = failed.value
    assert isinstance(error, JournalError)
    assert error.durable is False and error.no_space is True
    assert "nothing of it was committed" in str(error) and "free disk space" in str(error)
    assert "cannot rollback" not in str(error)
    assert not journal.conn.in_transaction  # nothing left open for the next unit


def test_after_a_failed_unit_the_journal_works_again_when_there_is_room(journal: Journal) -> None:
    journal.begin(TxnType.SALE, 100, "CNY")
    fill_up(journal)
    count_before = len(journal.transactions())
    with pytest.raises(JournalWriteError):
        for _ in range(200):
            journal.begin(TxnType.SALE, 100, "CNY", masked_pan="6" * 16)
    room_again(journal)
    txn = journal.begin(TxnType.SALE, 250, "CNY")
    assert txn.state == TxnState.PENDING
    assert len(journal.transactions()) > count_before
    assert journal.get(txn.uuid).amount == 250


def test_an_error_after_commit_says_the_unit_was_durable(journal: Journal) -> None:
    with pytest.raises(JournalWriteError) as failed, journal.unit() as uow:
        uow.execute("INSERT INTO session (key, value) VALUES ('a', '1')")
        uow.commit()
        uow.execute("INSERT INTO session (key, value) VALUES ('a', '2')")  # a duplicate key
    assert failed.value.durable is True
    assert journal.session_get("a") == "1"


def test_a_closed_journal_raises_the_journal_error_not_a_raw_one(journal: Journal) -> None:
    journal.close()
    with pytest.raises(JournalWriteError, match="not writable"):
        journal.session_set(a="1")
