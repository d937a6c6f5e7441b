"""Dialect-neutral host requests and responses: what the services say to the acquirer.

A dialect (``appliance/host/dialects``) maps these to and from ISO 8583 field dicts; the
services never see field numbers. Times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from appliance.domain.response_codes import lookup

if TYPE_CHECKING:
    from appliance.domain.card import CardRead


class MessageKind(StrEnum):
    """Every message the terminal originates."""

    SIGN_ON = "sign_on"  # 0800, network management code 001
    ECHO = "echo"  # 0800, network management code 301
    SALE = "sale"  # 0200, processing code 000000
    VOID = "void"  # 0200, processing code 020000 (iso87) / 200000 (cup)
    REFUND = "refund"  # 0200 200000 (iso87) / 0220 (cup)
    REVERSAL = "reversal"  # 0400 (0401 repeat), original STAN
    ADVICE = "advice"  # 0220 (0221 repeat): a payment stored offline
    SETTLEMENT = "settlement"  # 0500 with batch totals
    BATCH_UPLOAD = "batch_upload"  # 0320, one transaction of the batch
    BATCH_UPLOAD_END = "batch_upload_end"  # 0320 closing an upload (cup 60.3 = 202)


# Response codes that acknowledge a reversal: approved, invalid transaction, unable to locate.
REVERSAL_ACK_CODES = frozenset({"00", "12", "25"})


@dataclass(frozen=True)
class CardFields:
    """Card data carried in a financial request. Holds the full PAN: never log it."""

    pan: str
    expiry: str  # YYMM
    track2: str | None = None
    emv_data: bytes = b""
    entry_mode: str = "07"
    pan_sequence: str | None = None

    def __repr__(self) -> str:
        return f"CardFields(pan={self.pan[:6]}…{self.pan[-4:]})"

    @classmethod
    def of(cls, card: CardRead) -> CardFields:
        """The fields a request carries for a card read."""
        return cls(
            pan=card.pan,
            expiry=card.expiry,
            track2=card.track2,
            emv_data=card.emv_data,
            entry_mode=card.entry_mode,
            pan_sequence=card.pan_sequence,
        )


@dataclass(frozen=True)
class OriginalRef:
    """The transaction a void, refund, reversal or upload refers to."""

    kind: MessageKind
    stan: int
    transmitted_at: datetime
    amount: int
    rrn: str | None = None
    auth_code: str | None = None
    batch: int | None = None
    # POS entry mode of the original (two digits), carried by a batch upload without card data.
    entry_mode: str | None = None
    # False when the wire named only the original's date (cup field 61.3 MMDD), not its
    # field 7: the host then finds it by TID, STAN, batch and date.
    exact_time: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class SettlementTotals:
    """Batch totals sent in the 0500 (voided sales excluded)."""

    sale_count: int
    sale_amount: int
    refund_count: int
    refund_amount: int


@dataclass(frozen=True)
class HostRequest:
    """One request to the acquirer. ``(tid, stan, transmitted_at)`` is its idempotency key.

    ``transmitted_at`` is fixed when the request is first journaled and reused on every repeat
    (0401/0221), so the host recognises a repeat instead of acting twice.
    """

    kind: MessageKind
    tid: str
    mid: str
    stan: int
    transmitted_at: datetime
    repeat: bool = False
    amount: int | None = None
    currency: str = "156"  # ISO 4217 numeric
    card: CardFields | None = None
    original: OriginalRef | None = None
    batch: int | None = None
    totals: SettlementTotals | None = None
    operator: str | None = None
    # Why a reversal is sent (cup field 39): 98 no answer, A0 answer failed its MAC,
    # 96 answer unreadable, 06 outcome unknown for another reason.
    reason: str | None = None
    count: int | None = None  # transactions uploaded (batch upload end, cup field 48)


@dataclass(frozen=True)
class WorkingKeys:
    """Working keys from a sign-on, each encrypted under the TMK, with its check value (hex)."""

    pik: bytes
    pik_kcv: str
    mak: bytes
    mak_kcv: str


@dataclass(frozen=True)
class HostResponse:
    """One answer from the acquirer, already MAC-verified and content-validated."""

    kind: MessageKind
    tid: str
    stan: int
    response_code: str
    rrn: str | None = None
    auth_code: str | None = None
    host_time: datetime | None = None
    working_keys: WorkingKeys | None = None
    batch: int | None = None
    settlement_balanced: bool | None = None
    # The host's own batch totals in a 0510 (field 48), when the dialect carries them.
    host_totals: SettlementTotals | None = None
    # Field 7 as the answer echoed it (MMDDhhmmss), for matching the answer to its request;
    # None when the dialect or the host does not echo it.
    echoed_transmission: str | None = field(default=None, compare=False)
    # Fields the dialect does not use, kept as received (field number, value as decoded):
    # a tolerant reader logs them and acts on the fields it knows.
    extra_fields: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def approved(self) -> bool:
        """True when the response code is 00."""
        return self.response_code == "00"


def response_text(code: str, lang: str = "en") -> str:
    """The plain-words meaning of a response code in ``lang`` (the one table:
    ``appliance.domain.response_codes``)."""
    return lookup(code).meaning(lang)
