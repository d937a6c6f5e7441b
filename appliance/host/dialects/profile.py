"""What makes one ISO 8583 dialect, as pure data: its message kinds and its field layout.

A ``Profile`` holds a pyiso8583 spec, the content type of every field, which message kind uses
which MTI / processing code / network-management code (``KindSpec``), where each semantic item
(``stan``, ``batch``, ``orig_stan`` …) sits — a whole field or a fixed-width slice of a
composite field — and the framing (length header, TPDU/header prefix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from appliance.host.messages import MessageKind


@dataclass(frozen=True)
class KindSpec:
    """How one message kind is recognised on the wire.

    ``proc`` None means no processing code, unless ``proc_from_original`` (reversals repeat
    the original's).
    ``txn_type`` is a dialect's own transaction type code (CUP field 60.1), or None.
    With ``proc_from_original`` (a reversal, a batch upload) the message repeats the
    original's processing code and, where the dialect has one, its transaction type code, so
    the host can tell a refund from a sale.
    """

    kind: MessageKind
    mti: str
    repeat_mti: str | None = None
    proc: str | None = None
    netmgmt: str | None = None
    txn_type: str | None = None
    mac: bool = True
    proc_from_original: bool = False
    # Which key MACs it: "mak" (the working MAK) or "signon" (the TMK-derived sign-on key,
    # ``keys.signon_key``: there is no MAK before a sign-on).
    mac_key: str = "mak"


@dataclass(frozen=True)
class Profile:
    """Everything that makes one ISO 8583 dialect: pure data, no code."""

    name: str
    spec: Mapping[str, Mapping[str, Any]]
    types: Mapping[str, str]  # field -> n | an | ans | b | z
    kinds: tuple[KindSpec, ...]
    simple: Mapping[str, str]  # item -> field
    composite: Mapping[str, tuple[tuple[str, int], ...]]  # field -> ((item, width), ...)
    request_items: Mapping[MessageKind, frozenset[str]]  # items a request of a kind may carry
    length_header: int = 2
    prefix: bytes = b""  # TPDU + header before the MTI (not MACed)
    response_prefix: bytes | None = None  # prefix on responses (TPDU addresses swapped)
    mac_fields: tuple[str, str] = ("64", "128")
    mac_algorithm: str = "x919"  # keys.MAC_ALGORITHMS
    required_response: tuple[str, ...] = ("11", "39", "41")
    required_request: tuple[str, ...] = ("11", "41")
    # Separator between PAN and expiry in track 2 on the wire ("=" in an ASCII field, "D" in
    # BCD); CardFields.track2 always uses "D" (as EMV tag 57 does).
    track2_separator: str = "D"
    # Items every request of a kind carries with a fixed value (cup: 25 condition code,
    # 60.4 read capability, 60.5 IC condition code).
    constants: Mapping[MessageKind, Mapping[str, str]] = dataclass_field(default_factory=dict)
