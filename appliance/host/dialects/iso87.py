"""Dialect ``iso87``: ISO 8583:1987, ASCII MTI and fields, binary bitmaps, 2-byte length header.

Pure data. Field use (see docs/host.md for the full table):

- 3 processing code, 4 amount n12, 7 transmission date-time (UTC, MMDDhhmmss), 11 STAN,
  12/13 local time/date (UTC), 14 expiry, 22 entry mode, 23 PAN sequence, 35 track 2,
  37 RRN (in a void/refund request: the original's RRN), 38 auth code (in a request: the
  original's), 39 response code, 41 TID, 42 MID, 48 settlement totals, 49 currency,
  55 EMV data, 60 batch number, 61 original amount n12 + original batch n6,
  62 working keys (PIK hex32 + KCV6 + MAK hex32 + KCV6), 64/128 MAC,
  70 network management code, 90 original data elements (MTI, STAN, field 7, 2 × 11 zeros).
"""

from __future__ import annotations

from typing import Any

import iso8583.specs

from appliance.host.dialects.profile import KindSpec, Profile
from appliance.host.messages import MessageKind as K


def _f(enc: str, len_type: int, max_len: int, desc: str) -> dict[str, Any]:
    return {
        "data_enc": enc,
        "len_enc": "ascii",
        "len_type": len_type,
        "max_len": max_len,
        "desc": desc,
    }


A, B = "ascii", "b"

# field -> (data encoding, length type (0 fixed, 2 LLVAR, 3 LLLVAR), max length, type, name)
FIELDS: dict[str, tuple[str, int, int, str, str]] = {
    "2": (A, 2, 19, "n", "PAN"),
    "3": (A, 0, 6, "n", "Processing code"),
    "4": (A, 0, 12, "n", "Amount, transaction"),
    "7": (A, 0, 10, "n", "Transmission date-time"),
    "11": (A, 0, 6, "n", "STAN"),
    "12": (A, 0, 6, "n", "Local time"),
    "13": (A, 0, 4, "n", "Local date"),
    "14": (A, 0, 4, "n", "Expiry YYMM"),
    "22": (A, 0, 3, "n", "POS entry mode"),
    "23": (A, 0, 3, "n", "PAN sequence number"),
    "35": (A, 2, 37, "z", "Track 2"),
    "37": (A, 0, 12, "an", "RRN"),
    "38": (A, 0, 6, "an", "Auth code"),
    "39": (A, 0, 2, "an", "Response code"),
    "41": (A, 0, 8, "ans", "TID"),
    "42": (A, 0, 15, "ans", "MID"),
    "48": (A, 3, 999, "n", "Settlement totals"),
    "49": (A, 0, 3, "n", "Currency"),
    "55": (B, 3, 255, "b", "EMV data"),
    "60": (A, 3, 6, "n", "Batch number"),
    "61": (A, 3, 18, "n", "Original amount and batch"),
    "62": (A, 3, 76, "ans", "Working keys"),
    "64": (B, 0, 8, "b", "MAC"),
    "70": (A, 0, 3, "n", "Network management code"),
    "90": (A, 0, 42, "n", "Original data elements"),
    "128": (B, 0, 8, "b", "MAC"),
}

# Every field of ISO 8583:1987 is parseable (pyiso8583's own table of the standard's formats),
# so an answer carrying a field we do not use (15, 32, 44, 63 …) is read and kept raw rather
# than refused; only the fields in FIELDS have content rules. Field 65 (a tertiary bitmap in
# pyiso8583 4.x) stays undefined and is refused.
_STANDARD = {
    f: dict(v) for f, v in iso8583.specs.default_ascii.items() if f.isdigit() and f != "65"
}

SPEC: dict[str, dict[str, Any]] = {
    **_STANDARD,
    "h": _f(A, 0, 0, "Header"),
    "t": _f(A, 0, 4, "MTI"),
    "p": _f(B, 0, 8, "Primary bitmap"),
    "1": _f(B, 0, 8, "Secondary bitmap"),
    **{f: _f(enc, lt, ml, desc) for f, (enc, lt, ml, _t, desc) in FIELDS.items()},
}

TYPES: dict[str, str] = {f: t for f, (_e, _l, _m, t, _d) in FIELDS.items()}

KINDS: tuple[KindSpec, ...] = (
    KindSpec(K.SIGN_ON, "0800", netmgmt="001", mac_key="signon"),
    KindSpec(K.ECHO, "0800", netmgmt="301", mac=False),
    KindSpec(K.SALE, "0200", proc="000000"),
    KindSpec(K.VOID, "0200", proc="020000"),
    KindSpec(K.REFUND, "0200", proc="200000"),
    KindSpec(K.REVERSAL, "0400", repeat_mti="0401", proc_from_original=True),
    KindSpec(K.ADVICE, "0220", repeat_mti="0221", proc="000000"),
    KindSpec(K.SETTLEMENT, "0500", proc="920000"),
    # field 3 is the uploaded transaction's own processing code (a refund stays a refund)
    KindSpec(K.BATCH_UPLOAD, "0320", proc_from_original=True),
)

SIMPLE: dict[str, str] = {
    "pan": "2",
    "proc": "3",
    "amount": "4",
    "transmitted": "7",
    "stan": "11",
    "local_time": "12",
    "local_date": "13",
    "expiry": "14",
    "entry_mode": "22",
    "pan_seq": "23",
    "track2": "35",
    "rrn": "37",
    "orig_rrn": "37",
    "auth_code": "38",
    "orig_auth": "38",
    "response_code": "39",
    "tid": "41",
    "mid": "42",
    "currency": "49",
    "emv": "55",
    "batch": "60",
    "netmgmt": "70",
}

COMPOSITE: dict[str, tuple[tuple[str, int], ...]] = {
    # counts are n6 (not the n3 of some dialects) so a batch may exceed 999 transactions
    "48": (("sale_count", 6), ("sale_amount", 12), ("refund_count", 6), ("refund_amount", 12)),
    "61": (("orig_amount", 12), ("orig_batch", 6)),
    "62": (("pik", 32), ("pik_kcv", 6), ("mak", 32), ("mak_kcv", 6)),
    "90": (
        ("orig_mti", 4),
        ("orig_stan", 6),
        ("orig_transmitted", 10),
        ("acquirer_id", 11),
        ("forwarder_id", 11),
    ),
}

_BASE = {"proc", "transmitted", "local_time", "local_date", "stan", "tid", "mid", "netmgmt"}
_CARD = {"pan", "expiry", "entry_mode", "pan_seq", "track2", "emv", "amount", "currency", "batch"}
_ORIG = {
    "orig_mti",
    "orig_stan",
    "orig_transmitted",
    "orig_amount",
    "orig_batch",
    "orig_rrn",
    "orig_auth",
}

REQUEST_ITEMS: dict[K, frozenset[str]] = {
    K.SIGN_ON: frozenset(_BASE),
    K.ECHO: frozenset(_BASE),
    K.SALE: frozenset(_BASE | _CARD),
    K.VOID: frozenset(_BASE | _CARD | _ORIG),
    K.REFUND: frozenset(_BASE | _CARD | _ORIG),
    # a reversal repeats the original's card data and amount, and points at it via field 90
    K.REVERSAL: frozenset(_BASE | _CARD | _ORIG - {"orig_rrn", "orig_auth"}),
    K.ADVICE: frozenset(_BASE | _CARD | _ORIG),
    K.SETTLEMENT: frozenset(
        _BASE | {"batch", "currency", "sale_count", "sale_amount", "refund_count", "refund_amount"}
    ),
    K.BATCH_UPLOAD: frozenset(_BASE | _CARD | _ORIG),
}

PROFILE = Profile(
    name="iso87",
    spec=SPEC,
    types=TYPES,
    kinds=KINDS,
    simple=SIMPLE,
    composite=COMPOSITE,
    request_items=REQUEST_ITEMS,
    track2_separator="=",
)
