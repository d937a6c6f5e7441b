"""The one generic ISO 8583 codec; a dialect is data (a ``Profile``) fed to it.

``Dialect`` turns ``HostRequest`` / ``HostResponse`` into items (``items.MessageItems``), items
into fields and fields into bytes (``fields.FieldCodec``), and back, validating everything it
decodes; it recognises each message's kind by its MTI and codes (``kinds.KindTable``) and frames
bodies for the stream (``framing``). Any decoding failure is one ``ProtocolError``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from appliance.errors import KeyCheckError, ProtocolError
from appliance.host.dialects import framing
from appliance.host.dialects.fields import FieldCodec
from appliance.host.dialects.framing import FrameReader
from appliance.host.dialects.items import MessageItems
from appliance.host.dialects.kinds import KindTable
from appliance.host.dialects.profile import KindSpec, Profile
from appliance.host.messages import HostRequest, HostResponse, MessageKind

log = logging.getLogger(__name__)


class Dialect:
    """Encode and decode ``HostRequest``/``HostResponse`` in one ISO 8583 dialect.

    Public surface (all of it raises only ``ProtocolError``, ``MacError`` or ``KeyCheckError``):
    ``encode_request``, ``decode_response`` (terminal side), ``decode_request``,
    ``encode_response`` (host side), ``frame``, ``frame_response``, ``reader``, ``read_frame``.
    """

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.name = profile.name
        self.kinds = KindTable(profile)
        self.fields = FieldCodec(profile)
        self.items = MessageItems(profile, self.kinds, self.fields)

    # ----------------------------------------------------------------- framing
    def frame(self, body: bytes) -> bytes:
        """A request body with its prefix and length header, ready for the socket."""
        return framing.add_header(self.profile, self.profile.prefix + body)

    def frame_response(self, body: bytes) -> bytes:
        """A response body with the response prefix and length header."""
        prefix = self.profile.response_prefix
        return framing.add_header(
            self.profile, (self.profile.prefix if prefix is None else prefix) + body
        )

    def reader(self) -> FrameReader:
        """A fresh incremental frame splitter for one connection."""
        return FrameReader(self.profile)

    def read_frame(self, recv: Callable[[int], bytes]) -> bytes | None:
        """Read one frame body with a blocking ``recv``; None on a clean EOF between frames.

        EOF inside a frame or a bad length header raises ProtocolError.
        """
        return framing.read_frame(self.profile, recv)

    def mti_of(self, body: bytes) -> str:
        """The MTI at the start of a frame body ("" when too short to hold one)."""
        t = self.profile.spec["t"]
        n = t["max_len"]
        head = body[:n]
        if len(head) < n:
            return ""
        return head.hex() if t["data_enc"] == "b" else head.decode("ascii", "replace")

    # ------------------------------------------------------------ kind lookup
    def kind_spec(self, kind: MessageKind) -> KindSpec:
        """The wire description of ``kind``; ProtocolError if this dialect lacks it."""
        return self.kinds.kind_spec(kind)

    def has_kind(self, kind: MessageKind) -> bool:
        """True when this dialect has a message for ``kind`` (iso87 has no upload end)."""
        return self.kinds.has_kind(kind)

    def request_mti(self, req: HostRequest) -> str:
        """The MTI ``req`` is sent with (the repeat MTI when ``req.repeat``)."""
        return self.kinds.request_mti(req)

    def is_maced(self, kind: MessageKind) -> bool:
        """True when messages of ``kind`` (and their responses) carry a MAC."""
        return self.kinds.is_maced(kind)

    def mac_key_of(self, kind: MessageKind) -> str:
        """ "mak" or "signon": which key MACs messages of ``kind``."""
        return self.kinds.mac_key_of(kind)

    # ----------------------------------------------------------- terminal side
    def encode_request(self, req: HostRequest, mak: bytes | None) -> bytes:
        """The frame body of ``req`` (no length header), MACed with ``mak`` when its kind is.

        Raises KeyCheckError when a MAC is needed and no MAK is loaded (sign on first),
        ProtocolError when a value does not fit its field.
        """
        ks = self.kind_spec(req.kind)
        items = self.items.request_items(req, ks)
        if ks.mac and mak is None and ks.mac_key == "signon":
            raise KeyCheckError("no sign-on key: the terminal master key (TMK) is not loaded")
        return self.fields.encode(self.request_mti(req), items, mak if ks.mac else None, ks.mac)

    def decode_response(
        self, frame: bytes, mak: bytes | None, signon_key: bytes | None = None
    ) -> HostResponse:
        """Decode and validate a response body; MacError (FrameMacError) on a missing/bad MAC.

        Tolerant: a field this dialect does not use (but can parse: every field of the
        standard's table is in the spec) is kept raw in ``extra_fields`` and logged, never a
        reason to refuse an answer whose MAC over the frame as received verifies.
        """
        mti, items, fields, raw = self.fields.decode(frame, tolerant=True)
        ks = self.kinds.match(mti, items, response=True)
        for f in self.profile.required_response:
            if f not in fields:
                raise ProtocolError(f"response {mti} lacks field {f}")
        try:
            resp = self.items.to_response(ks, items)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            # e.g. a composite subfield (a key, a count) that is not what its slot holds
            raise ProtocolError(f"response {mti} has an invalid value: {exc!r}") from exc
        extras = tuple(
            (f, fields[f])
            for f in sorted(fields, key=lambda x: int(x))
            if f not in self.fields.rules and f not in self.profile.mac_fields
        )
        if extras or "transmitted" in items:
            resp = replace(resp, extra_fields=extras, echoed_transmission=items.get("transmitted"))
        unmaced_refusal = (
            # A refused sign-on from a host that cannot compute our sign-on key (an unknown
            # TID) carries no MAC; it issues no keys, so believing it only leaves the
            # terminal not signed on, which a path attacker could achieve by dropping frames.
            ks.mac_key == "signon"
            and not resp.approved
            and not set(self.profile.mac_fields) & set(fields)
        )
        if ks.mac and not unmaced_refusal:
            self.fields.verify_mac(raw, fields, signon_key if ks.mac_key == "signon" else mak, resp)
        if extras:
            log.info(
                "answer %s STAN %06d carries fields this dialect does not use, kept raw: %s",
                mti,
                resp.stan,
                ", ".join(f for f, _ in extras),
            )
        return resp

    # --------------------------------------------------------------- host side
    def decode_request(
        self,
        frame: bytes,
        mak_lookup: Callable[[str], bytes | None],
        signon_lookup: Callable[[str], bytes | None] | None = None,
    ) -> HostRequest:
        """Decode and validate a request body; FrameMacError when its MAC is missing or wrong.

        ``mak_lookup(tid)`` gives the MAK issued to that terminal (None if none);
        ``signon_lookup(tid)`` its sign-on key (``keys.signon_key`` of its TMK).
        """
        mti, items, fields, raw = self.fields.decode(frame)
        if mti[2] not in "024":
            raise ProtocolError(f"MTI {mti} is not a request")
        ks = self.kinds.match(mti, items, response=False)
        for f in self.profile.required_request:
            if f not in fields:
                raise ProtocolError(f"request {mti} lacks field {f}")
        try:
            req = self.items.to_request(ks, mti, items)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ProtocolError(f"request {mti} has an invalid value: {exc!r}") from exc
        if ks.mac:
            lookup = mak_lookup if ks.mac_key == "mak" else (signon_lookup or (lambda _t: None))
            self.fields.verify_mac(raw, fields, lookup(req.tid), req)
        return req

    def encode_response(self, resp: HostResponse, req: HostRequest, mak: bytes | None) -> bytes:
        """The frame body answering ``req`` with ``resp``, MACed when the kind is.

        With ``mak`` None the answer goes without a MAC field (a host that has no key for the
        terminal); the terminal then rejects it as a MAC failure.
        """
        ks = self.kind_spec(req.kind)
        req_mti = self.request_mti(req)
        mti = f"{req_mti[:2]}{int(req_mti[2]) + 1}0"
        items = self.items.response_items(resp, req, ks)
        return self.fields.encode(
            mti,
            items,
            mak if ks.mac else None,
            ks.mac and mak is not None,
            extra=dict(resp.extra_fields),
        )
