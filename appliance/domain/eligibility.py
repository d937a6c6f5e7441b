"""Which sales may still be voided or refunded, and for how much: pure rules, no I/O.

The terminal's services refuse by these rules where the state changes; the touchscreen asks
the same rules (through the services) before it offers a void or takes a refund amount.

- **Void** (撤销, same batch): only an approved sale of the open batch, with no void or refund
  approved or in doubt against it. A voided sale is already voided; a sale with a (partial)
  refund can no longer be voided, only refunded further.
- **Refund** (退货, any later day): only an approved sale (a voided one has nothing to refund),
  for at most what is left: the sale's amount less every refund approved or in doubt
  (PENDING, REVERSAL_OWED): an in-doubt refund may have been booked by the host.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from appliance.domain.transactions import Transaction, TxnState, TxnType

# A follow-up (void or refund) in these states was, or may have been, booked by the host.
BOOKED_OR_IN_DOUBT = frozenset({TxnState.APPROVED, TxnState.PENDING, TxnState.REVERSAL_OWED})


class VoidRefusal(StrEnum):
    """Why a sale cannot be voided."""

    NOT_A_SALE = "not_a_sale"
    ALREADY_VOIDED = "already_voided"
    NOT_APPROVED = "not_approved"
    OTHER_BATCH = "other_batch"  # an earlier batch: it can only be refunded
    HAS_FOLLOW_UP = "has_follow_up"  # a void or (partial) refund is approved or in doubt


class RefundRefusal(StrEnum):
    """Why a sale cannot be refunded (by this amount)."""

    NOT_A_SALE = "not_a_sale"
    NOT_APPROVED = "not_approved"  # declined, voided, reversed, still pending, stored…
    REFUNDED_IN_FULL = "refunded_in_full"
    OVER_REMAINING = "over_remaining"  # more than is left to refund
    NOT_POSITIVE = "not_positive"


@dataclass(frozen=True)
class RefundCheck:
    """A refund decision: the refusal (None: allowed) and what is left to refund."""

    refusal: RefundRefusal | None
    remaining: int


def refunded(sale: Transaction, follow_ups: Iterable[Transaction]) -> int:
    """What refunds approved or in doubt already take from ``sale`` (minor units)."""
    return sum(
        t.amount
        for t in follow_ups
        if t.original_uuid == sale.uuid
        and t.type == TxnType.REFUND
        and t.state in BOOKED_OR_IN_DOUBT
    )


def remaining_refundable(sale: Transaction, follow_ups: Iterable[Transaction]) -> int:
    """What is left to refund of ``sale`` (never below zero)."""
    return max(0, sale.amount - refunded(sale, follow_ups))


def void_refusal(
    sale: Transaction, follow_ups: Iterable[Transaction], *, open_batch: int
) -> VoidRefusal | None:
    """Why ``sale`` cannot be voided now (None: it can). ``follow_ups`` are the voids and
    refunds that name it as their original."""
    if sale.type != TxnType.SALE:
        return VoidRefusal.NOT_A_SALE
    if sale.state == TxnState.VOIDED:
        return VoidRefusal.ALREADY_VOIDED
    if sale.state != TxnState.APPROVED:
        return VoidRefusal.NOT_APPROVED
    if sale.batch != open_batch:
        return VoidRefusal.OTHER_BATCH
    if any(t.original_uuid == sale.uuid and t.state in BOOKED_OR_IN_DOUBT for t in follow_ups):
        return VoidRefusal.HAS_FOLLOW_UP
    return None


def refund_check(
    sale: Transaction, follow_ups: Iterable[Transaction], amount: int | None = None
) -> RefundCheck:
    """May ``sale`` be refunded (by ``amount``, when given)? With what is left to refund."""
    ups = list(follow_ups)
    left = remaining_refundable(sale, ups)
    refusal: RefundRefusal | None = None
    if sale.type != TxnType.SALE:
        refusal, left = RefundRefusal.NOT_A_SALE, 0
    elif sale.state != TxnState.APPROVED:
        refusal, left = RefundRefusal.NOT_APPROVED, 0
    elif left <= 0:
        refusal = RefundRefusal.REFUNDED_IN_FULL
    elif amount is not None and amount <= 0:
        refusal = RefundRefusal.NOT_POSITIVE
    elif amount is not None and amount > left:
        refusal = RefundRefusal.OVER_REMAINING
    return RefundCheck(refusal, left)
