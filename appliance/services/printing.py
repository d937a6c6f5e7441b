"""The print queue: any number of producers, one print owner per printer.

Producers (a sale, the CLI, the settlement timer) only journal jobs: a job is the receipt
*document*, or for a payment's stub a snapshot of what the slip is built from, committed in the
same transaction as the outcome it prints (``stub_hook``). The print owner builds the slip,
renders and prints. There is one per printer, recorded with a lease in the journal
(``print_owners``): the kiosk's print worker while it runs, else the CLI command that queued a
job, which prints it before it exits (``print_here``). Every job is claimed with a lease in one
transaction, so two processes never print the same job.

A job whose outcome is uncertain (connection cut, fault mid-job, the printing process killed)
prints once more, after the printer reports ready, headed by the DUPLICATE 重复打印 banner;
after ``printer.max_attempts`` prints it is parked as "needs attention" until an operator asks
for it again (``retry``). A printer that is slow is BUSY (the adapter waits for the job to
drain), never judged offline for taking its time.

The kiosk's worker sees jobs queued by other processes within a second: it checks SQLite's
``PRAGMA data_version`` (a read of a counter, no I/O) every half second.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.domain.transactions import Transaction
from appliance.errors import PrinterError, PrinterNotReady
from appliance.journal import Journal
from appliance.journal.print_jobs import PrintJob

if TYPE_CHECKING:
    from appliance.config import Config
    from appliance.journal.journal import UnitOfWork

log = logging.getLogger(__name__)

__all__ = ["PrintJob", "PrintQueue", "PrintRun"]

#: Seconds an owner's (and its job's) lease lasts without renewal; renewed every third of it.
LEASE = 10.0
#: Seconds between the worker's looks at the journal for jobs queued by other processes.
POLL = 0.5
#: Seconds between status queries while jobs wait for a printer that cannot print.
RECHECK = 2.0


@dataclass
class PrintRun:
    """What a command-line print run did (``print_here``)."""

    printed: int = 0
    waiting: int = 0
    needs_attention: int = 0
    owner: str = ""  # "kiosk" when the kiosk prints instead; "" when this process printed
    printer: str = ""  # the printer's status when jobs were left waiting
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable form."""
        return self.__dict__.copy()

    def message(self) -> str:
        """One line for the person at the command line ("" when there is nothing to say)."""
        if self.owner:
            return f"the {self.owner} prints the {self.waiting} waiting job(s)"
        parts = []
        if self.printed:
            parts.append(f"printed {self.printed} job(s)")
        if self.waiting:
            parts.append(
                f"{self.waiting} job(s) wait: the printer is {self.printer or 'not ready'}; "
                f"they print when it is ready and the kiosk runs, or with "
                f"`countertop printer jobs --print`"
            )
        if self.needs_attention:
            parts.append(
                f"{self.needs_attention} job(s) need attention: `countertop printer jobs` "
                f"lists them, `countertop printer retry` prints them again"
            )
        return "; ".join(parts)


class PrintQueue:
    """Journaled print jobs, and the print owner that prints them."""

    def __init__(
        self, config: Config, journal: Journal, printer: Any, *, kind: str = "cli"
    ) -> None:
        self.config = config
        self.journal = journal
        self.printer = printer
        self.kind = kind
        self.store = journal.print_jobs
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuidlib.uuid4().hex[:8]}"
        self.printer_key = str(getattr(printer, "device", "printer"))
        self.max_attempts = int(getattr(config.printer, "max_attempts", 2))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One job at a time from this process (the worker and a direct drain() call).
        self._one_job_at_a_time = threading.Lock()
        self.queued_here: list[str] = []
        self._merchant: tuple[tuple[str, str, str], Any] | None = None

    # ---- building jobs ----------------------------------------------------------------------

    @property
    def merchant(self) -> Any:
        """The merchant block printed on every slip."""
        from appliance.domain.receipts import MerchantInfo

        m = self.config.merchant
        key = (m.name, m.mid, m.tid)
        if self._merchant is None or self._merchant[0] != key:
            # Built once per merchant: slips then share the header lines built for it.
            self._merchant = (key, MerchantInfo(name=m.name, mid=m.mid, tid=m.tid))
        return self._merchant[1]

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
        """The slip of ``txn`` as a document (also used by PDF export and the screen).

        A reprint of a sale says how much of it was refunded since (a voided sale says VOIDED).
        """
        from appliance.domain.receipts import build_receipt

        return build_receipt(
            kind,
            txn,
            self.merchant,
            copy=copy,  # type: ignore[arg-type]
            lang=self.config.locale.receipt_language,
            cvm_limit=self.config.limits.cvm_limit,
            tz=self.config.locale.timezone,
            reprint_at=reprint_at,
            refunded=self._refunded(txn) if reprint_at is not None else 0,
        )

    def _refunded(self, txn: Transaction) -> int:
        from appliance.domain.transactions import TxnState, TxnType

        if txn.type is not TxnType.SALE:
            return 0
        return sum(
            t.amount
            for t in self.journal.transactions(original_uuid=txn.uuid)
            if t.type is TxnType.REFUND and t.state is TxnState.APPROVED
        )

    @staticmethod
    def _stub_name(txn: Transaction, copy: str, kind: str | None, reprint: bool) -> str:
        from appliance.domain.receipts import kind_for

        # Named by the kind the slip shows (as build_receipt picks it), e.g. "sale merchant 000002".
        return f"{'reprint ' if reprint else ''}{kind or kind_for(txn)} {copy} {txn.trace}"

    def wants_stub(self, kind: str | None) -> bool:
        """Whether a first stub of this kind prints (declines only when configured)."""
        return kind != "declined" or bool(getattr(self.config.receipts, "decline_stub", False))

    def stub_hook(
        self, copy: str = "merchant", *, kind: str | None = None
    ) -> Callable[[UnitOfWork, Transaction], None] | None:
        """For the journal: add the stub's job inside the unit that commits the outcome (None
        when this kind prints no first stub)."""
        if not self.wants_stub(kind):
            return None

        def add(uow: UnitOfWork, txn: Transaction) -> None:
            self.queued_here.append(self._add_snapshot(uow, txn, copy, kind))
            self._wake.set()

        return add

    def _add_snapshot(self, uow: UnitOfWork, txn: Transaction, copy: str, kind: str | None) -> str:
        """Journal what the slip is built from, as ``txn`` stands in ``uow``: the print owner
        builds the slip when it claims the job (``receipt_data.stub_snapshot``)."""
        from appliance.domain.receipt_data import stub_snapshot

        snap = stub_snapshot(
            kind,
            txn,
            self.merchant,
            copy=copy,
            lang=self.config.locale.receipt_language,
            cvm_limit=self.config.limits.cvm_limit,
            tz=self.config.locale.timezone,
        )
        what = self._stub_name(txn, copy, snap["kind"], False)
        return self.store.add(uow, what, document=snap, txn_uuid=txn.uuid, copy=copy)

    def transaction_stub(
        self,
        txn: Transaction,
        copy: str,
        *,
        kind: str | None = None,
        reprint_at: datetime | None = None,
    ) -> str:
        """Queue the ``copy`` stub of ``txn``; returns the job id."""
        doc = self.receipt_document(txn, copy, kind=kind, reprint_at=reprint_at)
        what = self._stub_name(txn, copy, kind, reprint_at is not None)
        return self._queued(
            self.store.enqueue(what, document=_data(doc), txn_uuid=txn.uuid, copy=copy)
        )

    def qr_stub(self, order: Any, copy: str, *, reprint_at: datetime | None = None) -> str:
        """Queue the ``copy`` slip of a QR payment or refund (``appliance.domain.qr_receipt``)."""
        from appliance.domain.qr_receipt import build_qr_receipt

        doc = build_qr_receipt(
            order,
            self.merchant,
            copy=copy,
            lang=self.config.locale.receipt_language,
            tz=self.config.locale.timezone,
            reprint_at=reprint_at,
        )
        return self.document(
            doc, f"{'reprint ' if reprint_at else ''}{doc.kind} {copy} {order.order}"
        )

    def document(self, doc: Any, what: str) -> str:
        """Queue any document (reports, settlement and reconciliation slips)."""
        return self._queued(self.store.enqueue(what, document=_data(doc)))

    def add_document(self, uow: UnitOfWork, doc: Any, what: str) -> str:
        """Add a job for ``doc`` inside ``uow``, so it commits with the change it prints (the
        settlement slip with the mark that it was queued); its id."""
        return self._queued(self.store.add(uow, what, document=_data(doc)))

    def enqueue(
        self, what: str, data: bytes, *, txn_uuid: str | None = None, copy: str = ""
    ) -> str:
        """Journal a job of raw ESC/POS bytes (durably) and wake the worker."""
        return self._queued(self.store.enqueue(what, data=data, txn_uuid=txn_uuid, copy=copy))

    def _queued(self, job_id: str) -> str:
        self.queued_here.append(job_id)
        self._wake.set()
        return job_id

    # ---- state --------------------------------------------------------------------------------

    def recover(self) -> int:
        """Nothing to do at start-up: a job a crash left ``printing`` is taken over when its
        lease runs out (and printed marked DUPLICATE). Kept for callers; returns 0."""
        return 0

    def jobs(self, state: str | None = None, limit: int = 1000) -> list[PrintJob]:
        """Jobs in queue order (optionally only those in ``state``)."""
        return self.store.list(state, limit)

    def waiting_jobs(self) -> list[PrintJob]:
        """Jobs not printed yet, in order."""
        return self.store.waiting()

    def waiting(self) -> int:
        """How many jobs have not printed yet (including those that need attention)."""
        return len(self.store.waiting())

    def attention(self) -> list[PrintJob]:
        """Jobs parked for a person."""
        return self.store.list("needs_attention")

    def retry(self, job_id: str | None = None) -> int:
        """An operator asks for parked jobs again (one, or all); how many will print."""
        n = self.store.retry(job_id, max_attempts=self.max_attempts)
        self._wake.set()
        return n

    def owner_elsewhere(self) -> str:
        """The kind of the other process that prints for this printer ("" when none)."""
        owner = self.store.owner_of(self.printer_key)
        return owner.kind if owner is not None and owner.owner != self.owner else ""

    def reported_status(self) -> str:
        """The printer status the live print owner last reported ("" when none does)."""
        owner = self.store.owner_of(self.printer_key)
        return owner.status if owner is not None and owner.owner != self.owner else ""

    # ---- printing -----------------------------------------------------------------------------

    def drain(self, *, now: float | None = None) -> int:
        """Print claimable jobs in order until none is left or the printer cannot print;
        returns how many printed. Only the print owner (or a test) calls this."""
        printed = 0
        with self._one_job_at_a_time:
            while not self._stop.is_set() and self.store.claimable(now):
                status = self.printer.status()
                if not status.can_print:
                    log.info("printer %s: %d job(s) wait", status.value, self.waiting())
                    break
                job = self.store.claim(
                    self.owner, lease=LEASE, max_attempts=self.max_attempts, now=now
                )
                if job is None:
                    break
                if self._print(job):
                    printed += 1
        return printed

    def _print(self, job: PrintJob) -> bool:
        """Print one claimed job and record its outcome; True when it printed."""
        try:
            data = self._bytes(job)
        except Exception as exc:  # a document this version cannot render: a person must look
            log.exception("job %s cannot be rendered", job.id)
            self.store.park(job, self.owner, f"cannot be rendered: {exc}")
            return False
        renew = threading.Event()
        keeper = threading.Thread(
            target=self._keep_lease, args=(renew,), name="print-lease", daemon=True
        )
        keeper.start()
        try:
            self.printer.print_job(job.id, data)
        except PrinterNotReady as exc:
            self.store.not_sent(job, self.owner, str(exc))
            log.info("job %s not sent: %s", job.id, exc)
            return False
        except PrinterError as exc:
            self.store.uncertain(job, self.owner, str(exc), max_attempts=self.max_attempts)
            log.warning(
                "job %s may be incomplete (%s): printed once more, marked DUPLICATE, when the "
                "printer is ready (attempt %d of %d)",
                job.id,
                exc,
                job.attempts,
                self.max_attempts,
            )
            return False
        finally:
            renew.set()
            keeper.join()
        self.store.done(job, self.owner)
        return True

    def _keep_lease(self, stop: threading.Event) -> None:
        """Renew the printing job's lease while the printer takes it (a long slip on a slow
        printer may take minutes; a killed process stops renewing)."""
        while not stop.wait(LEASE / 3):
            try:
                self.store.renew(self.owner, lease=LEASE)
                if self._owning:
                    self._heartbeat()
            except Exception:
                log.exception("renewing the print lease failed")

    def _bytes(self, job: PrintJob) -> bytes:
        """The job as ESC/POS for this printer, headed by the DUPLICATE banner when due."""
        from appliance.domain.receipt_data import duplicate_banner, from_data, with_duplicate_banner

        if job.document is not None:
            doc = from_data(job.document)
            return self.render(with_duplicate_banner(doc) if job.duplicate else doc)
        assert job.data is not None
        if not job.duplicate:
            return job.data
        from appliance.domain.receipts import Document

        banner = self.render(Document("banner", "bilingual", duplicate_banner()))
        return banner + job.data

    # ---- ownership ----------------------------------------------------------------------------

    _owning = False

    def _heartbeat(self) -> bool:
        status = getattr(self.printer, "last_status", None)  # a port without it reports ""
        ok = self.store.take_printer(
            self.printer_key,
            self.owner,
            self.kind,
            lease=LEASE,
            status=getattr(status, "value", ""),
        )
        self._owning = ok
        return ok

    def print_here(self, wait: float | None = None) -> PrintRun:
        """Print the waiting jobs from this process when no other process prints for this
        printer (the CLI, when no kiosk runs): waits up to ``wait`` seconds (config
        ``printer.cli_wait``) for the printer to be ready, then leaves the rest queued."""
        run = PrintRun()
        if not self.store.waiting():
            self.queued_here.clear()
            return run
        wait = float(getattr(self.config.printer, "cli_wait", 10.0)) if wait is None else wait
        other = self.owner_elsewhere()
        if other or not self._heartbeat():
            run.owner = other or "other process"
            run.waiting = self.store.claimable()
            self.queued_here.clear()
            return run
        try:
            deadline = _monotonic() + wait
            while True:
                run.printed += self.drain()
                left = self.store.claimable()
                if not left:
                    break
                status = self.printer.status()
                run.printer = status.value
                if _monotonic() >= deadline:
                    break
                self._stop.wait(min(0.25, max(0.0, deadline - _monotonic())))
                self._heartbeat()
            run.waiting = self.store.claimable()
            if run.waiting and not run.printer:
                run.printer = self.printer.status().value
        finally:
            self.store.release_printer(self.printer_key, self.owner)
            self._owning = False
            self.queued_here.clear()
        run.needs_attention = len(self.attention())
        return run

    def start(self, poll: float = POLL) -> None:
        """Print in a background thread as this printer's owner (the kiosk's print worker).

        The worker wakes at once for jobs this process queues, and within ``poll`` seconds for
        jobs other processes commit (``PRAGMA data_version``); while jobs wait for a printer
        that cannot print it asks the printer again every few seconds.
        """
        if self._thread is not None:
            return
        self._stop.clear()  # a queue stopped once can be started again
        self.kind = "kiosk"

        def run() -> None:
            seen = -1
            last_beat = last_check = 0.0
            while not self._stop.is_set():
                try:
                    t = _monotonic()
                    if t - last_beat >= LEASE / 3 or not self._owning:
                        self._heartbeat()
                        last_beat = t
                    version = self.store.data_version()
                    woken = self._wake.is_set()
                    self._wake.clear()
                    due = t - last_check >= RECHECK
                    if self._owning and (woken or version != seen or due):
                        seen = version
                        if self.store.claimable():
                            last_check = t
                            self.drain()
                except Exception:  # the worker must survive any one job's failure
                    log.exception("print worker error")
                self._wake.wait(poll)

        self._thread = threading.Thread(target=run, name="printer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker (waiting jobs stay journaled) and give up the printer."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._owning:
            try:
                self.store.release_printer(self.printer_key, self.owner)
            except Exception:
                log.exception("giving up the printer failed")
            self._owning = False


def _data(doc: Any) -> dict[str, Any]:
    from appliance.domain.receipt_data import to_data

    return to_data(doc)


def _monotonic() -> float:
    import time

    return time.monotonic()
