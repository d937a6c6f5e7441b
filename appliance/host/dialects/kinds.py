"""The message-kind table of a dialect: which MTI and codes each kind is sent and recognised by."""

from __future__ import annotations

from collections.abc import Mapping

from appliance.errors import ProtocolError
from appliance.host.dialects.profile import KindSpec, Profile
from appliance.host.messages import HostRequest, MessageKind


class KindTable:
    """Look up a ``KindSpec`` by kind, and recognise the kind of a decoded message."""

    def __init__(self, profile: Profile) -> None:
        self._name = profile.name
        self._kinds = profile.kinds
        self._by_kind = {k.kind: k for k in profile.kinds}

    def kind_spec(self, kind: MessageKind) -> KindSpec:
        """The wire description of ``kind``; ProtocolError if this dialect lacks it."""
        try:
            return self._by_kind[kind]
        except KeyError:
            raise ProtocolError(f"dialect {self._name} has no {kind} message") from None

    def has_kind(self, kind: MessageKind) -> bool:
        """True when this dialect has a message for ``kind`` (iso87 has no upload end)."""
        return kind in self._by_kind

    def request_mti(self, req: HostRequest) -> str:
        """The MTI ``req`` is sent with (the repeat MTI when ``req.repeat``)."""
        ks = self.kind_spec(req.kind)
        return ks.repeat_mti if req.repeat and ks.repeat_mti else ks.mti

    def is_maced(self, kind: MessageKind) -> bool:
        """True when messages of ``kind`` (and their responses) carry a MAC."""
        return self.kind_spec(kind).mac

    def mac_key_of(self, kind: MessageKind) -> str:
        """ "mak" or "signon": which key MACs messages of ``kind``."""
        return self.kind_spec(kind).mac_key

    def match(self, mti: str, items: Mapping[str, str], response: bool) -> KindSpec:
        """The kind of a decoded message by its MTI and codes; ProtocolError when none fits."""
        req_mti = f"{mti[:2]}{int(mti[2]) - 1}{mti[3]}" if response else mti
        if response and mti[2] not in "13":
            raise ProtocolError(f"MTI {mti} is not a response")
        # 0410 answers 0400 and 0401; 0230 answers 0220 and 0221.
        req_mtis = {req_mti, req_mti[:3] + "1"} if response else {mti}
        found = []
        for ks in self._kinds:
            if ks.mti not in req_mtis and ks.repeat_mti not in req_mtis:
                continue
            if ks.proc is not None and items.get("proc") != ks.proc:
                continue
            if ks.netmgmt is not None and items.get("netmgmt") != ks.netmgmt:
                continue
            if ks.txn_type is not None and items.get("txn_type") != ks.txn_type:
                continue
            found.append(ks)
        if not found:
            raise ProtocolError(f"no message kind for MTI {mti} with these codes")
        return found[0]

    def original_kind(
        self, orig_mti: str, proc: str | None, txn_type: str | None = None
    ) -> MessageKind:
        """The kind of the original a reversal, void or refund refers to."""
        # Dialects without the original MTI on the wire (cup) name the original by its
        # processing code and transaction type code; a sale is the default original.
        candidates = [
            k
            for k in self._kinds
            if not k.proc_from_original and (not orig_mti or k.mti == orig_mti)
        ]
        if orig_mti and not candidates:
            raise ProtocolError(f"original MTI {orig_mti!r} is not one this dialect sends")
        if txn_type is not None:
            for k in candidates:
                if k.proc is not None and k.proc == proc and k.txn_type == txn_type:
                    return k.kind
        for k in candidates:
            if k.proc is not None and k.proc == proc:
                return k.kind
        for k in candidates:
            if k.proc == "000000":
                return k.kind
        return candidates[0].kind if candidates else MessageKind.SALE
