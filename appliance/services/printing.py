"""The print queue: every stub and report is journaled with an id before it prints.

Jobs print in order, one at a time, by the queue's one owner of the printer. While the printer
is OFFLINE, out of paper or open, jobs wait (across reboots: they are in the journal). A job
cut short prints again in full: it is marked ``printing`` before the bytes go out and only
``done`` after the printer took all of them; a crash in between leaves it to print again.
A sale never waits for the printer: ``enqueue`` only writes the journal.
"""

from __future__ import annotations

import logging
import threading
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.domain.transactions import Transaction
from appliance.errors import PrinterError
from appliance.journal import Journal
from appliance.journal.journal import _iso

if TYPE_CHECKING:
    from appliance.config import Config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrintJob:
    """One queued job."""

    seq: int
    id: str
    what: str
    txn_uuid: str | None
    copy: str
    data: bytes
    state: str
    attempts: int
    last_error: str
    created_at: datetime


class PrintQueue:
    """Journaled print jobs and the worker that prints them."""

    def __init__(self, config: Config, journal: Journal, printer: Any) -> None:
        self.config = config
        self.journal = journal
        self.printer = printer
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._print_lock = threading.Lock()
        self.recover()

    # ---- building jobs ----------------------------------------------------------------------

    def merchant(self) -> Any:
        """The merchant block printed on every slip."""
        from appliance.domain.receipts import MerchantInfo

        m = self.config.merchant
        return MerchantInfo(name=m.name, mid=m.mid, tid=m.tid)

    def render(self, doc: Any) -> bytes:
        """A receipt document as ESC/POS for this printer's profile."""
        from appliance.receipts.escpos import render_escpos

        return render_escpos(doc, self.printer.profile)

    def receipt_document(
        self,
        txn: Transaction,
        copy: str,
        *,
        kind: str | None = None,
        reprint_at: datetime | None = None,
    ) -> Any:
        """The slip of ``txn`` as a document (also used by PDF export and the screen)."""
        from appliance.domain.receipts import build_receipt

        return build_receipt(
            kind,
            txn,
            self.merchant(),
            copy=copy,  # type: ignore[arg-type]
            lang=self.config.locale.receipt_language,
            cvm_limit=self.config.limits.cvm_limit,
            tz=self.config.locale.timezone,
            reprint_at=reprint_at,
        )

    def transaction_stub(
        self,
        txn: Transaction,
        copy: str,
        *,
        kind: str | None = None,
        reprint_at: datetime | None = None,
    ) -> str:
        """Queue the ``copy`` stub of ``txn``; returns the job id."""
        from appliance.domain.receipts import kind_for

        doc = self.receipt_document(txn, copy, kind=kind, reprint_at=reprint_at)
        # Named by the kind the slip shows (as build_receipt picks it), e.g. "sale merchant 000002".
        what = f"{'reprint ' if reprint_at else ''}{kind or kind_for(txn)} {copy} {txn.trace}"
        return self.enqueue(what, self.render(doc), txn_uuid=txn.uuid, copy=copy)

    def document(self, doc: Any, what: str) -> str:
        """Queue any document (reports, settlement and reconciliation slips)."""
        return self.enqueue(what, self.render(doc))

    def enqueue(
        self, what: str, data: bytes, *, txn_uuid: str | None = None, copy: str = ""
    ) -> str:
        """Journal a job (durably) and wake the worker; never touches the printer."""
        job_id = str(uuidlib.uuid4())
        with self.journal.unit() as uow:
            uow.execute(
                "INSERT INTO print_jobs (id, what, txn_uuid, copy, data, state, created_at) "
                "VALUES (?,?,?,?,?, 'queued', ?)",
                (job_id, what, txn_uuid, copy, data, _iso(self.journal.clock())),
            )
            uow.commit()
        self._wake.set()
        return job_id

    # ---- state --------------------------------------------------------------------------------

    def recover(self) -> int:
        """At start-up: a job left ``printing`` by a crash prints again, whole."""
        with self.journal.unit() as uow:
            n = uow.execute("UPDATE print_jobs SET state='queued' WHERE state='printing'").rowcount
            uow.commit()
        return n

    def jobs(self, state: str | None = None, limit: int = 1000) -> list[PrintJob]:
        """Jobs in queue order (optionally only those in ``state``)."""
        sql = "SELECT * FROM print_jobs"
        params: tuple[Any, ...] = ()
        if state:
            sql += " WHERE state=?"
            params = (state,)
        sql += " ORDER BY seq LIMIT ?"
        with self.journal._lock:
            rows = self.journal.conn.execute(sql, (*params, limit)).fetchall()
        return [
            PrintJob(
                seq=r["seq"],
                id=r["id"],
                what=r["what"],
                txn_uuid=r["txn_uuid"],
                copy=r["copy"],
                data=r["data"],
                state=r["state"],
                attempts=r["attempts"],
                last_error=r["last_error"],
                created_at=datetime.fromisoformat(r["created_at"]),
            )
            for r in rows
        ]

    def waiting(self) -> int:
        """How many jobs wait to print."""
        with self.journal._lock:
            return int(
                self.journal.conn.execute(
                    "SELECT COUNT(*) FROM print_jobs WHERE state != 'done'"
                ).fetchone()[0]
            )

    def _set(self, job: PrintJob, state: str, error: str = "") -> None:
        with self.journal.unit() as uow:
            uow.execute(
                "UPDATE print_jobs SET state=?, last_error=?, attempts=attempts+?, printed_at=? "
                "WHERE seq=?",
                (
                    state,
                    error[:200],
                    1 if state == "printing" else 0,
                    _iso(self.journal.clock()) if state == "done" else None,
                    job.seq,
                ),
            )
            uow.commit()

    # ---- printing -----------------------------------------------------------------------------

    def drain(self) -> int:
        """Print waiting jobs in order until done or the printer cannot print; returns printed."""
        printed = 0
        with self._print_lock:
            for job in self.jobs("queued"):
                status = self.printer.status()
                if not status.can_print:
                    log.info("printer %s: %d job(s) wait", status.value, self.waiting())
                    break
                self._set(job, "printing")
                try:
                    self.printer.print_job(job.id, job.data)
                except PrinterError as exc:
                    self._set(job, "queued", str(exc))
                    log.warning("job %s interrupted (%s): it will print again in full", job.id, exc)
                    break
                self._set(job, "done")
                printed += 1
        return printed

    def start(self, poll: float = 2.0) -> None:
        """Print in a background thread (the printer's one owner), polling while jobs wait."""
        if self._thread is not None:
            return
        self._stop.clear()  # a queue stopped once can be started again

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.drain()
                except Exception:  # the worker must survive any one job's failure
                    log.exception("print worker error")
                self._wake.wait(poll if self.waiting() else 3600)
                self._wake.clear()

        self._thread = threading.Thread(target=run, name="printer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker (waiting jobs stay journaled)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
