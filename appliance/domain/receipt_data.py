"""Receipt documents as plain data (for the journal) and the DUPLICATE banner.

A print job keeps its document, not its bytes, and the print owner renders it for the printer
it drives. ``to_data``/``from_data`` turn a ``Document`` into JSON-safe dicts and back, block by
block (every block is a small frozen dataclass of strings, numbers and booleans).

A card slip committed with a payment's outcome is journaled as a *snapshot* instead
(``stub_snapshot``): the transaction's fields as that unit commits them, the kind decided then,
and the merchant and settings the slip is built with. ``from_data`` builds the slip from it
(``build_receipt``), so it prints what it would have printed when it was queued, even if the
transaction was voided or forwarded before the printer took the job. ``from_data`` reads both
shapes: jobs queued as documents before snapshots existed still print.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, get_args

from appliance.domain.receipts import (
    Block,
    Document,
    MerchantInfo,
    Separator,
    Text,
    build_receipt,
    kind_for,
)
from appliance.domain.transactions import Transaction, TxnState, TxnType

_BLOCKS: dict[str, type] = {cls.__name__: cls for cls in get_args(Block)}
# Field names per block class: blocks hold only plain values, so a shallow copy is the whole
# conversion (``dataclasses.asdict`` deep-copies and costs ~1.5 ms a slip, in the sale path).
_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _BLOCKS.values()
}

#: The banner of a job printed again after an uncertain outcome (at most once).
DUPLICATE = "DUPLICATE 重复打印"


def to_data(doc: Document) -> dict[str, Any]:
    """A document as JSON-safe data."""
    return {
        "kind": doc.kind,
        "lang": doc.lang,
        "copy": doc.copy,
        "reference": doc.reference,
        "blocks": [_block(b) for b in doc.blocks],
    }


def _block(b: Block) -> dict[str, Any]:
    cls = type(b)
    names = _FIELDS.get(cls)
    if names is None:  # a block type added after import (never in practice): slow but right
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(b))
    # A block's instance dict holds exactly its fields, in field order (frozen dataclasses
    # without slots set them one by one in ``__init__``): one copy instead of a getattr each.
    values = getattr(b, "__dict__", None)
    if values is not None and len(values) == len(names):
        return {"type": cls.__name__, **values}
    out: dict[str, Any] = {"type": cls.__name__}
    for name in names:
        out[name] = getattr(b, name)
    return out


def from_data(data: dict[str, Any]) -> Document:
    """The document ``to_data`` wrote, or the slip a ``stub_snapshot`` is built from;
    ValueError names an unknown block type or snapshot version."""
    if SNAPSHOT in data:
        return _snapshot_document(data)
    blocks = []
    for raw in data["blocks"]:
        fields = dict(raw)
        name = fields.pop("type")
        cls = _BLOCKS.get(name)
        if cls is None:
            raise ValueError(f"unknown receipt block {name!r} in a stored document")
        blocks.append(cls(**fields))
    return Document(
        kind=data["kind"],
        lang=data["lang"],
        blocks=tuple(blocks),
        copy=data.get("copy"),
        reference=data.get("reference", ""),
    )


#: The snapshot format's version (a key no document has: it tells the two shapes apart).
SNAPSHOT = "stub"
#: The transaction fields a snapshot keeps: every one ``build_receipt`` reads, and the ones a
#: ``Transaction`` cannot be made without. Only what the journal row holds in the clear (the
#: masked PAN; no card data, TVR or host extras).
_TXN_FIELDS = (
    "uuid",
    "type",
    "state",
    "amount",
    "currency",
    "stan",
    "batch",
    "invoice",
    "masked_pan",
    "scheme",
    "entry_mode",
    "aid",
    "label",
    "rrn",
    "auth_code",
    "response_code",
    "original_stan",
    "operator",
    "offline",
    "cvm",
)
_TXN_TIMES = ("created_at", "updated_at", "transmitted_at")


def stub_snapshot(
    kind: str | None,
    txn: Transaction,
    merchant: MerchantInfo,
    *,
    copy: str,
    lang: str,
    cvm_limit: int,
    tz: str,
) -> dict[str, Any]:
    """What ``copy``'s slip of ``txn`` is built from, as JSON-safe data (see the module
    docstring). ``kind`` None is decided now, from the state ``txn`` has in this unit."""
    t: dict[str, Any] = {name: getattr(txn, name) for name in _TXN_FIELDS}
    for name in _TXN_TIMES:
        t[name] = getattr(txn, name).isoformat()
    return {
        SNAPSHOT: 1,
        "kind": kind or kind_for(txn),
        "copy": copy,
        "lang": lang,
        "cvm_limit": cvm_limit,
        "tz": tz,
        "merchant": [merchant.name, merchant.mid, merchant.tid],
        "txn": t,
    }


def _snapshot_document(data: dict[str, Any]) -> Document:
    if data[SNAPSHOT] != 1:
        raise ValueError(f"unknown stub snapshot version {data[SNAPSHOT]!r}")
    t = dict(data["txn"])
    t["type"] = TxnType(t["type"])
    t["state"] = TxnState(t["state"])
    for name in _TXN_TIMES:
        t[name] = datetime.fromisoformat(t[name])
    name, mid, tid = data["merchant"]
    return build_receipt(
        data["kind"],
        Transaction(**t),
        MerchantInfo(name=name, mid=mid, tid=tid),
        copy=data["copy"],
        lang=data["lang"],
        cvm_limit=data["cvm_limit"],
        tz=data["tz"],
    )


def duplicate_banner() -> tuple[Block, ...]:
    """The blocks that head a job printed again because its first print may have happened."""
    return (
        Text(f"*** {DUPLICATE} ***", "center", bold=True),
        Text("DUPLICATE", "center", bold=True, double=True),
        Separator("="),
    )


def with_duplicate_banner(doc: Document) -> Document:
    """``doc`` with the DUPLICATE banner on top."""
    return dataclasses.replace(doc, blocks=duplicate_banner() + doc.blocks)
