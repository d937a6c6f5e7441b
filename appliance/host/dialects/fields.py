"""Items ⇄ fields ⇄ bytes for one dialect: layout, content-type checks, pyiso8583, the MAC.

An *item* is one semantic value (``stan``, ``batch``, ``orig_stan`` …); the profile places it
in a whole field or a fixed-width slice of a composite field. ``FieldCodec`` packs items into
fields and fields into bytes (validating every field's type and length, placing and computing
the MAC), and reads them back. Any decoding failure is one ``ProtocolError``; a missing or
wrong MAC is a ``FrameMacError``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import iso8583

from appliance.errors import KeyCheckError, MacError, ProtocolError
from appliance.host import keys
from appliance.host.dialects.profile import Profile
from appliance.host.messages import HostRequest, HostResponse

_ANS = frozenset(chr(c) for c in range(0x20, 0x7F))
_TYPE_CHARS: dict[str, frozenset[str]] = {
    "n": frozenset(string.digits),
    "an": frozenset(string.ascii_letters + string.digits + " "),
    "ans": _ANS,
    "b": frozenset(string.hexdigits),
    "z": frozenset(string.digits + "=D"),  # track 2 equivalent data
}


_TEXT = frozenset({"an", "ans"})


class FrameMacError(MacError):
    """A decoded message whose MAC is missing or wrong; ``message`` is what it said."""

    def __init__(self, text: str, message: HostRequest | HostResponse) -> None:
        super().__init__(text)
        self.message = message


class FieldCodec:
    """Encode items into a frame body and decode a body into items, for one profile."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.name = profile.name
        self._field_items: dict[str, list[str]] = {}
        for item, f in profile.simple.items():
            self._field_items.setdefault(f, []).append(item)
        # Per field, computed once: (type, allowed characters, length limit, fixed length).
        self.rules: dict[str, tuple[str, frozenset[str], int, bool]] = {}
        for f, typ in profile.types.items():
            spec = profile.spec.get(f)
            if spec is None:
                continue  # no way to carry it: "not allowed", as for an untyped field
            limit = spec["max_len"] * (2 if spec["data_enc"] == "b" else 1)
            if spec.get("len_count") == "nibbles":
                limit = spec["max_len"]
            self.rules[f] = (typ, _TYPE_CHARS[typ], limit, spec["len_type"] == 0)
        # Which composite field (and which part of it) carries an item.
        self.part_of: dict[str, list[tuple[str, int]]] = {}
        for f, parts in profile.composite.items():
            for i, (name, _) in enumerate(parts):
                self.part_of.setdefault(name, []).append((f, i))
        self._high_fields = frozenset(f for f in profile.spec if f.isdigit() and int(f) > 64)

    def width(self, item: str, default: int) -> int:
        """The width of ``item``'s slot in a composite field (``default`` when it has none)."""
        for f, i in self.part_of.get(item, ()):
            return self.profile.composite[f][i][1]
        return default

    def items_to_fields(self, items: Mapping[str, str]) -> dict[str, str]:
        """The fields carrying ``items``; ProtocolError for an item with no field or too wide."""
        fields: dict[str, str] = {}
        used: set[str] = set()
        last_part: dict[str, int] = {}  # composite field -> index of its last item present
        for item, value in items.items():
            f = self.profile.simple.get(item)
            if f is not None:
                fields[f] = self._pad(f, value)
                used.add(item)
            for cf, i in self.part_of.get(item, ()):
                last_part[cf] = max(i, last_part.get(cf, -1))
        for f, parts in self.profile.composite.items():
            last = last_part.get(f, -1)
            if last < 0:
                continue
            if self.profile.spec[f]["len_type"] == 0:
                last = len(parts) - 1  # a fixed-length field is always complete
            chunks = []
            for name, width in parts[: last + 1]:
                v = items.get(name, "0" * width)
                if len(v) > width:
                    raise ProtocolError(f"{name} {v!r} is wider than {width}")
                chunks.append(v.rjust(width, "0") if v.isdigit() else v.ljust(width))
                used.add(name)
            fields[f] = "".join(chunks)
        unused = set(items) - used
        if unused:
            raise ProtocolError(f"dialect {self.name} has no field for {sorted(unused)}")
        return fields

    def _pad(self, f: str, value: str) -> str:
        # Fixed-length text fields are left-justified and space-filled (TID "T1" → "T1      ").
        spec = self.profile.spec.get(f)
        if spec and spec["len_type"] == 0 and self.profile.types.get(f) in _TEXT:
            return value.ljust(spec["max_len"])
        return value

    def fields_to_items(self, fields: Mapping[str, str]) -> dict[str, str]:
        """The items that ``fields`` carry (whole fields and the parts of composite ones)."""
        items: dict[str, str] = {}
        for f, value in fields.items():
            for item in self._field_items.get(f, ()):
                items[item] = value.rstrip(" ") if self.profile.types.get(f) in _TEXT else value
            parts = self.profile.composite.get(f)
            if parts is None:
                continue
            try:
                items.update(split_composite(f, value, parts))
            except ProtocolError:
                if f not in self._field_items:
                    raise
                # cup 48 is either settlement totals or an upload count: the message kind
                # decides which item is read
        return items

    # ------------------------------------------------------- fields <-> bytes
    def encode(
        self,
        mti: str,
        items: Mapping[str, str],
        mak: bytes | None,
        maced: bool,
        extra: Mapping[str, str] | None = None,
    ) -> bytes:
        """The frame body of ``mti`` with ``items`` (and a host's ``extra``), MACed if ``maced``."""
        fields = self.items_to_fields(items)
        self.validate(fields)
        if extra:
            # Fields a host adds that this dialect does not use (the reference acquirer's
            # ``extra_fields`` fault): sent as given, checked only by the spec's lengths.
            for f, v in extra.items():
                if f in fields or f not in self.profile.spec or f in ("t", "p", "1", "h"):
                    raise ProtocolError(f"field {f} cannot be added to {mti}")
                fields[f] = v
        fields["t"] = mti
        # pyiso8583 adds keys ("p", "1", "t" normalised) to what it is given: a fresh shallow
        # copy is enough, every value is an immutable str.
        doc: dict[str, Any] = dict(fields)
        mac_field = None
        if maced:
            if mak is None:
                raise KeyCheckError("no MAK loaded: sign on to the host first")
            mac_field = self.mac_field(fields)
            doc[mac_field] = "00" * keys.MAC_LEN
        try:
            raw, _ = iso8583.encode(doc, self.profile.spec)
        except (iso8583.EncodeError, KeyError, ValueError, TypeError) as exc:
            raise ProtocolError(f"cannot encode {mti}: {exc}") from exc
        raw = bytes(raw)
        if mac_field is not None:
            assert mak is not None
            mac = keys.mac_of(self.profile.mac_algorithm, mak, raw[: -keys.MAC_LEN])
            raw = raw[: -keys.MAC_LEN] + mac
        return raw

    def mac_field(self, fields: Mapping[str, str]) -> str:
        """Field 64, or 128 when any field above 64 is present (a secondary bitmap)."""
        primary, secondary = self.profile.mac_fields
        return primary if self._high_fields.isdisjoint(fields) else secondary

    def decode(
        self, frame: bytes, *, tolerant: bool = False
    ) -> tuple[str, dict[str, str], dict[str, str], bytes]:
        """MTI, items, fields and raw bytes of ``frame``.

        ``tolerant`` (answers): a field the spec can parse but the dialect does not use is
        left out of the items (it stays in ``fields``) instead of refusing the frame; its
        bytes are still under the MAC, which is checked over the frame exactly as received.
        """
        if not isinstance(frame, bytes | bytearray):
            raise ProtocolError("a frame must be bytes")
        raw = bytes(frame)
        try:
            doc, _ = iso8583.decode(raw, self.profile.spec)
        except iso8583.DecodeError as exc:
            raise ProtocolError(f"undecodable frame: {exc}") from exc
        except KeyError as exc:  # bitmap names a field the spec lacks
            raise ProtocolError(f"frame carries unknown field {exc}") from exc
        except Exception as exc:  # the library's other failure modes are not documented
            raise ProtocolError(f"undecodable frame: {exc!r}") from exc
        mti = doc.get("t", "")
        if len(mti) != 4 or not mti.isdigit():
            raise ProtocolError(f"invalid MTI {mti!r}")
        sec = doc.get("1")
        if sec is not None and int(sec[:2], 16) & 0x80:
            raise ProtocolError("tertiary bitmap (field 65) is not supported")
        fields = {k: v for k, v in doc.items() if k not in ("t", "p", "1", "h")}
        known = fields
        if tolerant:
            known = {k: v for k, v in fields.items() if k in self.rules}
        self.validate(known)
        items = self.fields_to_items(known)
        for need in ("stan", "tid"):
            if need not in items:
                raise ProtocolError(f"message {mti} lacks {need}")
        return mti, items, fields, raw

    def validate(self, fields: Mapping[str, str]) -> None:
        """ProtocolError unless every field is allowed, of its type and of a valid length."""
        rules = self.rules
        for f, value in fields.items():
            if f == "t":
                continue
            rule = rules.get(f)
            if rule is None:
                raise ProtocolError(f"field {f} is not allowed in dialect {self.name}")
            typ, allowed, limit, fixed = rule
            if not isinstance(value, str):
                raise ProtocolError(f"field {f} must be text")
            if not allowed.issuperset(value):
                raise ProtocolError(f"field {f} is not of type {typ}")
            if len(value) > limit or (fixed and len(value) != limit):
                raise ProtocolError(f"field {f} has length {len(value)}, allowed {limit}")

    def verify_mac(
        self,
        raw: bytes,
        fields: Mapping[str, str],
        mak: bytes | None,
        message: HostRequest | HostResponse,
    ) -> None:
        """FrameMacError unless the MAC field is in its place and verifies under ``mak``."""
        primary, secondary = self.profile.mac_fields
        mac_field = self.mac_field({f: "" for f in fields if f not in (primary, secondary)})
        present = [f for f in dict.fromkeys((primary, secondary)) if f in fields]
        if present != [mac_field]:
            raise FrameMacError(f"MAC field {mac_field} missing or misplaced", message)
        if mak is None:
            raise FrameMacError("no MAK to verify the MAC", message)
        data, mac = raw[: -keys.MAC_LEN], raw[-keys.MAC_LEN :]
        if not keys.mac_matches(mak, data, mac, self.profile.mac_algorithm):
            raise FrameMacError("MAC does not verify", message)


def split_composite(f: str, value: str, parts: tuple[tuple[str, int], ...]) -> dict[str, str]:
    """The items of composite field ``f``; ProtocolError when ``value`` does not fit."""
    out: dict[str, str] = {}
    pos = 0
    for name, width in parts:
        if pos >= len(value):
            break
        chunk = value[pos : pos + width]
        if len(chunk) != width:
            raise ProtocolError(f"field {f} ends inside {name}")
        out[name] = chunk.strip() if not chunk.strip().isdigit() else chunk
        pos += width
    if pos < len(value):
        raise ProtocolError(f"field {f} has {len(value) - pos} trailing characters")
    return out
