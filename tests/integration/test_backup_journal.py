"""Backup while the terminal writes, restore with its refusals, and journal verify."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.errors import JournalError
from appliance.journal import Journal
from appliance.journal.backup import backup, restore, verify
from tests.shop import Shop


def test_backup_while_a_writer_commits_is_consistent_and_complete(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal.db")
    committed = 0
    enough = threading.Event()
    stop = threading.Event()

    def writer() -> None:
        nonlocal committed
        while not stop.is_set():
            journal.audit("01", "tick", str(committed + 1))
            committed += 1
            if committed == 200:
                enough.set()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert enough.wait(30)
        before = committed  # every row up to here is committed before the backup starts
        info = backup(tmp_path / "journal.db", tmp_path / "out" / "copy.db")
        during = committed
    finally:
        stop.set()
        t.join()
        journal.close()
    copy = sqlite3.connect(tmp_path / "out" / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        ids = [int(r[0]) for r in copy.execute("SELECT detail FROM audit WHERE action='tick'")]
    finally:
        copy.close()
    # Every committed row is there, in order and without a gap: one snapshot.
    assert before <= len(ids) <= during + 1
    assert ids == list(range(1, len(ids) + 1))
    assert info.schema_version >= 3
    assert not (tmp_path / "out" / ".copy.db.tmp").exists()


def _offline_sale(shop: Shop, amount: int) -> None:
    shop.acquirer.set_fault("refuse")
    try:
        out = shop.terminal.sale(amount, operator="01")
        assert out.result == "stored"
    finally:
        shop.acquirer.clear_faults()


def test_restore_refuses_to_lose_a_stored_payment_unless_forced(shop: Shop, tmp_path: Path) -> None:
    shop.terminal.sale(1200, operator="01")
    backup(shop.cfg.journal_path, tmp_path / "b.db")
    _offline_sale(shop, 800)  # only in the live journal
    stan_now = shop.terminal.journal.counter("stan")
    shop.terminal.close()

    with pytest.raises(JournalError, match="stored payment trace"):
        restore(tmp_path / "b.db", shop.cfg.journal_path)
    assert not list(shop.cfg.journal_path.parent.glob("journal.db.replaced-*"))

    report = restore(
        tmp_path / "b.db",
        shop.cfg.journal_path,
        force=True,
        now=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
    )
    assert report.lost and report.replaced_by is not None
    assert report.replaced_by.name == "journal.db.replaced-20261122T100000Z"
    kept = sqlite3.connect(report.replaced_by)
    assert kept.execute("SELECT COUNT(*) FROM transactions WHERE state='stored'").fetchone()[0]
    kept.close()
    journal = Journal.open(shop.cfg.journal_path)
    try:
        assert journal.counter("stan") == stan_now  # no trace number is sent twice
        assert [t.amount for t in journal.transactions()] == [1200]
    finally:
        journal.close()
    shop.restart()


def test_restore_of_a_complete_backup_needs_no_force(shop: Shop, tmp_path: Path) -> None:
    _offline_sale(shop, 500)
    backup(shop.cfg.journal_path, tmp_path / "b.db")
    shop.terminal.close()
    report = restore(tmp_path / "b.db", shop.cfg.journal_path)
    assert report.lost == [] and report.restored.transactions == 1
    assert verify(shop.cfg.journal_path, response_timeout=1, terminal_running=False) == []
    shop.restart()


def test_restore_refuses_damaged_foreign_and_newer_files(shop: Shop, tmp_path: Path) -> None:
    shop.terminal.sale(1200, operator="01")
    shop.terminal.close()
    good = tmp_path / "good.db"
    backup(shop.cfg.journal_path, good)

    damaged = tmp_path / "damaged.db"
    data = bytearray(good.read_bytes())
    page = 4096
    data[page * 2 : page * 2 + 200] = bytes(range(200))  # scribble over a b-tree page
    damaged.write_bytes(bytes(data))
    with pytest.raises(JournalError, match=r"damaged|not an SQLite"):
        restore(damaged, shop.cfg.journal_path)

    foreign = tmp_path / "foreign.db"
    c = sqlite3.connect(foreign)
    c.execute("CREATE TABLE x (y)")
    c.close()
    with pytest.raises(JournalError, match="not a countertop journal"):
        restore(foreign, shop.cfg.journal_path)

    newer = tmp_path / "newer.db"
    newer.write_bytes(good.read_bytes())
    c = sqlite3.connect(newer)
    c.execute("INSERT INTO schema_version (version) VALUES (999)")
    c.commit()
    c.close()
    with pytest.raises(JournalError, match="newer than this software"):
        restore(newer, shop.cfg.journal_path)
    assert not list(shop.cfg.journal_path.parent.glob("journal.db.replaced-*"))
    shop.restart()


def test_verify_lists_every_problem(shop: Shop) -> None:
    path = shop.cfg.journal_path
    shop.terminal.sale(1200, operator="01")
    shop.terminal.close()
    assert verify(path, response_timeout=1, terminal_running=False) == []
    old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    c = sqlite3.connect(path)
    c.execute("PRAGMA foreign_keys=OFF")
    uuid = c.execute("SELECT uuid FROM transactions").fetchone()[0]
    c.execute("UPDATE transactions SET card_blob=x'0102' WHERE uuid=?", (uuid,))
    c.execute(
        "INSERT INTO transactions (uuid, type, state, amount, currency, stan, batch, invoice, "
        "transmitted_at, created_at, updated_at, local_date) VALUES ('p1', 'sale', 'pending', "
        "5, 'CNY', 77, 1, 9, ?, ?, ?, '2026-11-22')",
        (old, old, old),
    )
    c.execute(
        "INSERT INTO outbox (kind, txn_uuid, stan, transmitted_at, next_attempt_at, created_at)"
        " VALUES ('reversal', 'ghost', 0, ?, ?, ?)",
        (old, old, old),
    )
    c.execute("UPDATE counters SET value=1000000 WHERE name='stan'")
    c.commit()
    c.close()
    problems = verify(path, response_timeout=1, terminal_running=False)
    text = "\n".join(problems)
    assert "refers to a missing transactions row" in text  # foreign_key_check
    assert "is PENDING since" in text
    assert "refers to a missing transaction ghost" in text
    assert "outbox 1: STAN 0 outside" in text
    assert "STAN counter 1000000" in text
    assert "approved but still holds encrypted card data" in text
    # A running terminal may legitimately have a PENDING row in flight.
    running = verify(path, response_timeout=1, terminal_running=True)
    assert not any("PENDING" in p for p in running)
    shop.restart()


def test_restore_refuses_while_another_process_has_the_journal_open(tmp_path: Path) -> None:
    import subprocess
    import sys

    journal = Journal.open(tmp_path / "journal.db")
    journal.close()
    backup(tmp_path / "journal.db", tmp_path / "b.db")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute('SELECT 1 FROM counters').fetchall(); print('open', flush=True); "
            "sys.stdin.read()",
            str(tmp_path / "journal.db"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(JournalError, match=f"in use by process {holder.pid}"):
            restore(tmp_path / "b.db", tmp_path / "journal.db")
    finally:
        holder.communicate("")
    assert restore(tmp_path / "b.db", tmp_path / "journal.db").replaced_by is not None
