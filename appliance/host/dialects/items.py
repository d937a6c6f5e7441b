"""Messages ⇄ items for one dialect: what a ``HostRequest`` / ``HostResponse`` says, as items.

The terminal side turns a request into items and a response's items back into a
``HostResponse``; the host side (the reference acquirer) does the reverse. Which field carries
an item is ``fields.FieldCodec``'s business; which kind a message is, ``kinds.KindTable``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from appliance.errors import ProtocolError
from appliance.host.dialects.fields import FieldCodec
from appliance.host.dialects.kinds import KindTable
from appliance.host.dialects.profile import KindSpec, Profile
from appliance.host.dialects.wire_time import infer_year, transmission_stamp
from appliance.host.messages import (
    CardFields,
    HostRequest,
    HostResponse,
    MessageKind,
    OriginalRef,
    SettlementTotals,
    WorkingKeys,
)


class MessageItems:
    """Build the items of a message and read a message back from its items."""

    def __init__(self, profile: Profile, kinds: KindTable, fields: FieldCodec) -> None:
        self.profile = profile
        self._kinds = kinds
        self._fields = fields

    def totals_items(self, t: SettlementTotals) -> dict[str, str]:
        """Settlement totals as items, each as wide as the dialect's field part (default 3/12)."""
        widths = {"sale_count": 3, "sale_amount": 12, "refund_count": 3, "refund_amount": 12}
        for parts in self.profile.composite.values():
            for name, width in parts:
                if name in widths:
                    widths[name] = width
        return {name: digits(getattr(t, name), width) for name, width in widths.items()}

    def request_items(self, req: HostRequest, ks: KindSpec) -> dict[str, str]:
        """The items of ``req``, a message of kind ``ks`` (only those its kind may carry)."""
        it: dict[str, str] = {}
        orig = req.original
        proc = ks.proc
        txn_type = ks.txn_type
        if ks.proc_from_original:
            if orig is None:
                raise ProtocolError(f"a {req.kind} needs the original transaction")
            oks = self._kinds.kind_spec(orig.kind)
            proc = oks.proc or "000000"
            txn_type = oks.txn_type or txn_type
        if proc is not None:
            it["proc"] = proc
        if ks.netmgmt is not None:
            it["netmgmt"] = ks.netmgmt
        if txn_type is not None:
            it["txn_type"] = txn_type
        it["transmitted"] = transmission_stamp(req.transmitted_at)
        t = req.transmitted_at.astimezone(UTC)
        it["local_time"] = f"{t.hour:02d}{t.minute:02d}{t.second:02d}"
        it["local_date"] = f"{t.month:02d}{t.day:02d}"
        it["stan"] = digits(req.stan, 6)
        it["tid"] = req.tid
        it["mid"] = req.mid
        it.update(self.profile.constants.get(req.kind, {}))
        if req.operator:
            # an operator code is text, left-aligned (cup 63.1 an3: "01 ")
            it["operator"] = req.operator[:3].ljust(3)
        if req.reason:
            it["reversal_reason"] = req.reason
        if req.count is not None:
            it["upload_count"] = digits(req.count, self._fields.width("upload_count", 4))
        if req.amount is not None or req.kind is MessageKind.SETTLEMENT:
            # A 0500 names the currency of its totals (field 49) though it has no amount.
            if req.amount is not None:
                it["amount"] = digits(req.amount, 12)
            it["currency"] = req.currency
        if req.card is not None:
            c: CardFields = req.card
            it["pan"] = c.pan
            it["expiry"] = c.expiry
            it["entry_mode"] = entry_mode(c.entry_mode)
            if c.track2:
                it["track2"] = c.track2.replace("D", self.profile.track2_separator)
            if c.emv_data:
                it["emv"] = c.emv_data.hex().upper()
            if c.pan_sequence:
                it["pan_seq"] = c.pan_sequence.zfill(3)
        batch = req.batch
        if batch is not None:
            it["batch"] = digits(batch, 6)
        if orig is not None:
            it["orig_mti"] = self._kinds.kind_spec(orig.kind).mti
            it["orig_stan"] = digits(orig.stan, 6)
            it["orig_transmitted"] = transmission_stamp(orig.transmitted_at)
            it["orig_date"] = it["orig_transmitted"][:4]  # MMDD (cup 61.3)
            it["orig_amount"] = digits(orig.amount, 12)
            if orig.batch is not None:
                it["orig_batch"] = digits(orig.batch, 6)
            if orig.rrn:
                it["orig_rrn"] = orig.rrn
            if orig.auth_code:
                it["orig_auth"] = orig.auth_code
            if req.card is None and orig.entry_mode:
                # a batch upload names how the original was read, without its card data
                it["entry_mode"] = entry_mode(orig.entry_mode)
        if req.totals is not None:
            tt = req.totals
            it.update(self.totals_items(tt))
            if "totals_result" in self._fields.part_of:
                # cup 48: result digit 0 in a request; foreign-card totals all zero (the
                # terminal settles one currency)
                it["totals_result"] = "0"
                it["foreign_totals"] = "0" * self._fields.width("foreign_totals", 31)
        allowed = self.profile.request_items.get(req.kind)
        if allowed is not None:
            it = {k: v for k, v in it.items() if k in allowed}
        return it

    def to_request(self, ks: KindSpec, mti: str, it: Mapping[str, str]) -> HostRequest:
        """The ``HostRequest`` a decoded request of kind ``ks`` and MTI ``mti`` says."""
        now = datetime.now(UTC)
        transmitted = infer_year(need(it, "transmitted"), now)
        card = None
        if "pan" in it:
            card = CardFields(
                pan=it["pan"],
                expiry=it.get("expiry", ""),
                track2=it["track2"].replace("=", "D") if "track2" in it else None,
                emv_data=bytes.fromhex(it.get("emv", "")),
                entry_mode=it.get("entry_mode", "07")[:2],
                pan_sequence=it.get("pan_seq"),
            )
        original = None
        if "orig_stan" in it:
            # Only a reversal repeats the original's processing code; a void or refund has
            # its own, so its original is named by MTI alone.
            okind = self._kinds.original_kind(
                it.get("orig_mti", ""),
                it.get("proc") if ks.proc_from_original else None,
                it.get("txn_type") if ks.proc_from_original else None,
            )
            exact = "orig_transmitted" in it
            stamp = it["orig_transmitted"] if exact else need(it, "orig_date") + "000000"
            original = OriginalRef(
                kind=okind,
                stan=int(it["orig_stan"]),
                transmitted_at=infer_year(stamp, now),
                exact_time=exact,
                amount=int(it.get("orig_amount", it.get("amount", "0"))),
                rrn=it.get("orig_rrn"),
                auth_code=it.get("orig_auth"),
                batch=int(it["orig_batch"]) if "orig_batch" in it else None,
                entry_mode=it["entry_mode"][:2] if card is None and "entry_mode" in it else None,
            )
        totals = None
        if "sale_count" in it and ks.kind is MessageKind.SETTLEMENT:
            totals = totals_of(it)
        return HostRequest(
            kind=ks.kind,
            tid=it["tid"],
            mid=it.get("mid", ""),
            stan=int(it["stan"]),
            transmitted_at=transmitted,
            repeat=mti == ks.repeat_mti,
            amount=int(it["amount"]) if "amount" in it else None,
            currency=it.get("currency", "156"),
            card=card,
            original=original,
            batch=int(it["batch"]) if "batch" in it else None,
            totals=totals,
            operator=it.get("operator") or None,
            reason=it.get("reversal_reason") if ks.kind is MessageKind.REVERSAL else None,
            count=int(it["upload_count"])
            if "upload_count" in it and ks.kind is MessageKind.BATCH_UPLOAD_END
            else None,
        )

    def to_response(self, ks: KindSpec, it: Mapping[str, str]) -> HostResponse:
        """The ``HostResponse`` a decoded answer of kind ``ks`` says."""
        wk = None
        if "mak" in it:
            wk = WorkingKeys(
                pik=bytes.fromhex(need(it, "pik")),
                pik_kcv=need(it, "pik_kcv"),
                mak=bytes.fromhex(it["mak"]),
                mak_kcv=need(it, "mak_kcv"),
            )
        host_time = None
        if "local_time" in it and "local_date" in it:
            host_time = infer_year(it["local_date"] + it["local_time"], datetime.now(UTC))
        rc = it["response_code"]
        balanced = None
        host_totals = None
        if ks.kind is MessageKind.SETTLEMENT:
            if "totals_result" in it and rc == "00":
                # cup: 39 = 00 and the verdict in 48's result digit (1 balanced, 2 not);
                # reported as the dialect-neutral 95 when not balanced
                rc = {"1": "00", "2": "95"}.get(it["totals_result"], "96")
            balanced = {"00": True, "95": False}.get(rc)
            if "sale_count" in it and "sale_amount" in it:
                host_totals = totals_of(it)
        return HostResponse(
            kind=ks.kind,
            tid=it["tid"],
            stan=int(it["stan"]),
            response_code=rc,
            rrn=it.get("rrn"),
            auth_code=it.get("auth_code"),
            host_time=host_time,
            working_keys=wk,
            batch=int(it["batch"]) if "batch" in it else None,
            settlement_balanced=balanced,
            host_totals=host_totals,
        )

    def response_items(self, resp: HostResponse, req: HostRequest, ks: KindSpec) -> dict[str, str]:
        """The items of the answer ``resp`` to ``req``: the request's own, less what an answer
        does not repeat (card data, the original's details), plus the host's."""
        items = self.request_items(req, ks)
        for drop in (
            "pan",
            "expiry",
            "track2",
            "emv",
            "pan_seq",
            "entry_mode",
            "orig_rrn",
            "orig_auth",
            "orig_amount",
            "orig_batch",
            "orig_date",
            "operator",
            "reversal_reason",
            "upload_count",
            "read_capability",
            "ic_condition",
        ):
            items.pop(drop, None)
        items["response_code"] = resp.response_code
        if resp.rrn:
            items["rrn"] = resp.rrn
        if resp.auth_code:
            items["auth_code"] = resp.auth_code
        if resp.batch is not None:
            items["batch"] = digits(resp.batch, 6)
        if resp.host_time is not None:
            t = resp.host_time.astimezone(UTC)
            items["local_time"] = f"{t.hour:02d}{t.minute:02d}{t.second:02d}"
            items["local_date"] = f"{t.month:02d}{t.day:02d}"
        for drop in ("sale_count", "sale_amount", "refund_count", "refund_amount"):
            # never echo the terminal's totals: field 48 of a 0510 is the host's own
            items.pop(drop, None)
        for drop in ("totals_result", "foreign_totals"):
            items.pop(drop, None)
        ht = resp.host_totals
        if ht is not None:
            # A 0510 carries the host's totals in place of the terminal's (field 48).
            items.update(self.totals_items(ht))
        if (
            req.kind is MessageKind.SETTLEMENT
            and "totals_result" in self._fields.part_of
            and resp.response_code in ("00", "95")
        ):
            if ht is None and req.totals is not None:
                # a UnionPay 0510 returns the request's 48 with its result digit set
                items.update(self.totals_items(req.totals))
            items["response_code"] = "00"
            items["totals_result"] = "1" if resp.response_code == "00" else "2"
            items["foreign_totals"] = "0" * self._fields.width("foreign_totals", 31)
        wk = resp.working_keys
        if wk is not None:
            items.update(
                pik=wk.pik.hex().upper(),
                # a check value is sent with as many digits as the dialect carries
                pik_kcv=wk.pik_kcv[: self._fields.width("pik_kcv", 6)],
                mak=wk.mak.hex().upper(),
                mak_kcv=wk.mak_kcv[: self._fields.width("mak_kcv", 6)],
            )
        return items


def digits(n: int, width: int) -> str:
    """``n`` as exactly ``width`` digits; ProtocolError when it does not fit."""
    if n < 0 or len(str(n)) > width:
        raise ProtocolError(f"value {n} does not fit in {width} digits")
    return f"{n:0{width}d}"


def entry_mode(mode: str) -> str:
    """Field 22 n3: entry mode n2 + PIN entry capability n1, which is 2 ("cannot accept a
    PIN") on this terminal: a Pi is no PCI PTS device, so it takes no PINs."""
    return mode if len(mode) >= 3 else (mode + "2")[:3]


def totals_of(it: Mapping[str, str]) -> SettlementTotals:
    """The settlement totals items of a 0500 or 0510; ProtocolError when one is missing."""
    return SettlementTotals(
        sale_count=int(need(it, "sale_count")),
        sale_amount=int(need(it, "sale_amount")),
        refund_count=int(need(it, "refund_count")),
        refund_amount=int(need(it, "refund_amount")),
    )


def need(items: Mapping[str, str], name: str) -> str:
    """The item ``name``; ProtocolError when the message lacks it."""
    try:
        return items[name]
    except KeyError:
        raise ProtocolError(f"message lacks {name}") from None
