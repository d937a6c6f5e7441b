"""Dialect ``cup``: China UnionPay POS style — TPDU + header, BCD MTI and numeric fields.

Pure data for the same codec as ``iso87``. Framing: 2-byte length, 5-byte TPDU
(``60`` + destination + source; swapped on answers) and a 6-byte header before the MTI.
Field 60 is composite: 60.1 transaction type code n2, 60.2 batch number n6, 60.3 network
management code n3. Field 61 carries the original (STAN n6, field 7 n10, amount n12,
batch n6), 62 the working keys (binary: PIK 16 + KCV 3 + MAK 16 + KCV 3), 48 the settlement
totals. Refunds are 0220/200000; voids 0200/200000 with type code 23. Reversals have no
repeat MTI: a repeat is the same 0400 again. The MAC is UnionPay's ECB algorithm
(``keys.cup_ecb_mac``) with the double-length MAK. Deviation from CUP kept on purpose: field 7
(transmission date-time) is sent, because it is part of the idempotency key everywhere.
"""

from __future__ import annotations

from typing import Any

from appliance.host.dialects.base import KindSpec, Profile
from appliance.host.messages import MessageKind as K


def _bcd(n: int, var: int = 0, pad: str = "left") -> dict[str, Any]:
    """BCD measured in nibbles; odd lengths padded with 0 on the left (numbers), with 0 on
    the right (composite field 60/61) or with F on the right (PAN, track 2)."""
    spec: dict[str, Any] = {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": var,
        "max_len": n,
        "len_count": "nibbles",
    }
    if pad == "left":
        spec["left_pad"] = "0"
    else:
        spec["right_pad"] = "F" if pad == "F" else "0"
    return spec


def _asc(n: int, var: int = 0) -> dict[str, Any]:
    return {"data_enc": "ascii", "len_enc": "bcd", "len_type": var, "max_len": n}


def _bin(n: int, var: int = 0) -> dict[str, Any]:
    return {"data_enc": "b", "len_enc": "bcd", "len_type": var, "max_len": n}


# Fields of the UnionPay POS layout this dialect does not use: parseable, so an answer that
# carries one is read (and the field kept raw) instead of refused. Formats from the public
# China UnionPay POS terminal layout (15 settlement date n4, 25 condition code n2, 26 PIN
# capture code n2, 32 acquirer ID LLVAR n..11, 36 track 3 LLLVAR z..104, 44 additional
# response data LLVAR an..25, 52 PIN block b64, 53 security control n16, 54 balance LLLVAR
# an..20, 63 LLLVAR ans..163).
_OTHER: dict[str, dict[str, Any]] = {
    "15": _bcd(4),
    "25": _bcd(2),
    "26": _bcd(2),
    "32": _bcd(11, 1),
    "36": _bcd(104, 2, "F"),
    "44": _asc(25, 1),
    "52": _bin(8),
    "53": _bcd(16),
    "54": _asc(20, 2),
    "63": _asc(163, 2),
}

SPEC: dict[str, dict[str, Any]] = {
    **_OTHER,
    "h": _asc(0),
    "t": _bin(2),
    "p": _bin(8),
    "2": _bcd(19, 1, "F"),
    "3": _bcd(6),
    "4": _bcd(12),
    "7": _bcd(10),
    "11": _bcd(6),
    "12": _bcd(6),
    "13": _bcd(4),
    "14": _bcd(4),
    "22": _bcd(3),
    "23": _bcd(3),
    "35": _bcd(37, 1, "F"),
    "37": _asc(12),
    "38": _asc(6),
    "39": _asc(2),
    "41": _asc(8),
    "42": _asc(15),
    "48": _bcd(62, 2),
    "49": _asc(3),
    "55": _bin(255, 2),
    "60": _bcd(17, 2, "right"),
    "61": _bcd(34, 2, "right"),
    "62": _bin(38, 2),
    "64": _bin(8),
}

TYPES: dict[str, str] = {
    "2": "n",
    "3": "n",
    "4": "n",
    "7": "n",
    "11": "n",
    "12": "n",
    "13": "n",
    "14": "n",
    "22": "n",
    "23": "n",
    "35": "z",
    "37": "an",
    "38": "an",
    "39": "an",
    "41": "ans",
    "42": "ans",
    "48": "n",
    "49": "n",
    "55": "b",
    "60": "n",
    "61": "n",
    "62": "b",
    "64": "b",
}

KINDS: tuple[KindSpec, ...] = (
    KindSpec(K.SIGN_ON, "0800", netmgmt="003", txn_type="00", mac_key="signon"),
    KindSpec(K.ECHO, "0820", netmgmt="301", txn_type="00", mac=False),
    KindSpec(K.SALE, "0200", proc="000000", txn_type="22"),
    KindSpec(K.VOID, "0200", proc="200000", txn_type="23"),
    KindSpec(K.REFUND, "0220", proc="200000", txn_type="25"),
    KindSpec(K.REVERSAL, "0400", proc_from_original=True),
    KindSpec(K.ADVICE, "0220", proc="000000", txn_type="30"),
    KindSpec(K.SETTLEMENT, "0500", txn_type="00", netmgmt="201"),
    # 3 and 60.1 are the uploaded transaction's own (a refund stays a refund)
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
}

COMPOSITE: dict[str, tuple[tuple[str, int], ...]] = {
    "48": (("sale_count", 3), ("sale_amount", 12), ("refund_count", 3), ("refund_amount", 12)),
    "60": (("txn_type", 2), ("batch", 6), ("netmgmt", 3)),
    "61": (("orig_stan", 6), ("orig_transmitted", 10), ("orig_amount", 12), ("orig_batch", 6)),
    "62": (("pik", 32), ("pik_kcv", 6), ("mak", 32), ("mak_kcv", 6)),
}

_BASE = {
    "proc",
    "transmitted",
    "local_time",
    "local_date",
    "stan",
    "tid",
    "mid",
    "netmgmt",
    "txn_type",
    "batch",
}
_CARD = {"pan", "expiry", "entry_mode", "pan_seq", "track2", "emv", "amount", "currency"}
_ORIG = {"orig_stan", "orig_transmitted", "orig_amount", "orig_batch", "orig_rrn", "orig_auth"}

REQUEST_ITEMS: dict[K, frozenset[str]] = {
    K.SIGN_ON: frozenset(_BASE),
    K.ECHO: frozenset(_BASE),
    K.SALE: frozenset(_BASE | _CARD),
    K.VOID: frozenset(_BASE | _CARD | _ORIG),
    K.REFUND: frozenset(_BASE | _CARD | _ORIG),
    K.REVERSAL: frozenset(_BASE | _CARD | _ORIG - {"orig_rrn", "orig_auth"}),
    K.ADVICE: frozenset(_BASE | _CARD | _ORIG),
    K.SETTLEMENT: frozenset(
        _BASE | {"currency", "sale_count", "sale_amount", "refund_count", "refund_amount"}
    ),
    K.BATCH_UPLOAD: frozenset(_BASE | _CARD | _ORIG),
}

PROFILE = Profile(
    name="cup",
    spec=SPEC,
    types=TYPES,
    kinds=KINDS,
    simple=SIMPLE,
    composite=COMPOSITE,
    request_items=REQUEST_ITEMS,
    prefix=bytes.fromhex("6000030000" + "603100310000"),
    response_prefix=bytes.fromhex("6000000003" + "603100310000"),
    mac_fields=("64", "64"),
    mac_algorithm="cup_ecb",
)
