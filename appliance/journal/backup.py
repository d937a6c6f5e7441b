"""Journal backup, restore and verification.

- ``backup`` copies the journal with SQLite's online backup API while the terminal runs: the
  copy is one consistent snapshot (a WAL reader sees exactly the transactions committed when it
  started), written beside its destination, checked with ``integrity_check`` and renamed into
  place. The copy is a single file (rollback journal mode), ready to move off the terminal.
- ``restore`` refuses a file that is damaged, is not a countertop journal, or is newer than this
  software, and refuses to throw away stored payments or owed messages that the backup lacks
  (unless forced). The replaced journal is kept as ``journal.db.replaced-<time>``.
- ``verify`` lists every problem: SQLite integrity and foreign keys, then the terminal's own
  rules (no payment left PENDING when no terminal runs, owed messages point at transactions,
  STANs in range, encrypted card data only on stored payments).

A backup holds what the journal holds: masked PANs, and card data encrypted under the data key
(which is not in the backup). Keep backups as carefully as the terminal.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.errors import JournalError
from appliance.journal.db import connect, migrate
from appliance.journal.schema import MIGRATIONS

REQUIRED_TABLES = ("schema_version", "counters", "transactions", "outbox", "audit", "session")
STAN_MAX = 999_999


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds."""

    path: Path
    schema_version: int
    transactions: int
    owed: int
    size: int


def _ro(path: Path) -> sqlite3.Connection:
    """A read-only connection to a file that must exist (never creates one)."""
    if not path.is_file():
        raise JournalError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise JournalError(f"{path}: not an SQLite database: {exc}") from exc
    return conn


def describe(conn: sqlite3.Connection, path: Path) -> BackupInfo:
    """Schema version and row counts of a countertop journal (JournalError if it is none)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise JournalError(f"{path}: not a countertop journal (no table {', '.join(missing)})")
    version = int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
    txns = int(conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])
    owed = int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    return BackupInfo(path, version, txns, owed, path.stat().st_size)


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """``PRAGMA integrity_check`` and ``foreign_key_check`` findings (empty: sound)."""
    try:
        out = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
        for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check").fetchall():
            out.append(f"{table} row {rowid} refers to a missing {parent} row")
    except sqlite3.DatabaseError as exc:
        return [f"the database file is damaged: {exc}"]
    return out


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(journal_path: Path, out: Path) -> BackupInfo:
    """Copy the journal to ``out`` consistently, even while the terminal writes to it."""
    if not journal_path.is_file():
        raise JournalError(f"{journal_path}: no journal to back up")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)
    src = connect(journal_path)
    try:
        dst = sqlite3.connect(tmp)
        try:
            # One step (pages=-1): a single read transaction, so the copy is one snapshot;
            # a WAL reader never blocks the terminal's writer.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            problems = integrity_problems(dst)
            if problems:
                raise JournalError(f"{out}: the copy failed its integrity check: {problems[0]}")
            info = describe(dst, tmp)
        finally:
            dst.close()
        os.chmod(tmp, 0o600)  # it holds what the journal holds
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    except sqlite3.Error as exc:
        raise JournalError(f"{out}: backup failed: {exc} (is the disk full?)") from exc
    finally:
        src.close()
        tmp.unlink(missing_ok=True)
    return BackupInfo(out, info.schema_version, info.transactions, info.owed, out.stat().st_size)


def journal_in_use(path: Path) -> list[int]:
    """Ids of other processes holding ``path`` open (Linux /proc; those this user can see)."""
    target = str(path.resolve())
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) == os.getpid():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link == target or link.startswith(target + "-"):
                pids.append(int(proc.name))
                break
    return pids


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did."""

    restored: BackupInfo
    replaced_by: Path | None  # where the previous journal was kept
    lost: list[str]  # stored payments / owed messages the backup lacked (only with force)


def _not_in_backup(current: sqlite3.Connection, backup_path: Path) -> list[str]:
    """Stored payments and owed messages of the current journal that the backup lacks."""
    current.execute("ATTACH DATABASE ? AS b", (str(backup_path),))
    try:
        lost = [
            f"stored payment trace {r[0]:06d} amount {r[1]}"
            for r in current.execute(
                "SELECT stan, amount FROM main.transactions t WHERE state='stored' AND NOT "
                "EXISTS (SELECT 1 FROM b.transactions u WHERE u.uuid=t.uuid AND u.state='stored')"
            )
        ]
        lost += [
            f"owed {r[0]} for trace {r[1]:06d}"
            for r in current.execute(
                "SELECT kind, stan FROM main.outbox o WHERE NOT EXISTS (SELECT 1 FROM b.outbox "
                "p WHERE p.kind=o.kind AND p.txn_uuid=o.txn_uuid)"
            )
        ]
    finally:
        current.execute("DETACH DATABASE b")
    return lost


def restore(
    backup_path: Path,
    journal_path: Path,
    *,
    force: bool = False,
    now: datetime | None = None,
) -> RestoreReport:
    """Replace the journal with ``backup_path`` after checking it; keep the old one aside.

    The STAN counter keeps the higher of the two values, so no trace number the host has
    already seen from this terminal is sent again.
    """
    src = _ro(backup_path)
    try:
        problems = integrity_problems(src)
        if problems:
            raise JournalError(f"{backup_path}: damaged: {'; '.join(problems[:5])}")
        info = describe(src, backup_path)
        known = max(v for v, _, _ in MIGRATIONS)
        if info.schema_version > known:
            raise JournalError(
                f"{backup_path}: journal schema version {info.schema_version} is newer than "
                f"this software ({known}): upgrade countertop first"
            )
    finally:
        src.close()
    users = journal_in_use(journal_path) if journal_path.exists() else []
    if users:
        raise JournalError(
            f"{journal_path} is in use by process {', '.join(map(str, users))}: stop the "
            f"terminal first (systemctl stop countertop)"
        )

    replaced: Path | None = None
    lost: list[str] = []
    stan = 0
    if journal_path.exists():
        cur = connect(journal_path)
        try:
            lost = _not_in_backup(cur, backup_path)
            if lost and not force:
                raise JournalError(
                    f"the terminal holds {len(lost)} item(s) the backup lacks "
                    f"({'; '.join(lost[:5])}): forward them first (countertop forward), or "
                    f"restore with --force to give them up"
                )
            stan = int(cur.execute("SELECT value FROM counters WHERE name='stan'").fetchone()[0])
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the old file alone is complete
        finally:
            cur.close()
        when = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        replaced = journal_path.with_name(f"{journal_path.name}.replaced-{when}")
        os.replace(journal_path, replaced)
        for suffix in ("-wal", "-shm"):
            Path(f"{journal_path}{suffix}").unlink(missing_ok=True)

    tmp = journal_path.with_name(f".{journal_path.name}.restore")
    tmp.unlink(missing_ok=True)
    journal_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    src = _ro(backup_path)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(tmp, 0o600)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, journal_path)
    _fsync_dir(journal_path.parent)
    conn = connect(journal_path)
    try:
        migrate(conn)
        conn.execute("UPDATE counters SET value=MAX(value, ?) WHERE name='stan'", (stan,))
        restored = describe(conn, journal_path)
    finally:
        conn.close()
    return RestoreReport(restored, replaced, lost)


def verify(
    journal_path: Path,
    *,
    response_timeout: float,
    terminal_running: bool,
    now: datetime | None = None,
) -> list[str]:
    """Every problem in the journal (empty: sound). Read-only."""
    conn = _ro(journal_path)
    try:
        try:
            describe(conn, journal_path)
        except JournalError as exc:
            return [str(exc)]
        problems = integrity_problems(conn)
        if not terminal_running:
            cutoff = (now or datetime.now(UTC)) - timedelta(seconds=response_timeout)
            for uuid, stan, created in conn.execute(
                "SELECT uuid, stan, created_at FROM transactions WHERE state='pending'"
            ):
                try:
                    at = datetime.fromisoformat(created)
                except (TypeError, ValueError):
                    problems.append(f"transaction {uuid}: created_at {created!r} is not a time")
                    continue
                if (at if at.tzinfo else at.replace(tzinfo=UTC)) < cutoff:
                    problems.append(
                        f"transaction trace {stan:06d} ({uuid}) is PENDING since {created} and "
                        f"no terminal runs: start the terminal (it queues the reversal)"
                    )
        for oid, kind, txn in conn.execute(
            "SELECT o.id, o.kind, o.txn_uuid FROM outbox o LEFT JOIN transactions t "
            "ON t.uuid=o.txn_uuid WHERE t.uuid IS NULL"
        ):
            problems.append(f"outbox {kind} {oid} refers to a missing transaction {txn}")
        for uuid, stan in conn.execute(
            "SELECT uuid, stan FROM transactions WHERE stan NOT BETWEEN 1 AND ?", (STAN_MAX,)
        ):
            problems.append(f"transaction {uuid}: STAN {stan} outside 1-{STAN_MAX}")
        for oid, stan in conn.execute(
            "SELECT id, stan FROM outbox WHERE stan NOT BETWEEN 1 AND ?", (STAN_MAX,)
        ):
            problems.append(f"outbox {oid}: STAN {stan} outside 1-{STAN_MAX}")
        row = conn.execute("SELECT value FROM counters WHERE name='stan'").fetchone()
        if row is None or not 0 <= int(row[0]) <= STAN_MAX:
            problems.append(f"STAN counter {row[0] if row else 'missing'} outside 0-{STAN_MAX}")
        for uuid, stan, state in conn.execute(
            "SELECT uuid, stan, state FROM transactions WHERE card_blob IS NOT NULL "
            "AND state != 'stored'"
        ):
            problems.append(
                f"transaction trace {stan:06d} ({uuid}) is {state} but still holds encrypted "
                f"card data (only stored payments may)"
            )
        for uuid, stan in conn.execute(
            "SELECT uuid, stan FROM transactions WHERE state='stored' AND card_blob IS NULL"
        ):
            problems.append(
                f"stored payment trace {stan:06d} ({uuid}) has no card data: it cannot be forwarded"
            )
    finally:
        conn.close()
    return problems
