"""QR payments in the X/Z reports, the acquirer's statement and the reconciliation, with the
card side running beside them in the same shop (one ledger file for both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from appliance.domain.receipts import document_to_text
from appliance.services.reconcile import Reconciler
from appliance.services.settlement import Settlement
from appliance.sim.acquirer.statement import statement_lines, statement_text
from appliance.sim.shop import qr_gateway_for
from tests.shop import SUPERVISOR, Shop, open_shop

QR = {"qr": {"query_interval": 0.02, "query_limit": 0.2, "timeout": 1.0}}


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Shop, Any]]:
    shop = open_shop(tmp_path, settings=QR)
    server = qr_gateway_for(shop.cfg).start()
    shop.terminal.sign_on("01")
    yield shop, server.gateway
    shop.close()
    server.stop()


def busy_day(shop: Shop, gateway: Any) -> dict[str, Any]:
    term, qr = shop.terminal, shop.terminal.qr
    assert term.sale(1000, operator="01").result == "approved"
    wechat = qr.pay(2000, "134567890123456789", operator="01").order
    alipay = qr.pay(3000, "289431869362714645", operator="01").order
    assert qr.refund(wechat.order, 500, approver=SUPERVISOR).result == "approved"
    gateway.set_fault("userpaying", after=None, times=1)
    gateway.set_fault("cancel_fails", times=5)
    owed = qr.pay(700, "6212345678901234567", operator="01").order
    return {"wechat": wechat, "alipay": alipay, "owed": owed}


def test_x_and_z_slips_show_qr_wallet_lines_apart_from_the_card_totals(
    both: tuple[Shop, Any],
) -> None:
    shop, gateway = both
    busy_day(shop, gateway)
    st = Settlement(shop.terminal)
    summary = st.open_summary()
    assert summary["sale_amount"] == 1000  # the card host balances cards only
    qr = {s["scheme"]: s for s in summary["qr_schemes"]}
    assert qr["WECHATPAY"] == {
        "scheme": "WECHATPAY",
        "sale_count": 1,
        "sale_amount": 2000,
        "refund_count": 1,
        "refund_amount": 500,
    }
    assert qr["ALIPAY"]["sale_amount"] == 3000 and "UNIONPAYQR" not in qr  # not paid
    x = document_to_text(st.x_document(), 48)
    assert "QR PAYMENTS" in x and "微信支付" in x and "支付宝" in x and "45.00" in x
    out = st.settle(approver=SUPERVISOR)
    assert out.record.result is not None and out.record.result.value == "balanced"
    z = document_to_text(st.z_document(out.record.batch), 48)
    assert "BALANCED" in z and "QR PAYMENTS" in z and "WeChat Pay" in z


def test_the_statement_lists_qr_lines_and_reconciliation_finds_one_sided_qr_cases(
    both: tuple[Shop, Any],
) -> None:
    shop, gateway = both
    orders = busy_day(shop, gateway)
    day = datetime.now(UTC).date()
    fees = shop.cfg.settlement.fees_bp
    lines = statement_lines(shop.acquirer.books, day, fees)
    schemes = sorted(line["scheme"] for line in lines)
    assert schemes == ["ALIPAY", "VISA", "WECHATPAY", "WECHATPAY"]  # the refund line too
    clean = Reconciler(shop.terminal).reconcile_text(statement_text(shop.acquirer.books, day, fees))
    assert clean.clean, clean.as_dict()
    assert clean.matched_count == 4
    assert clean.stated_net == clean.expected_net
    # The owed cancel's customer confirms before the cancel gets through: charged while owed.
    gateway.customer_scans(orders["owed"].order, "UNIONPAYQR")
    text = statement_text(shop.acquirer.books, day, fees)
    r = Reconciler(shop.terminal).reconcile_text(text)
    kinds = {d.kind: d for d in r.discrepancies}
    assert set(kinds) == {"qr_cancel_owed"}
    d = kinds["qr_cancel_owed"]
    assert (d.trace, d.terminal_state, d.scheme) == (
        orders["owed"].order,
        "cancel_owed",
        "UNIONPAYQR",
    )
    assert d.rrn and d.advice[0].startswith("A QR payment whose cancel is still owed")
