"""The back office's database: SQLite by default, PostgreSQL by URL, one schema for both.

``sqlite:///path/office.db`` (embedded, nothing to start) or ``postgresql://user@host/db``
(psycopg 3). The SQL is the common subset of both (``ON CONFLICT … DO UPDATE``, no
AUTOINCREMENT, ``BIGINT`` money); placeholders are written ``?`` and turned into ``%s`` for
PostgreSQL. Every connection is short-lived and owned by one thread.

Ingest is idempotent: an event is stored once per (terminal, event id), a repeat only counts
a delivery. A transaction's row follows its newest event (by the terminal's outbox sequence),
so an old event delivered again after a reconnect never moves it back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from appliance.errors import ConfigError, CountertopError


class OfficeError(CountertopError):
    """Base of back-office errors."""


MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE terminals (
            tid               TEXT PRIMARY KEY,
            mid               TEXT NOT NULL,
            name              TEXT NOT NULL DEFAULT '',
            online            INTEGER NOT NULL DEFAULT 0,
            status            TEXT,
            status_at         TEXT,
            heartbeat_seconds REAL NOT NULL DEFAULT 60,
            params_version    INTEGER NOT NULL DEFAULT 0,
            first_seen        TEXT NOT NULL
        );
        CREATE TABLE events (
            tid         TEXT NOT NULL,
            event_id    TEXT NOT NULL,
            seq         BIGINT NOT NULL,
            kind        TEXT NOT NULL,
            at          TEXT NOT NULL,
            body        TEXT NOT NULL,
            received_at TEXT NOT NULL,
            deliveries  INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (tid, event_id)
        );
        CREATE TABLE txns (
            tid           TEXT NOT NULL,
            uuid          TEXT NOT NULL,
            seq           BIGINT NOT NULL,
            type          TEXT NOT NULL,
            state         TEXT NOT NULL,
            amount        BIGINT NOT NULL,
            currency      TEXT NOT NULL,
            scheme        TEXT NOT NULL,
            masked_pan    TEXT NOT NULL,
            stan          INTEGER NOT NULL,
            batch         INTEGER NOT NULL,
            rrn           TEXT,
            auth_code     TEXT,
            response_code TEXT,
            offline       INTEGER NOT NULL,
            operator      TEXT NOT NULL,
            local_date    TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            updated_at    TEXT NOT NULL,
            original_uuid TEXT,
            body          TEXT NOT NULL,
            PRIMARY KEY (tid, uuid)
        );
        CREATE INDEX ix_txns_day ON txns (tid, local_date);
        CREATE INDEX ix_txns_rrn ON txns (rrn);
        CREATE INDEX ix_txns_stan ON txns (stan);
        CREATE TABLE settlements (
            tid           TEXT NOT NULL,
            batch         INTEGER NOT NULL,
            cut_at        TEXT NOT NULL,
            result        TEXT,
            response_code TEXT,
            closed_at     TEXT,
            body          TEXT NOT NULL,
            PRIMARY KEY (tid, batch, cut_at)
        );
        CREATE TABLE findings (
            tid         TEXT NOT NULL,
            event_id    TEXT NOT NULL,
            n           INTEGER NOT NULL,
            kind        TEXT NOT NULL,
            trace       TEXT NOT NULL,
            rrn         TEXT NOT NULL,
            amount      BIGINT NOT NULL,
            masked_pan  TEXT NOT NULL,
            at          TEXT,
            evidence    TEXT NOT NULL,
            PRIMARY KEY (tid, event_id, n)
        );
        CREATE TABLE param_results (
            tid     TEXT NOT NULL,
            at      TEXT NOT NULL,
            result  TEXT NOT NULL,
            code    TEXT NOT NULL,
            version INTEGER,
            detail  TEXT NOT NULL
        );
        CREATE TABLE users (
            name      TEXT PRIMARY KEY,
            role      TEXT NOT NULL CHECK (role IN ('owner', 'technician')),
            pw        TEXT NOT NULL,
            merchants TEXT NOT NULL DEFAULT ''
        );
        """,
    ),
]


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class User:
    """A back-office user; an owner sees only the merchants (MIDs) listed for them."""

    name: str
    role: str
    merchants: tuple[str, ...]

    def may_see(self, mid: str) -> bool:
        """Technicians see every terminal; owners only their own shops'."""
        return self.role == "technician" or mid in self.merchants


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """scrypt (n=2**14, r=8, p=1) with a random salt: ``scrypt$salt$hash`` in hex."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a ``hash_password`` result."""
    try:
        _scheme, salt, digest = stored.split("$")
        again = hash_password(password, salt=bytes.fromhex(salt)).split("$")[2]
    except ValueError:
        return False
    return hmac.compare_digest(again, digest)


class OfficeDb:
    """The back office's store; open with a ``sqlite:///…`` or ``postgresql://…`` URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            path = parts.path
            if not path or path == "/":
                raise ConfigError(f"{url!r}: give the database file: sqlite:///path/office.db")
            self.kind = "sqlite"
            self.path = path
        elif parts.scheme in ("postgresql", "postgres"):
            self.kind = "postgresql"
            self.path = url
        else:
            raise ConfigError(f"{url!r} is not sqlite:///PATH or postgresql://USER@HOST/DB")
        self.url = url
        self._local = threading.local()

    # ---- connections -----------------------------------------------------------------------

    def _connect(self) -> Any:
        if self.kind == "sqlite":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            return conn
        import psycopg

        try:
            return psycopg.connect(self.path, autocommit=True)
        except psycopg.Error as exc:
            raise OfficeError(f"cannot connect to {self.url}: {exc}") from exc

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.kind == "postgresql" else sql

    @contextmanager
    def tx(self) -> Iterator[Any]:
        """One transaction: committed when the block ends, rolled back on an exception."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")
        try:
            yield _Tx(self, conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read."""
        cur = self._conn().execute(self._sql(sql), tuple(params))
        return [tuple(r) for r in cur.fetchall()]

    def migrate(self) -> int:
        """Apply what is missing, each migration with its version row; the new version."""
        conn = self._conn()
        conn.execute("CREATE TABLE IF NOT EXISTS office_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM office_schema").fetchone()
        current = int(row[0] or 0)
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.tx() as tx:
                for statement in _statements(sql):
                    tx.execute(statement)
                tx.execute("INSERT INTO office_schema (version) VALUES (?)", (version,))
            current = version
        return current

    # ---- ingest ----------------------------------------------------------------------------

    def ingest_event(self, mid: str, tid: str, doc: dict[str, Any]) -> bool:
        """Store one event (True) or count a repeated delivery (False); one transaction."""
        body = doc["body"]
        now = _now()
        with self.tx() as tx:
            self._terminal(tx, mid, tid, now)
            tx.execute(
                "INSERT INTO events (tid, event_id, seq, kind, at, body, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tid, event_id) "
                "DO UPDATE SET deliveries = events.deliveries + 1",
                (
                    tid,
                    doc["id"],
                    int(doc.get("seq", 0)),
                    doc["kind"],
                    doc["at"],
                    json.dumps(body, ensure_ascii=False),
                    now,
                ),
            )
            first = (
                tx.one(
                    "SELECT deliveries FROM events WHERE tid = ? AND event_id = ?", (tid, doc["id"])
                )[0]
                == 1
            )
            if not first:
                return False
            if doc["kind"] == "transaction":
                self._txn(tx, tid, int(doc.get("seq", 0)), body)
            elif doc["kind"] == "settlement":
                tx.execute(
                    "INSERT INTO settlements (tid, batch, cut_at, result, response_code, "
                    "closed_at, body) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (tid, batch, cut_at) DO NOTHING",
                    (
                        tid,
                        int(body.get("batch") or 0),
                        str(body.get("cut_at") or ""),
                        body.get("result"),
                        body.get("response_code"),
                        body.get("closed_at"),
                        json.dumps(body, ensure_ascii=False),
                    ),
                )
            elif doc["kind"] == "reconciliation":
                result = body.get("result") or {}
                for n, d in enumerate(
                    result.get("discrepancies", []) if isinstance(result, dict) else []
                ):
                    tx.execute(
                        "INSERT INTO findings (tid, event_id, n, kind, trace, rrn, amount, "
                        "masked_pan, at, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (tid, event_id, n) DO NOTHING",
                        (
                            tid,
                            doc["id"],
                            n,
                            str(d.get("kind", "")),
                            str(d.get("trace") or ""),
                            str(d.get("rrn") or ""),
                            int(d.get("amount") or 0),
                            str(d.get("masked_pan") or ""),
                            d.get("when"),
                            json.dumps(d, ensure_ascii=False),
                        ),
                    )
        return True

    def _terminal(self, tx: _Tx, mid: str, tid: str, now: str) -> None:
        tx.execute(
            "INSERT INTO terminals (tid, mid, first_seen) VALUES (?, ?, ?) "
            "ON CONFLICT (tid) DO NOTHING",
            (tid, mid, now),
        )

    def _txn(self, tx: _Tx, tid: str, seq: int, b: dict[str, Any]) -> None:
        tx.execute(
            "INSERT INTO txns (tid, uuid, seq, type, state, amount, currency, scheme, "
            "masked_pan, stan, batch, rrn, auth_code, response_code, offline, operator, "
            "local_date, created_at, updated_at, original_uuid, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tid, uuid) DO UPDATE SET seq = excluded.seq, state = excluded.state, "
            "rrn = excluded.rrn, auth_code = excluded.auth_code, "
            "response_code = excluded.response_code, offline = excluded.offline, "
            "updated_at = excluded.updated_at, body = excluded.body "
            "WHERE excluded.seq > txns.seq",
            (
                tid,
                b["uuid"],
                seq,
                b["type"],
                b["state"],
                int(b["amount"]),
                b["currency"],
                b.get("scheme") or "",
                b.get("masked_pan") or "",
                int(b["stan"]),
                int(b["batch"]),
                b.get("rrn"),
                b.get("auth_code"),
                b.get("response_code"),
                int(b.get("offline") or 0),
                b.get("operator") or "",
                b["local_date"],
                b["created_at"],
                b["updated_at"],
                b.get("original_uuid"),
                json.dumps(b, ensure_ascii=False),
            ),
        )

    def ingest_status(self, mid: str, tid: str, doc: dict[str, Any]) -> None:
        """The terminal's latest status (retained message)."""
        now = _now()
        with self.tx() as tx:
            self._terminal(tx, mid, tid, now)
            tx.execute(
                "UPDATE terminals SET status = ?, status_at = ?, name = ?, "
                "heartbeat_seconds = ?, params_version = ? WHERE tid = ?",
                (
                    json.dumps(doc, ensure_ascii=False),
                    str(doc.get("at") or now),
                    str(doc.get("name") or ""),
                    float(doc.get("heartbeat_seconds") or 60),
                    int(doc.get("params_version") or 0),
                    tid,
                ),
            )

    def ingest_online(self, mid: str, tid: str, online: bool) -> None:
        """The terminal's online flag (its will says 0 when its link dies)."""
        with self.tx() as tx:
            self._terminal(tx, mid, tid, _now())
            tx.execute("UPDATE terminals SET online = ? WHERE tid = ?", (int(online), tid))

    def ingest_param_result(self, mid: str, tid: str, doc: dict[str, Any]) -> None:
        """A terminal's answer to a parameter message."""
        with self.tx() as tx:
            self._terminal(tx, mid, tid, _now())
            tx.execute(
                "INSERT INTO param_results (tid, at, result, code, version, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    tid,
                    str(doc.get("at") or _now()),
                    str(doc.get("result") or ""),
                    str(doc.get("code") or ""),
                    doc.get("version") if isinstance(doc.get("version"), int) else None,
                    str(doc.get("detail") or json.dumps(doc.get("params") or {})),
                ),
            )

    # ---- users -----------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str, merchants: Sequence[str]) -> None:
        """Create or replace a user (password stored as scrypt)."""
        if role not in ("owner", "technician"):
            raise OfficeError(f"role {role!r} is not owner or technician")
        if len(password) < 8:
            raise OfficeError("the password must have at least 8 characters")
        with self.tx() as tx:
            tx.execute(
                "INSERT INTO users (name, role, pw, merchants) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET role = excluded.role, pw = excluded.pw, "
                "merchants = excluded.merchants",
                (name, role, hash_password(password), ",".join(merchants)),
            )

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is right."""
        rows = self.query("SELECT name, role, pw, merchants FROM users WHERE name = ?", (name,))
        if not rows or not check_password(password, rows[0][2]):
            return None
        return User(rows[0][0], rows[0][1], tuple(m for m in rows[0][3].split(",") if m))

    def user(self, name: str) -> User | None:
        """A user by name (for a signed-in session)."""
        rows = self.query("SELECT name, role, merchants FROM users WHERE name = ?", (name,))
        if not rows:
            return None
        return User(rows[0][0], rows[0][1], tuple(m for m in rows[0][2].split(",") if m))


class _Tx:
    """Statements inside one ``OfficeDb.tx()``."""

    def __init__(self, db: OfficeDb, conn: Any) -> None:
        self.db = db
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(self.db._sql(sql), tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self.conn.execute(self.db._sql(sql), tuple(params)).fetchone()
        return tuple(row)
