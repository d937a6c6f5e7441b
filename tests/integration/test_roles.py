"""Roles like a 大POS, enforced in the services: a cashier cannot void, refund or settle, however
the call arrives; a supervisor's approval is what the journal and the audit log record."""

from __future__ import annotations

import pytest

from appliance.domain.roles import SCHEDULE, RoleRefused, allowed
from appliance.domain.transactions import TxnState
from appliance.messages import error_text
from appliance.operators import Operator, Role
from appliance.services.settlement import Settlement
from tests.shop import CASHIER, SUPERVISOR, Shop

TECHNICIAN = Operator("09", "Technician", Role.TECHNICIAN)


@pytest.mark.parametrize("who", [CASHIER, TECHNICIAN, None], ids=["cashier", "technician", "none"])
def test_void_refund_and_settle_refuse_anyone_but_a_supervisor(shop: Shop, who: object) -> None:
    sale = shop.terminal.sale(1200, operator="01").txn
    assert sale is not None
    with pytest.raises(RoleRefused) as void:
        shop.terminal.void(sale.stan, approver=who)  # type: ignore[arg-type]
    with pytest.raises(RoleRefused):
        shop.terminal.refund(100, trace=sale.stan, approver=who)  # type: ignore[arg-type]
    with pytest.raises(RoleRefused):
        Settlement(shop.terminal).settle(approver=who)  # type: ignore[arg-type]
    # Nothing moved: the sale stands, nothing was sent, the batch is still open.
    assert shop.terminal.journal.get(sale.uuid).state == TxnState.APPROVED
    assert [t.type.value for t in shop.terminal.transactions()] == ["sale"]
    assert void.value.code in ("role.refused", "role.approval_missing")
    zh = error_text(void.value, "zh_CN")
    assert "主管" in zh and not any(c.isascii() and c.isalpha() for c in zh)


def test_a_void_and_a_refund_record_the_approving_supervisor_not_the_cashier(shop: Shop) -> None:
    first = shop.terminal.sale(3000, operator="01").txn
    second = shop.terminal.sale(5000, operator="01").txn
    assert first is not None and second is not None
    void = shop.terminal.void(first.stan, approver=SUPERVISOR)
    refund = shop.terminal.refund(2000, trace=second.stan, approver=SUPERVISOR)
    assert (void.result, refund.result) == ("approved", "approved")
    assert void.txn is not None and refund.txn is not None
    assert (void.txn.operator, refund.txn.operator) == ("02", "02")
    trail = shop.terminal.journal.audit_trail()
    acted = {(row["action"], row["operator"]) for row in trail}
    assert ("void", "02") in acted and ("refund", "02") in acted
    assert not any(row["operator"] == "01" for row in trail if row["action"] in ("void", "refund"))


def test_the_schedule_may_settle_and_nothing_else() -> None:
    assert allowed(SCHEDULE, "settle")
    assert not allowed(SCHEDULE, "void") and not allowed(SCHEDULE, "refund")
    assert allowed(CASHIER, "sale") and allowed(CASHIER, "x_report")
    assert not allowed(CASHIER, "void") and not allowed(TECHNICIAN, "refund")


def test_a_settlement_records_its_supervisor(shop: Shop) -> None:
    shop.terminal.sale(1000, operator="01")
    rec = Settlement(shop.terminal).settle(approver=SUPERVISOR).record
    assert rec.operator == "02"
    assert any(
        r["action"] == "settle_cut" and r["operator"] == "02"
        for r in shop.terminal.journal.audit_trail()
    )
