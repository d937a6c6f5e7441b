"""BER-TLV helpers for EMV card responses, over pyemv's decoder.

pyemv's ``decode`` keeps one value per tag, so lists of repeated templates (the PPSE
directory has one ``61`` per application) are split here with ``split``. Every decoding
problem becomes ``TlvError`` (a ``CardReadError``) so nothing else escapes a card read.
"""

from __future__ import annotations

from pyemv import tlv as _pyemv_tlv

from appliance.errors import CardReadError


class TlvError(CardReadError):
    """The card sent data that is not well-formed BER-TLV."""


def decode_flat(data: bytes, what: str) -> dict[str, bytes]:
    """All primitive tags in ``data`` (constructed templates flattened), tag hex upper → value.

    ``what`` names the response for the error message (e.g. "record 1 of SFI 1").
    """
    try:
        return _pyemv_tlv.decode(bytes(data), flatten=True)
    except (_pyemv_tlv.DecodeError, RecursionError) as exc:
        raise TlvError(f"card read error: malformed data in {what}") from exc


def encode(values: dict[str, bytes]) -> bytes:
    """Encode primitive tags in the given order (used for ISO 8583 field 55)."""
    try:
        return bytes(_pyemv_tlv.encode(values))
    except _pyemv_tlv.EncodeError as exc:
        raise TlvError(f"card read error: cannot encode card data ({exc.msg})") from exc


def _read_tag(data: bytes, pos: int) -> tuple[str, int]:
    start = pos
    if pos >= len(data):
        raise TlvError("card read error: truncated tag")
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(data):
                raise TlvError("card read error: truncated tag")
            more = data[pos] & 0x80
            pos += 1
            if not more:
                break
    return data[start:pos].hex().upper(), pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("card read error: truncated length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    # EMV lengths never need more than 3 bytes; anything else is a broken card.
    if count == 0 or count > 3 or pos + count > len(data):
        raise TlvError("card read error: bad length field")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def split(data: bytes, what: str) -> list[tuple[str, bytes]]:
    """The top-level (tag, value) pairs of ``data`` in order, duplicates kept.

    Trailing ``00`` padding (allowed between BER-TLV objects) is skipped.
    """
    items: list[tuple[str, bytes]] = []
    pos = 0
    try:
        while pos < len(data):
            if data[pos] == 0x00:
                pos += 1
                continue
            tag, pos = _read_tag(data, pos)
            length, pos = _read_length(data, pos)
            if pos + length > len(data):
                raise TlvError("card read error: value runs past the end")
            items.append((tag, bytes(data[pos : pos + length])))
            pos += length
    except TlvError as exc:
        raise TlvError(f"card read error: malformed data in {what}") from exc
    return items


def parse_dol(dol: bytes) -> list[tuple[str, int]]:
    """A data object list (tag + length, no values), e.g. the PDOL ``9F38``."""
    entries: list[tuple[str, int]] = []
    pos = 0
    try:
        while pos < len(dol):
            tag, pos = _read_tag(dol, pos)
            length, pos = _read_length(dol, pos)
            entries.append((tag, length))
    except TlvError as exc:
        raise TlvError("card read error: malformed data object list (PDOL)") from exc
    return entries
