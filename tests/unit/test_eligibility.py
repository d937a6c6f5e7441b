"""Void and refund eligibility: which sales may still be voided or refunded, and for how much."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.eligibility import (
    RefundRefusal,
    VoidRefusal,
    refund_check,
    remaining_refundable,
    void_refusal,
)
from appliance.domain.transactions import Transaction, TxnState, TxnType

T = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def txn(
    type: TxnType = TxnType.SALE,
    state: TxnState = TxnState.APPROVED,
    amount: int = 10_000,
    *,
    uuid: str = "sale",
    batch: int = 7,
    original: str | None = None,
) -> Transaction:
    return Transaction(
        uuid=uuid,
        type=type,
        state=state,
        amount=amount,
        currency="CNY",
        stan=12,
        batch=batch,
        invoice=1,
        created_at=T,
        updated_at=T,
        transmitted_at=T,
        original_uuid=original,
    )


def refund(amount: int, state: TxnState = TxnState.APPROVED, n: int = 1) -> Transaction:
    return txn(TxnType.REFUND, state, amount, uuid=f"refund{n}", original="sale")


def test_an_approved_sale_of_the_open_batch_can_be_voided() -> None:
    assert void_refusal(txn(), [], open_batch=7) is None


@pytest.mark.parametrize(
    ("sale", "follow_ups", "why"),
    [
        (txn(TxnType.REFUND, original="x"), [], VoidRefusal.NOT_A_SALE),
        (txn(state=TxnState.VOIDED), [], VoidRefusal.ALREADY_VOIDED),
        (txn(state=TxnState.DECLINED), [], VoidRefusal.NOT_APPROVED),
        (txn(state=TxnState.STORED), [], VoidRefusal.NOT_APPROVED),
        (txn(batch=6), [], VoidRefusal.OTHER_BATCH),
        (txn(), [refund(100)], VoidRefusal.HAS_FOLLOW_UP),  # partly refunded
        (txn(), [refund(100, TxnState.REVERSAL_OWED)], VoidRefusal.HAS_FOLLOW_UP),
        (
            txn(),
            [txn(TxnType.VOID, TxnState.PENDING, uuid="v", original="sale")],
            VoidRefusal.HAS_FOLLOW_UP,
        ),
    ],
)
def test_a_sale_that_cannot_be_voided_says_why(
    sale: Transaction, follow_ups: list[Transaction], why: VoidRefusal
) -> None:
    assert void_refusal(sale, follow_ups, open_batch=7) == why


def test_a_refund_that_failed_or_was_reversed_does_not_stop_a_void() -> None:
    ups = [refund(100, TxnState.DECLINED), refund(100, TxnState.REVERSED, 2)]
    assert void_refusal(txn(), ups, open_batch=7) is None


def test_refunds_approved_or_in_doubt_use_up_the_sale_and_failed_ones_do_not() -> None:
    ups = [
        refund(2_000),
        refund(1_000, TxnState.PENDING, 2),
        refund(500, TxnState.REVERSAL_OWED, 3),
        refund(4_000, TxnState.DECLINED, 4),
        refund(4_000, TxnState.NOT_SENT, 5),
        refund(4_000, TxnState.REVERSED, 6),
    ]
    check = refund_check(txn(), ups)
    assert check == refund_check(txn(), ups, 6_500)
    assert (check.refusal, check.remaining) == (None, 6_500)
    assert refund_check(txn(), ups, 6_501).refusal == RefundRefusal.OVER_REMAINING


@pytest.mark.parametrize(
    ("sale", "follow_ups", "amount", "why"),
    [
        (txn(TxnType.VOID, original="x"), [], 1, RefundRefusal.NOT_A_SALE),
        (txn(state=TxnState.VOIDED), [], 1, RefundRefusal.NOT_APPROVED),
        (txn(state=TxnState.REVERSED), [], 1, RefundRefusal.NOT_APPROVED),
        (txn(), [refund(10_000)], 1, RefundRefusal.REFUNDED_IN_FULL),
        (txn(), [refund(4_000)], 6_001, RefundRefusal.OVER_REMAINING),
        (txn(), [], 0, RefundRefusal.NOT_POSITIVE),
    ],
)
def test_a_refund_that_is_refused_says_why(
    sale: Transaction, follow_ups: list[Transaction], amount: int, why: RefundRefusal
) -> None:
    assert refund_check(sale, follow_ups, amount).refusal == why


def test_a_sale_of_an_earlier_batch_can_be_refunded() -> None:
    assert refund_check(txn(batch=1), [], 10_000).refusal is None


def test_refunds_of_another_sale_do_not_count() -> None:
    other = txn(TxnType.REFUND, amount=10_000, uuid="r", original="another sale")
    assert remaining_refundable(txn(), [other]) == 10_000


@given(st.lists(st.integers(1, 5_000), max_size=8), st.integers(1, 20_000))
def test_what_is_allowed_never_takes_more_than_the_sale(used: list[int], amount: int) -> None:
    ups = [refund(a, n=i) for i, a in enumerate(used)]
    check = refund_check(txn(), ups, amount)
    if check.refusal is None:
        assert sum(used) + amount <= 10_000
    else:
        assert check.refusal in (RefundRefusal.OVER_REMAINING, RefundRefusal.REFUNDED_IN_FULL)
        assert sum(used) + amount > 10_000
