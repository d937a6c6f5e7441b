"""QR payments end to end: the terminal's service over httpx against the reference QR gateway
on loopback (Starlette + uvicorn), every gateway fault, and the ledger agreeing afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.bootstrap import build_terminal
from appliance.domain.qr import QrState
from appliance.domain.roles import RoleRefused
from appliance.journal import qr as qrj
from appliance.operators import Operator, Role
from appliance.sim.shop import CASHIER, SUPERVISOR, demo_config, qr_gateway_for

WECHAT = "134567890123456789"
ALIPAY = "289431869362714645"
UNIONPAY = "6212345678901234567"
TECHNICIAN = Operator("09", "Technician", Role.TECHNICIAN)


class QrShop:
    """A demo terminal with QR payments against a running reference QR gateway."""

    def __init__(self, tmp: Path, **qr: Any) -> None:
        settings = {"query_interval": 0.02, "query_limit": 0.3, "show_expiry": 0.3, "timeout": 1.0}
        settings.update(qr)
        self.cfg = demo_config(tmp, overrides={"qr": settings})
        self.server = qr_gateway_for(self.cfg).start()
        self.gateway = self.server.gateway
        self.terminal = build_terminal(self.cfg)
        self.qr = self.terminal.qr

    def trade(self, order: str) -> dict[str, Any]:
        return next(t for t in self.gateway.book.trades() if t["out_trade_no"] == order)

    def consistent(self) -> list[str]:
        """Every SUCCESS at the gateway is SUCCESS, or has a cancel owed, at the terminal."""
        problems = []
        for t in self.gateway.book.trades():
            try:
                o = qrj.get(self.terminal.journal, t["out_trade_no"])
            except LookupError:
                problems.append(f"{t['out_trade_no']} unknown to the terminal")
                continue
            if t["state"] == "SUCCESS" and o.state not in (QrState.SUCCESS, QrState.CANCEL_OWED):
                problems.append(f"{o.order}: gateway SUCCESS, terminal {o.state.value}")
            if o.state == QrState.SUCCESS and t["state"] not in ("SUCCESS", "REFUNDED"):
                problems.append(f"{o.order}: terminal SUCCESS, gateway {t['state']}")
        return problems

    def close(self) -> None:
        self.terminal.close()
        self.server.stop()


@pytest.fixture
def qshop(tmp_path: Path) -> Iterator[QrShop]:
    s = QrShop(tmp_path)
    yield s
    s.close()


def test_customer_code_is_paid_and_journaled_without_the_code(qshop: QrShop) -> None:
    out = qshop.qr.pay(1250, WECHAT, operator="01")
    d = out.as_dict()
    assert (d["result"], d["state"], d["wallet"]) == ("approved", "success", "WECHATPAY")
    assert d["trade_no"] == qshop.trade(d["order"])["trade_no"]
    assert d["payer"] and "****" in d["payer"]
    assert qshop.trade(d["order"])["state"] == "SUCCESS"
    qshop.terminal.journal.close()
    state = qshop.cfg.state_dir
    for f in state.glob("journal.db*"):
        assert WECHAT.encode() not in f.read_bytes(), f"payment code in clear in {f.name}"
    qshop.terminal.journal = type(qshop.terminal.journal).open(qshop.cfg.journal_path)


def test_a_refused_payment_is_declined_and_nothing_is_charged(qshop: QrShop) -> None:
    out = qshop.qr.pay(1251, ALIPAY)
    assert (out.result, out.code) == ("declined", "qr.declined")
    assert out.order is not None and out.order.err_code == "NOTENOUGH"
    assert qshop.trade(out.order.order)["state"] == "CLOSED"


def test_user_paying_is_queried_with_a_countdown_until_paid(qshop: QrShop) -> None:
    qshop.gateway.set_fault("userpaying", after=0.1, times=1)
    left: list[float] = []
    out = qshop.qr.pay(300, UNIONPAY, on_countdown=lambda s, _o: left.append(s))
    assert out.result == "approved"
    assert len(left) >= 2 and left == sorted(left, reverse=True)
    assert all(0 <= s <= 0.3 for s in left)
    queries = [api for api, _ in qshop.gateway.requests if api == "query"]
    assert len(queries) == len(left)


def test_user_never_paying_ends_in_an_acknowledged_cancel(qshop: QrShop) -> None:
    qshop.gateway.set_fault("userpaying", after=None, times=1)
    out = qshop.qr.pay(300, WECHAT)
    assert (out.result, out.code) == ("cancelled", "qr.cancelled")
    assert qshop.trade(out.order.order)["state"] == "CLOSED"
    apis = [api for api, _ in qshop.gateway.requests]
    assert apis[-1] == "cancel" and apis[-2] == "query"  # the cancel follows the last query
    assert qshop.consistent() == []


def test_operator_cancel_during_the_loop_cancels_at_once(qshop: QrShop) -> None:
    qshop.gateway.set_fault("userpaying", after=None, times=1)
    stop = threading.Event()
    stop.set()
    out = qshop.qr.pay(300, WECHAT, cancel=stop)
    assert out.result == "cancelled"
    assert [api for api, _ in qshop.gateway.requests] == ["pay", "cancel"]


def test_failing_cancels_stay_owed_until_acknowledged(qshop: QrShop) -> None:
    qshop.gateway.set_fault("userpaying", after=None, times=1)
    qshop.gateway.set_fault("cancel_fails", times=2)
    out = qshop.qr.pay(400, WECHAT)
    assert (out.result, out.code, out.order.state) == (
        "failed",
        "qr.cancel_owed",
        QrState.CANCEL_OWED,
    )
    assert qshop.terminal.status().qr_cancels_owed == 1
    first = qshop.qr.send_owed()
    assert (first.acknowledged, first.still_owed) == (0, 1)
    second = qshop.qr.send_owed()
    assert (second.acknowledged, second.still_owed) == (1, 0)
    assert qshop.trade(out.order.order)["state"] == "CLOSED"
    assert qshop.terminal.status().qr_cancels_owed == 0
    assert qshop.consistent() == []


def test_an_answer_lost_after_the_gateway_committed_is_found_by_the_query(qshop: QrShop) -> None:
    qshop.gateway.set_fault("pay_timeout_after_commit", hold=3.0)
    out = qshop.qr.pay(700, WECHAT)
    assert out.result == "approved"
    pays = [p for api, p in qshop.gateway.requests if api == "pay"]
    assert len(pays) == 1  # never sent twice
    assert len(qshop.gateway.book.trades()) == 1
    assert qshop.consistent() == []


def test_unknown_queries_and_a_bad_answer_signature_do_not_lose_the_payment(qshop: QrShop) -> None:
    qshop.gateway.set_fault("bad_signature", times=1)  # the pay answer fails its signature
    qshop.gateway.set_fault("query_unknown", times=2)
    out = qshop.qr.pay(800, ALIPAY)
    assert out.result == "approved"
    assert len(qshop.gateway.book.trades()) == 1
    assert qshop.consistent() == []


def test_a_repeated_order_number_never_charges_twice(qshop: QrShop) -> None:
    out = qshop.qr.pay(500, WECHAT)
    body, _ = qshop.gateway.handle(
        "pay",
        qshop.qr.gateway.signed(
            {"out_trade_no": out.order.order, "total_amount": 500, "auth_code": WECHAT}
        ),
    )
    assert body["trade_state"] == "SUCCESS" and body["trade_no"] == out.order.trade_no
    other, _ = qshop.gateway.handle(
        "pay",
        qshop.qr.gateway.signed(
            {"out_trade_no": out.order.order, "total_amount": 900, "auth_code": WECHAT}
        ),
    )
    assert other["err_code"] == "OUT_TRADE_NO_USED"
    assert len(qshop.gateway.book.trades()) == 1


def test_unreachable_gateway_refuses_clearly_and_stores_nothing(tmp_path: Path) -> None:
    s = QrShop(tmp_path)
    s.server.stop()
    try:
        out = s.qr.pay(700, WECHAT)
        assert (out.result, out.code, out.order.state) == (
            "failed",
            "qr.unreachable",
            QrState.NOT_SENT,
        )
        assert "nothing is stored" in out.message("en")
        assert qrj.owed(s.terminal.journal) == []
    finally:
        s.terminal.close()


def test_an_order_in_doubt_at_start_is_cancelled_and_a_late_pay_is_refused(tmp_path: Path) -> None:
    s = QrShop(tmp_path)
    try:
        order = qrj.begin_order(
            s.terminal.journal,
            600,
            "CNY",
            tid="10000001",
            wallet="WECHATPAY",
            mode="scan",
            operator="",
        )
        s.terminal.close()
        s.terminal = build_terminal(s.cfg)  # the restart
        s.qr = s.terminal.qr
        assert qrj.get(s.terminal.journal, order.order).state == QrState.CANCEL_OWED
        assert s.qr.send_owed().acknowledged == 1
        assert qrj.get(s.terminal.journal, order.order).state == QrState.CANCELLED
        late, _ = s.gateway.handle(
            "pay",
            s.qr.gateway.signed(
                {"out_trade_no": order.order, "total_amount": 600, "auth_code": WECHAT}
            ),
        )
        assert late["err_code"] == "ORDERCLOSED"
        assert s.consistent() == []
    finally:
        s.close()


def test_partial_refunds_up_to_what_was_paid(qshop: QrShop) -> None:
    paid = qshop.qr.pay(1000, WECHAT).order
    first = qshop.qr.refund(paid.order, 300, approver=SUPERVISOR)
    assert (first.result, first.code, first.order.original) == (
        "approved",
        "qr.refunded",
        paid.order,
    )
    assert qshop.qr.refundable(paid.order) == 700
    too_much = qshop.qr.refund(paid.order, 701, approver=SUPERVISOR)
    assert (too_much.result, too_much.code) == ("refused", "qr.refund_too_much")
    assert qshop.qr.refund(paid.order, 700, approver=SUPERVISOR).result == "approved"
    assert qshop.trade(paid.order)["state"] == "REFUNDED"
    nothing = qshop.qr.refund(paid.order, 1, approver=SUPERVISOR)
    assert (nothing.result, nothing.code) == ("refused", "qr.nothing_left")


def test_todays_refundable_payments_are_newest_first_with_what_is_left(qshop: QrShop) -> None:
    first = qshop.qr.pay(1000, WECHAT).order
    second = qshop.qr.pay(500, ALIPAY).order
    gone = qshop.qr.pay(300, UNIONPAY).order
    qshop.qr.pay(1051, WECHAT)  # refused by the wallet (NOTENOUGH): never offered
    qshop.qr.refund(first.order, 400, approver=SUPERVISOR)
    qshop.qr.refund(gone.order, 300, approver=SUPERVISOR)
    listed = [(o.order, left) for o, left in qshop.qr.refundable_today()]
    assert listed == [(second.order, 500), (first.order, 600)]


def test_a_paid_order_is_found_by_its_number_or_the_end_of_todays(qshop: QrShop) -> None:
    paid = qshop.qr.pay(1000, WECHAT).order
    declined = qshop.qr.pay(1051, ALIPAY).order  # refused by the wallet: not a paid order
    assert qshop.qr.find_paid(paid.order).order == paid.order
    assert qshop.qr.find_paid(paid.order[2:]).order == paid.order  # the digits after QR
    assert qshop.qr.find_paid(paid.order[-6:]).order == paid.order  # the stub's sequence
    with pytest.raises(LookupError):
        qshop.qr.find_paid("999999")
    with pytest.raises(LookupError):
        qshop.qr.find_paid(declined.order[-6:])


def test_a_refund_the_gateway_never_got_returns_nothing_and_holds_nothing_back(
    tmp_path: Path,
) -> None:
    s = QrShop(tmp_path)
    try:
        paid = s.qr.pay(1000, WECHAT).order
        s.server.stop()
        out = s.qr.refund(paid.order, 400, approver=SUPERVISOR)
        assert (out.result, out.code, out.order.state) == (
            "failed",
            "qr.refund_unreachable",
            QrState.NOT_SENT,
        )
        assert "no money was returned" in out.message("en")
        assert qrj.owed(s.terminal.journal) == []
        assert s.qr.refundable(paid.order) == 1000
    finally:
        s.terminal.close()


@pytest.mark.parametrize("who", [CASHIER, TECHNICIAN, None], ids=["cashier", "technician", "none"])
def test_a_refund_without_a_supervisor_is_refused_before_anything_is_kept_or_sent(
    qshop: QrShop, who: Any
) -> None:
    paid = qshop.qr.pay(1000, WECHAT, operator="01").order
    with pytest.raises(RoleRefused) as refused:
        qshop.qr.refund(paid.order, 300, approver=who)
    assert refused.value.code == ("role.approval_missing" if who is None else "role.refused")
    assert [o.order for o in qrj.orders(qshop.terminal.journal)] == [paid.order]
    assert qshop.gateway.book.refunds() == []
    assert qshop.trade(paid.order)["state"] == "SUCCESS"
    assert qshop.qr.refundable(paid.order) == 1000
    trail = qshop.terminal.journal.audit_trail()
    assert not any(row["action"] == "qr_refund" for row in trail)


def test_a_refund_records_the_approving_supervisor_not_the_cashier(qshop: QrShop) -> None:
    paid = qshop.qr.pay(1000, WECHAT, operator="01").order
    out = qshop.qr.refund(paid.order, 300, approver=SUPERVISOR)
    assert (out.result, out.order.operator) == ("approved", SUPERVISOR.number)
    assert qrj.get(qshop.terminal.journal, out.order.order).operator == SUPERVISOR.number
    (refund,) = qshop.gateway.book.refunds()
    assert (refund["out_refund_no"], refund["status"]) == (out.order.order, "SUCCESS")
    acted = [
        (row["operator"], row["detail"])
        for row in qshop.terminal.journal.audit_trail()
        if row["action"] == "qr_refund"
    ]
    assert acted == [(SUPERVISOR.number, f"order {paid.order} refund {out.order.order} amount 300")]


def test_a_pending_refund_is_owed_until_final(qshop: QrShop) -> None:
    paid = qshop.qr.pay(1000, WECHAT).order
    qshop.gateway.set_fault("refund_pending", after=0.05, times=1)
    out = qshop.qr.refund(paid.order, 400, approver=SUPERVISOR)
    assert (out.result, out.code, out.order.state) == (
        "failed",
        "qr.refund_owed",
        QrState.REFUND_OWED,
    )
    threading.Event().wait(0.1)
    report = qshop.qr.send_owed()
    assert report.acknowledged == 1
    assert qrj.get(qshop.terminal.journal, out.order.order).state == QrState.SUCCESS
    refunds = qshop.gateway.book.refunds()
    assert len(refunds) == 1 and refunds[0]["status"] == "SUCCESS"


def test_merchant_presented_code_is_paid_when_the_customer_scans(qshop: QrShop) -> None:
    shown: list[str] = []

    def on_code(url: str, order: Any) -> None:
        shown.append(url)
        qshop.gateway.customer_scans(order.order, "ALIPAY")

    out = qshop.qr.show(900, on_code=on_code)
    assert out.result == "approved" and out.order.wallet == "ALIPAY"
    assert shown and shown[0].startswith("http://127.0.0.1:")


def test_merchant_presented_code_expires_with_a_cancel(qshop: QrShop) -> None:
    out = qshop.qr.show(900)
    assert out.result == "cancelled"
    assert qshop.trade(out.order.order)["state"] == "CLOSED"


def test_the_link_worker_forwards_owed_qr_cancels(qshop: QrShop) -> None:
    from appliance.services.link_monitor import LinkWorker

    qshop.gateway.set_fault("userpaying", after=None, times=1)
    qshop.gateway.set_fault("cancel_fails", times=1)
    out = qshop.qr.pay(400, WECHAT)
    assert out.order.state == QrState.CANCEL_OWED
    qrj.attempt_failed(
        qshop.terminal.journal, out.order.order, "test", qshop.terminal.journal.clock()
    )
    worker = LinkWorker(qshop.terminal, interval=3600)
    worker.tick()
    assert worker.qr_forwards == 1
    assert qrj.get(qshop.terminal.journal, out.order.order).state == QrState.CANCELLED


def test_a_paid_order_and_a_refund_queue_stubs_without_the_code(qshop: QrShop) -> None:
    import json

    from appliance.domain.receipt_data import from_data
    from appliance.domain.receipts import document_to_text

    paid = qshop.qr.pay(1250, WECHAT).order
    refund = qshop.qr.refund(paid.order, 250, approver=SUPERVISOR).order
    jobs = {j.what: j for j in qshop.terminal.receipts.jobs()}
    assert f"qr_payment merchant {paid.order}" in jobs
    assert f"qr_refund merchant {refund.order}" in jobs
    job = jobs[f"qr_payment merchant {paid.order}"]
    text = document_to_text(from_data(job.document), 32)
    for want in (paid.order, paid.trade_no, paid.payer, "12.50"):
        assert want in text
    assert WECHAT not in text and WECHAT not in json.dumps(job.document)
