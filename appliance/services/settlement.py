"""Settlement (结算/日结): close the batch with the host, batch upload when out of balance.

The batch is *cut* first, in one journal transaction, under the exclusive batch lock and only
when nothing is owed to the host: the totals are frozen into a ``settlements`` row (state
OPEN) and the batch counter moves to the next batch. From then on a payment goes to the next
batch, and the settlement of the cut batch runs its steps, each journaled before it is taken::

    OPEN         → allocate the 0500's STAN and time          → TOTALS_SENT, send 0500
    TOTALS_SENT  → (re)send that same 0500 (the host replays its answer to a repeat)
                   00 → CLOSED balanced;  95 → allocate the upload STAN block → UPLOADING(0)
    UPLOADING(n) → send 0320s n.. (same STAN and time on a resend: idempotent at the host),
                   a sliding window of them outstanding; journal n after every window's
                   worth of answers (all before n answered 00); then the final 0500 (its
                   STAN journaled first)
                   → CLOSED balanced_after_upload | out_of_balance
    CLOSED       → the settlement slip (Z) is queued once (``slip_queued``)

The cut holds the terminal's operation lock (``appliance.services.oplock``), which every sale,
void and refund holds in whichever process runs it: settlement waits for a payment in progress
and is never interleaved with one; a payment that arrives during the cut waits, and one that
arrives after it goes to the next batch while the cut batch is still being settled.

A crash or a host fault anywhere leaves a row that the next ``settle()`` resumes from where it
stands; a CLOSED row is never sent again, and a batch is cut only once (batch is the key).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.domain.receipts import BatchTotals, MerchantInfo, Totals
from appliance.domain.roles import Principal, require
from appliance.domain.settlement import (
    SettlementRecord,
    SettleResult,
    SettleState,
    batch_totals,
    latest_scheduled,
    parse_hhmm,
    settlement_due,
    totals_equal,
    totals_to_dict,
    upload_items,
    upload_stan,
)
from appliance.domain.transactions import Transaction, TxnState
from appliance.errors import (
    HostError,
    NotFound,
    ProtocolError,
    Refused,
    ReversalOwed,
    SettlementInProgress,
)
from appliance.host.messages import (
    HostRequest,
    HostResponse,
    MessageKind,
    SettlementTotals,
    response_text,
)
from appliance.services.oplock import LockBusy, OperationLock

if TYPE_CHECKING:
    from appliance.services.terminal import Terminal

log = logging.getLogger(__name__)

Hook = Callable[[str], None]
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class SettleOutcome:
    """What one ``settle()`` call did."""

    record: SettlementRecord
    resumed: bool = False
    owed_sent: int = 0
    slip_job: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The stable machine-readable form."""
        return {
            **self.record.as_dict(),
            "resumed": self.resumed,
            "owed_sent": self.owed_sent,
            "slip_job": self.slip_job,
            "notes": self.notes,
        }


def _host_totals(t: SettlementTotals | None) -> Totals | None:
    if t is None:
        return None
    return Totals(t.sale_count, t.sale_amount, t.refund_count, t.refund_amount)


def _retyped(exc: HostError, message: str, code: str, **params: object) -> HostError:
    """The same kind of host error with a message that says what to do, and its code."""
    try:
        return type(exc)(message, code=code, params=params)
    except TypeError:
        return HostError(message, code=code, params=params)


class Settlement:
    """Settlement, X and Z reports over a ``Terminal`` (its journal, link and print queue).

    ``hook(point)`` is called at each step (``cut``, ``totals_sent``, ``totals_answered``,
    ``uploading``, ``uploaded``, ``final_sent``, ``closed``, ``slip_queued`` — the last inside
    the slip's transaction, before it commits) so tests can crash it anywhere.
    """

    def __init__(
        self,
        terminal: Terminal,
        *,
        hook: Hook | None = None,
        window: int | None = None,
    ) -> None:
        self.terminal = terminal
        self.journal = terminal.journal
        self.config = terminal.config
        self._hook = hook or (lambda _p: None)
        self.window = max(1, window or self.config.host.window)

    # ---- reading ------------------------------------------------------------------------------

    def get(self, batch: int) -> SettlementRecord:
        """The settlement of ``batch``; NotFound if it was never settled here."""
        with self.journal.read() as r:
            rec = r.settlements.get(batch)
        if rec is None:
            raise NotFound(
                f"batch {batch:06d} has no settlement in the journal",
                code="settle.not_found",
                params={"batch": f"{batch:06d}"},
            )
        return rec

    def history(self, limit: int = 50) -> list[SettlementRecord]:
        """Settlements, newest first."""
        with self.journal.read() as r:
            return r.settlements.history(limit)

    def unfinished(self) -> SettlementRecord | None:
        """A settlement cut but not closed (interrupted), if any."""
        with self.journal.read() as r:
            return r.settlements.unfinished()

    def open_totals(self) -> BatchTotals:
        """Running totals of the open batch (the X report)."""
        batch = self.journal.batch
        return batch_totals(
            self.journal.transactions(batch=batch),
            batch=batch,
            currency=self.terminal.cur.alpha,
            fees_bp=self.config.settlement.fees_bp,
        )

    def open_summary(self) -> dict[str, Any]:
        """The X report as data: totals plus what is not (yet) in them."""
        batch = self.journal.batch
        txns = self.journal.transactions(batch=batch)
        totals = batch_totals(
            txns,
            batch=batch,
            currency=self.terminal.cur.alpha,
            fees_bp=self.config.settlement.fees_bp,
        )
        stored = [t for t in txns if t.state == TxnState.STORED]
        voided = [t for t in txns if t.state == TxnState.VOIDED]
        return {
            **totals_to_dict(totals),
            "stored_count": len(stored),
            "stored_amount": sum(t.amount for t in stored),
            "voided_count": len(voided),
            "voided_amount": sum(t.amount for t in voided),
            "settlement_in_progress": (u.batch if (u := self.unfinished()) else None),
            "qr_schemes": [s.as_dict() for s in self.qr_lines(batch)],
        }

    def qr_lines(self, batch: int) -> tuple[Any, ...]:
        """The QR payments of ``batch``, one line per wallet (not part of the card totals)."""
        from appliance.domain.qr_books import qr_totals
        from appliance.journal import qr as qr_journal

        return qr_totals(qr_journal.orders(self.journal, batch=batch), batch=batch)

    def last_settled_at(self) -> datetime | None:
        """When the newest batch was cut for settlement (None: never)."""
        with self.journal.read() as r:
            return r.settlements.last_cut_at()

    def overdue(self, now: datetime | None = None) -> bool:
        """Should a scheduled settlement already have run? (The link worker settles then.)

        True for an interrupted settlement, or when the settlement is due and the open batch
        already held a transaction at the latest scheduled time: the timer ran (or should
        have) while the host could not be reached. A batch opened after that time waits for
        the next scheduled run.
        """
        if self.unfinished() is not None:
            return True
        now = now or self.journal.clock()
        if not self.due(now):
            return False
        first = self.journal.transactions(batch=self.journal.batch, limit=1)
        scheduled = latest_scheduled(now, parse_hhmm(self.config.settlement.time), self.journal.tz)
        return bool(first) and first[0].created_at <= scheduled

    def due(self, now: datetime | None = None) -> bool:
        """Is the daily settlement due (``settle --if-due``)? An interrupted one always is."""
        if self.unfinished() is not None:
            return True
        now = now or self.journal.clock()
        active = self.journal.transactions(batch=self.journal.batch, limit=1)
        return settlement_due(
            now,
            parse_hhmm(self.config.settlement.time),
            self.journal.tz,
            self.last_settled_at(),
            bool(active),
        )

    # ---- slips --------------------------------------------------------------------------------

    def merchant(self) -> MerchantInfo:
        """The merchant block of the slips."""
        m = self.config.merchant
        return MerchantInfo(name=m.name, mid=m.mid, tid=m.tid)

    def z_document(self, batch: int, *, reprint: bool = False) -> Any:
        """The settlement slip of ``batch`` (marked as a reprint when ``reprint``)."""
        from appliance.domain.receipts import build_settlement

        rec = self.get(batch)
        now = self.journal.clock()
        totals = rec.totals
        if rec.closed_at is not None:
            totals = BatchTotals(
                totals.batch,
                totals.currency,
                totals.schemes,
                totals.operators,
                totals.opened_at,
                rec.closed_at,
            )
        return build_settlement(
            totals,
            rec.slip_result(),
            self.merchant(),
            lang=self.config.locale.receipt_language,
            tz=self.config.locale.timezone,
            printed_at=rec.closed_at or now,
            operator=rec.operator,
            reprint_at=now if reprint else None,
            qr=self.qr_lines(batch),
        )

    def x_document(self, operator: str = "") -> Any:
        """The interim (X) slip of the open batch."""
        from appliance.domain.receipts import build_interim

        totals = self.open_totals()
        return build_interim(
            totals,
            self.merchant(),
            lang=self.config.locale.receipt_language,
            tz=self.config.locale.timezone,
            printed_at=self.journal.clock(),
            operator=operator,
            qr=self.qr_lines(totals.batch),
        )

    def _queue(self, doc: Any, what: str) -> str | None:
        receipts = self.terminal.receipts
        if receipts is None or not hasattr(receipts, "document"):
            return None
        return str(receipts.document(doc, what))

    def print_x(self, operator: str = "") -> str | None:
        """Queue the X slip; returns the print job id (None without a print queue)."""
        return self._queue(self.x_document(operator), f"x report {self.journal.batch:06d}")

    def print_z(self, batch: int, *, reprint: bool = True) -> str | None:
        """Queue (a reprint of) the settlement slip of ``batch``."""
        what = f"{'reprint ' if reprint else ''}settlement {batch:06d}"
        return self._queue(self.z_document(batch, reprint=reprint), what)

    # ---- settling -----------------------------------------------------------------------------

    def settle(
        self,
        *,
        approver: Principal | None,
        on_progress: Progress | None = None,
        wait: float | None = None,
    ) -> SettleOutcome:
        """Settle: resume an interrupted settlement, else cut the open batch and settle it.

        ``approver`` must be a supervisor, or ``appliance.domain.roles.SCHEDULE`` for the
        timer and the link worker (RoleRefused otherwise); it is recorded as the operator.

        The whole run holds the settlement claim (``_claim``), which the CLI, the timer and
        the kiosk's link worker all take: one settlement at a time across processes. If
        another holds it (after ``wait`` seconds, 0 by default) SettlementInProgress is raised
        and nothing is read, cut or sent: a second run never resumes the first's settlement.

        Raises ReversalOwed / Refused when something is still owed to the host (nothing is
        cut then), HostError when the host cannot be reached or answers with an error (the
        settlement stays journaled and the next call resumes it; until it closes, status
        says "settlement due, waiting for the link").
        """
        operator = require(approver, "settle").number
        with self._claim(operator, 0.0 if wait is None else wait):
            try:
                out = self._settle(operator, on_progress)
            except HostError:
                self.journal.session_set(settlement_waiting="1")
                raise
        self.journal.session_set(settlement_waiting="")
        return out

    @contextmanager
    def _claim(self, operator: str, wait: float) -> Iterator[None]:
        """Hold the settlement for this process, or raise SettlementInProgress at once.

        The claim is the exclusive ``flock`` on ``state_dir/settlement.lock`` (the kernel drops
        it when a process dies, so a crash never leaves a settlement claimed); who holds it is
        written to the journal in one transaction, so the refusal can say who and since when.
        Only the holder reads the unfinished settlement and decides to resume or cut.
        """
        lock = OperationLock(self.config.state_dir / "settlement.lock", wait=wait)
        with ExitStack() as stack:
            try:
                stack.enter_context(lock.hold("settlement"))
            except LockBusy:
                raise self._in_progress() from None
            claim = f"{os.getpid()} {self.journal.clock().isoformat(timespec='seconds')} {operator or '-'}"
            self.journal.session_set(settlement_claim=claim)
            try:
                yield
            finally:
                self.journal.session_set(settlement_claim="")

    def _in_progress(self) -> SettlementInProgress:
        """The refusal of a second settlement: who is settling which batch, and how far."""
        pid, since, *_ = (self.journal.session_get("settlement_claim") or "? ?").split(" ")
        rec = self.unfinished()
        where = ""
        if rec is not None:
            where = f" of batch {rec.batch:06d} ({rec.state.value}"
            where += f" {rec.uploaded}/{rec.upload_total})" if rec.upload_total else ")"
        return SettlementInProgress(
            f"settlement in progress{where}, by process {pid} since {since}: nothing was done; "
            f"wait for it to finish (countertop report z shows the result)",
            code="settle.in_progress" if rec is None else "settle.in_progress_batch",
            params={
                "pid": pid,
                "since": since,
                "batch": f"{rec.batch:06d}" if rec is not None else "",
                "uploaded": rec.uploaded if rec is not None else 0,
                "total": rec.upload_total if rec is not None else 0,
            },
        )

    def waiting_for_link(self) -> bool:
        """True while a due settlement could not reach the host (it runs when the link is
        back)."""
        return self.journal.session_get("settlement_waiting") == "1" and self.overdue()

    def _settle(self, operator: str, on_progress: Progress | None) -> SettleOutcome:
        progress = on_progress or (lambda _p, _d, _t: None)
        self._queue_pending_slips()
        rec = self.unfinished()
        outcome: SettleOutcome
        if rec is not None:
            progress("resume", 0, 0)
            outcome = SettleOutcome(rec, resumed=True)
        else:
            outcome = self._cut(operator, progress)
        outcome.record = self._drive(outcome.record, progress)
        outcome.slip_job = self._queue_slip(outcome.record)
        outcome.record = self.get(outcome.record.batch)
        return outcome

    def _cut(self, operator: str, progress: Progress) -> SettleOutcome:
        term = self.terminal
        # The operation lock is what a payment holds (in any process): taking it waits for a
        # payment in progress to finish and keeps the next one out until the batch is cut.
        # Same order as a payment (terminal lock, then operation lock): no deadlock.
        progress("waiting_for_payment", 0, 0)
        with term._busy, term.oplock.hold("settlement"):
            progress("forwarding", 0, len(self.journal.owed()))
            recovered = term.recover()  # PENDING rows under the lock are a crash's
            sent = 0
            if self.journal.owed():
                report = term.send_owed(on_progress=lambda d, t, _a: progress("forwarding", d, t))
                sent = report.acknowledged
            left = self.journal.owed()
            if left:
                rev = sum(1 for o in left if o.kind == "reversal")
                adv = len(left) - rev
                what = ", ".join(
                    x
                    for x in (
                        f"{rev} reversal(s)" if rev else "",
                        f"{adv} stored payment(s)" if adv else "",
                    )
                    if x
                )
                cls = ReversalOwed if rev else Refused
                raise cls(
                    f"settlement refused: {what} still owed to the host "
                    f"({term.monitor.last_error or 'not acknowledged'}); the batch stays open. "
                    f"Check the link, run countertop forward, then settle again",
                    code="settle.owed",
                    params={"reversals": rev, "stored": adv},
                )
            if not term.signed_on:
                term.sign_on(operator)
            rec = self._cut_batch(operator)
        self._hook("cut")
        outcome = SettleOutcome(rec, owed_sent=sent)
        if recovered:
            outcome.notes.append(f"{len(recovered)} in-doubt payment(s) reversed before settling")
        self.journal.audit(operator or "-", "settle_cut", f"batch {rec.batch:06d}")
        return outcome

    def _cut_batch(self, operator: str) -> SettlementRecord:
        """Freeze the open batch's totals and open the next batch, in one transaction."""
        j = self.journal
        now = j.clock()
        with j.unit() as uow:
            cut = uow.settlements.batch_to_cut()
            if cut.owed:
                raise Refused(
                    "settlement refused: a message became owed while cutting the batch",
                    code="settle.became_owed",
                )
            if cut.pending:
                raise Refused(
                    "settlement refused: a payment of this batch is still in progress",
                    code="settle.payment_in_progress",
                )
            if cut.already_settled:
                raise Refused(
                    f"batch {cut.batch:06d} was already settled: sign on to get a new batch number",
                    code="settle.already_settled",
                    params={"batch": f"{cut.batch:06d}"},
                )
            totals = batch_totals(
                cut.transactions,
                batch=cut.batch,
                currency=self.terminal.cur.alpha,
                fees_bp=self.config.settlement.fees_bp,
            )
            uow.settlements.cut(totals, at=now, operator=operator)
            uow.commit()
        return self.get(cut.batch)

    def _set(self, rec: SettlementRecord, new: SettleState, **cols: Any) -> SettlementRecord:
        with self.journal.unit() as uow:
            uow.settlements.advance(rec.batch, new, **cols)
            uow.commit()
        return self.get(rec.batch)

    def _note_error(self, rec: SettlementRecord, error: str) -> None:
        with self.journal.unit() as uow:
            uow.settlements.note_error(rec.batch, error)
            uow.commit()

    def _allocate_stans(self, n: int) -> int:
        """Reserve ``n`` consecutive STANs (cyclic) in one transaction; returns the first."""
        with self.journal.unit() as uow:
            first = uow.settlements.reserve_stans(n)
            uow.commit()
        return first

    def _totals_request(self, rec: SettlementRecord, stan: int, at: datetime) -> HostRequest:
        t = rec.totals.totals
        return HostRequest(
            MessageKind.SETTLEMENT,
            self.terminal.tid,
            self.terminal.mid,
            stan,
            at,
            currency=self.terminal.cur.numeric,
            batch=rec.batch,
            totals=SettlementTotals(t.sale_count, t.sale_amount, t.refund_count, t.refund_amount),
        )

    def _send_totals(self, rec: SettlementRecord, stan: int, at: datetime) -> HostResponse:
        term = self.terminal
        if not term.signed_on:
            term.sign_on(rec.operator)
        try:
            resp = term.link.exchange(self._totals_request(rec, stan, at))
        except ProtocolError as exc:
            self._note_error(rec, str(exc))
            raise ProtocolError(
                f"the settlement request of batch {rec.batch:06d} cannot be built: {exc}",
                code="settle.cannot_build",
                params={"batch": f"{rec.batch:06d}"},
            ) from exc
        except HostError as exc:
            self._note_error(rec, str(exc))
            raise _retyped(
                exc,
                f"settlement of batch {rec.batch:06d} interrupted ({exc}); it is journaled: "
                f"run countertop settle again to resume",
                "settle.interrupted",
                batch=f"{rec.batch:06d}",
            ) from exc
        if resp.response_code not in ("00", "95"):
            self._note_error(rec, f"host answered {resp.response_code}")
            raise Refused(
                f"the host refused settlement of batch {rec.batch:06d}: {resp.response_code} "
                f"{response_text(resp.response_code)}; run countertop settle again later",
                code="settle.host_refused",
                params={"batch": f"{rec.batch:06d}", "rc": resp.response_code},
            )
        return resp

    def _drive(self, rec: SettlementRecord, progress: Progress) -> SettlementRecord:
        j = self.journal
        if rec.state == SettleState.OPEN:
            stan = j.next_stan()
            at = j.clock().replace(microsecond=0)
            rec = self._set(rec, SettleState.TOTALS_SENT, totals_stan=stan, totals_at=at)
        if rec.state == SettleState.TOTALS_SENT:
            self._hook("totals_sent")
            progress("totals", 0, 1)
            assert rec.totals_stan is not None and rec.totals_at is not None
            resp = self._send_totals(rec, rec.totals_stan, rec.totals_at)
            self._hook("totals_answered")
            host = _host_totals(resp.host_totals)
            balanced = resp.response_code == "00"
            if host is not None and balanced and not totals_equal(host, rec.totals.totals):
                log.warning("host answered balanced with different totals for %s", rec.batch)
            if balanced:
                rec = self._close(rec, SettleResult.BALANCED, resp, host)
            else:
                items = self._upload_items(rec.batch)
                # one STAN more than the uploads: the upload end, where the dialect has one
                base = self._allocate_stans(len(items) + 1)
                rec = self._set(
                    rec,
                    SettleState.UPLOADING,
                    host_totals=host,
                    response_code=resp.response_code,
                    upload_total=len(items),
                    uploaded=0,
                    upload_stan_base=base,
                    upload_at=j.clock().replace(microsecond=0),
                    last_error="",
                )
                self._hook("uploading")
        if rec.state == SettleState.UPLOADING:
            rec = self._upload(rec, progress)
            if rec.final_stan is None:
                self._upload_end(rec)
                stan = j.next_stan()
                at = j.clock().replace(microsecond=0)
                rec = self._set(rec, SettleState.UPLOADING, final_stan=stan, final_at=at)
            self._hook("final_sent")
            progress("final", 0, 1)
            assert rec.final_stan is not None and rec.final_at is not None
            resp = self._send_totals(rec, rec.final_stan, rec.final_at)
            host = _host_totals(resp.host_totals)
            result = (
                SettleResult.BALANCED_AFTER_UPLOAD
                if resp.response_code == "00"
                else SettleResult.OUT_OF_BALANCE
            )
            rec = self._close(rec, result, resp, host)
        return rec

    def _close(
        self,
        rec: SettlementRecord,
        result: SettleResult,
        resp: HostResponse,
        host: Totals | None,
    ) -> SettlementRecord:
        rec = self._set(
            rec,
            SettleState.CLOSED,
            result=result,
            response_code=resp.response_code,
            host_totals=host,
            closed_at=self.journal.clock(),
            last_error="",
        )
        self._hook("closed")
        self.journal.audit(rec.operator or "-", "settle", f"batch {rec.batch:06d} {result.value}")
        return rec

    def _upload_items(self, batch: int) -> list[Transaction]:
        return upload_items(self.journal.transactions(batch=batch))

    def _upload(self, rec: SettlementRecord, progress: Progress) -> SettlementRecord:
        """Send the 0320s from ``rec.uploaded`` on, ``window`` outstanding, journaling progress."""
        items = self._upload_items(rec.batch)
        if len(items) != rec.upload_total:
            # The batch is frozen at the cut: a different count means the journal was altered.
            raise Refused(
                f"batch {rec.batch:06d} has {len(items)} transactions to upload, "
                f"{rec.upload_total} when the upload began: the journal changed, call support",
                code="settle.journal_changed",
                params={"batch": f"{rec.batch:06d}"},
            )
        assert rec.upload_stan_base is not None and rec.upload_at is not None
        term = self.terminal
        total = rec.upload_total
        done = rec.uploaded  # journaled: every upload before it was answered 00
        progress("upload", done, total)
        # A sliding window: at most ``window`` requests outstanding, topped up whenever half
        # of them are answered (rather than a whole window sent and awaited at a time, which
        # leaves the host idle while the terminal works and the other way round).
        # Answers are taken in order; progress is journaled every ``window`` of them.
        inflight: deque[tuple[int, Future[HostResponse]]] = deque()
        nxt = done

        def request(i: int) -> HostRequest:
            t = items[i]
            assert rec.upload_stan_base is not None and rec.upload_at is not None
            return HostRequest(
                MessageKind.BATCH_UPLOAD,
                term.tid,
                term.mid,
                upload_stan(rec.upload_stan_base, i),
                rec.upload_at,
                amount=t.amount,
                currency=term.cur.numeric,
                batch=rec.batch,
                original=term._ref(t),
            )

        def drain() -> None:
            for _, f in inflight:  # let every answer land before the next attempt
                f.exception()
            inflight.clear()

        while done < total:
            try:
                if nxt < total and len(inflight) <= self.window // 2:
                    # Refilled half a window at a time, in one write: fewer syscalls on both
                    # sides, and the host keeps half a window to work on meanwhile.
                    batch = range(nxt, min(total, nxt + self.window - len(inflight)))
                    futs = term.link.submit_many([request(j) for j in batch])
                    inflight.extend(zip(batch, futs, strict=True))
                    nxt = batch.stop
                i, fut = inflight.popleft()
                answer = fut.result()
            except HostError as exc:
                drain()
                self._note_error(rec, str(exc))
                raise _retyped(
                    exc,
                    f"batch upload of batch {rec.batch:06d} interrupted after {done} of "
                    f"{total} ({exc}); run countertop settle again to resume",
                    "settle.upload_interrupted",
                    batch=f"{rec.batch:06d}",
                    done=done,
                    total=total,
                ) from exc
            if answer.response_code != "00":
                drain()
                self._note_error(rec, f"upload answered {answer.response_code}")
                raise Refused(
                    f"the host refused a batch upload of batch {rec.batch:06d}: "
                    f"{answer.response_code} {response_text(answer.response_code)}; "
                    f"run countertop settle again later",
                    code="settle.upload_refused",
                    params={"batch": f"{rec.batch:06d}", "rc": answer.response_code},
                )
            if i + 1 - done < self.window and i + 1 < total:
                continue
            done = i + 1
            with self.journal.unit() as uow:
                uow.settlements.uploaded(rec.batch, done)
                uow.commit()
            progress("upload", done, total)
            self._hook("uploaded")
        return self.get(rec.batch)

    def _upload_end(self, rec: SettlementRecord) -> None:
        """Close the upload where the dialect has a message for it (cup: 0320, 60.3 = 202,
        48 = the count). Same STAN and time on a resend: the host replays its answer."""
        term = self.terminal
        if not term.link.supports(MessageKind.BATCH_UPLOAD_END):
            return
        assert rec.upload_stan_base is not None and rec.upload_at is not None
        req = HostRequest(
            MessageKind.BATCH_UPLOAD_END,
            term.tid,
            term.mid,
            upload_stan(rec.upload_stan_base, rec.upload_total),
            rec.upload_at,
            batch=rec.batch,
            count=rec.upload_total,
        )
        try:
            answer = term.link.exchange(req)
        except HostError as exc:
            self._note_error(rec, str(exc))
            raise _retyped(
                exc,
                f"end of the batch upload of batch {rec.batch:06d} not answered ({exc}); "
                f"run countertop settle again to resume",
                "settle.interrupted",
                batch=f"{rec.batch:06d}",
            ) from exc
        if answer.response_code != "00":
            self._note_error(rec, f"upload end answered {answer.response_code}")
            raise Refused(
                f"the host refused the end of the batch upload of batch {rec.batch:06d}: "
                f"{answer.response_code} {response_text(answer.response_code)}; call the "
                f"acquirer",
                code="settle.upload_end_refused",
                params={"batch": f"{rec.batch:06d}", "rc": answer.response_code},
            )

    def _queue_slip(self, rec: SettlementRecord) -> str | None:
        """Queue the Z slip of a closed settlement once: the job and the ``slip_queued`` mark
        commit in one transaction, so a crash leaves either both or neither (never a slip
        queued but unmarked, which the next settle would queue again)."""
        if rec.state != SettleState.CLOSED or rec.slip_queued:
            return None
        receipts = self.terminal.receipts
        doc = self.z_document(rec.batch)
        job: str | None = None
        with self.journal.unit() as uow:
            if receipts is not None:
                job = receipts.add_document(uow, doc, f"settlement {rec.batch:06d}")
            uow.settlements.slip_queued(rec.batch)
            self._hook("slip_queued")
            uow.commit()
        return job

    def _queue_pending_slips(self) -> None:
        with self.journal.read() as r:
            batches = r.settlements.slips_not_queued()
        for batch in batches:
            self._queue_slip(self.get(batch))
