"""Batch totals, settlement states and the daily timetable (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.domain.settlement import (
    SettleState,
    batch_totals,
    check_settle_transition,
    settlement_due,
    totals_from_dict,
    totals_to_dict,
    unrated_schemes,
    upload_items,
    upload_stan,
)
from appliance.domain.transactions import Transaction, TxnState, TxnType
from appliance.errors import IllegalTransition

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
SH = ZoneInfo("Asia/Shanghai")


def txn(
    n: int,
    amount: int,
    type: TxnType = TxnType.SALE,
    state: TxnState = TxnState.APPROVED,
    *,
    scheme: str = "VISA",
    operator: str = "01",
    batch: int = 7,
) -> Transaction:
    t = T0 + timedelta(minutes=n)
    return Transaction(
        uuid=f"u{n:04d}",
        type=type,
        state=state,
        amount=amount,
        currency="CNY",
        stan=n,
        batch=batch,
        invoice=n,
        created_at=t,
        updated_at=t,
        transmitted_at=t,
        scheme=scheme,
        operator=operator,
    )


def test_totals_count_approved_sales_and_refunds_only() -> None:
    rows = [
        txn(1, 1000),
        txn(2, 2000, scheme="UNIONPAY", operator="02"),
        txn(3, 500, TxnType.REFUND),
        txn(4, 9999, state=TxnState.VOIDED),
        txn(5, 9999, TxnType.VOID),
        txn(6, 9999, state=TxnState.DECLINED),
        txn(7, 9999, state=TxnState.REVERSED),
        txn(8, 9999, state=TxnState.FORWARD_DECLINED),
        txn(9, 9999, state=TxnState.STORED),
        txn(10, 9999, state=TxnState.NOT_SENT),
        txn(11, 9999, batch=6),
    ]
    bt = batch_totals(rows, batch=7, currency="CNY", fees_bp={"VISA": 60, "unionpay": 38})
    t = bt.totals
    assert (t.sale_count, t.sale_amount, t.refund_count, t.refund_amount) == (2, 3000, 1, 500)
    visa = next(s for s in bt.schemes if s.scheme == "VISA")
    assert visa.fee == 6  # 0.60 % of 10.00, refunds carry no fee
    assert bt.gross == 2500
    assert bt.fees == 6 + 8  # 2000 * 38 bp = 7.6 → 8 (half up)
    assert bt.net == 2500 - 14
    assert {o.operator for o in bt.operators} == {"01", "02"}
    assert bt.opened_at == T0 + timedelta(minutes=1)


def test_a_forwarded_offline_sale_counts_once_approved() -> None:
    stored = txn(1, 1234, state=TxnState.STORED)
    assert batch_totals([stored], batch=7, currency="CNY", fees_bp={}).totals.sale_count == 0
    forwarded = txn(1, 1234, state=TxnState.APPROVED)
    forwarded.offline = True
    assert batch_totals([forwarded], batch=7, currency="CNY", fees_bp={}).totals.sale_count == 1


def test_upload_items_are_exactly_what_the_totals_count_in_a_stable_order() -> None:
    rows = [txn(3, 300, TxnType.REFUND), txn(1, 100), txn(2, 200, state=TxnState.VOIDED)]
    assert [t.stan for t in upload_items(rows)] == [1, 3]


def test_totals_survive_the_journal_round_trip() -> None:
    bt = batch_totals(
        [txn(1, 100), txn(2, 50, TxnType.REFUND)], batch=7, currency="CNY", fees_bp={"VISA": 60}
    )
    assert totals_from_dict(totals_to_dict(bt)) == bt


def test_schemes_without_a_rate_are_flagged() -> None:
    bt = batch_totals([txn(1, 100, scheme="JCB")], batch=7, currency="CNY", fees_bp={"VISA": 1})
    assert unrated_schemes(bt, {"VISA": 1}) == ["JCB"]
    assert bt.fees == 0


def test_upload_stans_wrap_from_999999_to_1() -> None:
    assert [upload_stan(999_998, i) for i in range(4)] == [999_998, 999_999, 1, 2]


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        (SettleState.OPEN, SettleState.TOTALS_SENT, True),
        (SettleState.TOTALS_SENT, SettleState.CLOSED, True),
        (SettleState.TOTALS_SENT, SettleState.UPLOADING, True),
        (SettleState.UPLOADING, SettleState.CLOSED, True),
        (SettleState.OPEN, SettleState.CLOSED, False),
        (SettleState.CLOSED, SettleState.TOTALS_SENT, False),
        (SettleState.CLOSED, SettleState.CLOSED, False),
    ],
)
def test_settlement_state_transitions(old: SettleState, new: SettleState, ok: bool) -> None:
    if ok:
        check_settle_transition(old, new)
    else:
        with pytest.raises(IllegalTransition):
            check_settle_transition(old, new)


def local(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=SH)


AT = time(23, 30)


def test_not_due_before_the_time_or_with_an_empty_batch() -> None:
    assert not settlement_due(local(22, 23, 0), AT, SH, local(21, 23, 31), True)
    assert not settlement_due(local(22, 23, 45), AT, SH, None, False)


def test_due_once_the_time_has_passed_today() -> None:
    assert settlement_due(local(22, 23, 30), AT, SH, local(21, 23, 31), True)
    assert not settlement_due(local(22, 23, 50), AT, SH, local(22, 23, 40), True)


def test_a_settlement_missed_while_powered_off_runs_at_the_next_call() -> None:
    # last settled two nights ago; powered on this morning before today's time
    assert settlement_due(local(22, 8, 0), AT, SH, local(20, 23, 31), True)


def test_a_manual_settlement_at_noon_does_not_stop_the_evening_one() -> None:
    assert settlement_due(local(22, 23, 40), AT, SH, local(22, 12, 0), True)


def test_the_timezone_of_the_shop_decides_the_day() -> None:
    # 16:00 UTC is 00:00 in Shanghai: yesterday's 23:30 has passed
    now = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert settlement_due(now, AT, SH, datetime(2026, 11, 22, 15, 0, tzinfo=UTC), True)
    assert not settlement_due(now, AT, SH, datetime(2026, 11, 22, 15, 45, tzinfo=UTC), True)
