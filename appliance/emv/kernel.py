"""The EMV contactless read, pure over a ``transceive(apdu) -> response`` callable.

Flow: SELECT PPSE → choose the AID with the best priority (tag 87) among schemes we know →
SELECT AID → GET PROCESSING OPTIONS with the PDOL data (9F38) → READ RECORD for every AFL
(94) entry. A typical card takes 4–6 APDUs. The terminal is online-only: no GENERATE AC,
no offline data authentication; the acquirer sees the cryptogram the card returned in its
GPO answer (qVSDC) when there is one, and field 55 carries the data it needs.

``read_emv`` raises only ``CardReadError`` (and subclasses) — or ``ReaderOffline`` when the
transport reports that the reader itself went away. Anything unexpected is turned into a
``CardReadError`` and logged as a bug.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from appliance.domain.card import CardRead, luhn_ok, scheme_from_aid
from appliance.emv.tlv import TlvError, decode_flat, encode, parse_dol, split
from appliance.errors import CardReadError, ReaderOffline, UnsupportedCard

log = logging.getLogger(__name__)

Transceive = Callable[[bytes], bytes]

PPSE_NAME = b"2PAY.SYS.DDF01"
SELECT_PPSE = bytes.fromhex("00A404000E325041592E5359532E444446303100")
SW_OK = 0x9000
MAX_APDUS = 32  # a sane card needs ≤ 8; more means a loop (chained 61xx, retries)
MAX_RECORDS = 16  # AFL entries a real card uses are a handful
MAX_RESPONSE = 2048  # bytes of one answer including GET RESPONSE chaining
INTERNAL_ERROR = "card read error (internal); present the card again"

# Terminal Transaction Qualifiers (9F66): contactless qVSDC/EMV mode, online cryptogram
# required (this terminal is online-only), consumer-device CVM supported; no PIN, no signature.
TTQ = bytes.fromhex("20804000")
TERMINAL_TYPE = bytes.fromhex("22")  # 9F35: attended, online only, merchant-operated
TERMINAL_CAPABILITIES = bytes.fromhex("000800")  # 9F33: no CVM only, no offline auth

# Tags of numeric (n) format are right-aligned when a card asks for another length.
_NUMERIC_TAGS = {"9F02", "9F03", "5F2A", "9F1A", "9A", "9C", "5F36", "9F41"}

# ISO 8583 field 55, in this order, where a value exists.
FIELD55_TAGS = (
    "9F26", "9F27", "9F10", "9F37", "9F36", "95", "9A", "9C", "9F02", "5F2A",
    "82", "9F1A", "9F03", "9F33", "9F34", "9F35", "9F1E", "84", "9F09", "9F41",
)  # fmt: skip
# Values the terminal supplies win over anything a card echoes back.
_TERMINAL_FIELD55 = {"9F37", "95", "9A", "9C", "9F02", "5F2A", "9F1A", "9F03", "9F33", "9F35"}


class TerminalData(Protocol):
    """What the terminal knows about the payment (``drivers.reader.base.ReadContext`` fits)."""

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


def _bcd(number: int | str, size: int) -> bytes:
    digits = str(number)
    if not digits.isdigit() or len(digits) > size * 2:
        raise CardReadError(f"card read error: terminal value {digits!r} does not fit n{size * 2}")
    return bytes.fromhex(digits.rjust(size * 2, "0"))


def terminal_values(terminal: TerminalData, unpredictable_number: bytes) -> dict[str, bytes]:
    """The terminal's data objects for the PDOL and field 55 (tag hex → value)."""
    when = terminal.txn_date or date.today()
    return {
        "9F02": _bcd(terminal.amount, 6),
        "9F03": bytes(6),
        "5F2A": _bcd(terminal.currency_numeric, 2),
        "9F1A": _bcd(terminal.country_numeric, 2),
        "9A": _bcd(when.strftime("%y%m%d"), 3),
        "9C": _bcd(terminal.txn_type, 1),
        "9F37": unpredictable_number,
        "9F66": TTQ,
        "9F35": TERMINAL_TYPE,
        "9F33": TERMINAL_CAPABILITIES,
        "95": bytes(5),
        "9F34": bytes.fromhex("3F0000"),  # CVM results: no CVM performed
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
    return CardReadError(f"card read error: {step} failed (status {sw:04X}); present it again")


def _only(items: list[tuple[str, bytes]], tag: str, what: str) -> bytes:
    for item_tag, value in items:
        if item_tag == tag:
            return value
    raise TlvError(f"card read error: {what} lacks tag {tag}")


def _label(raw: bytes) -> str:
    text = raw.decode("ascii", errors="replace")
    return "".join(ch for ch in text if ch.isprintable() and ch != "\ufffd").strip()


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
        # Priority 0 means "none given": after every ranked application.
        found.append(_Candidate(priority or 16, order, aid, _label(values.get("50", b""))))
    return sorted(found, key=lambda c: (c.priority, c.order))


def _afl_entries(afl: bytes) -> list[tuple[int, int]]:
    if len(afl) % 4 or not afl:
        raise TlvError("card read error: malformed file locator (AFL)")
    records: list[tuple[int, int]] = []
    for i in range(0, len(afl), 4):
        sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
        if not 1 <= sfi <= 30 or first == 0 or last < first:
            raise TlvError("card read error: malformed file locator (AFL)")
        records.extend((sfi, rec) for rec in range(first, last + 1))
    if len(records) > MAX_RECORDS:
        raise CardReadError("card read error: the card lists more records than a payment card has")
    return records


def _merge(into: dict[str, bytes], values: dict[str, bytes]) -> None:
    for tag, value in values.items():
        # The first occurrence wins: a later record may not overwrite the PAN.
        into.setdefault(tag, value)


def _digits(raw: bytes) -> str:
    return raw.hex().upper().rstrip("F")


def _pan_and_expiry(card: dict[str, bytes]) -> tuple[str, str, str | None]:
    track2 = _digits(card["57"]) if "57" in card else None
    pan = _digits(card["5A"]) if "5A" in card else None
    expiry = None
    if track2 is not None:
        if "D" not in track2:
            raise CardReadError("card read error: malformed track 2 data")
        t2_pan, rest = track2.split("D", 1)
        if pan is not None and pan != t2_pan:
            raise CardReadError("card read error: the card's numbers disagree; present it again")
        pan = t2_pan
        expiry = rest[:4] if len(rest) >= 4 else None
    if "5F24" in card:
        expiry = card["5F24"].hex()[:4]
    if pan is None:
        raise CardReadError("card read error: the card did not give its card number")
    if expiry is None or len(expiry) != 4 or not expiry.isdigit():
        raise CardReadError("card read error: the card did not give its expiry date")
    if not 1 <= int(expiry[2:]) <= 12:
        raise CardReadError("card read error: the card's expiry date is not a date")
    if not luhn_ok(pan):
        raise CardReadError("card read error: the card number failed its check digit")
    return pan, expiry, track2


def _select_application(
    card: _Card, candidates: list[_Candidate]
) -> tuple[bytes, dict[str, bytes], str]:
    for cand in candidates:
        body, sw = card.send(bytes.fromhex("00A40400"), cand.aid, 0)
        if sw in (0x6A82, 0x6283, 0x6A81):
            continue  # application absent or blocked: try the next one
        if sw != SW_OK:
            raise _status_error("selecting the payment application", sw)
        fci = decode_flat(body, "application answer")
        return cand.aid, fci, _label(fci.get("50", b"")) or cand.label
    raise UnsupportedCard("unsupported card: none of its payment applications can be used")


def _read(transceive: Transceive, terminal: TerminalData, un: bytes) -> CardRead:
    card = _Card(transceive)
    body, sw = card.send(SELECT_PPSE[:4], PPSE_NAME, 0)
    if sw in (0x6A82, 0x6A81):
        raise UnsupportedCard("unsupported card: it has no contactless payment application")
    if sw != SW_OK:
        raise _status_error("selecting the payment directory", sw)
    candidates = [c for c in _candidates(body) if scheme_from_aid(c.aid.hex()) != "UNKNOWN"]
    if not candidates:
        raise UnsupportedCard("unsupported card: no payment scheme this terminal accepts")
    aid, fci, label = _select_application(card, candidates)

    values = terminal_values(terminal, un)
    pdol_data = build_dol_data(fci["9F38"], values) if "9F38" in fci else b""
    if len(pdol_data) > 250:
        raise CardReadError("card read error: the card asks for too much terminal data")
    gpo_data = b"\x83" + bytes([len(pdol_data)]) + pdol_data
    body, sw = card.send(bytes.fromhex("80A80000"), gpo_data, 0)
    if sw == 0x6985:
        raise UnsupportedCard("unsupported card: it refuses contactless payment here")
    if sw != SW_OK:
        raise _status_error("starting the payment on the card", sw)
    top = split(body, "processing options")
    if not top:
        raise TlvError("card read error: empty processing options")
    tag, value = top[0]
    data: dict[str, bytes] = {}
    if tag == "80":
        if len(value) < 2:
            raise TlvError("card read error: malformed processing options")
        data["82"], afl = value[:2], value[2:]
    elif tag == "77":
        _merge(data, decode_flat(body, "processing options"))
        if "82" not in data:
            raise TlvError("card read error: processing options lack the AIP (82)")
        afl = data.get("94", b"")
    else:
        raise TlvError("card read error: malformed processing options")

    if afl:
        for sfi, rec in _afl_entries(afl):
            body, sw = card.send(bytes([0x00, 0xB2, rec, (sfi << 3) | 4]), b"", 0)
            if sw != SW_OK:
                raise _status_error(f"reading record {rec} of file {sfi}", sw)
            where = f"record {rec} of file {sfi}"
            parts = split(body, where)
            if len(parts) != 1 or parts[0][0] != "70":
                raise TlvError(f"card read error: malformed {where}")
            _merge(data, decode_flat(parts[0][1], where))

    pan, expiry, track2 = _pan_and_expiry(data)
    data.setdefault("84", fci.get("84", aid))
    field55: dict[str, bytes] = {}
    for tag in FIELD55_TAGS:
        value = values.get(tag) if tag in _TERMINAL_FIELD55 else data.get(tag, values.get(tag))
        if value is not None:
            field55[tag] = value
    seq = data.get("5F34")
    return CardRead(
        pan=pan,
        expiry=expiry,
        aid=aid.hex().upper(),
        label=label,
        scheme=scheme_from_aid(aid.hex()),
        track2=track2,
        emv_data=encode(field55),
        pan_sequence=seq.hex() if seq and len(seq) == 1 else None,
        apdu_count=card.count,
    )


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
