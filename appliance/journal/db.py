"""SQLite connection setup and migrations.

``synchronous=FULL`` is a per-connection setting (not stored in the file), so every connection
sets it: WAL with NORMAL can lose committed transactions on power loss.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.errors import JournalError
from appliance.journal.schema import MIGRATIONS


def connect(path: Path) -> sqlite3.Connection:
    """Open the journal with WAL, synchronous=FULL, foreign keys and a busy timeout."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise JournalError(f"{path}: cannot switch the journal to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
    except (sqlite3.Error, OSError) as exc:
        raise JournalError(
            f"{path}: cannot open the journal: {exc} (check the state directory exists, is "
            f"writable and the disk is not full)"
        ) from exc
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration (0 for a new file)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, migrations: list[tuple[int, str, str]] = MIGRATIONS) -> int:
    """Apply pending migrations, each atomically with its version row; return the new version."""
    current = schema_version(conn)
    known = max((v for v, _, _ in migrations), default=0)
    if current > known:
        raise JournalError(
            f"journal schema version {current} is newer than this software ({known}): "
            f"upgrade countertop or restore a backup made by this version"
        )
    for version, _title, sql in migrations:
        if version <= current:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O)
                conn.execute("ROLLBACK")
            raise JournalError(f"journal migration {version} failed: {exc}") from exc
        current = version
    return current


def schema_dump(conn: sqlite3.Connection) -> str:
    """The schema as SQL text, one object per statement, in a stable order (for golden tests)."""
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        " AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1"
        " ELSE 2 END, name"
    ).fetchall()
    return "".join(f"-- {row[0]} {row[1]}\n{row[2]};\n\n" for row in rows)


def _statements(sql: str) -> list[str]:
    """Split a migration script into statements (executescript would commit implicitly)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
