"""Transaction types, states and the transitions allowed between them.

The journal refuses any state change not listed in ``TRANSITIONS``: an illegal transition is a
bug and raises ``IllegalTransition``. States, and what each means for the money::

    PENDING         written before the request leaves; the outcome is not yet known
    APPROVED        the host approved it (a SALE may later become VOIDED)
    DECLINED        the host declined it; no money moved
    NOT_SENT        the request never left the terminal (no connection) and was not stored
    REVERSAL_OWED   sent but no valid answer (timeout, bad MAC, crash): a 0400 is owed
    REVERSED        the host acknowledged the reversal; no money moved
    STORED          approved offline within limits, awaiting forwarding as a 0220 advice
    FORWARD_DECLINED a stored payment the host declined when forwarded: collect from customer
    VOIDED          an approved sale cancelled by an approved void in the same batch
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from appliance.errors import IllegalTransition


class TxnType(StrEnum):
    """What the transaction does to the customer's money."""

    SALE = "sale"
    VOID = "void"
    REFUND = "refund"


class TxnState(StrEnum):
    """Where a transaction stands; see the module docstring."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    NOT_SENT = "not_sent"
    REVERSAL_OWED = "reversal_owed"
    REVERSED = "reversed"
    STORED = "stored"
    FORWARD_DECLINED = "forward_declined"
    VOIDED = "voided"


S = TxnState
TRANSITIONS: dict[TxnState, frozenset[TxnState]] = {
    S.PENDING: frozenset({S.APPROVED, S.DECLINED, S.NOT_SENT, S.REVERSAL_OWED, S.STORED}),
    S.APPROVED: frozenset({S.VOIDED, S.REVERSAL_OWED}),
    S.REVERSAL_OWED: frozenset({S.REVERSED}),
    S.STORED: frozenset({S.APPROVED, S.FORWARD_DECLINED}),
    S.DECLINED: frozenset(),
    S.NOT_SENT: frozenset(),
    S.REVERSED: frozenset(),
    S.FORWARD_DECLINED: frozenset(),
    S.VOIDED: frozenset(),
}

# States in which the customer's money has moved (or will, once forwarded).
MONEY_MOVED = frozenset({S.APPROVED, S.STORED, S.VOIDED})
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


def check_transition(old: TxnState, new: TxnState) -> None:
    """Raise ``IllegalTransition`` unless ``old → new`` is allowed."""
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"transaction state {old.value} → {new.value} is not allowed")


@dataclass
class Transaction:
    """One journal row as the domain sees it. ``masked_pan`` only; the full PAN never lives here.

    Times are timezone-aware UTC. ``original_uuid`` links a void or refund to its sale.
    """

    uuid: str
    type: TxnType
    state: TxnState
    amount: int
    currency: str  # ISO 4217 alpha
    stan: int
    batch: int
    invoice: int
    created_at: datetime
    updated_at: datetime
    transmitted_at: datetime  # ISO 8583 field 7 of the request: part of the idempotency key
    masked_pan: str = ""
    scheme: str = ""
    entry_mode: str = ""
    aid: str = ""
    label: str = ""
    rrn: str | None = None
    auth_code: str | None = None
    response_code: str | None = None
    original_uuid: str | None = None
    original_stan: int | None = None
    operator: str = ""
    offline: bool = False  # stored offline at some point (its stubs say so)
    note: str = ""
    decision: str = ""  # the card's cryptogram: ARQC, TC or AAC ("" for no card read)
    tvr: str = ""  # terminal verification results (95), hex
    cvm: str = ""  # CVM results (9F34), hex: the stub's signature line follows it
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def trace(self) -> str:
        """The STAN as printed on the stub (流水号/凭证号): six digits."""
        return f"{self.stan:06d}"
