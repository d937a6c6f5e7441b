"""The terminal's use cases: sign-on, sale, void, refund, forwarding of owed messages, status.

``Terminal`` is the facade the CLI and the touchscreen use. It decides with pure domain
functions and acts through injected ports: journal, host link, reader, printer, indicators.
The write-ahead rule lives here: a PENDING row is committed before a request leaves, and
every answer (or its absence) is committed before the caller hears of it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from appliance.cardvault import CardVault
from appliance.domain.card import CardRead
from appliance.domain.eligibility import (
    RefundCheck,
    RefundRefusal,
    VoidRefusal,
    refund_check,
    void_refusal,
)
from appliance.domain.money import format_amount
from appliance.domain.offline import OfflineLimits, StoredSummary, decide_offline
from appliance.domain.roles import Principal, require
from appliance.domain.transactions import Transaction, TxnState, TxnType
from appliance.emv.kernel import with_sequence_counter
from appliance.emv.risk import KERNEL_SCHEMES, KernelParams, SchemeLimits, offline_refusal
from appliance.errors import (
    CardReadError,
    CountertopError,
    HostError,
    JournalWriteError,
    KeyCheckError,
    MacError,
    NotFound,
    NotSent,
    ProtocolError,
    ReadCancelled,
    ReaderOffline,
    Refused,
    ReversalOwed,
)
from appliance.host import keys
from appliance.host.messages import (
    REVERSAL_ACK_CODES,
    CardFields,
    HostRequest,
    HostResponse,
    MessageKind,
    OriginalRef,
    response_text,
)
from appliance.journal import Journal, OwedMessage
from appliance.journal import qr as qr_journal
from appliance.journal.journal import StubHook, retry_delay
from appliance.messages import translate
from appliance.services.link_state import LinkState, MonitoredLink
from appliance.services.oplock import OperationLock
from appliance.services.storage import storage_status
from drivers.indicators.base import Indicators, IndicatorState
from drivers.reader.base import CardReader, ReadContext

if TYPE_CHECKING:
    from appliance.config import Config

log = logging.getLogger(__name__)

# Advice answers that mean "try again later" rather than a final decline.
RETRYABLE_CODES = frozenset({"91", "96"})
# Response code journaled when the card itself declined (AAC): EMV Book 4 Annex A6
# "Z1 offline declined"; no message reaches the host.
CARD_DECLINED = "Z1"


class ReceiptSink(Protocol):
    """Where stubs go (the print queue)."""

    def transaction_stub(self, txn: Transaction, copy: str, *, kind: str | None = None) -> Any:
        """Queue the stub of ``txn`` (copy "merchant" or "customer")."""
        ...

    def stub_hook(self, copy: str = "merchant", *, kind: str | None = None) -> StubHook | None:
        """What adds the stub's job inside the unit that commits the outcome (None: no stub)."""
        ...

    def add_document(self, uow: Any, doc: Any, what: str) -> str:
        """Add a job for the document ``doc`` inside ``uow`` (it commits with the caller's
        change); its id."""
        ...

    def waiting_jobs(self) -> list[Any]:
        """Jobs not printed yet (``PrintJob``), in order."""
        ...

    def owner_elsewhere(self) -> str:
        """The kind of the other process printing for the printer ("" when none)."""
        ...

    def reported_status(self) -> str:
        """The printer status that process last reported ("" when none)."""
        ...


@dataclass
class Outcome:
    """The result of a sale, void or refund as the operator is told it."""

    result: str  # approved | declined | stored | refused | failed | cancelled
    txn: Transaction | None
    message_en: str
    message_zh: str
    response_code: str | None = None
    limit: str | None = None
    code: str | None = None  # message code (appliance.messages): what the UI/CLI translate
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str = "en") -> str:
        """The message in ``lang``."""
        return self.message_zh if lang.startswith("zh") else self.message_en

    def as_dict(self) -> dict[str, Any]:
        """The stable machine-readable form (see docs/cli-json.md)."""
        t = self.txn
        return {
            "result": self.result,
            "state": t.state.value if t else None,
            "type": t.type.value if t else None,
            "amount": t.amount if t else None,
            "currency": t.currency if t else None,
            "stan": t.stan if t else None,
            "trace": t.trace if t else None,
            "batch": t.batch if t else None,
            "rrn": t.rrn if t else None,
            "auth_code": t.auth_code if t else None,
            "response_code": self.response_code,
            "masked_pan": t.masked_pan if t else None,
            "scheme": t.scheme if t else None,
            "uuid": t.uuid if t else None,
            "message": self.message_en,
            "message_zh": self.message_zh,
            "limit": self.limit,
            "code": self.code,
            "decision": t.decision if t else None,
            "tvr": t.tvr if t else None,
            "cvm": t.cvm if t else None,
        }


@dataclass
class OwedReport:
    """What a forwarding run achieved."""

    sent: int = 0
    acknowledged: int = 0
    declined: list[Transaction] = field(default_factory=list)
    still_owed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class TerminalStatus:
    """Everything the status bar and ``countertop status`` show."""

    link: str
    link_error: str
    pending_reversals: int
    stored_count: int
    stored_amount: int
    stored_oldest: datetime | None
    forward_declined: int
    next_retry: datetime | None
    batch: int
    signed_on: bool
    reader: str
    printer: str
    print_jobs_waiting: int
    currency: str
    keys: str = "ok"  # ok | out_of_step (answers failed their MAC; a sign-on is due or failed)
    keys_error: str = ""  # what the technician must check when signing on again did not help
    # "" | "due_waiting_for_link": a scheduled settlement could not reach the host; it runs
    # by itself when the link is back (kiosk link worker, settlement timer retries)
    settlement: str = ""
    # free space of the state directory (``StorageStatus.as_dict``): level ok | low | reserve
    storage: dict[str, Any] = field(default_factory=dict)
    in_doubt: int = 0  # PENDING rows no payment is waiting on (answer not journaled)
    # Jobs not printed yet (queued, printing, uncertain, needs_attention), each as
    # ``PrintJob.as_dict()``: state, attempts and the last error in words.
    print_jobs: list[dict[str, Any]] = field(default_factory=list)
    print_jobs_attention: int = 0  # parked after max_attempts: an operator must retry them
    print_owner: str = ""  # the process printing for the printer: "kiosk", "cli" or ""
    qr_cancels_owed: int = 0  # QR orders whose cancel the gateway has not acknowledged yet
    qr_refunds_owed: int = 0  # QR refunds not final yet

    def as_dict(self) -> dict[str, Any]:
        """The stable machine-readable form."""
        return {
            "storage": self.storage,
            "in_doubt": self.in_doubt,
            "settlement": self.settlement,
            "keys": self.keys,
            "keys_error": self.keys_error,
            "link": self.link,
            "link_error": self.link_error,
            "pending_reversals": self.pending_reversals,
            "stored_count": self.stored_count,
            "stored_amount": self.stored_amount,
            "stored_oldest": self.stored_oldest.isoformat() if self.stored_oldest else None,
            "forward_declined": self.forward_declined,
            "next_retry": self.next_retry.isoformat() if self.next_retry else None,
            "batch": self.batch,
            "signed_on": self.signed_on,
            "reader": self.reader,
            "printer": self.printer,
            "print_jobs_waiting": self.print_jobs_waiting,
            "print_jobs_attention": self.print_jobs_attention,
            "print_jobs": self.print_jobs,
            "print_owner": self.print_owner,
            "currency": self.currency,
            "qr_cancels_owed": self.qr_cancels_owed,
            "qr_refunds_owed": self.qr_refunds_owed,
        }


def reversal_reason(note: str) -> str:
    """The reason code a reversal gives (cup field 39), from why the reversal is owed.

    A0: the answer failed its MAC; 98: no answer in time (or none at all); 96: an answer that
    could not be read or a connection that broke; 06: any other unknown outcome (a crash
    before the answer was journaled).
    """
    low = note.lower()
    if "mac" in low:
        return "A0"
    if "no response" in low or "timeout" in low or "within the timeout" in low:
        return "98"
    if "undecodable" in low or "connection" in low or "closed" in low:
        return "96"
    return "06"


def card_columns(card: CardRead | Transaction) -> dict[str, str]:
    """The journal's card columns (masked PAN only) of a card read or an earlier transaction."""
    return {
        "masked_pan": card.masked_pan,
        "scheme": card.scheme,
        "entry_mode": card.entry_mode,
        "aid": card.aid,
        "label": card.label,
    }


def _offline_limit(limits: Any, name: str) -> int:
    """The amount an offline limit stands at (0 for the limits that are not amounts)."""
    if name in ("offline_max_amount", "offline_max_total"):
        return int(getattr(limits, name))
    return 0


def _coded(result: str, txn: Transaction | None, code: str, **kw: Any) -> Outcome:
    """An outcome whose message is a code (``appliance.messages``), translated from the
    catalogs; ``message_en``/``message_zh`` are kept for ``--json`` and logs."""
    params = kw.pop("params", None) or {}
    return Outcome(
        result,
        txn,
        translate(code, params, "en"),
        translate(code, params, "zh_CN"),
        code=code,
        params=params,
        **kw,
    )


def kernel_params(config: Config) -> KernelParams:
    """The EMV kernel's parameters from config ``[emv]``."""
    emv = config.emv
    limits = {
        scheme: SchemeLimits(
            contactless=emv.contactless_limit[scheme],
            cvm=emv.cvm_limit[scheme],
            floor=emv.floor_limit[scheme],
        )
        for scheme in KERNEL_SCHEMES
    }
    return KernelParams(
        limits=limits,
        signature=emv.signature,
        accept_offline_tc=emv.accept_offline_tc,
        deferred_arqc=emv.deferred_arqc,
        deny_offline=frozenset(emv.deny_offline),
    )


class Terminal:
    """The use cases of the terminal, over injected ports. Thread-safe: one operation at a time."""

    def __init__(
        self,
        config: Config,
        journal: Journal,
        link: MonitoredLink,
        reader: CardReader,
        indicators: Indicators,
        vault: CardVault,
        *,
        tmk: bytes,
        receipts: ReceiptSink | None = None,
        printer: Any = None,
        unwrap_keys: Callable[[bytes, Any], tuple[bytes, bytes]] | None = None,
        scanner: Any = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.link = link
        self.reader = reader
        self.indicators = indicators
        self.vault = vault
        self.receipts = receipts
        self.printer = printer
        self.scanner = scanner  # customer-presented payment codes; None: no scanner port
        self.monitor = link.monitor  # kept by the link itself, for every caller
        self._tmk = tmk
        self._unwrap = unwrap_keys
        self._busy = threading.RLock()
        # The indicator state the running operation ends on, shown once its lock is released
        # (``_operation``), and the thread that runs it (None: none runs).
        self._result: IndicatorState | None = None
        self._op_thread: int | None = None
        # Resolved once: the journal and the operation lock live here for the process's life.
        self.state_dir = config.state_dir
        self.oplock = OperationLock(self.state_dir / "operation.lock")
        self.cur = config.currency
        self.tid: str = config.merchant.tid
        self.mid: str = config.merchant.mid
        self.kernel_params = kernel_params(config)
        self._mak: bytes | None = None
        self._mac_failures = 0  # answers to owed messages whose MAC failed, ever
        # A PENDING row whose answer could not be journaled (disk full): turned into an owed
        # reversal before the next payment (a new process does it at start-up, ``recover``).
        self.in_doubt = False
        # QR payments (appliance.services.qr.QrPayments), set by the bootstrap; None: none.
        self.qr: Any = None
        # The TMK-derived key proves to the host that a sign-on comes from this terminal.
        self.link.set_signon_key(keys.signon_key(tmk))
        self._restore_keys()

    # ---- keys and sign-on -----------------------------------------------------------------

    def _restore_keys(self) -> None:
        """Unwrap the working keys saved at the last sign-on (they are stored under the TMK)."""
        from appliance.host.messages import WorkingKeys

        saved = {k: self.journal.session_get(k) for k in ("pik", "pik_kcv", "mak", "mak_kcv")}
        if not all(saved.values()) or self._unwrap is None:
            return
        wk = WorkingKeys(
            pik=bytes.fromhex(saved["pik"] or ""),
            pik_kcv=saved["pik_kcv"] or "",
            mak=bytes.fromhex(saved["mak"] or ""),
            mak_kcv=saved["mak_kcv"] or "",
        )
        try:
            _pik, mak = self._unwrap(self._tmk, wk)
        except KeyCheckError:
            log.warning("saved working keys do not match the TMK; sign on again")
            return
        self._mak = mak
        self.link.set_mak(mak)

    @contextmanager
    def _operation(self, what: str = "operation") -> Iterator[None]:
        """One financial operation at a time: in this process (``_busy``) and across processes
        (the operation lock). Re-entrant: a sale may sign on inside its own operation.

        The indicator state the operation ends on (``_show_result``) is handed to the
        indicators once the operation lock is released, still under ``_busy`` (so it cannot
        land after the next operation's READY). Handed over earlier, the indicators' owner
        thread woke and took the GIL while this thread released the lock, and the payment's
        answer waited for the LEDs and the tone to be switched.
        """
        with self._busy:
            outer = self._op_thread is None
            if outer:
                self._op_thread = threading.get_ident()
            try:
                with self.oplock.hold(what):
                    yield
            finally:
                if outer:
                    state, self._result, self._op_thread = self._result, None, None
                    if state is not None:
                        self.indicators.show(state)

    def _show_result(self, state: IndicatorState) -> None:
        """Show what an operation came to: when the operation ends (``_operation``) if this
        thread runs one, else at once."""
        if self._op_thread == threading.get_ident():
            self._result = state
        else:
            self.indicators.show(state)

    @property
    def signed_on(self) -> bool:
        """True once working keys are loaded."""
        return self._mak is not None

    def sign_on(self, operator: str = "") -> HostResponse:
        """Host sign-on (签到): fetch working keys (checked against their KCVs) and the batch."""
        with self._operation():
            stan = self.journal.next_stan()
            req = HostRequest(
                MessageKind.SIGN_ON,
                self.tid,
                self.mid,
                stan,
                self.journal.clock().replace(microsecond=0),
                operator=operator or None,
            )
            resp = self._exchange(req)
            if resp.response_code == "A0":
                raise KeyCheckError(
                    f"the host could not verify this terminal's sign-on (A0): the terminal "
                    f"master key loaded here is not the one the acquirer holds for TID "
                    f"{self.tid}; re-load it under dual control (countertop provision)"
                )
            if not resp.approved:
                raise Refused(
                    f"sign-on refused by the host: {resp.response_code} "
                    f"{response_text(resp.response_code)}",
                    code="host.signon_refused",
                    params={"rc": resp.response_code},
                )
            if resp.working_keys is None or self._unwrap is None:
                raise Refused("sign-on answer carried no working keys: call the acquirer")
            _pik, mak = self._unwrap(self._tmk, resp.working_keys)  # KeyCheckError on mismatch
            wk = resp.working_keys
            self.journal.session_set(
                pik=wk.pik.hex(),
                pik_kcv=wk.pik_kcv,
                mak=wk.mak.hex(),
                mak_kcv=wk.mak_kcv,
                signed_on_at=self.journal.clock().isoformat(),
            )
            if resp.batch and not self._batch_settled(resp.batch):
                self.journal.set_batch(resp.batch)
            elif resp.batch:
                # Payments must never go into a batch already cut for settlement: they would
                # never be settled. Keep the local batch number.
                log.warning("host sign-on named batch %06d, already settled here", resp.batch)
            self._mak = mak
            self.link.set_mak(mak)
            self.journal.session_set(keys_state="ok", keys_error="")
            self.journal.audit(operator or "-", "sign_on", f"batch {self.journal.batch}")
            return resp

    # ---- keys out of step -----------------------------------------------------------------

    def _keys_out_of_step(self, why: str, check: str = "") -> None:
        """Answers fail their MAC: say so (status DEGRADED, "keys out of step") until healed."""
        self.monitor.no_answer(f"keys out of step: {why}")
        self.journal.session_set(keys_state="out_of_step", keys_error=check)

    def _heal_keys(self, why: str, *, again: bool = False) -> str | None:
        """One automatic sign-on after an answer failed its MAC; None when it renewed the keys.

        Otherwise (or when ``again``: the MAC failed even with keys from a fresh sign-on) the
        returned text says exactly what the technician must check.
        """
        checklist = (
            f"answers from the host still fail the MAC check with working keys from a "
            f"fresh sign-on: check (1) that no other device signs on as TID {self.tid} "
            f"(each sign-on replaces the keys), (2) that host.dialect "
            f"({self.config.host.dialect}) is the acquirer's (it fixes the MAC "
            f"algorithm), (3) that the terminal master key matches the acquirer's "
            f"(countertop provision)"
        )
        if again:
            self._keys_out_of_step(why, checklist)
            return checklist
        self._keys_out_of_step(why)
        log.warning("answer failed its MAC (%s): signing on again for fresh keys", why)
        try:
            self.sign_on()
        except KeyCheckError as exc:
            check = str(exc)
        except MacError:
            check = checklist  # even the sign-on answer fails its MAC (under the TMK's key)
        except HostError as exc:
            check = (
                f"the automatic sign-on after a MAC failure did not complete ({exc}); "
                f"sign on again when the host answers (countertop sign-on)"
            )
        else:
            return None
        self._keys_out_of_step(why, check)
        return check

    def _batch_settled(self, batch: int) -> bool:
        """True when ``batch`` was already cut for settlement (see services/settlement.py)."""
        return self.journal.settlement_started(batch)

    def echo(self) -> HostResponse:
        """Echo test (0800/301): is the host answering?"""
        stan = self.journal.next_stan()
        req = HostRequest(
            MessageKind.ECHO, self.tid, self.mid, stan, self.journal.clock().replace(microsecond=0)
        )
        return self._exchange(req)

    def _exchange(self, req: HostRequest) -> HostResponse:
        return self.link.exchange(req)  # the link state is kept by the MonitoredLink

    def _ensure_signed_on(self, operator: str) -> None:
        if not self.signed_on:
            self.sign_on(operator)

    # ---- financial transactions -----------------------------------------------------------

    def _check_amount(self, amount: int) -> None:
        if amount <= 0:
            raise Refused("amount must be greater than zero", code="amount.not_positive")
        limit = self.config.limits.max_amount
        if amount > limit:
            raise Refused(
                f"amount {format_amount(amount, self.cur)} is over the terminal limit "
                f"{format_amount(limit, self.cur)} {self.cur.alpha}",
                code="amount.over_terminal_limit",
                params={"amount": self._money(amount), "limit": self._money(limit)},
            )

    def _money(self, minor: int) -> str:
        """An amount as a message parameter (¥1,234.50): the same in every language."""
        return format_amount(minor, self.cur, symbol=True)

    def _clear_reversals(self) -> bool:
        """Deliver owed reversals first. True if none is left; False if the host is unreachable.

        Raises ReversalOwed when the host is reachable but a reversal is still not acknowledged.
        """
        if not self.journal.owed("reversal"):
            return True
        report = self.send_owed(kinds=("reversal",))
        left = self.journal.owed("reversal")
        if not left:
            return True
        if self.monitor.state == LinkState.OFFLINE:
            return False
        raise ReversalOwed(
            f"{len(left)} reversal(s) still owed to the host ({'; '.join(report.errors[-1:])}): "
            f"new payments are refused until they are acknowledged; check the link and run "
            f"countertop forward",
            params={"n": len(left)},
        )

    def _read(
        self,
        amount: int,
        txn_type: str,
        cancel: threading.Event | None,
        on_step: Callable[[str], None] | None,
        online: bool = True,
    ) -> CardRead:
        step = on_step or (lambda _s: None)
        # LED1 lights before the prompt is announced: the screen mirrors the LEDs as it draws
        # the prompt, and the reader is ready from here on.
        self.indicators.show(IndicatorState.READY)
        step("present_card")
        local = self.journal.clock().astimezone(self.journal.tz)
        try:
            card = self.reader.read_card(
                ReadContext(
                    amount=amount,
                    currency_numeric=self.cur.numeric,
                    country_numeric=self.config.merchant.country_numeric,
                    txn_date=local.date(),
                    txn_type=txn_type,
                    online=online,
                    params=self.kernel_params,
                    ifd_serial=self.tid,
                    txn_time=local,
                ),
                timeout=self.config.reader.timeout,
                cancel=cancel,
            )
        except (CardReadError, ReaderOffline):
            self.indicators.show(IndicatorState.ERROR)
            raise
        self.indicators.show(IndicatorState.SUCCESS)
        step("sending")
        return card

    def _read_or_outcome(
        self,
        amount: int,
        txn_type: str,
        cancel: threading.Event | None,
        on_step: Callable[[str], None] | None,
        online: bool = True,
    ) -> CardRead | Outcome:
        """Read a card, or the outcome to report when the read was cancelled or failed."""
        try:
            return self._read(amount, txn_type, cancel, on_step, online)
        except ReadCancelled:
            self.indicators.show(IndicatorState.IDLE)
            return _coded("cancelled", None, "txn.cancelled")
        except CardReadError as exc:
            log.info("card read failed: %s", exc)
            return _coded("failed", None, exc.code, params=exc.params)
        except ReaderOffline as exc:
            log.warning("card reader offline: %s", exc)
            return _coded("failed", None, "reader.offline")

    def sale(
        self,
        amount: int,
        *,
        operator: str = "",
        card: CardRead | None = None,
        cancel: threading.Event | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> Outcome:
        """消费: read a card, ask the host, and commit the answer; store offline if unreachable."""
        with self._operation():
            refused = self._storage_refusal()
            if refused is not None:
                return refused
            self._check_amount(amount)
            self._check_contactless_limit(amount)
            try:
                self._recover_in_doubt()
            except JournalWriteError as exc:
                return self._not_recorded(exc)
            online = self._clear_reversals()
            if online:
                try:
                    self._ensure_signed_on(operator)
                except NotSent:
                    online = False
            # Pre-dial: the card must be asked the right question (online cryptogram, or an
            # offline approval when the host cannot be reached), so connect before the tap.
            card_online = online and self._reach()
            card = card or self._read_or_outcome(amount, "00", cancel, on_step, card_online)
            if isinstance(card, Outcome):
                return card
            read: CardRead = card

            def attempt(again: Callable[[], Outcome] | None) -> Outcome:
                try:
                    return attempt_once(again)
                except JournalWriteError as exc:
                    # Raised only before the request left (afterwards _send_financial
                    # answers for itself): nothing was sent, nothing is charged.
                    return self._not_recorded(exc)

            def attempt_once(again: Callable[[], Outcome] | None) -> Outcome:
                txn = self.journal.begin(
                    TxnType.SALE,
                    amount,
                    self.cur.alpha,
                    **card_columns(read),
                    operator=operator,
                    decision=read.decision,
                    tvr=read.tvr,
                    cvm=read.cvm,
                )
                if read.decision == "AAC":
                    # The card declined: final, and no request goes to the host (Book 3 §9.3).
                    txn = self.journal.record_outcome(
                        txn.uuid,
                        approved=False,
                        response_code=CARD_DECLINED,
                        rrn=None,
                        auth_code=None,
                    )
                    self._show_result(IndicatorState.ERROR)
                    return _coded(
                        "declined", txn, "card.declined_by_card", response_code=CARD_DECLINED
                    )
                fields = self._fields(read, txn)
                if not online or read.decision == "TC":
                    # A TC is the card's offline approval: it goes to the host as an advice later.
                    return self._offline(txn, fields, "the host is unreachable", read.requested)
                req = HostRequest(
                    MessageKind.SALE,
                    self.tid,
                    self.mid,
                    txn.stan,
                    txn.transmitted_at,
                    amount=amount,
                    currency=self.cur.numeric,
                    card=fields,
                    batch=txn.batch,
                    operator=operator or None,
                )
                return self._send_financial(txn, req, fields, read.requested, again=again)

            # Once only: if the answer fails its MAC, the keys are renewed and the first
            # attempt is reversed (acknowledged), the sale is sent again as a new transaction.
            return attempt(lambda: attempt(None))

    def _send_financial(
        self,
        txn: Transaction,
        req: HostRequest,
        fields: CardFields | None,
        requested: str = "ARQC",
        *,
        again: Callable[[], Outcome] | None = None,
    ) -> Outcome:
        try:
            resp = self._exchange(req)
        except ProtocolError as exc:
            # The link raises ProtocolError only while building the request: nothing was sent.
            txn = self.journal.mark_not_sent(txn.uuid, f"request could not be built: {exc}")
            self._show_result(IndicatorState.ERROR)
            return _coded("failed", txn, "host.not_built")
        except NotSent as exc:
            if txn.type == TxnType.SALE and fields is not None:
                return self._offline(txn, fields, str(exc), requested)
            txn = self.journal.mark_not_sent(txn.uuid, str(exc))
            self._show_result(IndicatorState.ERROR)
            return _coded("failed", txn, f"host.not_sent.{txn.type.value}")
        except Exception as exc:
            # No valid answer, or anything unexpected after the PENDING row: outcome unknown.
            try:
                txn = self.journal.owe_reversal(txn.uuid, str(exc) or type(exc).__name__)
            except JournalWriteError as write_error:
                if not isinstance(exc, HostError):
                    raise
                return self._unrecorded(txn, None, write_error)
            if not isinstance(exc, HostError):
                raise
            self._show_result(IndicatorState.ERROR)
            check = None
            try:
                if isinstance(exc, MacError):
                    # Keys out of step (a sign-on cut after the host issued new keys, or another
                    # sign-on as this TID): one automatic sign-on, then the owed reversal.
                    check = self._heal_keys(str(exc), again=again is None)
                # After a MAC failure the keys were just renewed (or could not be): a reversal
                # that fails its MAC now is a repeated failure, not a reason to sign on again.
                self.send_owed(kinds=("reversal",), heal=not isinstance(exc, MacError))
            except JournalWriteError as write_error:
                # The reversal is journaled as owed; it is sent again until acknowledged.
                log.warning("journal write failed while reversing %06d: %s", txn.stan, write_error)
                again = None
            txn = self.journal.get(txn.uuid)
            healed = isinstance(exc, MacError) and check is None and again is not None
            if healed and txn.state == TxnState.REVERSED:
                log.info("keys renewed and STAN %06d reversed: sending again", txn.stan)
                return again()
            if check is not None:
                log.warning("keys out of step: %s", check)
                params = {"tid": self.tid, "dialect": self.config.host.dialect}
                return _coded("failed", txn, "host.mac", params=params)
            log.warning("no valid answer for STAN %06d: %s", txn.stan, exc)
            return _coded("failed", txn, f"host.no_answer.{txn.type.value}")
        try:
            txn = self.journal.record_outcome(
                txn.uuid,
                approved=resp.approved,
                response_code=resp.response_code,
                rrn=resp.rrn,
                auth_code=resp.auth_code,
                stub=self._stub(None if resp.approved else "declined"),
            )
        except JournalWriteError as write_error:
            # The outcome and its stub's job are one unit: neither was committed.
            return self._unrecorded(txn, resp, write_error)
        if resp.approved:
            self._show_result(IndicatorState.SUCCESS)
            return _coded(
                "approved",
                txn,
                "txn.approved",
                response_code=resp.response_code,
                params={"auth": txn.auth_code or ""},
            )
        self._show_result(IndicatorState.ERROR)
        return _coded(
            "declined",
            txn,
            "host.declined",
            response_code=resp.response_code,
            params={"rc": resp.response_code},
        )

    def _reach(self) -> bool:
        """True when the host link is (or could be) connected; a failure is recorded."""
        return not self.link.reach()

    def _check_contactless_limit(self, amount: int) -> None:
        """Refuse before the tap what no scheme accepts contactless (the kernel re-checks the
        card's own scheme once it is known)."""
        limit = self.kernel_params.max_contactless()
        if amount > limit:
            raise Refused(
                f"amount {format_amount(amount, self.cur)} is over the contactless limit "
                f"{format_amount(limit, self.cur)} {self.cur.alpha}: use another payment method",
                code="card.over_contactless_limit",
                params={"amount": self._money(amount), "limit": self._money(limit)},
            )

    def _fields(self, card: CardRead, txn: Transaction) -> CardFields:
        """The request's card fields; field 55 gets the STAN as sequence counter (9F41)."""
        fields = CardFields.of(card)
        if fields.emv_data:
            fields = replace(fields, emv_data=with_sequence_counter(fields.emv_data, txn.stan))
        return fields

    def _offline(
        self, txn: Transaction, fields: CardFields, why: str, requested: str = "ARQC"
    ) -> Outcome:
        """A never-sent sale: store it if the card and the offline limits allow, else NOT_SENT."""
        lim = self.config.limits
        count, total = self.journal.count_amount((TxnState.STORED,))
        decision = decide_offline(
            txn.amount,
            txn.scheme,
            StoredSummary(count, total, self.journal.oldest(TxnState.STORED)),
            OfflineLimits(
                enabled=lim.offline_enabled,
                max_amount=lim.offline_max_amount,
                max_total=lim.offline_max_total,
                max_count=lim.offline_max_count,
                max_age=timedelta(hours=lim.offline_max_age_hours),
                online_only_schemes=frozenset(s.upper() for s in lim.online_only_schemes),
            ),
            self.journal.clock(),
            self.cur,
        )
        if not decision.allowed:
            txn = self.journal.mark_not_sent(
                txn.uuid, f"{why}; offline refused: {decision.message}"
            )
            self._show_result(IndicatorState.ERROR)
            return _coded(
                "refused",
                txn,
                f"offline.refused.{decision.limit}",
                limit=decision.limit,
                params={
                    "amount": self._money(txn.amount),
                    "limit": self._money(_offline_limit(lim, decision.limit)),
                    "over": self._money(decision.excess or 0),
                },
            )
        refusal = offline_refusal(
            decision=txn.decision,
            requested=requested,
            tvr=bytes.fromhex(txn.tvr),
            params=self.kernel_params,
        )
        if refusal is not None:
            txn = self.journal.mark_not_sent(
                txn.uuid, f"{why}; offline refused by the card data: {refusal.code}"
            )
            self._show_result(IndicatorState.ERROR)
            return _coded("refused", txn, refusal.code, params=refusal.params, limit="emv")
        txn = self.journal.store_offline(
            txn.uuid, self.vault.seal(txn.uuid, fields), stub=self._stub("offline")
        )
        self._show_result(IndicatorState.SUCCESS)
        return _coded("stored", txn, "offline.stored")

    def _find_sale(self, *, trace: int | None, rrn: str | None, batch: int | None) -> Transaction:
        try:
            txn = self.journal.find(trace=trace, rrn=rrn, batch=batch)
        except NotFound as exc:
            if trace is None:
                raise NotFound(str(exc), code="txn.rrn_not_found", params={"rrn": rrn}) from None
            raise NotFound(
                str(exc), code="txn.not_found", params={"trace": f"{trace:06d}"}
            ) from None
        if txn.type != TxnType.SALE:
            raise Refused(
                f"trace {txn.trace} is a {txn.type.value}, not a sale",
                code="txn.not_a_sale",
                params={"trace": txn.trace},
            )
        return txn

    def void(self, trace: int, *, approver: Principal | None) -> Outcome:
        """撤销: cancel an approved sale of the open batch (online; reversible like a sale).

        ``approver`` must be a supervisor (``appliance.domain.roles``): the journal row and the
        audit log record the approving supervisor as the acting operator.
        """
        who = require(approver, "void")
        operator = who.number
        with self._operation():
            refused = self._storage_refusal()
            if refused is not None:
                return refused
            try:
                orig = self._find_sale(trace=trace, rrn=None, batch=self.journal.batch)
            except NotFound:
                raise Refused(
                    f"no sale with trace {trace:06d} in the open batch {self.journal.batch:06d}: "
                    f"a sale of an earlier batch can only be refunded",
                    code="void.not_in_batch",
                    params={"trace": f"{trace:06d}"},
                ) from None
            why = self.void_check(orig)
            if why is not None:
                raise self._void_refused(orig, why)
            try:
                self._recover_in_doubt()
            except JournalWriteError as exc:
                return self._not_recorded(exc)
            if not self._clear_reversals():
                raise Refused(
                    "the host is unreachable: a void needs the host, try again later",
                    code="void.needs_host",
                )
            self._ensure_signed_on(operator)
            try:
                txn = self.journal.begin(
                    TxnType.VOID,
                    orig.amount,
                    orig.currency,
                    **card_columns(orig),
                    original=orig,
                    operator=operator,
                )
                self.journal.audit(
                    operator or "-", "void", f"trace {orig.trace} amount {orig.amount}"
                )
            except JournalWriteError as exc:
                return self._not_recorded(exc)
            req = HostRequest(
                MessageKind.VOID,
                self.tid,
                self.mid,
                txn.stan,
                txn.transmitted_at,
                amount=orig.amount,
                currency=self.cur.numeric,
                batch=txn.batch,
                original=self._ref(orig),
                operator=operator or None,
            )
            return self._send_financial(txn, req, None)

    def voidable(self, orig: Transaction) -> bool:
        """True when ``orig`` may be voided now (the void list offers only these: a sale
        already partly refunded cannot be voided)."""
        return self.void_check(orig) is None

    def void_check(self, sale: Transaction) -> VoidRefusal | None:
        """Why ``sale`` cannot be voided now (None: it can); ``appliance.domain.eligibility``."""
        follow_ups = self.journal.transactions(original_uuid=sale.uuid)
        return void_refusal(sale, follow_ups, open_batch=self.journal.batch)

    def refund_check(self, sale: Transaction, amount: int | None = None) -> RefundCheck:
        """May ``sale`` be refunded (by ``amount``)? With what is left to refund."""
        return refund_check(sale, self.journal.transactions(original_uuid=sale.uuid), amount)

    def refundable(self, orig: Transaction) -> int:
        """What is left to refund of a sale (refunds approved or in doubt count as used)."""
        return self.refund_check(orig).remaining

    @staticmethod
    def _void_refused(sale: Transaction, why: VoidRefusal) -> Refused:
        params = {"trace": sale.trace}
        text, code = {
            VoidRefusal.NOT_A_SALE: (
                f"trace {sale.trace} is a {sale.type.value}, not a sale",
                "txn.not_a_sale",
            ),
            VoidRefusal.ALREADY_VOIDED: (
                f"sale {sale.trace} is already voided",
                "void.already_voided",
            ),
            VoidRefusal.NOT_APPROVED: (
                f"sale {sale.trace} is {sale.state.value}, only approved sales can be voided",
                "void.not_approved",
            ),
            VoidRefusal.OTHER_BATCH: (
                f"sale {sale.trace} is in batch {sale.batch:06d}, not the open batch: a sale "
                f"of an earlier batch can only be refunded",
                "void.not_in_batch",
            ),
            VoidRefusal.HAS_FOLLOW_UP: (
                f"sale {sale.trace} already has a void or refund in progress or done",
                "void.has_refund",
            ),
        }[why]
        return Refused(text, code=code, params=params)

    def _refund_refused(self, sale: Transaction, amount: int, check: RefundCheck) -> Refused:
        why = check.refusal
        params: dict[str, Any] = {"trace": sale.trace}
        if why == RefundRefusal.NOT_A_SALE:
            text = f"trace {sale.trace} is a {sale.type.value}, not a sale"
            return Refused(text, code="txn.not_a_sale", params=params)
        if why == RefundRefusal.NOT_APPROVED:
            text = f"sale {sale.trace} is {sale.state.value}: only approved sales can be refunded"
            return Refused(text, code="refund.not_approved", params=params)
        if why == RefundRefusal.NOT_POSITIVE:
            return Refused("amount must be greater than zero", code="amount.not_positive")
        if why == RefundRefusal.REFUNDED_IN_FULL:
            text = f"sale {sale.trace} has been refunded in full"
            return Refused(text, code="refund.nothing_left", params=params)
        text = (
            f"refund {format_amount(amount, self.cur)} is more than the "
            f"{format_amount(check.remaining, self.cur)} {self.cur.alpha} left to refund on sale "
            f"{sale.trace}"
        )
        params["left"] = self._money(check.remaining)
        return Refused(text, code="refund.too_much", params=params)

    def refund(
        self,
        amount: int,
        *,
        trace: int | None = None,
        rrn: str | None = None,
        approver: Principal | None,
        card: CardRead | None = None,
        cancel: threading.Event | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> Outcome:
        """退货: refund up to what is left of an earlier sale, to the same card (online).

        ``approver`` must be a supervisor; it is recorded as the acting operator.
        """
        who = require(approver, "refund")
        operator = who.number
        with self._operation():
            refused = self._storage_refusal()
            if refused is not None:
                return refused
            self._check_amount(amount)
            orig = self._find_sale(trace=trace, rrn=rrn, batch=None)
            check = self.refund_check(orig, amount)
            if check.refusal is not None:
                raise self._refund_refused(orig, amount, check)
            try:
                self._recover_in_doubt()
            except JournalWriteError as exc:
                return self._not_recorded(exc)
            if not self._clear_reversals():
                raise Refused(
                    "the host is unreachable: a refund needs the host, try again later",
                    code="refund.needs_host",
                )
            self._ensure_signed_on(operator)
            card = card or self._read_or_outcome(amount, "20", cancel, on_step)
            if isinstance(card, Outcome):
                return card
            if card.masked_pan != orig.masked_pan:
                raise Refused(
                    f"this card ({card.masked_pan}) is not the card of sale {orig.trace} "
                    f"({orig.masked_pan}): refunds go to the original card",
                    code="refund.wrong_card",
                    params={"trace": orig.trace, "card": orig.masked_pan},
                )
            try:
                txn = self.journal.begin(
                    TxnType.REFUND,
                    amount,
                    orig.currency,
                    **card_columns(card),
                    original=orig,
                    operator=operator,
                    decision=card.decision,
                    tvr=card.tvr,
                    cvm=card.cvm,
                )
                self.journal.audit(operator or "-", "refund", f"trace {orig.trace} amount {amount}")
            except JournalWriteError as exc:
                return self._not_recorded(exc)
            fields = self._fields(card, txn)
            req = HostRequest(
                MessageKind.REFUND,
                self.tid,
                self.mid,
                txn.stan,
                txn.transmitted_at,
                amount=amount,
                currency=self.cur.numeric,
                card=fields,
                batch=txn.batch,
                original=self._ref(orig),
                operator=operator or None,
            )
            return self._send_financial(txn, req, None)

    @staticmethod
    def _ref(t: Transaction) -> OriginalRef:
        kind = {
            TxnType.SALE: MessageKind.SALE,
            TxnType.VOID: MessageKind.VOID,
            TxnType.REFUND: MessageKind.REFUND,
        }[t.type]
        if t.offline:
            kind = MessageKind.ADVICE
        return OriginalRef(
            kind=kind,
            stan=t.stan,
            transmitted_at=t.transmitted_at,
            amount=t.amount,
            rrn=t.rrn,
            auth_code=t.auth_code,
            batch=t.batch,
            entry_mode=t.entry_mode or None,
        )

    def _stub(self, kind: str | None = None) -> StubHook | None:
        """The merchant stub's job, committed with the outcome: a sale renders nothing and
        never waits for the printer (the print owner builds and renders the slip)."""
        if self.receipts is None:
            return None
        return self.receipts.stub_hook("merchant", kind=kind)

    # ---- a journal that cannot be written (disk full) ---------------------------------------

    def _storage_refusal(self) -> Outcome | None:
        """Refused (nothing read, sent or written) while free space is below the reserve."""
        st = storage_status(self.config, self.state_dir)
        if st.level != "reserve":
            return None
        log.warning(
            "payment refused: %s KiB free in %s, reserve %d KiB",
            st.free_kib,
            st.directory,
            st.reserve_kib,
        )
        self._show_result(IndicatorState.ERROR)
        return _coded("refused", None, "storage.reserve", params=st.params)

    def _recover_in_doubt(self) -> None:
        """An answer that could not be journaled left a PENDING row: owe its reversal now.

        Called under the operation lock, where no PENDING row can be in flight in any process.
        """
        if self.in_doubt:
            for txn in self.journal.recover():
                log.warning("transaction %s was in doubt: reversal queued", txn.trace)
            self.in_doubt = False

    def _not_recorded(self, exc: JournalWriteError) -> Outcome:
        """The journal could not be written before the request left: nothing was charged."""
        log.error("payment not started, journal not writable: %s", exc)
        self.in_doubt = True  # a PENDING row may be left behind: reversed before the next one
        self._show_result(IndicatorState.ERROR)
        return _coded("failed", None, "storage.not_recorded", params=self._storage_params())

    def _unrecorded(
        self, txn: Transaction, resp: HostResponse | None, exc: JournalWriteError
    ) -> Outcome:
        """The host's answer (or its absence) could not be journaled: the row stays PENDING.

        A PENDING row is reversed at the next start (or before the next payment), so an
        approval the terminal cannot record is never kept: it is reversed now, once, without
        waiting for the journal, and again from the journal later (the host acknowledges a
        repeated reversal of the same STAN). The outcome says which, with a message code.
        """
        log.error("answer to %s %06d not journaled: %s", txn.type.value, txn.stan, exc)
        self.in_doubt = True
        self._show_result(IndicatorState.ERROR)
        params = self._storage_params()
        code = resp.response_code if resp is not None else None
        if resp is not None and not resp.approved:
            params["response_code"] = resp.response_code
            return _coded(
                "declined", txn, "storage.unrecorded_declined", params=params, response_code=code
            )
        reversed_now = self._reverse_unjournaled(txn)
        what = "storage.unrecorded_reversed" if reversed_now else "storage.unrecorded_reversal_owed"
        return _coded("failed", txn, what, params=params, response_code=code)

    def _reverse_unjournaled(self, txn: Transaction) -> bool:
        """Send one reversal of ``txn`` that is not journaled; True if the host acknowledged."""
        req = HostRequest(
            MessageKind.REVERSAL,
            self.tid,
            self.mid,
            txn.stan,
            self.journal.clock().replace(microsecond=0),
            amount=txn.amount,
            currency=self.cur.numeric,
            batch=txn.batch,
            original=self._ref(txn),
            reason="06",  # an unknown outcome at the terminal (see reversal_reason)
        )
        try:
            resp = self._exchange(req)
        except CountertopError as exc:
            log.warning("reversal of %06d not delivered: %s", txn.stan, exc)
            return False
        return resp.response_code in REVERSAL_ACK_CODES

    def _storage_params(self) -> dict[str, Any]:
        return dict(storage_status(self.config, self.state_dir).params)

    # ---- owed messages (reversals, advices) -----------------------------------------------

    def _owed_request(self, owed: OwedMessage) -> HostRequest:
        txn = self.journal.get(owed.txn_uuid)
        if owed.kind == "reversal":
            return HostRequest(
                MessageKind.REVERSAL,
                self.tid,
                self.mid,
                owed.stan,
                owed.transmitted_at,
                repeat=owed.attempts > 0,
                amount=txn.amount,
                currency=self.cur.numeric,
                batch=txn.batch,
                original=self._ref(txn),
                reason=reversal_reason(txn.note),
            )
        blob = self.journal.card_blob(txn.uuid)
        if blob is None:
            raise NotFound(f"stored payment {txn.trace} has no card data left to forward")
        return HostRequest(
            MessageKind.ADVICE,
            self.tid,
            self.mid,
            owed.stan,
            owed.transmitted_at,
            repeat=owed.attempts > 0,
            amount=txn.amount,
            currency=self.cur.numeric,
            card=self.vault.open(txn.uuid, blob),
            batch=txn.batch,
        )

    def send_owed(
        self,
        *,
        kinds: tuple[str, ...] = ("reversal", "advice"),
        window: int | None = None,
        due_only: bool = False,
        on_progress: Callable[[int, int, int], None] | None = None,
        heal: bool = True,
    ) -> OwedReport:
        """Deliver owed messages: reversals first, then advices, ``window`` at a time.

        Each message is marked attempted before it is sent, so a repeat after a crash goes out
        as 0401/0221 with the same STAN and transmission time: the host answers it, never
        charging twice. Failures stay owed with exponential back-off; nothing is dropped.
        When answers fail their MAC (keys out of step) and ``heal``, one automatic sign-on
        renews the keys and the messages still owed are sent once more.
        """
        report = OwedReport()
        window = window or self.config.host.window
        with self._operation():
            if not self.signed_on:
                try:
                    self.sign_on()
                except HostError as exc:
                    report.errors.append(str(exc))
                    report.still_owed = len(self.journal.owed())
                    return report
            healed = False  # one automatic sign-on per run at most
            for kind in ("reversal", "advice"):
                if kind not in kinds:
                    continue
                due = self.journal.clock() if due_only else None
                todo = self.journal.owed(kind, due_before=due)
                failed_macs = self._mac_failures
                self._send_window(todo, window, report, on_progress)
                if self._mac_failures > failed_macs:
                    check = self._heal_keys(
                        f"{self._mac_failures - failed_macs} answers failed their MAC",
                        again=not heal or healed,
                    )
                    if check is None:
                        healed = True
                        self._send_window(self.journal.owed(kind), window, report, on_progress)
                    else:
                        report.errors.append(check)
                if self.journal.owed("reversal"):
                    break  # advices wait until every reversal is acknowledged
            report.still_owed = len(self.journal.owed())
            retry = self.journal.owed()
            self.monitor.next_retry = min((o.next_attempt_at for o in retry), default=None)
        return report

    def _send_window(
        self,
        todo: list[OwedMessage],
        window: int,
        report: OwedReport,
        on_progress: Callable[[int, int, int], None] | None,
    ) -> None:
        """Keep up to ``window`` messages outstanding (a sliding window, not batches: each
        answer is committed while later requests are already on their way)."""
        inflight: deque[tuple[OwedMessage, Future[HostResponse] | None, Exception | None]]
        inflight = deque()
        ready: deque[tuple[OwedMessage, HostRequest]] = deque()
        queue = deque(todo)
        total, done, unanswered = len(todo), 0, 0
        while True:
            # Once a whole window in a row got no answer, stop sending: the rest stays owed.
            while (queue or ready) and len(inflight) < window and unanswered < window:
                if not ready:
                    ready.extend(self._prepare_owed(queue, window, report))
                    continue
                owed, req = ready.popleft()
                try:
                    inflight.append((owed, self.link.submit(req), None))
                    report.sent += 1
                except HostError as exc:
                    inflight.append((owed, None, exc))
            if not inflight:
                return
            answered = self._collect_owed(*inflight.popleft(), report)
            unanswered = 0 if answered else unanswered + 1
            done += 1
            if on_progress:
                on_progress(done, total, report.acknowledged)

    def _prepare_owed(
        self, queue: deque[OwedMessage], n: int, report: OwedReport
    ) -> list[tuple[OwedMessage, HostRequest]]:
        """Build the next ``n`` requests and mark them attempted in one commit, before any is
        sent: each later send is then a repeat (0401/0221). A message marked but not sent (the
        window stopped) goes out next time as a repeat, which the host treats as new."""
        out: list[tuple[OwedMessage, HostRequest]] = []
        while queue and len(out) < n:
            owed = queue.popleft()
            try:
                out.append((owed, self._owed_request(owed)))
            except (NotFound, HostError) as exc:
                report.errors.append(str(exc))
        self.journal.owed_attempted_many([o for o, _ in out])
        return [(OwedMessage(**{**o.__dict__, "attempts": o.attempts + 1}), r) for o, r in out]

    def _collect_owed(
        self,
        owed: OwedMessage,
        fut: Future[HostResponse] | None,
        err: Exception | None,
        report: OwedReport,
    ) -> bool:
        """Wait for one answer and commit it; False if it got no valid answer."""
        try:
            if err is not None:
                raise err
            assert fut is not None
            resp = fut.result()
        except HostError as exc:
            if isinstance(exc, MacError):
                self._mac_failures += 1
            self._owed_failed(owed, exc, report)
            return False
        self._owed_answered(owed, resp, report)
        return True

    def _owed_failed(self, owed: OwedMessage, exc: Exception, report: OwedReport) -> None:
        report.errors.append(f"{owed.kind} {owed.stan:06d}: {exc}")
        self.journal.owed_failed(owed, str(exc), self.journal.clock() + retry_delay(owed.attempts))

    def _owed_answered(self, owed: OwedMessage, resp: HostResponse, report: OwedReport) -> None:
        code = resp.response_code
        if owed.kind == "reversal":
            if code in REVERSAL_ACK_CODES:
                self.journal.settle_owed(owed, response_code=code)
                report.acknowledged += 1
            else:
                self._owed_failed(owed, Refused(f"reversal answered {code}"), report)
            return
        if code in RETRYABLE_CODES:
            self._owed_failed(owed, Refused(f"advice answered {code}"), report)
            return
        stub = self._stub("forwarded") if self.config.receipts.print_after_forward else None
        txn = self.journal.settle_owed(
            owed,
            approved=resp.approved,
            response_code=code,
            rrn=resp.rrn,
            auth_code=resp.auth_code,
            stub=stub,
        )
        report.acknowledged += 1
        if not resp.approved:
            report.declined.append(txn)

    def recover(self) -> list[Transaction]:
        """Start-up recovery: PENDING rows get reversals owed (crash between send and answer).

        Under the operation lock, so a PENDING row of a sale another process is still waiting
        on is never taken for a crash.
        """
        with self._operation("recovery"):
            return self.journal.recover()

    # ---- queries --------------------------------------------------------------------------

    def status(self) -> TerminalStatus:
        """Link, owed messages, stored payments, devices."""
        stored_count, stored_amount = self.journal.count_amount((TxnState.STORED,))
        declined, _ = self.journal.count_amount((TxnState.FORWARD_DECLINED,))
        owed = self.journal.owed()
        try:
            reader = self.reader.status().value
        except Exception as exc:  # status must never fail the status screen
            reader = f"error: {exc}"
        printer = "none"
        jobs: list[Any] = []
        owner = ""
        if self.receipts is not None:
            jobs = self.receipts.waiting_jobs()
            owner = self.receipts.owner_elsewhere()
        if self.printer is not None:
            # While another process prints, ask it (its last report), not the printer: a
            # network printer may take one connection at a time.
            reported = self.receipts.reported_status() if self.receipts is not None else ""
            printer = reported or self.printer.status().value
        waiting = len(jobs)
        from appliance.services.settlement import Settlement

        settle_waiting = Settlement(self).waiting_for_link()
        out_of_step = self.journal.session_get("keys_state") == "out_of_step"
        qr_counts = qr_journal.counts(self.journal)
        link, link_error = self.monitor.state.value, self.monitor.last_error
        if out_of_step:
            link, link_error = LinkState.DEGRADED.value, "keys out of step"
        return TerminalStatus(
            settlement="due_waiting_for_link" if settle_waiting else "",
            keys="out_of_step" if out_of_step else "ok",
            keys_error=(self.journal.session_get("keys_error") or "") if out_of_step else "",
            link=link,
            link_error=link_error,
            pending_reversals=sum(1 for o in owed if o.kind == "reversal"),
            stored_count=stored_count,
            stored_amount=stored_amount,
            stored_oldest=self.journal.oldest(TxnState.STORED),
            forward_declined=declined,
            next_retry=min((o.next_attempt_at for o in owed), default=None),
            batch=self.journal.batch,
            signed_on=self.signed_on,
            reader=reader,
            printer=printer,
            print_jobs_waiting=waiting,
            print_jobs=[j.as_dict() for j in jobs],
            print_jobs_attention=sum(1 for j in jobs if j.state == "needs_attention"),
            print_owner=owner,
            currency=self.cur.alpha,
            storage=storage_status(self.config, self.state_dir).as_dict(),
            in_doubt=len(self.journal.transactions(states=(TxnState.PENDING,))),
            qr_cancels_owed=qr_counts.get("cancel_owed", 0),
            qr_refunds_owed=qr_counts.get("refund_owed", 0),
        )

    def transactions(self, *, batch: int | None = None, limit: int = 100) -> list[Transaction]:
        """Newest transactions first."""
        return self.journal.transactions(batch=batch, limit=limit, newest_first=True)

    def find(self, *, trace: int | None = None, rrn: str | None = None) -> Transaction:
        """The newest transaction with this trace or RRN."""
        return self.journal.find(trace=trace, rrn=rrn)

    def close(self) -> None:
        """Release every port."""
        for port in (self.link, self.reader, self.indicators, self.printer, self.scanner, self.qr):
            if port is not None:
                try:
                    port.close()
                except Exception as exc:  # closing must release the rest even if one fails
                    log.warning("closing %s failed: %s", type(port).__name__, exc)
        self.journal.close()
