"""The EMV contactless kernels, pure over a ``transceive(apdu) -> response`` callable.

Entry point selection (Book B): SELECT PPSE → the supported application with the best
priority (tag 87); its kernel is the PPSE entry's kernel identifier 9F2A where present, else
the one registered for its RID (2 Mastercard, 3 Visa, 7 UnionPay). Then per kernel:

- **Visa qVSDC (C-3) and UnionPay QuickPass/qPBOC (C-7, the same path):** SELECT AID → GPO
  with the PDOL (TTQ 9F66 built from the terminal's capabilities and limits) → READ RECORD
  per AFL. The card's cryptogram (9F26/9F27/9F36/9F10) and its CTQ 9F6C come in the GPO
  answer; the CTQ decides the CVM.
- **Mastercard (C-2):** SELECT AID → GPO → READ RECORD → processing restrictions and CVM →
  GENERATE AC with CDOL1 (8C) asking for an ARQC (or a TC when offline approval is allowed)
  → CID, AC, ATC and IAD from its answer (format 1, tag 80, or format 2, tag 77).

Processing restrictions, CVM and the TVR are decided in ``appliance.emv.risk``. The card's
decision is returned as-is (``CardRead.decision``): the services act on it. Offline data
authentication is not performed (TVR says so); records that only serve it may fail and are
skipped. ``read_emv`` raises only ``CardReadError`` (and subclasses, each with a message
code from ``appliance.emv.messages``) or ``ReaderOffline``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from appliance.domain.card import CardRead, luhn_ok, scheme_from_aid
from appliance.emv import risk
from appliance.emv.messages import english
from appliance.emv.tlv import TlvError, decode_flat, encode, parse_dol, split
from appliance.errors import CardReadError, ReaderOffline, UnsupportedCard

log = logging.getLogger(__name__)

Transceive = Callable[[bytes], bytes]

PPSE_NAME = b"2PAY.SYS.DDF01"
SELECT_PPSE = bytes.fromhex("00A404000E325041592E5359532E444446303100")
SW_OK = 0x9000
MAX_APDUS = 32  # a sane card needs ≤ 10; more means a loop (chained 61xx, retries)
MAX_RECORDS = 16  # AFL entries a real card uses are a handful
MAX_RESPONSE = 2048  # bytes of one answer including GET RESPONSE chaining
INTERNAL_ERROR = "card read error (internal); present the card again"

# Kernel identifiers (Book B §3.3.2.5) and the kernels this terminal runs.
KERNEL_MASTERCARD, KERNEL_VISA, KERNEL_UNIONPAY = 2, 3, 7
KERNEL_BY_RID = {
    "A000000004": KERNEL_MASTERCARD,
    "A000000003": KERNEL_VISA,
    "A000000333": KERNEL_UNIONPAY,
    "A000000025": 4,  # American Express
    "A000000065": 5,  # JCB
    "A000000152": 6,  # Discover
    "A000000324": 6,
}
KERNEL_NAMES = {
    KERNEL_MASTERCARD: "mastercard",
    KERNEL_VISA: "visa-qvsdc",
    KERNEL_UNIONPAY: "unionpay-qpboc",
}

# Tags of numeric (n) format are right-aligned when a card asks for another length.
_NUMERIC_TAGS = {"9F02", "9F03", "5F2A", "9F1A", "9A", "9C", "5F36", "9F41", "9F21"}

# ISO 8583 field 55, in this order, where a value exists.
FIELD55_TAGS = (
    "9F26", "9F27", "9F10", "9F37", "9F36", "95", "9A", "9C", "9F02", "5F2A",
    "82", "9F1A", "9F03", "9F33", "9F34", "9F35", "9F1E", "84", "9F09", "9F41",
    "9F66", "9F6C", "9F6E",
)  # fmt: skip
# Values the terminal supplies win over anything a card echoes back.
_TERMINAL_FIELD55 = {
    "9F37", "95", "9A", "9C", "9F02", "5F2A", "9F1A", "9F03", "9F33", "9F34", "9F35",
    "9F1E", "9F09", "9F66",
}  # fmt: skip
# Where the cryptogram data must come from the card (never a terminal default).
_CARD_ONLY = {"9F26", "9F27", "9F10", "9F36", "82", "9F6C", "9F6E"}

# GPO refusals in words (Book 3 §6.5.8, C-3 §5.2): status word → message code.
_GPO_REFUSALS = {
    0x6985: "card.gpo_conditions",  # conditions of use not satisfied
    0x6984: "card.gpo_blocked",  # referenced data invalidated
    0x6986: "card.gpo_not_allowed",  # command not allowed (phone locked, switch interface)
    0x6A81: "card.gpo_unsupported",  # function not supported
}


class TerminalData(Protocol):
    """What the terminal knows about the payment (``drivers.reader.base.ReadContext`` fits).

    Optional attributes read with defaults: ``online`` (bool, the host is believed
    reachable), ``params`` (``risk.KernelParams``), ``ifd_serial`` (str, 9F1E),
    ``txn_time`` (datetime, 9F21).
    """

    amount: int
    currency_numeric: str
    country_numeric: str
    txn_date: date | None
    txn_type: str


@dataclass(frozen=True)
class _Candidate:
    priority: int
    order: int
    aid: bytes
    label: str
    kernel: int


def fail(code: str, **params: Any) -> CardReadError:
    """A ``CardReadError`` with a message code; ``str`` is its English text, plus the
    technical ``why`` when given (for logs and technicians; screens use the code)."""
    text = english(code, params)
    if params.get("why"):
        text = f"{text} ({params['why']})"
    return CardReadError(text, code=code, params=params)


def _bcd(number: int | str, size: int) -> bytes:
    digits = str(number)
    if not digits.isdigit() or len(digits) > size * 2:
        raise CardReadError(f"card read error: terminal value {digits!r} does not fit n{size * 2}")
    return bytes.fromhex(digits.rjust(size * 2, "0"))


def _params(terminal: TerminalData) -> risk.KernelParams:
    params = getattr(terminal, "params", None)
    return params if isinstance(params, risk.KernelParams) else risk.KernelParams()


def build_ttq(params: risk.KernelParams, *, online: bool, cvm_required: bool) -> bytes:
    """TTQ 9F66 (C-3 Table 4-5) from the terminal's capabilities.

    Byte 1: qVSDC supported (b6); signature supported (b2) when the stub has a signature
    line; no MSD, no contact chip, no online PIN (no PIN pad), no ODA for online.
    Byte 2: online cryptogram required (b8) unless an offline approval may be stored;
    CVM required (b7) above the CVM required limit. Byte 3: consumer device CVM (b7).
    """
    b1 = 0x20 | (0x02 if params.signature else 0x00)
    b2 = (0x80 if online else 0x00) | (0x40 if cvm_required else 0x00)
    return bytes([b1, b2, 0x40, 0x00])


def terminal_values(terminal: TerminalData, unpredictable_number: bytes) -> dict[str, bytes]:
    """The terminal's data objects for the PDOL, CDOL1 and field 55 (tag hex → value)."""
    params = _params(terminal)
    when = terminal.txn_date or date.today()
    at = getattr(terminal, "txn_time", None)
    serial = (getattr(terminal, "ifd_serial", "") or "00000000")[:8].rjust(8, "0")
    return {
        "9F02": _bcd(terminal.amount, 6),
        "9F03": bytes(6),
        "5F2A": _bcd(terminal.currency_numeric, 2),
        "9F1A": _bcd(terminal.country_numeric, 2),
        "9A": _bcd(when.strftime("%y%m%d"), 3),
        "9F21": _bcd(at.strftime("%H%M%S") if isinstance(at, datetime) else "000000", 3),
        "9C": _bcd(terminal.txn_type, 1),
        "9F37": unpredictable_number,
        "9F66": build_ttq(params, online=True, cvm_required=False),
        "9F35": params.terminal_type,
        "9F33": params.capabilities,
        "9F1E": serial.encode("ascii", "replace"),
        "95": bytes(5),
        "9F34": risk.CVM_NO_CVM,
        "9F45": bytes(2),  # data authentication code: none (no SDA)
        "9F4C": bytes(8),  # ICC dynamic number: none (no CDA)
    }


def build_dol_data(dol: bytes, values: dict[str, bytes]) -> bytes:
    """Concatenate the values a DOL asks for, fitted to its lengths; unknown tags are zeros."""
    out = bytearray()
    for tag, length in parse_dol(dol):
        value = values.get(tag, b"")
        if len(value) == length:
            out += value
        elif tag in _NUMERIC_TAGS:
            # Numbers keep their low-order digits: pad or cut on the left.
            out += value[-length:].rjust(length, b"\x00") if length else b""
        else:
            out += value[:length].ljust(length, b"\x00")
    return bytes(out)


class _Card:
    """APDU exchange with status-word handling (61xx, 6Cxx, 6700) and an APDU count."""

    def __init__(self, transceive: Transceive) -> None:
        self._transceive = transceive
        self.count = 0

    def _raw(self, apdu: bytes) -> tuple[bytes, int]:
        self.count += 1
        if self.count > MAX_APDUS:
            raise CardReadError("card read error: the card keeps asking for more commands")
        response = self._transceive(apdu)
        if not isinstance(response, bytes | bytearray) or len(response) < 2:
            raise CardReadError("card read error: the card answered with no status")
        return bytes(response[:-2]), int.from_bytes(response[-2:], "big")

    def send(self, header: bytes, data: bytes = b"", le: int | None = 0) -> tuple[bytes, int]:
        """Send one command; returns (data, status word) after retries and GET RESPONSE."""

        def build(le_: int | None) -> bytes:
            apdu = header + (bytes([len(data)]) + data if data else b"")
            return apdu + (bytes([le_]) if le_ is not None else b"")

        body, sw = self._raw(build(le))
        if sw == 0x6700:
            # Wrong length: some cards want Le=00, others no Le at all. One retry.
            le = None if le == 0 else 0
            body, sw = self._raw(build(le))
        if sw >> 8 == 0x6C:
            # The card names the exact Le it wants.
            body, sw = self._raw(build(sw & 0xFF))
        while sw >> 8 == 0x61:
            more, sw = self._raw(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
            body += more
            if len(body) > MAX_RESPONSE:
                raise CardReadError("card read error: the card sent more data than expected")
        if len(body) > MAX_RESPONSE:
            raise CardReadError("card read error: the card sent more data than expected")
        return body, sw


def _status_error(step: str, sw: int) -> CardReadError:
    return CardReadError(
        f"card read error: {step} failed (status {sw:04X}); present it again",
        code="card.retry",
        params={"sw": f"{sw:04X}"},
    )


def _only(items: list[tuple[str, bytes]], tag: str, what: str) -> bytes:
    for item_tag, value in items:
        if item_tag == tag:
            return value
    raise TlvError(f"card read error: {what} lacks tag {tag}")


def _label(raw: bytes) -> str:
    text = raw.decode("ascii", errors="replace")
    return "".join(ch for ch in text if ch.isprintable() and ch != "\ufffd").strip()


def _kernel_of(aid: bytes, kernel_id: bytes) -> int | None:
    if kernel_id:
        # Book B: a first byte with b8-b7 = 00 is an international kernel number (1-63).
        first = kernel_id[0]
        return first & 0x3F if first & 0xC0 == 0 else None
    return KERNEL_BY_RID.get(aid.hex().upper()[:10])


def _candidates(ppse_fci: bytes) -> list[_Candidate]:
    fci = _only(split(ppse_fci, "PPSE answer"), "6F", "PPSE answer")
    prop = _only(split(fci, "PPSE answer"), "A5", "PPSE answer")
    directory = _only(split(prop, "PPSE answer"), "BF0C", "PPSE answer")
    found: list[_Candidate] = []
    for order, (tag, entry) in enumerate(split(directory, "PPSE directory")):
        if tag != "61":
            continue
        values = decode_flat(entry, "PPSE directory entry")
        aid = values.get("4F", b"")
        if not 5 <= len(aid) <= 16:
            continue
        prio_raw = values.get("87", b"")
        priority = prio_raw[0] & 0x0F if len(prio_raw) == 1 else 0
        kernel = _kernel_of(aid, values.get("9F2A", b"")) or 0
        # Priority 0 means "none given": after every ranked application.
        found.append(_Candidate(priority or 16, order, aid, _label(values.get("50", b"")), kernel))
    return sorted(found, key=lambda c: (c.priority, c.order))


def _afl_entries(afl: bytes) -> list[tuple[int, int, bool]]:
    """(SFI, record, used for offline data authentication) for every AFL record."""
    if len(afl) % 4 or not afl:
        raise TlvError("card read error: malformed file locator (AFL)")
    records: list[tuple[int, int, bool]] = []
    for i in range(0, len(afl), 4):
        sfi, first, last, oda = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
        if not 1 <= sfi <= 30 or first == 0 or last < first or oda > last - first + 1:
            raise TlvError("card read error: malformed file locator (AFL)")
        records.extend((sfi, rec, rec < first + oda) for rec in range(first, last + 1))
    if len(records) > MAX_RECORDS:
        raise CardReadError("card read error: the card lists more records than a payment card has")
    return records


def _merge(into: dict[str, bytes], values: dict[str, bytes]) -> None:
    for tag, value in values.items():
        # The first occurrence wins: a later record may not overwrite the PAN.
        into.setdefault(tag, value)


def _digits(raw: bytes) -> str:
    return raw.hex().upper().rstrip("F")


def _pan_and_expiry(card: dict[str, bytes]) -> tuple[str, str, str | None, str | None]:
    """PAN, expiry YYMM, track 2 and track 2's own YYMM."""
    track2 = _digits(card["57"]) if "57" in card else None
    pan = _digits(card["5A"]) if "5A" in card else None
    expiry = t2_expiry = None
    if track2 is not None:
        if "D" not in track2:
            raise CardReadError("card read error: malformed track 2 data")
        t2_pan, rest = track2.split("D", 1)
        if pan is not None and pan != t2_pan:
            raise CardReadError("card read error: the card's numbers disagree; present it again")
        pan = t2_pan
        expiry = t2_expiry = rest[:4] if len(rest) >= 4 else None
    if "5F24" in card:
        expiry = card["5F24"].hex()[:4]
    if pan is None:
        raise fail("card.unreadable", why="the card did not give its card number")
    if expiry is None or len(expiry) != 4 or not expiry.isdigit():
        raise fail("card.unreadable", why="the card did not give its expiry date")
    if not 1 <= int(expiry[2:]) <= 12:
        raise CardReadError("card read error: the card's expiry date is not a date")
    if not luhn_ok(pan):
        raise CardReadError("card read error: the card number failed its check digit")
    return pan, expiry, track2, t2_expiry


def _select_application(
    card: _Card, candidates: list[_Candidate]
) -> tuple[_Candidate, dict[str, bytes], str]:
    for cand in candidates:
        body, sw = card.send(bytes.fromhex("00A40400"), cand.aid, 0)
        if sw in (0x6A82, 0x6283, 0x6A81):
            continue  # application absent or blocked: try the next one
        if sw != SW_OK:
            raise _status_error("selecting the payment application", sw)
        fci = decode_flat(body, "application answer")
        return cand, fci, _label(fci.get("50", b"")) or cand.label
    raise UnsupportedCard(
        english("card.unsupported_kernel"), code="card.unsupported_kernel", params={}
    )


def _money(amount: int) -> str:
    return f"{amount // 100:,}.{amount % 100:02d}"


@dataclass
class _Session:
    """Everything one read gathered, passed between the kernel's steps."""

    card: _Card
    terminal: TerminalData
    params: risk.KernelParams
    values: dict[str, bytes]
    data: dict[str, bytes]
    notes: list[str]


def _gpo(s: _Session, pdol: bytes | None) -> bytes:
    pdol_data = build_dol_data(pdol, s.values) if pdol else b""
    if len(pdol_data) > 250:
        raise CardReadError("card read error: the card asks for too much terminal data")
    gpo_data = b"\x83" + bytes([len(pdol_data)]) + pdol_data
    body, sw = s.card.send(bytes.fromhex("80A80000"), gpo_data, 0)
    if sw in _GPO_REFUSALS:
        raise fail(_GPO_REFUSALS[sw], sw=f"{sw:04X}")
    if sw != SW_OK:
        raise _status_error("starting the payment on the card", sw)
    top = split(body, "processing options")
    if not top:
        raise TlvError("card read error: empty processing options")
    tag, value = top[0]
    if tag == "80":
        if len(value) < 2:
            raise TlvError("card read error: malformed processing options")
        s.data["82"] = value[:2]
        return value[2:]
    if tag == "77":
        _merge(s.data, decode_flat(body, "processing options"))
        if "82" not in s.data:
            raise TlvError("card read error: processing options lack the AIP (82)")
        return s.data.get("94", b"")
    raise TlvError("card read error: malformed processing options")


def _read_records(s: _Session, afl: bytes) -> None:
    if not afl:
        return
    for sfi, rec, oda in _afl_entries(afl):
        where = f"record {rec} of file {sfi}"
        body, sw = s.card.send(bytes([0x00, 0xB2, rec, (sfi << 3) | 4]), b"", 0)
        if sw != SW_OK:
            if oda:
                # Signed data for offline data authentication, which this terminal does not
                # perform: the payment does not need it.
                s.notes.append(f"skipped {where} (status {sw:04X}): only used for ODA")
                continue
            raise fail("card.unreadable", why=f"reading {where} failed (status {sw:04X})")
        parts = split(body, where)
        if len(parts) != 1 or parts[0][0] != "70":
            if oda:
                s.notes.append(f"skipped {where}: malformed, only used for ODA")
                continue
            raise TlvError(f"card read error: malformed {where}", code="card.unreadable")
        _merge(s.data, decode_flat(parts[0][1], where))


def _generate_ac(s: _Session, request: int) -> None:
    """Mastercard: GENERATE AC with CDOL1; the answer's CID/ATC/AC/IAD go into ``s.data``."""
    cdol1 = s.data.get("8C")
    if not cdol1:
        raise fail("card.unreadable", why="the card gave no CDOL1 (8C)")
    data = build_dol_data(cdol1, s.values)
    if len(data) > 250:
        raise CardReadError("card read error: the card asks for too much terminal data")
    body, sw = s.card.send(bytes([0x80, 0xAE, request, 0x00]), data, 0)
    if sw != SW_OK:
        raise fail("card.unreadable", why=f"GENERATE AC failed (status {sw:04X})")
    top = split(body, "GENERATE AC answer")
    if len(top) != 1:
        raise fail("card.unreadable", why="malformed GENERATE AC answer")
    tag, value = top[0]
    if tag == "80":  # format 1: CID (1) ATC (2) AC (8) IAD (0-32)
        if len(value) < 11:
            raise fail("card.unreadable", why="short GENERATE AC answer")
        answer = {"9F27": value[:1], "9F36": value[1:3], "9F26": value[3:11]}
        if len(value) > 11:
            answer["9F10"] = value[11:]
    elif tag == "77":
        answer = decode_flat(value, "GENERATE AC answer")
    else:
        raise fail("card.unreadable", why="malformed GENERATE AC answer")
    if "9F27" not in answer or "9F36" not in answer:
        raise fail("card.unreadable", why="GENERATE AC answer lacks CID or ATC")
    kind = risk.cryptogram_type(answer["9F27"][0])
    asked = risk.cryptogram_type(request)
    # Book 3 §9.3: a card may answer a lower cryptogram than asked (AAC < ARQC < TC only in
    # that TC may drop to ARQC or AAC, ARQC to AAC), never a higher one.
    order = {"AAC": 0, "ARQC": 1, "TC": 2}
    if order[kind] > order[asked]:
        raise fail("card.unreadable", why=f"the card answered {kind} to a request for {asked}")
    if kind != "AAC" and "9F26" not in answer:
        # Format 2 with CDA carries the AC only inside the signature (9F4B); not requested.
        raise fail("card.unreadable", why="GENERATE AC answer carries no clear cryptogram")
    for tag_ in ("9F27", "9F36", "9F26", "9F10", "9F6E"):
        if tag_ in answer:
            s.data[tag_] = answer[tag_]


def _read(transceive: Transceive, terminal: TerminalData, un: bytes) -> CardRead:
    card = _Card(transceive)
    body, sw = card.send(SELECT_PPSE[:4], PPSE_NAME, 0)
    if sw in (0x6A82, 0x6A81):
        raise UnsupportedCard(english("card.no_contactless"), code="card.no_contactless", params={})
    if sw != SW_OK:
        raise _status_error("selecting the payment directory", sw)
    every = _candidates(body)
    candidates = [c for c in every if c.kernel in KERNEL_NAMES]
    if not candidates:
        raise UnsupportedCard(
            english("card.unsupported_kernel"),
            code="card.unsupported_kernel",
            params={"aids": ",".join(c.aid.hex().upper() for c in every)},
        )
    cand, fci, label = _select_application(card, candidates)
    aid = cand.aid
    scheme = scheme_from_aid(aid.hex())
    if scheme not in risk.KERNEL_SCHEMES:
        scheme = {KERNEL_VISA: "VISA", KERNEL_MASTERCARD: "MASTERCARD"}.get(cand.kernel, "UNIONPAY")
    params = _params(terminal)
    limits = params.limits_for(scheme)
    amount = terminal.amount
    if amount > limits.contactless:
        raise fail(
            "card.over_contactless_limit", amount=_money(amount), limit=_money(limits.contactless)
        )
    cvm_required = amount > limits.cvm
    over_floor = amount > limits.floor
    # Ask the card for an offline approval only when the host is unreachable, offline
    # approvals are configured and the amount is within the floor limit.
    want_offline = (
        not getattr(terminal, "online", True) and params.accept_offline_tc and not over_floor
    )
    values = terminal_values(terminal, un)
    values["9F66"] = build_ttq(params, online=not want_offline, cvm_required=cvm_required)
    values["9F09"] = risk.APP_VERSIONS[scheme]
    s = _Session(card, terminal, params, values, {}, [])

    afl = _gpo(s, fci.get("9F38"))
    _read_records(s, afl)
    pan, expiry, track2, t2_expiry = _pan_and_expiry(s.data)
    data = s.data
    data.setdefault("84", fci.get("84", aid))

    today = terminal.txn_date or date.today()
    tvr: set[str] = {"oda_not_performed"}
    tvr |= risk.processing_restrictions(
        data,
        today=today,
        scheme=scheme,
        track2_expiry=t2_expiry,
        country_numeric=terminal.country_numeric,
        txn_type=terminal.txn_type,
        usage_checks=cand.kernel == KERNEL_MASTERCARD,
    )
    if over_floor:
        tvr.add("floor_limit_exceeded")

    if cand.kernel == KERNEL_MASTERCARD:
        cvm = risk.cvm_mastercard(
            data.get("8E"),
            data["82"],
            amount=amount,
            cvm_required=cvm_required,
            signature=params.signature,
            card_currency=data.get("9F42"),
            terminal_currency=terminal.currency_numeric,
        )
    else:
        cvm = risk.cvm_visa(data.get("9F6C"), cvm_required=cvm_required, signature=params.signature)
    tvr |= cvm.tvr
    if cvm.refusal is not None:
        raise fail(cvm.refusal, limit=_money(limits.cvm))
    values["9F34"] = cvm.results
    values["95"] = risk.tvr_bytes(tvr)

    if cand.kernel == KERNEL_MASTERCARD:
        denied = want_offline and any(b in params.deny_offline for b in tvr)
        _generate_ac(s, 0x40 if want_offline and not denied else 0x80)
        decision = risk.cryptogram_type(data["9F27"][0])
    else:
        cid = data["9F27"][0] if data.get("9F27") else None
        if cid is None and "9F10" in data:
            cid = risk.visa_cid_from_iad(data["9F10"])
        if cid is None or "9F36" not in data:
            raise fail("card.unreadable", why="the card returned no cryptogram")
        decision = risk.cryptogram_type(cid)
        if decision != "AAC" and "9F26" not in data:
            raise fail("card.unreadable", why="the card returned no cryptogram")
        if decision == "TC" and not want_offline:
            # We asked for an online cryptogram: a TC here breaks C-3; the issuer decides.
            s.notes.append("card answered TC to a request for an online cryptogram")
            decision = "ARQC"
        ctq = data.get("9F6C", b"\x00")
        if decision == "TC" and ctq[0] & 0x30:
            # CTQ b6/b5 "go online / switch interface if offline data authentication fails":
            # ODA is not performed here, so the offline approval cannot stand.
            s.notes.append("card wants ODA for an offline approval: not accepted offline")
            decision = "ARQC"
        if "9F27" not in data:
            # Derived from the IAD's CVR: field 55 carries the CID the decision came from.
            data["9F27"] = bytes([cid])

    field55: dict[str, bytes] = {}
    for tag in FIELD55_TAGS:
        if tag in _TERMINAL_FIELD55:
            value = values.get(tag)
            if tag == "9F66" and cand.kernel == KERNEL_MASTERCARD:
                value = None  # TTQ belongs to the Visa/UnionPay kernels
        elif tag in _CARD_ONLY:
            value = data.get(tag)
        else:
            value = data.get(tag, values.get(tag))
        if value is not None:
            field55[tag] = value
    seq = data.get("5F34")
    names = sorted(tvr, key=list(risk.TVR_BITS).index)
    return CardRead(
        pan=pan,
        expiry=expiry,
        aid=aid.hex().upper(),
        label=label,
        scheme=scheme,
        track2=track2,
        emv_data=encode(field55),
        pan_sequence=seq.hex() if seq and len(seq) == 1 else None,
        apdu_count=card.count,
        kernel=KERNEL_NAMES[cand.kernel],
        decision=decision,
        requested="TC" if want_offline else "ARQC",
        tvr=risk.tvr_bytes(names).hex().upper(),
        cvm=cvm.results.hex().upper(),
        cvm_method=cvm.method,
        expired="expired" in tvr or "not_yet_effective" in tvr,
        field55_tags=tuple(field55),
        notes=tuple(s.notes),
    )


def with_sequence_counter(emv_data: bytes, counter: int) -> bytes:
    """Field 55 with the transaction sequence counter 9F41 (the request's STAN) set."""
    values = {tag: value for tag, value in split(emv_data, "field 55") if tag != "9F41"}
    values["9F41"] = _bcd(counter % 100_000_000, 4)
    return encode(values)


def read_emv(
    transceive: Transceive,
    terminal: TerminalData,
    *,
    unpredictable_number: bytes | None = None,
) -> CardRead:
    """Read one contactless card through ``transceive``; raises only ``CardReadError``.

    ``transceive`` sends one command APDU and returns the response with its status word; it
    may itself raise ``CardReadError`` (e.g. ``CardRemoved``) or ``ReaderOffline``.
    """
    un = os.urandom(4) if unpredictable_number is None else unpredictable_number
    try:
        return _read(transceive, terminal, un)
    except (CardReadError, ReaderOffline):
        raise
    except Exception as exc:
        # A bug in this module, not a card problem; the person still gets a clear reason.
        log.exception("internal error in the EMV read")
        raise CardReadError(INTERNAL_ERROR) from exc
