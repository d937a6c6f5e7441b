"""Print jobs and print owners: every SQL statement of the print queue.

A job is a receipt document (JSON, rendered by whoever prints it) or raw ESC/POS bytes, with
a state:

``queued`` → ``printing`` (claimed with a lease by one owner) → ``done``;
``printing`` → ``uncertain`` when the outcome is unknown (connection cut, fault mid-job; or a
lease that expired because its owner died mid-print) → printed once more, with the DUPLICATE
banner → ``done``; after ``max_attempts`` uncertain attempts → ``needs_attention``, until an
operator asks to ``retry`` it.

A claim is one ``UPDATE … WHERE state IN ('queued','uncertain') OR lease expired`` in one
``BEGIN IMMEDIATE`` transaction, so two processes never print the same job. Leases and owner
heartbeats are wall-clock seconds (``time.time()``): they coordinate processes, they are not
business records, and the journal's (possibly simulated) clock must not move them.

``print_owners`` has one row per printer naming the process that prints for it (the kiosk, or
a CLI command while no kiosk runs) and its lease; a live row keeps every other process from
printing to that printer.
"""

from __future__ import annotations

import builtins
import json
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

    from appliance.journal.journal import Journal, UnitOfWork

#: Job states (see the module docstring).
STATES = ("queued", "printing", "uncertain", "done", "needs_attention")
#: States of jobs that still owe a print (``done`` does not).
WAITING = ("queued", "printing", "uncertain", "needs_attention")

#: How a document is stored: compact, UTF-8 kept readable. One encoder for every job, as
#: ``json.dumps`` with options builds a new encoder per call (a sale's stub pays it).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class PrintJob:
    """One journaled print job."""

    seq: int
    id: str
    what: str
    txn_uuid: str | None
    copy: str
    document: dict[str, Any] | None
    data: bytes | None
    state: str
    attempts: int
    duplicate: bool
    lease_owner: str | None
    lease_until: float | None
    last_error: str
    created_at: datetime
    printed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable summary (no document or bytes)."""
        return {
            "id": self.id,
            "what": self.what,
            "state": self.state,
            "attempts": self.attempts,
            "duplicate": self.duplicate,
            "last_error": self.last_error,
            "txn_uuid": self.txn_uuid,
            "created_at": self.created_at.isoformat(),
            "printed_at": self.printed_at.isoformat() if self.printed_at else None,
        }


@dataclass(frozen=True)
class PrintOwner:
    """The process that prints for one printer, while its lease lasts."""

    printer: str
    owner: str
    kind: str
    until: float
    status: str


_COLS = (
    "seq, id, what, txn_uuid, copy, document, data, state, attempts, duplicate, lease_owner, "
    "lease_until, last_error, created_at, printed_at"
)
_CLAIMABLE = "(state IN ('queued', 'uncertain') OR (state = 'printing' AND lease_until < :now))"


def _iso(t: datetime) -> str:
    from appliance.journal.journal import _iso as journal_iso

    return journal_iso(t)


def _job(r: sqlite3.Row) -> PrintJob:
    return PrintJob(
        seq=r[0],
        id=r[1],
        what=r[2],
        txn_uuid=r[3],
        copy=r[4],
        document=json.loads(r[5]) if r[5] is not None else None,
        data=bytes(r[6]) if r[6] is not None else None,
        state=r[7],
        attempts=r[8],
        duplicate=bool(r[9]),
        lease_owner=r[10],
        lease_until=r[11],
        last_error=r[12],
        created_at=datetime.fromisoformat(r[13]),
        printed_at=datetime.fromisoformat(r[14]) if r[14] else None,
    )


class PrintJobs:
    """The print queue's journal tables (``journal.print_jobs``)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    # ---- reads --------------------------------------------------------------------------

    def _select(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        with self.journal._lock:
            return self.journal.conn.execute(sql, params).fetchall()

    def list(self, state: str | None = None, limit: int = 1000) -> list[PrintJob]:
        """Jobs in queue order (optionally only those in ``state``)."""
        if state:
            rows = self._select(
                f"SELECT {_COLS} FROM print_jobs WHERE state=? ORDER BY seq LIMIT ?",
                (state, limit),
            )
        else:
            rows = self._select(f"SELECT {_COLS} FROM print_jobs ORDER BY seq LIMIT ?", (limit,))
        return [_job(r) for r in rows]

    def waiting(self) -> builtins.list[PrintJob]:  # ``list`` is the method above
        """Jobs not yet printed (queued, printing, uncertain, needs attention), in order."""
        rows = self._select(f"SELECT {_COLS} FROM print_jobs WHERE state != 'done' ORDER BY seq")
        return [_job(r) for r in rows]

    def get(self, job_id: str) -> PrintJob | None:
        """One job by id."""
        rows = self._select(f"SELECT {_COLS} FROM print_jobs WHERE id=?", (job_id,))
        return _job(rows[0]) if rows else None

    def counts(self) -> dict[str, int]:
        """Number of jobs per state (states without jobs are 0)."""
        out = dict.fromkeys(STATES, 0)
        for state, n in self._select("SELECT state, COUNT(*) FROM print_jobs GROUP BY state"):
            out[state] = n
        return out

    def claimable(self, now: float | None = None) -> int:
        """How many jobs a claim could take now (cheap: no write transaction)."""
        now = time.time() if now is None else now
        rows = self._select(f"SELECT COUNT(*) FROM print_jobs WHERE {_CLAIMABLE}", {"now": now})
        return int(rows[0][0])

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes when another connection commits."""
        return int(self._select("PRAGMA data_version")[0][0])

    # ---- writes -------------------------------------------------------------------------

    def add(
        self,
        uow: UnitOfWork,
        what: str,
        *,
        document: dict[str, Any] | None = None,
        data: bytes | None = None,
        txn_uuid: str | None = None,
        copy: str = "",
    ) -> str:
        """Insert a queued job inside ``uow`` (so it commits with what it prints); its id."""
        if (document is None) == (data is None):
            raise ValueError("a print job has either a document or bytes")
        job_id = str(uuidlib.uuid4())
        uow.execute(
            "INSERT INTO print_jobs (id, what, txn_uuid, copy, document, data, state, "
            "created_at) VALUES (?,?,?,?,?,?, 'queued', ?)",
            (
                job_id,
                what,
                txn_uuid,
                copy,
                _ENCODE(document) if document is not None else None,
                data,
                _iso(self.journal.clock()),
            ),
        )
        return job_id

    def enqueue(self, what: str, **kw: Any) -> str:
        """``add`` in a unit of its own."""
        with self.journal.unit() as uow:
            job_id = self.add(uow, what, **kw)
            uow.commit()
        return job_id

    def claim(
        self, owner: str, *, lease: float, max_attempts: int, now: float | None = None
    ) -> PrintJob | None:
        """Take the oldest claimable job for ``owner`` (state ``printing``, one more attempt).

        In the same transaction, jobs whose uncertain attempts are used up are parked as
        ``needs_attention``. A job taken over from an expired lease, or one left uncertain,
        is marked ``duplicate``: its earlier attempt may have printed.
        """
        now = time.time() if now is None else now
        with self.journal.unit() as uow:
            uow.execute(
                "UPDATE print_jobs SET state='needs_attention', lease_owner=NULL, "
                "lease_until=NULL, last_error=CASE WHEN state='printing' "
                "THEN 'the printing process stopped mid-job' ELSE last_error END "
                "WHERE attempts >= :max AND (state='uncertain' OR "
                "(state='printing' AND lease_until < :now))",
                {"max": max_attempts, "now": now},
            )
            row = uow.execute(
                f"UPDATE print_jobs SET state='printing', lease_owner=:owner, "
                f"lease_until=:until, attempts=attempts+1, "
                f"duplicate=CASE WHEN state='queued' THEN duplicate ELSE 1 END "
                f"WHERE seq=(SELECT seq FROM print_jobs WHERE {_CLAIMABLE} ORDER BY seq LIMIT 1) "
                f"AND {_CLAIMABLE} RETURNING {_COLS}",
                {"owner": owner, "until": now + lease, "now": now},
            ).fetchone()
            uow.commit()
        return _job(row) if row is not None else None

    def renew(self, owner: str, *, lease: float, now: float | None = None) -> int:
        """Extend the leases of the jobs ``owner`` is printing; how many."""
        now = time.time() if now is None else now
        with self.journal.unit() as uow:
            n = uow.execute(
                "UPDATE print_jobs SET lease_until=? WHERE state='printing' AND lease_owner=?",
                (now + lease, owner),
            ).rowcount
            uow.commit()
        return int(n)

    def _settle(self, seq: int, owner: str, sql: str, params: dict[str, Any]) -> bool:
        with self.journal.unit() as uow:
            n = uow.execute(
                f"UPDATE print_jobs SET {sql}, lease_owner=NULL, lease_until=NULL "
                f"WHERE seq=:seq AND state='printing' AND lease_owner=:owner",
                {**params, "seq": seq, "owner": owner},
            ).rowcount
            uow.commit()
        return n == 1

    def done(self, job: PrintJob, owner: str) -> bool:
        """The printer took the whole job; False if ``owner`` no longer held it."""
        return self._settle(
            job.seq,
            owner,
            "state='done', last_error='', printed_at=:at",
            {"at": _iso(self.journal.clock())},
        )

    def not_sent(self, job: PrintJob, owner: str, error: str) -> bool:
        """Nothing reached the printer: back to waiting, the attempt not counted."""
        return self._settle(
            job.seq,
            owner,
            "state=CASE WHEN duplicate THEN 'uncertain' ELSE 'queued' END, "
            "attempts=attempts-1, last_error=:err",
            {"err": error[:300]},
        )

    def uncertain(self, job: PrintJob, owner: str, error: str, *, max_attempts: int) -> bool:
        """The job may or may not have printed: the next print carries the DUPLICATE banner;
        when its attempts are used up it waits for a person (``needs_attention``)."""
        return self._settle(
            job.seq,
            owner,
            "state=CASE WHEN attempts >= :max THEN 'needs_attention' ELSE 'uncertain' END, "
            "duplicate=1, last_error=:err",
            {"err": error[:300], "max": max_attempts},
        )

    def park(self, job: PrintJob, owner: str, error: str) -> bool:
        """The job cannot be printed at all (e.g. its document cannot be rendered)."""
        return self._settle(
            job.seq,
            owner,
            "state='needs_attention', attempts=attempts-1, last_error=:err",
            {"err": error[:300]},
        )

    def retry(self, job_id: str | None = None, *, max_attempts: int) -> int:
        """An operator asks to print parked jobs again (one id, or all): each gets one more
        attempt, marked DUPLICATE when an earlier one may have printed. Returns how many."""
        where = "state='needs_attention'" + (" AND id=:id" if job_id else "")
        with self.journal.unit() as uow:
            n = uow.execute(
                "UPDATE print_jobs SET state=CASE WHEN duplicate THEN 'uncertain' "
                "ELSE 'queued' END, attempts=MIN(attempts, :keep) WHERE " + where,
                {"id": job_id, "keep": max(0, max_attempts - 1)},
            ).rowcount
            uow.commit()
        return int(n)

    # ---- print owners -------------------------------------------------------------------

    def take_printer(
        self,
        printer: str,
        owner: str,
        kind: str,
        *,
        lease: float,
        status: str = "",
        now: float | None = None,
    ) -> bool:
        """Become (or stay) ``printer``'s print owner for ``lease`` seconds; False while
        another owner's lease lasts."""
        now = time.time() if now is None else now
        with self.journal.unit() as uow:
            n = uow.execute(
                "INSERT INTO print_owners (printer, owner, kind, until, status) "
                "VALUES (:p, :o, :k, :u, :s) ON CONFLICT (printer) DO UPDATE SET "
                "owner=excluded.owner, kind=excluded.kind, until=excluded.until, "
                "status=excluded.status "
                "WHERE print_owners.owner=excluded.owner OR print_owners.until < :now",
                {"p": printer, "o": owner, "k": kind, "u": now + lease, "s": status, "now": now},
            ).rowcount
            uow.commit()
        return n == 1

    def release_printer(self, printer: str, owner: str) -> None:
        """Stop owning ``printer`` (another process may take it at once)."""
        with self.journal.unit() as uow:
            uow.execute("DELETE FROM print_owners WHERE printer=? AND owner=?", (printer, owner))
            uow.commit()

    def owner_of(self, printer: str, now: float | None = None) -> PrintOwner | None:
        """The live owner of ``printer`` (None when none, or its lease ran out)."""
        now = time.time() if now is None else now
        rows = self._select(
            "SELECT printer, owner, kind, until, status FROM print_owners "
            "WHERE printer=? AND until >= ?",
            (printer, now),
        )
        return PrintOwner(*rows[0]) if rows else None
