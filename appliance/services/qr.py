"""QR payments (扫码支付): customer-presented codes, merchant-presented codes, refunds, and the
cancels owed when a payment's outcome stayed unknown.

The same guarantees as for cards, by the same rule: the order number and a PENDING row are
committed before the request leaves (``appliance.journal.qr``); every answer is committed before
anyone is told. An unknown or "user paying" answer starts the published query loop
(``appliance.domain.qr.next_step``: every ``qr.query_interval`` s up to ``qr.query_limit`` s,
with a countdown callback); if the order is still not paid the cancel goes out at once after the
last query, and stays owed (CANCEL_OWED) until the gateway acknowledges it — the link worker
forwards owed cancels as it forwards reversals. A gateway that cannot be reached refuses the
payment clearly: QR payments are online only and nothing is ever stored for later.

A refund needs a supervisor's approval (``appliance.domain.roles``), checked here before
anything is journaled or sent; the supervisor is the refund's operator in the journal and the
audit log.

The payment code is passed to the gateway client and dropped: it is never logged, journaled
or printed. Each use case returns a ``QrOutcome`` with a message code (``qr_messages``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from appliance.domain.money import format_amount
from appliance.domain.qr import (
    Answer,
    BadPaymentCode,
    QrKind,
    QrOrder,
    QrState,
    QueryPolicy,
    Step,
    cancel_acknowledged,
    classify_answer,
    classify_code,
    mask_payer,
    next_step,
)
from appliance.domain.roles import Principal, require
from appliance.errors import NoResponse, NotFound, NotSent
from appliance.journal import Journal
from appliance.journal import qr as qrj
from appliance.journal.journal import retry_delay
from appliance.services.qr_messages import translate

if TYPE_CHECKING:
    from appliance.config import Config

log = logging.getLogger(__name__)

Countdown = Callable[[float, QrOrder], None]
ShowCode = Callable[[str, QrOrder], None]


class QrGatewayPort(Protocol):
    """What the service needs of ``appliance.host.qrlink.QrGatewayClient``."""

    def call(
        self, api: str, params: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """One signed request; the verified answer (NotSent / NoResponse on failure)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


_RESULTS = {
    QrState.SUCCESS: "approved",
    QrState.DECLINED: "declined",
    QrState.CANCELLED: "cancelled",
    QrState.NOT_SENT: "failed",
    QrState.CANCEL_OWED: "failed",
    QrState.REFUND_OWED: "failed",
    QrState.PENDING: "pending",
    QrState.PAYING: "pending",
}


@dataclass
class QrOutcome:
    """What a QR use case achieved, as the operator is told it.

    ``result``: approved | declined | cancelled | failed | refused | pending. ``code`` and
    ``params`` are the message (``appliance.services.qr_messages``).
    """

    result: str
    order: QrOrder | None
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    gateway_state: str = ""

    def message(self, lang: str = "en") -> str:
        """The message in ``lang``."""
        return translate(self.code, self.params, "zh_CN" if lang.startswith("zh") else "en")

    def as_dict(self) -> dict[str, Any]:
        """The stable machine-readable form (``countertop qr … --json``)."""
        o = self.order
        return {
            "result": self.result,
            "order": o.order if o else None,
            "trade_no": (o.trade_no or None) if o else None,
            "state": o.state.value if o else None,
            "kind": o.kind.value if o else None,
            "amount": o.amount if o else None,
            "currency": o.currency if o else None,
            "wallet": (o.wallet or None) if o else None,
            "payer": (o.payer or None) if o else None,
            "original": (o.original or None) if o else None,
            "gateway_state": self.gateway_state or ((o.gateway_state or None) if o else None),
            "code": self.code,
            "params": self.params,
            "message": self.message("en"),
            "message_zh": self.message("zh_CN"),
        }


@dataclass
class QrOwedReport:
    """What a run over owed cancels and refunds achieved."""

    sent: int = 0
    acknowledged: int = 0
    still_owed: int = 0
    errors: list[str] = field(default_factory=list)


class QrPayments:
    """The QR use cases over the journal and a gateway client. One operation at a time.

    ``busy`` and ``oplock`` are the terminal's (so a QR payment and a card payment never
    overlap, in this process or another); ``receipts`` queues QR stubs when it can
    (``qr_stub``). ``sleep`` and ``clock`` are injectable for tests.
    """

    def __init__(
        self,
        config: Config,
        journal: Journal,
        gateway: QrGatewayPort | None,
        *,
        receipts: Any = None,
        busy: Any = None,
        oplock: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.journal = journal
        self.gateway = gateway
        self.receipts = receipts
        self._busy = busy or threading.RLock()
        self._oplock = oplock
        self._sleep = sleep
        self._clock = clock
        q = config.qr
        self.policy = QueryPolicy(float(q.query_interval), float(q.query_limit))
        self.show_policy = QueryPolicy(
            min(float(q.query_interval), float(q.show_expiry)), float(q.show_expiry)
        )
        self.cur = config.currency
        self.tid: str = config.merchant.tid

    # ---- helpers -------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """True when a gateway is configured."""
        return self.gateway is not None

    def _hold(self, what: str) -> AbstractContextManager[Any]:
        return self._oplock.hold(what) if self._oplock is not None else nullcontext()

    def _fmt(self, amount: int) -> str:
        return f"{format_amount(amount, self.cur)} {self.cur.alpha}"

    def _call(self, api: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """One request; None when the outcome is unknown (NoResponse). NotSent propagates."""
        assert self.gateway is not None
        try:
            return self.gateway.call(api, params)
        except NoResponse as exc:
            log.info("QR %s: %s", api, exc)
            return None

    def _wait(self, seconds: float, cancel: threading.Event | None) -> bool:
        """Wait ``seconds``; True if ``cancel`` was set meanwhile."""
        if cancel is not None:
            return cancel.wait(seconds)
        self._sleep(seconds)
        return False

    def _evidence(self, body: dict[str, Any] | None) -> dict[str, str]:
        if not body:
            return {}
        return {
            "trade_no": str(body.get("trade_no") or ""),
            "payer": mask_payer(str(body.get("buyer_id") or "")),
            "gateway_state": str(body.get("trade_state") or ""),
            "err_code": str(body.get("err_code") or ""),
            "wallet": str(body.get("wallet") or ""),
        }

    def _outcome(self, order: QrOrder, code: str, **params: Any) -> QrOutcome:
        params.setdefault("amount", self._fmt(order.amount))
        params.setdefault("order", order.order)
        if order.wallet:
            params.setdefault("wallet", order.wallet)
        return QrOutcome(_RESULTS[order.state], order, code, params)

    def _refused(self, code: str, **params: Any) -> QrOutcome:
        return QrOutcome("refused", None, code, params)

    def _check_amount(self, amount: int) -> QrOutcome | None:
        limit = int(self.config.limits.max_amount)
        if amount <= 0 or amount > limit:
            return self._refused("qr.amount_invalid", limit=self._fmt(limit))
        return None

    def _stub(self, order: QrOrder) -> None:
        sink = getattr(self.receipts, "qr_stub", None)
        if sink is None:
            return
        try:
            sink(order, "merchant")
        except Exception as exc:  # a print problem never changes a payment's outcome
            log.warning("QR stub of %s not queued: %s", order.order, exc)

    # ---- customer-presented code (付款码, 被扫) -------------------------------------------

    def pay(
        self,
        amount: int,
        code: str,
        *,
        operator: str = "",
        on_countdown: Countdown | None = None,
        cancel: threading.Event | None = None,
    ) -> QrOutcome:
        """Take a payment by the customer's payment code (scanned or typed).

        ``on_countdown(seconds_left, order)`` is called before each wait of the query loop
        (which opens when the pay exchange ends: ``qr.query_limit`` seconds from then);
        setting ``cancel`` ends the loop at once with a cancel (the customer walked away).
        """
        if self.gateway is None:
            return self._refused("qr.off")
        refused = self._check_amount(amount)
        if refused:
            return refused
        try:
            wallet = classify_code(code)
        except BadPaymentCode:
            return self._refused("qr.bad_code")
        with self._busy, self._hold("QR payment"):
            order = qrj.begin_order(
                self.journal,
                amount,
                self.cur.alpha,
                tid=self.tid,
                wallet=wallet.value,
                mode="scan",
                operator=operator,
            )
            try:
                body = self._call(
                    "pay",
                    {
                        "out_trade_no": order.order,
                        "total_amount": amount,
                        "currency": self.cur.alpha,
                        "auth_code": code.strip(),
                        "operator": operator,
                    },
                )
            except NotSent as exc:
                order = qrj.set_state(self.journal, order.order, QrState.NOT_SENT, note=str(exc))
                return self._outcome(order, "qr.unreachable")
            del code  # the payment code is not needed any more and is never kept
            # The query window opens when the pay exchange ends (answer or timeout).
            return self._settle(order, body, self._clock(), self.policy, on_countdown, cancel)

    def _settle(
        self,
        order: QrOrder,
        body: dict[str, Any] | None,
        start: float,
        policy: QueryPolicy,
        on_countdown: Countdown | None,
        cancel: threading.Event | None,
    ) -> QrOutcome:
        """The query-then-cancel loop after a pay (or precreate) answer ``body``."""
        while True:
            answer = classify_answer(body)
            decision = next_step(answer, self._clock() - start, policy)
            ev = self._evidence(body)
            if decision.step == Step.APPROVE:
                order = qrj.set_state(self.journal, order.order, QrState.SUCCESS, **ev)
                self._stub(order)
                return self._outcome(order, "qr.approved")
            if decision.step == Step.DECLINE:
                order = qrj.set_state(self.journal, order.order, QrState.DECLINED, **ev)
                return self._outcome(order, "qr.declined", reason=ev.get("err_code") or "CLOSED")
            if decision.step == Step.CANCEL:
                note = "no definite answer within the query limit"
                return self._cancel_now(order, note, ev)
            if order.state == QrState.PENDING or ev:
                order = qrj.set_state(self.journal, order.order, QrState.PAYING, **ev)
            left = max(0.0, policy.limit - (self._clock() - start))
            if on_countdown is not None:
                on_countdown(left, order)
            if self._wait(decision.delay, cancel):
                return self._cancel_now(order, "cancelled at the counter", {})
            try:
                body = self._call("query", {"out_trade_no": order.order})
            except NotSent as exc:
                log.info("QR query of %s not sent: %s", order.order, exc)
                body = None

    def _cancel_now(self, order: QrOrder, note: str, ev: dict[str, str]) -> QrOutcome:
        """Owe the cancel (committed first), then send it at once."""
        order = qrj.set_state(self.journal, order.order, QrState.CANCEL_OWED, note=note, **ev)
        order, action = self._cancel_once(order)
        if order.state == QrState.CANCELLED:
            code = "qr.cancelled_refunded" if action == "refund" else "qr.cancelled"
            return self._outcome(order, code)
        return self._outcome(order, "qr.cancel_owed")

    def _cancel_once(self, order: QrOrder) -> tuple[QrOrder, str]:
        """One cancel attempt; the order is CANCELLED if the gateway acknowledged it."""
        n = qrj.attempted(self.journal, order.order)
        try:
            body = self._call(
                "cancel",
                {
                    "out_trade_no": order.order,
                    "total_amount": order.amount,
                    "currency": order.currency,
                },
            )
        except NotSent as exc:
            body, why = None, str(exc)
        else:
            why = "no answer" if body is None else str(body.get("err_code") or "not acknowledged")
        if cancel_acknowledged(body):
            assert body is not None
            action = str(body.get("action") or "close")
            ev = self._evidence(body)
            ev["gateway_state"] = ev.get("gateway_state") or "CLOSED"
            ev["note"] = f"cancel acknowledged ({action})"
            return qrj.set_state(self.journal, order.order, QrState.CANCELLED, **ev), action
        retry = self.journal.clock() + retry_delay(n, base=1.0, cap=60.0)
        qrj.attempt_failed(self.journal, order.order, f"cancel: {why}", retry)
        return qrj.get(self.journal, order.order), ""

    # ---- merchant-presented code (主扫) --------------------------------------------------

    def show(
        self,
        amount: int,
        *,
        operator: str = "",
        on_code: ShowCode | None = None,
        on_countdown: Countdown | None = None,
        cancel: threading.Event | None = None,
    ) -> QrOutcome:
        """Show a dynamic code for ``amount`` and wait for the customer to pay it.

        ``on_code(code_url, order)`` receives the code's content to display; the order is
        polled every query interval until paid, ``qr.show_expiry`` passes or ``cancel`` is
        set, and then closed with a cancel right after the last query.
        """
        if self.gateway is None:
            return self._refused("qr.off")
        refused = self._check_amount(amount)
        if refused:
            return refused
        with self._busy, self._hold("QR payment"):
            order = qrj.begin_order(
                self.journal,
                amount,
                self.cur.alpha,
                tid=self.tid,
                wallet="",
                mode="show",
                operator=operator,
            )
            params = {
                "out_trade_no": order.order,
                "total_amount": amount,
                "currency": self.cur.alpha,
            }
            try:
                body = self._call("precreate", params)
                if body is None:  # idempotent on the order number: ask once more
                    body = self._call("precreate", params)
            except NotSent as exc:
                order = qrj.set_state(self.journal, order.order, QrState.NOT_SENT, note=str(exc))
                return self._outcome(order, "qr.unreachable")
            if body is None or not body.get("code_url"):
                if body is not None and classify_answer(body) == Answer.FAILED:
                    order = qrj.set_state(
                        self.journal, order.order, QrState.DECLINED, **self._evidence(body)
                    )
                    return self._outcome(
                        order, "qr.declined", reason=str(body.get("err_code") or "")
                    )
                return self._cancel_now(order, "no code from the gateway", {})
            start = self._clock()
            order = qrj.set_state(self.journal, order.order, QrState.PAYING, **self._evidence(body))
            if on_code is not None:
                on_code(str(body["code_url"]), order)
            return self._settle(order, body, start, self.show_policy, on_countdown, cancel)

    # ---- query and refund ----------------------------------------------------------------

    def find(self, order_no: str) -> QrOrder:
        """The journal's order ``order_no`` (NotFound if none)."""
        return qrj.get(self.journal, order_no)

    def query(self, order_no: str) -> QrOutcome:
        """What the journal and the gateway say about ``order_no`` (the journal is not changed)."""
        try:
            order = qrj.get(self.journal, order_no)
        except NotFound:
            return self._refused("qr.not_found", order=order_no)
        gateway_state = ""
        if self.gateway is not None and order.kind == QrKind.PAY:
            try:
                body = self._call("query", {"out_trade_no": order.order})
            except NotSent:
                body = None
            if body is not None:
                gateway_state = str(body.get("trade_state") or body.get("err_code") or "")
        code = {
            QrState.SUCCESS: "qr.approved",
            QrState.DECLINED: "qr.declined",
            QrState.CANCELLED: "qr.cancelled",
            QrState.NOT_SENT: "qr.unreachable",
            QrState.CANCEL_OWED: "qr.cancel_owed",
            QrState.REFUND_OWED: "qr.refund_owed",
        }.get(order.state, "qr.pending")
        if order.kind == QrKind.REFUND and order.state == QrState.SUCCESS:
            code = "qr.refunded"
        elif order.kind == QrKind.REFUND and order.state == QrState.NOT_SENT:
            code = "qr.refund_unreachable"
        out = self._outcome(order, code, reason=order.err_code or "-")
        out.gateway_state = gateway_state
        return out

    def refundable_today(self) -> list[tuple[QrOrder, int]]:
        """Today's paid orders (the journal's local date) with something left to refund, newest
        first, each with what is left (what a supervisor picks a QR refund from)."""
        day = self.journal.clock().astimezone(self.journal.tz).date().isoformat()
        paid = qrj.orders(self.journal, states=(QrState.SUCCESS,), kind=QrKind.PAY, local_date=day)
        out = [(o, o.amount - qrj.refunded(self.journal, o.order)) for o in reversed(paid)]
        return [(o, left) for o, left in out if left > 0]

    def find_paid(self, number: str) -> QrOrder:
        """The payment a person typed the number of: its whole number or the number without
        the leading ``QR`` (in any state, so the screen can say why it cannot be refunded), or
        the end of the number of exactly one of today's paid orders (the 6-digit sequence on
        the stub). NotFound otherwise."""
        typed = number.strip().upper()
        if not typed:
            raise NotFound("no QR order number typed")
        for candidate in (typed, f"QR{typed}"):
            try:
                order = qrj.get(self.journal, candidate)
            except NotFound:
                continue
            if order.kind == QrKind.PAY:
                return order
        day = self.journal.clock().astimezone(self.journal.tz).date().isoformat()
        paid = qrj.orders(self.journal, states=(QrState.SUCCESS,), kind=QrKind.PAY, local_date=day)
        matches = [o for o in paid if o.order.endswith(typed)]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"no single paid QR order ending {typed} today")

    def refundable(self, order_no: str) -> int:
        """What can still be refunded of a paid order."""
        order = qrj.get(self.journal, order_no)
        if order.kind != QrKind.PAY or order.state != QrState.SUCCESS:
            return 0
        return order.amount - qrj.refunded(self.journal, order_no)

    def refund(self, order_no: str, amount: int, *, approver: Principal | None) -> QrOutcome:
        """Refund ``amount`` (partial allowed) of the paid order ``order_no``.

        ``approver`` must be a supervisor (``appliance.domain.roles``; RoleRefused before
        anything is journaled or sent): the refund order and the audit log record the
        approving supervisor as the acting operator, as for a card refund.
        """
        operator = require(approver, "refund").number
        if self.gateway is None:
            return self._refused("qr.off")
        with self._busy, self._hold("QR refund"):
            try:
                orig = qrj.get(self.journal, order_no)
            except NotFound:
                return self._refused("qr.not_found", order=order_no)
            if orig.kind != QrKind.PAY or orig.state != QrState.SUCCESS:
                return self._refused("qr.not_refundable", order=order_no)
            left = self.refundable(order_no)
            if left <= 0:
                return self._refused("qr.nothing_left", order=order_no)
            if amount <= 0 or amount > left:
                return self._refused("qr.refund_too_much", left=self._fmt(left), order=order_no)
            ref = qrj.begin_refund(self.journal, orig, amount, operator=operator)
            self.journal.audit(
                operator, "qr_refund", f"order {orig.order} refund {ref.order} amount {amount}"
            )
            try:
                body = self._call("refund", self._refund_params(ref, orig))
            except NotSent as exc:
                ref = qrj.set_state(self.journal, ref.order, QrState.NOT_SENT, note=str(exc))
                return self._outcome(ref, "qr.refund_unreachable")
            return self._refund_answered(ref, body)

    @staticmethod
    def _refund_params(ref: QrOrder, orig: QrOrder | None = None) -> dict[str, Any]:
        return {
            "out_trade_no": ref.original,
            "out_refund_no": ref.order,
            "refund_amount": ref.amount,
            "total_amount": orig.amount if orig else None,
            "currency": ref.currency,
        }

    def _refund_answered(self, ref: QrOrder, body: dict[str, Any] | None) -> QrOutcome:
        status = str((body or {}).get("refund_status") or "")
        ok = body is not None and body.get("return_code") == "SUCCESS"
        ev = {"trade_no": str((body or {}).get("refund_id") or ""), "gateway_state": status}
        if ok and body is not None and body.get("result_code") == "SUCCESS" and status == "SUCCESS":
            ref = qrj.set_state(self.journal, ref.order, QrState.SUCCESS, **ev)
            self._stub(ref)
            return self._outcome(ref, "qr.refunded")
        if (
            ok
            and body is not None
            and body.get("result_code") == "FAIL"
            and body.get("err_code") not in ("SYSTEMERROR", "BANKERROR")
        ):
            err = str(body.get("err_code"))
            ref = qrj.set_state(self.journal, ref.order, QrState.DECLINED, err_code=err, **ev)
            return self._outcome(ref, "qr.refund_declined", reason=err)
        if ref.state != QrState.REFUND_OWED:
            ref = qrj.set_state(
                self.journal, ref.order, QrState.REFUND_OWED, note="refund not final yet", **ev
            )
        else:
            n = qrj.attempted(self.journal, ref.order)
            retry = self.journal.clock() + retry_delay(n, base=1.0, cap=60.0)
            qrj.attempt_failed(self.journal, ref.order, f"refund: {status or 'no answer'}", retry)
            ref = qrj.get(self.journal, ref.order)
        return self._outcome(ref, "qr.refund_owed")

    # ---- owed cancels and refunds, recovery, status --------------------------------------

    def send_owed(self, *, due_only: bool = False, blocking: bool = True) -> QrOwedReport:
        """Send every owed cancel and refund (only those due with ``due_only``).

        With ``blocking=False`` nothing is done while another operation runs (the link worker).
        """
        report = QrOwedReport()
        if self.gateway is None:
            return report
        if not self._busy.acquire(blocking=blocking):
            return report
        try:
            with self._hold("QR forwarding"):
                due = self.journal.clock() if due_only else None
                for order in qrj.owed(self.journal, due_before=due):
                    report.sent += 1
                    try:
                        done = self._send_one(order)
                    except NotSent as exc:
                        report.errors.append(str(exc))
                        break
                    if done.state in (QrState.CANCELLED, QrState.SUCCESS, QrState.DECLINED):
                        report.acknowledged += 1
                    elif (e := qrj.attempts(self.journal, order.order)[1]) and e:
                        report.errors.append(f"{order.order}: {e}")
        finally:
            self._busy.release()
        report.still_owed = len(qrj.owed(self.journal))
        return report

    def _send_one(self, order: QrOrder) -> QrOrder:
        if order.state == QrState.CANCEL_OWED:
            return self._cancel_once(order)[0]
        orig = qrj.get(self.journal, order.original)
        try:
            body = self._call("refund", self._refund_params(order, orig))
        except NotSent as exc:
            n = qrj.attempted(self.journal, order.order)
            retry = self.journal.clock() + retry_delay(n, base=1.0, cap=60.0)
            qrj.attempt_failed(self.journal, order.order, f"refund: {exc}", retry)
            raise
        out = self._refund_answered(order, body)
        assert out.order is not None
        return out.order

    def recover(self) -> list[QrOrder]:
        """Start-up recovery: orders left PENDING/PAYING by a crash get their cancel owed."""
        with self._busy, self._hold("QR recovery"):
            return qrj.recover(self.journal)

    def owed_cancels(self) -> int:
        """Cancels still owed to the gateway."""
        return qrj.counts(self.journal).get(QrState.CANCEL_OWED.value, 0)

    def status(self) -> dict[str, Any]:
        """QR counts for ``countertop status``."""
        counts = qrj.counts(self.journal)
        owed = qrj.owed(self.journal)
        return {
            "enabled": self.enabled,
            "cancels_owed": counts.get(QrState.CANCEL_OWED.value, 0),
            "refunds_owed": counts.get(QrState.REFUND_OWED.value, 0),
            "owed_orders": [o.order for o in owed],
        }

    def close(self) -> None:
        """Release the gateway client."""
        if self.gateway is not None:
            self.gateway.close()
