"""Dialect ``cup``: the China UnionPay POS terminal layout (中国银联 POS 终端消息域).

Pure data for the same codec as ``iso87``. The layout follows the public specification text
"中国银联 POS 终端消息域说明" (China UnionPay, May 2002) and, where that text is silent, the
open-source UnionPay POS application CaoEnXin/LiaoYang_POS (``Src/tranproc.c``,
``Src/trancomm.c``, ``Src/pospin.c``); docs/host.md lists every field, its source and each
deliberate deviation.

Framing: 2-byte length, 5-byte TPDU (``60`` + destination + source; swapped on answers) and
the 6-byte header (application class 60, software version 31, terminal status, processing
requirement, sub-version) before the MTI. MTI, numbers and lengths are BCD; ``n`` fields of
odd length are right-aligned (0 on the left) except 22, 48, 60 and 61, which the
specification left-aligns (0 on the right); PAN and track 2 are padded with F.

- 22 n3: entry mode n2 + PIN capability n1 (2: no PIN entry, which a Pi cannot offer);
- 25 n2: condition code 00 (normal presentment);
- 48 n..062 (0500/0510): domestic debit amount n12, count n3, credit amount n12, count n3,
  result n1 (0 in a request; 1 balanced, 2 not, 3 error in the answer, with 39 = 00), then
  the same 31 digits for foreign cards (zero: one currency); 48 n4 in the upload end: the
  number of transactions uploaded;
- 60 n..013: 60.1 type code, 60.2 batch, 60.3 network code, 60.4 read capability
  (6 contactless), 60.5 IC condition code (0);
- 61 n..016: original batch n6 + STAN n6 + date MMDD;
- 62 b..084: working keys, PIK 16 + check value 4 + MAK 16 + check value 4 (40 bytes);
- 63 ans..163: 63.1 operator code an3 (sign-on, settlement); in answers 63.1 is the card
  organisation code and 63.2 free text, neither of which the terminal uses;
- 39 in a 0400: why it is sent (98 no answer, A0 MAC failure, 96, 06).

Deliberate deviations (see docs/host.md): field 7 is sent in every message (part of the
idempotency key); sign-on and its answer are MACed with the TMK-derived sign-on key; a
reversal carries 61 naming its original; the batch upload is one 0320 per transaction with
the transaction's own fields (the CUP IC-card form) instead of 48 lists of card numbers, which
this terminal does not keep.
"""

from __future__ import annotations

from typing import Any

from appliance.host.dialects.profile import KindSpec, Profile
from appliance.host.messages import MessageKind as K


def _bcd(n: int, var: int = 0, pad: str = "left") -> dict[str, Any]:
    """BCD measured in nibbles; odd lengths padded with 0 on the left (right-aligned numbers),
    with 0 on the right (left-aligned: 22, 48, 60, 61) or with F on the right (PAN, track 2)."""
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
# carries one is read (and the field kept raw) instead of refused (15 settlement date n4,
# 26 PIN capture code n2, 32 acquirer ID LLVAR n..11, 36 track 3 LLLVAR z..104, 44 additional
# response data LLVAR an..25, 52 PIN block b64, 53 security control n16, 54 balance LLLVAR
# an..20).
_OTHER: dict[str, dict[str, Any]] = {
    "15": _bcd(4),
    "26": _bcd(2),
    "32": _bcd(11, 1),
    "36": _bcd(104, 2, "F"),
    "44": _asc(25, 1),
    "52": _bin(8),
    "53": _bcd(16),
    "54": _asc(20, 2),
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
    "22": _bcd(3, pad="right"),
    "23": _bcd(3),
    "25": _bcd(2),
    "35": _bcd(37, 1, "F"),
    "37": _asc(12),
    "38": _asc(6),
    "39": _asc(2),
    "41": _asc(8),
    "42": _asc(15),
    "48": _bcd(62, 2, "right"),
    "49": _asc(3),
    "55": _bin(255, 2),
    "60": _bcd(13, 2, "right"),
    "61": _bcd(16, 2, "right"),
    "62": _bin(84, 2),
    # 63.1 operator (requests) or card organisation code (answers), 63.2 reserved: ans..163
    "63": _asc(163, 2),
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
    "25": "n",
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
    "63": "ans",
    "64": "b",
}

# Processing code (3), message type and type code (60.1) per the specification's table of
# transaction types; network management codes (60.3): 003 sign-on with double-length keys,
# 301 echo test, 201 settlement and batch upload, 202 end of a batch upload after an
# out-of-balance settlement.
KINDS: tuple[KindSpec, ...] = (
    KindSpec(K.SIGN_ON, "0800", netmgmt="003", txn_type="00", mac_key="signon"),
    KindSpec(K.ECHO, "0820", netmgmt="301", txn_type="00", mac=False),
    KindSpec(K.SALE, "0200", proc="000000", txn_type="22"),
    KindSpec(K.VOID, "0200", proc="200000", txn_type="23"),
    KindSpec(K.REFUND, "0220", proc="200000", txn_type="25"),
    # 3 and 60.1 are the original's
    KindSpec(K.REVERSAL, "0400", proc_from_original=True),
    KindSpec(K.ADVICE, "0220", proc="000000", txn_type="30"),
    KindSpec(K.SETTLEMENT, "0500", txn_type="00", netmgmt="201"),
    # 3 and 60.1 are the uploaded transaction's own (a refund stays a refund)
    KindSpec(K.BATCH_UPLOAD, "0320", netmgmt="201", proc_from_original=True),
    KindSpec(K.BATCH_UPLOAD_END, "0320", netmgmt="202", txn_type="00"),
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
    "pos_condition": "25",
    "track2": "35",
    "rrn": "37",
    "orig_rrn": "37",
    "auth_code": "38",
    "orig_auth": "38",
    "response_code": "39",
    "reversal_reason": "39",
    "tid": "41",
    "mid": "42",
    "upload_count": "48",
    "currency": "49",
    "emv": "55",
    "operator": "63",
}

COMPOSITE: dict[str, tuple[tuple[str, int], ...]] = {
    "48": (
        ("sale_amount", 12),
        ("sale_count", 3),
        ("refund_amount", 12),
        ("refund_count", 3),
        ("totals_result", 1),
        ("foreign_totals", 31),
    ),
    "60": (
        ("txn_type", 2),
        ("batch", 6),
        ("netmgmt", 3),
        ("read_capability", 1),
        ("ic_condition", 1),
    ),
    "61": (("orig_batch", 6), ("orig_stan", 6), ("orig_date", 4)),
    "62": (("pik", 32), ("pik_kcv", 8), ("mak", 32), ("mak_kcv", 8)),
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
_CARD = {
    "pan",
    "expiry",
    "entry_mode",
    "pan_seq",
    "track2",
    "emv",
    "amount",
    "currency",
    "pos_condition",
    "read_capability",
    "ic_condition",
}
_ORIG = {"orig_batch", "orig_stan", "orig_date", "orig_rrn", "orig_auth"}
_TOTALS = {
    "sale_count",
    "sale_amount",
    "refund_count",
    "refund_amount",
    "totals_result",
    "foreign_totals",
}

REQUEST_ITEMS: dict[K, frozenset[str]] = {
    K.SIGN_ON: frozenset(_BASE | {"operator"}),
    K.ECHO: frozenset(_BASE),
    K.SALE: frozenset(_BASE | _CARD),
    K.VOID: frozenset(_BASE | _CARD | _ORIG),
    K.REFUND: frozenset(_BASE | _CARD | _ORIG),
    K.REVERSAL: frozenset(_BASE | _CARD | _ORIG - {"orig_rrn", "orig_auth"} | {"reversal_reason"}),
    K.ADVICE: frozenset(_BASE | _CARD | _ORIG),
    K.SETTLEMENT: frozenset(_BASE | _TOTALS | {"currency", "operator"}),
    K.BATCH_UPLOAD: frozenset(_BASE | _CARD | _ORIG),
    K.BATCH_UPLOAD_END: frozenset(_BASE | {"upload_count"}),
}

_PRESENTED = {"pos_condition": "00", "read_capability": "6", "ic_condition": "0"}

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
    constants={
        K.SALE: _PRESENTED,
        K.VOID: _PRESENTED,
        K.REFUND: _PRESENTED,
        K.REVERSAL: _PRESENTED,
        K.ADVICE: _PRESENTED,
        K.BATCH_UPLOAD: {"pos_condition": "00"},
    },
)
