"""Receipt documents as plain data (for the journal) and the DUPLICATE banner.

A print job keeps its document, not its bytes: the sale commits the document with its outcome
and the print owner renders it for the printer it drives. ``to_data``/``from_data`` turn a
``Document`` into JSON-safe dicts and back, block by block (every block is a small frozen
dataclass of strings, numbers and booleans).
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

from appliance.domain.receipts import Block, Document, Separator, Text

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
    """The document ``to_data`` wrote; ValueError names an unknown block type."""
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
