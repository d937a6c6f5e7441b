"""The kernel's pure decisions: TVR bits, processing restrictions, CVM, limits, offline.

Nothing here talks to a card: each function takes the data objects already read (tag hex →
value) and the terminal's parameters, and returns what EMV says the terminal must do.
References: EMV Book 3 §10.4 (processing restrictions), §10.5 and Annex C3 (CVM list and
results), Annex C5 (TVR); Book 4 Annex A1 (terminal type 9F35) and A2 (capabilities 9F33);
Book C-2 (Mastercard) and C-3 (Visa, TTQ 9F66 / CTQ 9F6C).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

# TVR (95), Book 3 Annex C5: name → (byte index, bit mask).
TVR_BITS: dict[str, tuple[int, int]] = {
    "oda_not_performed": (0, 0x80),
    "sda_failed": (0, 0x40),
    "icc_data_missing": (0, 0x20),
    "exception_file": (0, 0x10),
    "dda_failed": (0, 0x08),
    "cda_failed": (0, 0x04),
    "different_app_versions": (1, 0x80),
    "expired": (1, 0x40),
    "not_yet_effective": (1, 0x20),
    "service_not_allowed": (1, 0x10),
    "new_card": (1, 0x08),
    "cvm_not_successful": (2, 0x80),
    "unrecognised_cvm": (2, 0x40),
    "pin_try_limit_exceeded": (2, 0x20),
    "pin_pad_absent": (2, 0x10),
    "pin_not_entered": (2, 0x08),
    "online_pin_entered": (2, 0x04),
    "floor_limit_exceeded": (3, 0x80),
    "lower_offline_limit_exceeded": (3, 0x40),
    "upper_offline_limit_exceeded": (3, 0x20),
    "random_online": (3, 0x10),
    "merchant_forced_online": (3, 0x08),
    "default_tdol": (4, 0x80),
    "issuer_auth_failed": (4, 0x40),
    "script_failed_before_final_ac": (4, 0x20),
    "script_failed_after_final_ac": (4, 0x10),
}

# Schemes whose kernels run here; every limit table has exactly these keys.
KERNEL_SCHEMES = ("VISA", "MASTERCARD", "UNIONPAY")

# Terminal application version (9F09) per kernel, compared with the card's 9F08:
# Visa VIS 1.5 = 0x0096, Mastercard M/Chip = 0x0002, UnionPay PBOC 3.0 = 0x0030.
APP_VERSIONS: dict[str, bytes] = {
    "VISA": bytes.fromhex("0096"),
    "MASTERCARD": bytes.fromhex("0002"),
    "UNIONPAY": bytes.fromhex("0030"),
}

# CVM results (9F34) this terminal writes: CVM code, condition, result (Book 3 Annex A4).
CVM_NO_CVM = bytes.fromhex("1F0002")  # no CVM required, successful
CVM_SIGNATURE = bytes.fromhex("1E0000")  # signature (paper), result unknown until signed
CVM_CDCVM = bytes.fromhex("010002")  # consumer device CVM (C-2 §7.5 uses code 01 here)
CVM_FAILED = bytes.fromhex("3F0001")  # no CVM performed, failed

# TVR bits that refuse store-and-forward unless configured otherwise.
DEFAULT_DENY_OFFLINE = (
    "icc_data_missing",
    "different_app_versions",
    "expired",
    "not_yet_effective",
    "service_not_allowed",
    "cvm_not_successful",
    "pin_pad_absent",
    "floor_limit_exceeded",
)


@dataclass(frozen=True)
class SchemeLimits:
    """One scheme's reader limits in minor units (EMV Book A/C-x "Reader ... Limit")."""

    contactless: int  # above: not accepted contactless at all
    cvm: int  # above: cardholder verification required (免密免签 line)
    floor: int  # above: the transaction must go online (TVR "exceeds floor limit")


# A Chinese acquirer's usual settings in CNY: 1,000.00 免密免签 (the UnionPay/PBOC small
# amount no-PIN-no-signature line since 2018), 500.00 offline floor, 10,000.00 contactless.
DEFAULT_LIMITS: Mapping[str, SchemeLimits] = MappingProxyType(
    {scheme: SchemeLimits(1_000_000, 100_000, 50_000) for scheme in KERNEL_SCHEMES}
)


@dataclass(frozen=True)
class KernelParams:
    """The terminal's kernel parameters (from config ``[emv]``)."""

    limits: Mapping[str, SchemeLimits] = field(default_factory=lambda: DEFAULT_LIMITS)
    signature: bool = True  # the merchant stub has a signature line the cardholder signs
    accept_offline_tc: bool = False  # store-and-forward the card's offline approval (TC)
    deferred_arqc: bool = False  # store an ARQC the host could not be sent (deferred auth)
    deny_offline: frozenset[str] = frozenset(DEFAULT_DENY_OFFLINE)

    def limits_for(self, scheme: str) -> SchemeLimits:
        """The limits of ``scheme``."""
        return self.limits.get(scheme.upper(), DEFAULT_LIMITS["VISA"])

    def max_contactless(self) -> int:
        """The highest contactless limit of any scheme (the pre-tap check)."""
        return max((lim.contactless for lim in self.limits.values()), default=0)

    @property
    def terminal_type(self) -> bytes:
        """9F35 (Book 4 Annex A1): 21 attended online-only merchant terminal; 22 (offline
        with online capability) when store-and-forward of a TC or a deferred ARQC is on."""
        return bytes.fromhex("22" if self.accept_offline_tc or self.deferred_arqc else "21")

    @property
    def capabilities(self) -> bytes:
        """9F33 (Book 4 Annex A2): no manual/magstripe/contact entry; CVM: signature (when
        the stub has a signature line) and no CVM; no SDA/DDA/CDA, no card capture."""
        return bytes([0x00, 0x28 if self.signature else 0x08, 0x00])


def tvr_bytes(names: Iterable[str]) -> bytes:
    """The 5-byte TVR with the named bits set (unknown names are a bug: KeyError)."""
    out = bytearray(5)
    for name in names:
        index, mask = TVR_BITS[name]
        out[index] |= mask
    return bytes(out)


def tvr_names(tvr: bytes) -> list[str]:
    """The names of the bits set in ``tvr``, in TVR order."""
    return [n for n, (i, m) in TVR_BITS.items() if i < len(tvr) and tvr[i] & m]


def _yymmdd(raw: bytes, *, end_of_month: bool) -> date | None:
    digits = raw.hex()
    if len(digits) not in (4, 6) or not digits.isdigit():
        return None
    yy, mm = int(digits[:2]), int(digits[2:4])
    year = 2000 + yy if yy < 50 else 1900 + yy  # Book 3 §10.4.3: YY < 50 is 20YY
    if not 1 <= mm <= 12:
        return None
    last = calendar.monthrange(year, mm)[1]
    day = int(digits[4:6]) if len(digits) == 6 else (last if end_of_month else 1)
    if not 1 <= day <= last:
        return None
    return date(year, mm, day)


def expiry_date(card: Mapping[str, bytes], track2_expiry: str | None) -> date | None:
    """The application expiration date: 5F24, else the YYMM of track 2 (end of month)."""
    if "5F24" in card:
        return _yymmdd(card["5F24"], end_of_month=True)
    if track2_expiry:
        return _yymmdd(bytes.fromhex(track2_expiry), end_of_month=True)
    return None


def processing_restrictions(
    card: Mapping[str, bytes],
    *,
    today: date,
    scheme: str,
    track2_expiry: str | None,
    country_numeric: str,
    txn_type: str,
    usage_checks: bool = True,
) -> set[str]:
    """Book 3 §10.4: application version, usage control, effective and expiry dates.

    ``usage_checks`` False leaves out the version and usage-control checks: C-3 (and qPBOC)
    readers check only the dates; C-2 (Mastercard) checks all four.
    """
    bits: set[str] = set()
    icc_version = card.get("9F08")
    if usage_checks and icc_version is not None and icc_version != APP_VERSIONS.get(scheme):
        bits.add("different_app_versions")
    expires = expiry_date(card, track2_expiry)
    if expires is not None and today > expires:
        bits.add("expired")
    if "5F25" in card:
        effective = _yymmdd(card["5F25"], end_of_month=False)
        if effective is not None and today < effective:
            bits.add("not_yet_effective")
    auc = card.get("9F07")
    if usage_checks and auc is not None and len(auc) == 2 and txn_type == "00":
        issuer_country = card.get("5F28", b"").hex().lstrip("0")
        domestic = issuer_country == country_numeric.lstrip("0")
        # Byte 1: b6/b4 domestic goods/services, b5/b3 international, b1 non-ATM terminals.
        allowed = auc[0] & (0x28 if domestic else 0x14) and auc[0] & 0x01
        if not allowed:
            bits.add("service_not_allowed")
    return bits


@dataclass(frozen=True)
class CvmResult:
    """The CVM the terminal settled on, its 9F34 value, and TVR bits it sets."""

    method: str  # no_cvm | signature | cdcvm | failed
    results: bytes
    tvr: frozenset[str] = frozenset()
    refusal: str | None = None  # message code when the terminal must refuse the payment


def _failed(code: str, *bits: str) -> CvmResult:
    return CvmResult("failed", CVM_FAILED, frozenset(("cvm_not_successful", *bits)), code)


def cvm_visa(ctq: bytes | None, *, cvm_required: bool, signature: bool) -> CvmResult:
    """Book C-3 (and qPBOC, which follows it): the card's CTQ 9F6C decides the CVM."""
    b1 = ctq[0] if ctq else 0
    b2 = ctq[1] if ctq and len(ctq) > 1 else 0
    if b1 & 0x80:  # online PIN required: this terminal has no PIN pad
        return _failed("card.pin_required", "pin_pad_absent")
    if b2 & 0x80:  # consumer device CVM performed (phone or watch)
        return CvmResult("cdcvm", CVM_CDCVM)
    if b1 & 0x40:  # signature required
        return CvmResult("signature", CVM_SIGNATURE) if signature else _failed("card.cvm_failed")
    if cvm_required:
        # C-3: without a CTQ the reader falls back to signature when it supports one.
        if ctq is None and signature:
            return CvmResult("signature", CVM_SIGNATURE)
        return _failed("card.cvm_failed")
    return CvmResult("no_cvm", CVM_NO_CVM)


def cvm_mastercard(
    cvm_list: bytes | None,
    aip: bytes,
    *,
    amount: int,
    cvm_required: bool,
    signature: bool,
    card_currency: bytes | None,
    terminal_currency: str,
) -> CvmResult:
    """Book C-2 §7.5 with Book 3 §10.5 CVM list processing, for a terminal without a PIN pad.

    At or below the CVM required limit: no CVM. Above it: on-device verification when the
    AIP says the card supports it, else the first applicable rule of the CVM list (8E) that
    this terminal can do (signature if it prints a signature line, or "no CVM required").
    """
    if not cvm_required:
        return CvmResult("no_cvm", CVM_NO_CVM)
    if len(aip) >= 1 and aip[0] & 0x02:  # AIP b1b2: on device cardholder verification
        return CvmResult("cdcvm", CVM_CDCVM)
    if not cvm_list or len(cvm_list) < 10 or len(cvm_list) % 2:
        return _failed("card.cvm_failed", "icc_data_missing")
    x = int.from_bytes(cvm_list[0:4], "big")
    y = int.from_bytes(cvm_list[4:8], "big")
    same_currency = card_currency is not None and card_currency.hex().lstrip("0") == (
        terminal_currency.lstrip("0")
    )
    bits: set[str] = set()
    for i in range(8, len(cvm_list), 2):
        code, condition = cvm_list[i], cvm_list[i + 1]
        method, next_on_fail = code & 0x3F, bool(code & 0x40)
        supported = method == 0x1F or (method == 0x1E and signature)
        if condition == 0x00 or condition == 0x02:
            applies = True  # always / not cash, not cashback: a purchase
        elif condition == 0x03:
            applies = supported
        elif condition in (0x06, 0x07, 0x08, 0x09):
            limit = x if condition in (0x06, 0x07) else y
            below = condition in (0x06, 0x08)
            applies = same_currency and (amount < limit if below else amount > limit)
        else:
            applies = False  # cash, cashback, unattended: not what this terminal does
        if not applies:
            continue
        if method == 0x00:
            break  # "fail CVM processing"
        if method == 0x1F:
            return CvmResult("no_cvm", bytes([code, condition, 0x02]), frozenset(bits))
        if method == 0x1E and signature:
            return CvmResult("signature", bytes([code, condition, 0x00]), frozenset(bits))
        if method in (0x01, 0x02, 0x03, 0x04, 0x05):
            bits.add("pin_pad_absent")
        elif method != 0x1E:
            bits.add("unrecognised_cvm")
        if not next_on_fail:
            break
    if "pin_pad_absent" in bits:
        return CvmResult("failed", CVM_FAILED, frozenset(bits | {"cvm_not_successful"}),
                         "card.pin_required")  # fmt: skip
    return CvmResult("failed", CVM_FAILED, frozenset(bits | {"cvm_not_successful"}),
                     "card.cvm_failed")  # fmt: skip


def cryptogram_type(cid: int) -> str:
    """Book 3 §6.5.5.4: CID 9F27 bits 8-7: 00 AAC, 01 TC, 10 ARQC (11 is RFU: treat as AAC)."""
    return {0x00: "AAC", 0x40: "TC", 0x80: "ARQC"}.get(cid & 0xC0, "AAC")


def visa_cid_from_iad(iad: bytes) -> int | None:
    """A qVSDC card may leave 9F27 out: its CVR (IAD byte 4, bits 6-5 of CVR byte 2) says
    what the first GENERATE AC returned (VIS 1.5 CVR: 00 AAC, 01 TC, 10 ARQC)."""
    if len(iad) < 5 or iad[0] < 4:
        return None
    kind = (iad[4] >> 4) & 0x03
    return {0: 0x00, 1: 0x40, 2: 0x80}.get(kind)


@dataclass(frozen=True)
class OfflineRefusal:
    """Why a never-sent sale may not be stored for forwarding: a message code and params."""

    code: str
    params: dict[str, str] = field(default_factory=dict)


def offline_refusal(
    *,
    decision: str,
    requested: str,
    tvr: bytes,
    params: KernelParams,
) -> OfflineRefusal | None:
    """Whether a never-sent card payment may be stored for forwarding (None) or why not.

    Refused: an expired or not yet effective card; a card that declined (AAC); a card that
    asked for the issuer (ARQC although the terminal asked for an offline approval); a TC
    unless ``accept_offline_tc``; an ARQC the terminal asked for (the host became
    unreachable after the tap) unless ``deferred_arqc``; any TVR bit configured as
    "deny offline".
    """
    names = tvr_names(tvr)
    if "expired" in names or "not_yet_effective" in names:
        return OfflineRefusal("card.offline_expired")
    if decision == "TC":
        allowed = params.accept_offline_tc
    elif decision == "ARQC":
        allowed = requested == "ARQC" and params.deferred_arqc
    else:
        allowed = False
    if not allowed:
        return OfflineRefusal("card.offline_online_required")
    denied = [n for n in names if n in params.deny_offline]
    if denied:
        return OfflineRefusal("card.offline_tvr", {"bits": ", ".join(denied)})
    return None
