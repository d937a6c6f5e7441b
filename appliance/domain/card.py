"""Card data as read from the card, and the only ways it may be shown (PCI DSS 3.4.1)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Registered application provider IDs (first 10 hex digits of the AID) → scheme name.
SCHEMES_BY_RID: dict[str, str] = {
    "A000000003": "VISA",
    "A000000004": "MASTERCARD",
    "A000000333": "UNIONPAY",
    "A000000025": "AMEX",
    "A000000065": "JCB",
    "A000000152": "DISCOVER",
    "A000000324": "DISCOVER",
    "A000000277": "INTERAC",
}

ENTRY_CONTACTLESS_CHIP = "07"  # ISO 8583 POS entry mode 07x: contactless integrated circuit


def scheme_from_aid(aid: str) -> str:
    """Name the card scheme of an AID (hex) by its RID; "UNKNOWN" when not registered here."""
    return SCHEMES_BY_RID.get(aid.upper()[:10], "UNKNOWN")


def mask_pan(pan: str) -> str:
    """First six and last four digits, the rest as ``*`` (merchant stub, logs, journal)."""
    if len(pan) < 13:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def last4(pan: str) -> str:
    """Only the last four digits, e.g. ``**** 0119`` (customer copy)."""
    return "**** " + pan[-4:]


def luhn_ok(pan: str) -> bool:
    """True when ``pan`` is all digits and passes the Luhn check."""
    if not pan.isdigit() or not 12 <= len(pan) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class CardRead:
    """What one contactless read produced. Holds the full PAN: never log or print it.

    ``expiry`` is YYMM. ``emv_data`` is the TLV for ISO 8583 field 55. ``repr`` masks the PAN.
    """

    pan: str
    expiry: str
    aid: str
    label: str = ""
    scheme: str = "UNKNOWN"
    track2: str | None = None
    emv_data: bytes = b""
    entry_mode: str = ENTRY_CONTACTLESS_CHIP
    pan_sequence: str | None = None
    apdu_count: int = 0
    card_name: str = field(default="", compare=False)  # mock profile name, for tests and demo
    kernel: str = ""  # visa-qvsdc | mastercard | unionpay-qpboc
    decision: str = ""  # the card's cryptogram: ARQC (go online), TC (offline), AAC (declined)
    requested: str = ""  # what the terminal asked the card for: ARQC (online) or TC (offline)
    tvr: str = ""  # terminal verification results (95), hex
    cvm: str = ""  # CVM results (9F34), hex
    cvm_method: str = ""  # no_cvm | signature | cdcvm
    expired: bool = False  # expired or not yet effective on the transaction date
    field55_tags: tuple[str, ...] = ()  # tags in emv_data, in order
    notes: tuple[str, ...] = ()  # what the kernel skipped or noticed (for technicians)

    @property
    def masked_pan(self) -> str:
        """The 6+4 masked PAN."""
        return mask_pan(self.pan)

    def __repr__(self) -> str:
        return (
            f"CardRead(pan={self.masked_pan!r}, scheme={self.scheme!r}, aid={self.aid!r}, "
            f"label={self.label!r}, kernel={self.kernel!r}, decision={self.decision!r}, "
            f"tvr={self.tvr!r}, cvm={self.cvm!r}, apdu_count={self.apdu_count})"
        )

    __str__ = __repr__


def signature_required(cvm_results: str) -> bool:
    """True when CVM results (9F34, hex) name a CVM that includes a paper signature.

    Book 3 Annex C3: method 1E is signature; 03 and 05 are PIN plus signature.
    """
    if len(cvm_results) < 2:
        return False
    try:
        method = int(cvm_results[:2], 16) & 0x3F
    except ValueError:
        return False
    return method in (0x1E, 0x03, 0x05)
