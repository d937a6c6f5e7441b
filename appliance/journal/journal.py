"""The journal: every state change of a transaction is one SQLite transaction.

Write-ahead rule: ``begin()`` commits a PENDING row with its STAN before the request leaves the
terminal; the outcome is committed when the answer arrives. A PENDING row found at start-up is
a request whose outcome is unknown, and ``recover()`` turns it into an owed reversal.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from appliance.domain.stan import next_stan
from appliance.domain.transactions import (
    Transaction,
    TxnState,
    TxnType,
    check_transition,
)
from appliance.errors import JournalError, JournalWriteError, NotFound
from appliance.journal.bulk import Bulk
from appliance.journal.codec import TXN_COLUMNS, iso, parse_time, transaction_from_row
from appliance.journal.db import connect, migrate
from appliance.journal.reconciliations import Reconciliations
from appliance.journal.retention import Retention
from appliance.journal.settlements import Settlements

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from appliance.journal.print_jobs import PrintJobs

Clock = Callable[[], datetime]
#: Called inside the unit of work that commits an outcome, with the transaction as committed:
#: the print queue adds the stub's job there, so the outcome and its stub commit together.
StubHook = Callable[["UnitOfWork", Transaction], None]
# Kept under their old names for the journal's own modules.
_COLUMNS = TXN_COLUMNS
_iso = iso
_dt = parse_time


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _write_error(what: str, exc: sqlite3.Error, *, durable: bool) -> JournalWriteError:
    """The typed error for a failed journal write, saying what is durable and what to do."""
    no_space = getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "full" in str(exc)
    hint = "free disk space in the state directory" if no_space else "check the state directory"
    state = "it was committed before the failure" if durable else "nothing of it was committed"
    return JournalWriteError(f"{what}: {exc} ({state}; {hint})", durable=durable, no_space=no_space)


@dataclass(frozen=True)
class OwedMessage:
    """A message still owed to the host: a reversal or an advice of a stored payment."""

    id: int
    kind: str  # "reversal" | "advice"
    txn_uuid: str
    stan: int
    transmitted_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str


class _Repositories:
    """The repositories over one connection, for a reader or a unit of work."""

    conn: sqlite3.Connection

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement."""
        raise NotImplementedError

    @property
    def settlements(self) -> Settlements:
        """The settlements of batches (``appliance.journal.settlements``)."""
        return Settlements(self)

    @property
    def reconciliations(self) -> Reconciliations:
        """The imported statements' results (``appliance.journal.reconciliations``)."""
        return Reconciliations(self)

    @property
    def retention(self) -> Retention:
        """What may be forgotten after the retention period (``appliance.journal.retention``)."""
        return Retention(self)


class Reader(_Repositories):
    """Reads under the journal lock, outside a write transaction (``journal.read()``).

    Only SELECTs: the connection is in autocommit mode, so a write here would be committed
    on its own, outside any unit of work. Writes go through ``journal.unit()``.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one SELECT; JournalError for anything else."""
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            raise JournalError(f"a journal reader only reads; writes need journal.unit(): {sql}")
        return self.conn.execute(sql, params)


class UnitOfWork(_Repositories):
    """One SQLite transaction; rolls back unless ``commit()`` is called."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.committed = False

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement inside the unit of work."""
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Any]) -> sqlite3.Cursor:
        """Run one statement for each parameter row, inside the unit of work."""
        return self.conn.executemany(sql, rows)

    @property
    def bulk(self) -> Bulk:
        """Bulk loading of finished transactions (benches; ``appliance.journal.bulk``)."""
        return Bulk(self)

    def commit(self) -> None:
        """Make the changes durable (fsync'd: synchronous=FULL)."""
        self.conn.execute("COMMIT")
        self.committed = True


class Journal:
    """The terminal's durable record. Thread-safe: one connection, serialised by a lock."""

    def __init__(self, conn: sqlite3.Connection, *, tz: str = "UTC", clock: Clock = utcnow) -> None:
        self.conn = conn
        self.tz = ZoneInfo(tz)
        self.clock = clock
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, *, tz: str = "UTC", clock: Clock = utcnow) -> Journal:
        """Open (creating and migrating as needed) the journal at ``path``."""
        conn = connect(path)
        migrate(conn)
        return cls(conn, tz=tz, clock=clock)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()

    @contextmanager
    def read(self) -> Iterator[Reader]:
        """Reads through the repositories: ``with journal.read() as r: r.settlements.get(1)``."""
        with self._lock:
            yield Reader(self.conn)

    @contextmanager
    def unit(self) -> Iterator[UnitOfWork]:
        """A unit of work: ``with journal.unit() as uow: ...; uow.commit()``.

        A failed statement or COMMIT raises JournalWriteError saying whether the unit was
        durable. SQLite rolls a transaction back by itself after some errors (a full disk, an
        I/O error, often at COMMIT); ``conn.in_transaction`` tells whether one is still open,
        so the unit rolls back only what is still there and never hides the real error behind
        "cannot rollback - no transaction is active".
        """
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._rollback_if_open()
                raise _write_error("the journal is not writable", exc, durable=False) from exc
            uow = UnitOfWork(self.conn)
            try:
                yield uow
            except sqlite3.Error as exc:
                self._rollback_if_open()
                raise _write_error("journal write failed", exc, durable=uow.committed) from exc
            except BaseException:
                self._rollback_if_open()
                raise
            else:
                if not uow.committed:
                    self._rollback_if_open()

    def _rollback_if_open(self) -> None:
        """Roll back the open transaction, if SQLite has not already done so."""
        try:
            if self.conn.in_transaction:  # also raises if the connection is already closed
                self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            # A rollback that fails leaves SQLite to roll back on the next statement or at
            # close (the hot journal/WAL rule); the original error is the one to report.
            log.warning("journal rollback failed: %s", exc)

    @property
    def print_jobs(self) -> PrintJobs:
        """The print queue's jobs and owners (``appliance.journal.print_jobs``)."""
        from appliance.journal.print_jobs import PrintJobs

        return PrintJobs(self)

    def settlement_started(self, batch: int) -> bool:
        """True when ``batch`` has a settlement row (it was cut for settlement)."""
        with self._lock:
            row = self.conn.execute("SELECT 1 FROM settlements WHERE batch=?", (batch,)).fetchone()
        return row is not None

    # ---- counters -------------------------------------------------------------------------

    def _bump(self, uow: UnitOfWork, name: str, step: Callable[[int], int]) -> int:
        value = step(uow.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()[0])
        uow.execute("UPDATE counters SET value=? WHERE name=?", (value, name))
        return value

    def counter(self, name: str) -> int:
        """Current value of counter ``name`` (stan, invoice, batch)."""
        with self._lock:
            return int(
                self.conn.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()[0]
            )

    @property
    def batch(self) -> int:
        """The open batch number."""
        return self.counter("batch")

    def next_stan(self) -> int:
        """Allocate a STAN for a non-financial message (echo, sign-on, settlement)."""
        with self.unit() as uow:
            stan = self._bump(uow, "stan", next_stan)
            uow.commit()
        return stan

    def set_batch(self, batch: int) -> None:
        """Set the open batch number (from the host at sign-on, or at settlement)."""
        with self.unit() as uow:
            uow.execute("UPDATE counters SET value=? WHERE name='batch'", (batch,))
            uow.commit()

    # ---- transactions ---------------------------------------------------------------------

    def begin(
        self,
        type: TxnType,
        amount: int,
        currency: str,
        *,
        masked_pan: str = "",
        scheme: str = "",
        entry_mode: str = "",
        aid: str = "",
        label: str = "",
        original: Transaction | None = None,
        operator: str = "",
        decision: str = "",
        tvr: str = "",
        cvm: str = "",
    ) -> Transaction:
        """Commit a PENDING transaction with a fresh STAN and invoice, before anything is sent.

        ``decision``, ``tvr`` and ``cvm`` are the card's cryptogram type and the kernel's TVR
        and CVM results (hex) for a card payment, kept so every decline is explained.
        """
        now = self.clock()
        with self.unit() as uow:
            stan = self._bump(uow, "stan", next_stan)
            invoice = self._bump(uow, "invoice", lambda v: v + 1)
            batch = uow.execute("SELECT value FROM counters WHERE name='batch'").fetchone()[0]
            txn_uuid = str(uuidlib.uuid4())
            row = uow.execute(
                """INSERT INTO transactions (uuid, type, state, amount, currency, stan, batch,
                   invoice, masked_pan, scheme, entry_mode, aid, label, original_uuid,
                   original_stan, operator, transmitted_at, created_at, updated_at, local_date,
                   decision, tvr, cvm)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   RETURNING """
                + _COLUMNS,
                (
                    txn_uuid,
                    type.value,
                    TxnState.PENDING.value,
                    amount,
                    currency,
                    stan,
                    batch,
                    invoice,
                    masked_pan,
                    scheme,
                    entry_mode,
                    aid,
                    label,
                    original.uuid if original else None,
                    original.stan if original else None,
                    operator,
                    _iso(now.replace(microsecond=0)),
                    _iso(now),
                    _iso(now),
                    now.astimezone(self.tz).date().isoformat(),
                    decision,
                    tvr,
                    cvm,
                ),
            ).fetchone()
            uow.commit()
        # The row as inserted is the row as committed: no second read after the commit.
        return self._row(row)

    def _set_state(self, uow: UnitOfWork, txn_uuid: str, new: TxnState, **fields: Any) -> None:
        sql, params = self._state_update(uow, txn_uuid, new, fields)
        uow.execute(sql, params)

    def _update_state(
        self, uow: UnitOfWork, txn_uuid: str, new: TxnState, fields: dict[str, Any]
    ) -> Transaction:
        """``_set_state`` that returns the row as updated (``RETURNING``): the row as it
        commits with ``uow``, without reading it again."""
        sql, params = self._state_update(uow, txn_uuid, new, fields)
        return self._row(uow.execute(f"{sql} RETURNING {_COLUMNS}", params).fetchone())

    def _state_update(
        self, uow: UnitOfWork, txn_uuid: str, new: TxnState, fields: dict[str, Any]
    ) -> tuple[str, tuple[Any, ...]]:
        """The UPDATE moving ``txn_uuid`` to ``new`` with ``fields``; NotFound, or
        IllegalTransition when the transaction's state may not move to ``new``."""
        row = uow.execute("SELECT state FROM transactions WHERE uuid=?", (txn_uuid,)).fetchone()
        if row is None:
            raise NotFound(f"no transaction {txn_uuid}")
        check_transition(TxnState(row["state"]), new)
        fields["state"] = new.value
        fields["updated_at"] = _iso(self.clock())
        cols = ", ".join(f"{k}=?" for k in fields)
        return f"UPDATE transactions SET {cols} WHERE uuid=?", (*fields.values(), txn_uuid)

    def record_outcome(
        self,
        txn_uuid: str,
        *,
        approved: bool,
        response_code: str,
        rrn: str | None,
        auth_code: str | None,
        stub: StubHook | None = None,
    ) -> Transaction:
        """Commit the host's answer; an approved void also marks its sale VOIDED, atomically.

        ``stub`` (the print queue's) adds the stub's print job in the same transaction.
        """
        with self.unit() as uow:
            new = TxnState.APPROVED if approved else TxnState.DECLINED
            txn = self._update_state(
                uow,
                txn_uuid,
                new,
                {"response_code": response_code, "rrn": rrn, "auth_code": auth_code},
            )
            if approved and txn.type is TxnType.VOID and txn.original_uuid:
                self._set_state(uow, txn.original_uuid, TxnState.VOIDED)
            if stub is not None:
                stub(uow, txn)
            uow.commit()
        # Returned by the UPDATE inside the unit: the row as committed.
        return txn

    def mark_not_sent(self, txn_uuid: str, note: str) -> Transaction:
        """The request never left the terminal and the payment was not stored."""
        with self.unit() as uow:
            self._set_state(uow, txn_uuid, TxnState.NOT_SENT, note=note)
            uow.commit()
        return self.get(txn_uuid)

    def owe_reversal(self, txn_uuid: str, reason: str) -> Transaction:
        """Mark the outcome unknown and queue a reversal with the original STAN, atomically."""
        now = self.clock()
        with self.unit() as uow:
            self._set_state(uow, txn_uuid, TxnState.REVERSAL_OWED, note=reason)
            stan = uow.execute("SELECT stan FROM transactions WHERE uuid=?", (txn_uuid,)).fetchone()
            uow.execute(
                """INSERT INTO outbox (kind, txn_uuid, stan, transmitted_at, next_attempt_at,
                   created_at) VALUES ('reversal', ?, ?, ?, ?, ?)""",
                (txn_uuid, stan[0], _iso(now.replace(microsecond=0)), _iso(now), _iso(now)),
            )
            uow.commit()
        return self.get(txn_uuid)

    def store_offline(
        self, txn_uuid: str, card_blob: bytes, stub: StubHook | None = None
    ) -> Transaction:
        """Keep a never-sent payment for forwarding: STORED + encrypted card data + an advice
        (and, with ``stub``, its stub's print job), in one transaction."""
        now = self.clock()
        with self.unit() as uow:
            self._set_state(uow, txn_uuid, TxnState.STORED, offline=1, card_blob=card_blob)
            row = uow.execute(
                "SELECT stan, transmitted_at FROM transactions WHERE uuid=?", (txn_uuid,)
            ).fetchone()
            uow.execute(
                """INSERT INTO outbox (kind, txn_uuid, stan, transmitted_at, next_attempt_at,
                   created_at) VALUES ('advice', ?, ?, ?, ?, ?)""",
                (txn_uuid, row["stan"], row["transmitted_at"], _iso(now), _iso(now)),
            )
            if stub is not None:
                stub(uow, self.get(txn_uuid))
            uow.commit()
        return self.get(txn_uuid)

    def settle_owed(
        self,
        owed: OwedMessage,
        *,
        approved: bool | None = None,
        response_code: str,
        rrn: str | None = None,
        auth_code: str | None = None,
        stub: StubHook | None = None,
    ) -> Transaction:
        """The host acknowledged an owed message: apply its effect and drop it, atomically.

        Reversal → REVERSED. Advice → APPROVED or FORWARD_DECLINED, card data purged.
        ``stub`` adds the final stub's print job in the same transaction.
        """
        with self.unit() as uow:
            if owed.kind == "reversal":
                self._set_state(
                    uow, owed.txn_uuid, TxnState.REVERSED, note=f"reversal {response_code}"
                )
            else:
                self._set_state(
                    uow,
                    owed.txn_uuid,
                    TxnState.APPROVED if approved else TxnState.FORWARD_DECLINED,
                    response_code=response_code,
                    rrn=rrn,
                    auth_code=auth_code,
                    card_blob=None,
                )
            deleted = uow.execute("DELETE FROM outbox WHERE id=?", (owed.id,)).rowcount
            if deleted != 1:
                raise JournalError(f"owed message {owed.id} was already settled")
            if stub is not None:
                stub(uow, self.get(owed.txn_uuid))
            uow.commit()
        return self.get(owed.txn_uuid)

    def owed_failed(self, owed: OwedMessage, error: str, retry_at: datetime) -> None:
        """Record why an attempt failed and schedule the next; the message stays owed.

        The attempt itself was counted by ``owed_attempted`` before the message was sent.
        """
        with self.unit() as uow:
            uow.execute(
                "UPDATE outbox SET last_error=?, next_attempt_at=? WHERE id=?",
                (error[:200], _iso(retry_at), owed.id),
            )
            uow.commit()

    def owed_attempted(self, owed: OwedMessage) -> None:
        """Record that a message is about to be sent (so the next send is marked a repeat)."""
        self.owed_attempted_many([owed])

    def owed_attempted_many(self, owed: list[OwedMessage]) -> None:
        """``owed_attempted`` for several messages in one transaction (one fsync, not many)."""
        if not owed:
            return
        with self.unit() as uow:
            uow.execute(
                f"UPDATE outbox SET attempts=attempts+1 WHERE id IN ({','.join('?' * len(owed))})",
                tuple(o.id for o in owed),
            )
            uow.commit()

    def owed(
        self, kind: str | None = None, *, due_before: datetime | None = None
    ) -> list[OwedMessage]:
        """Owed messages, reversals first, oldest first."""
        sql = "SELECT * FROM outbox"
        where, params = [], []
        if kind:
            where.append("kind=?")
            params.append(kind)
        if due_before:
            where.append("next_attempt_at<=?")
            params.append(_iso(due_before))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY CASE kind WHEN 'reversal' THEN 0 ELSE 1 END, id"
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [
            OwedMessage(
                id=r["id"],
                kind=r["kind"],
                txn_uuid=r["txn_uuid"],
                stan=r["stan"],
                transmitted_at=_dt(r["transmitted_at"]),
                attempts=r["attempts"],
                next_attempt_at=_dt(r["next_attempt_at"]),
                last_error=r["last_error"],
            )
            for r in rows
        ]

    def card_blob(self, txn_uuid: str) -> bytes | None:
        """The encrypted card data of a stored payment (None once purged)."""
        with self._lock:
            row = self.conn.execute(
                "SELECT card_blob FROM transactions WHERE uuid=?", (txn_uuid,)
            ).fetchone()
        return None if row is None else row[0]

    def recover(self) -> list[Transaction]:
        """At start-up: every PENDING row (crash between send and answer) gets a reversal owed."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT uuid FROM transactions WHERE state='pending' ORDER BY created_at"
            ).fetchall()
        return [self.owe_reversal(r["uuid"], "terminal restarted before the answer") for r in rows]

    # ---- queries --------------------------------------------------------------------------

    def _row(self, r: sqlite3.Row) -> Transaction:
        return transaction_from_row(r)

    def get(self, txn_uuid: str) -> Transaction:
        """One transaction by uuid."""
        with self._lock:
            r = self.conn.execute(
                f"SELECT {_COLUMNS} FROM transactions WHERE uuid=?", (txn_uuid,)
            ).fetchone()
        if r is None:
            raise NotFound(f"no transaction {txn_uuid}")
        return self._row(r)

    def find(
        self, *, trace: int | None = None, rrn: str | None = None, batch: int | None = None
    ) -> Transaction:
        """The newest transaction with this trace (STAN) or RRN; NotFound if none."""
        if trace is None and not rrn:
            raise NotFound("give a trace number or an RRN")
        sql = f"SELECT {_COLUMNS} FROM transactions WHERE "
        params: list[object] = []
        if trace is not None:
            sql += "stan=?"
            params.append(trace)
        else:
            sql += "rrn=?"
            params.append(rrn)
        if batch is not None:
            sql += " AND batch=?"
            params.append(batch)
        sql += " ORDER BY created_at DESC LIMIT 1"
        with self._lock:
            r = self.conn.execute(sql, params).fetchone()
        if r is None:
            if trace is not None:
                raise NotFound(
                    f"no transaction with trace {trace:06d} in the journal",
                    code="txn.not_found",
                    params={"trace": f"{trace:06d}"},
                )
            raise NotFound(
                f"no transaction with RRN {rrn} in the journal",
                code="txn.rrn_not_found",
                params={"rrn": str(rrn)},
            )
        return self._row(r)

    def transactions(
        self,
        *,
        batch: int | None = None,
        states: tuple[TxnState, ...] | None = None,
        local_date: str | None = None,
        original_uuid: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Transaction]:
        """Transactions filtered by batch, states, local date or original; oldest first."""
        where: list[str] = []
        params: list[object] = []
        if batch is not None:
            where.append("batch=?")
            params.append(batch)
        if states:
            # Unary + keeps SQLite off the (unselective) state index when a better one applies.
            col = "+state" if (batch is not None or local_date or original_uuid) else "state"
            where.append(f"{col} IN ({','.join('?' * len(states))})")
            params.extend(s.value for s in states)
        if local_date:
            where.append("local_date=?")
            params.append(local_date)
        if original_uuid:
            where.append("original_uuid=?")
            params.append(original_uuid)
        sql = f"SELECT {_COLUMNS} FROM transactions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at " + ("DESC" if newest_first else "ASC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            return [self._row(r) for r in self.conn.execute(sql, params).fetchall()]

    def count_amount(self, states: tuple[TxnState, ...]) -> tuple[int, int]:
        """(count, total amount) of transactions in ``states``."""
        with self._lock:
            r = self.conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(amount),0) FROM transactions "
                f"WHERE state IN ({','.join('?' * len(states))})",
                [s.value for s in states],
            ).fetchone()
        return int(r[0]), int(r[1])

    def oldest(self, state: TxnState) -> datetime | None:
        """Creation time of the oldest transaction in ``state``."""
        with self._lock:
            r = self.conn.execute(
                "SELECT MIN(created_at) FROM transactions WHERE state=?", (state.value,)
            ).fetchone()
        return _dt(r[0]) if r[0] else None

    # ---- audit and session ----------------------------------------------------------------

    def audit(self, operator: str, action: str, detail: str = "") -> None:
        """Append an operator action to the audit trail."""
        with self.unit() as uow:
            uow.execute(
                "INSERT INTO audit (at, operator, action, detail) VALUES (?,?,?,?)",
                (_iso(self.clock()), operator, action, detail),
            )
            uow.commit()

    def audit_trail(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [dict(r) for r in rows]

    def session_get(self, key: str) -> str | None:
        """A session value (wrapped working keys, last sign-on time)."""
        with self._lock:
            r = self.conn.execute("SELECT value FROM session WHERE key=?", (key,)).fetchone()
        return r[0] if r else None

    def session_set(self, **values: str) -> None:
        """Set session values in one transaction."""
        with self.unit() as uow:
            for k, v in values.items():
                uow.execute(
                    "INSERT INTO session (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (k, v),
                )
            uow.commit()


def retry_delay(
    attempts: int, *, base: float = 1.0, cap: float = 300.0, rand: Callable[[], float] | None = None
) -> timedelta:
    """Exponential back-off with full jitter for the ``attempts``-th failure."""
    import random

    r = (rand or random.random)()
    return timedelta(seconds=min(cap, base * 2 ** min(attempts, 16)) * (0.5 + r / 2))
