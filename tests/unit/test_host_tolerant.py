"""Strict writer, tolerant reader: what each message carries, what an answer may add."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import iso8583
import pytest

from appliance.errors import MacError, ProtocolError
from appliance.host.dialects import get_dialect
from appliance.host.dialects.base import Dialect
from appliance.host.messages import (
    HostRequest,
    HostResponse,
    MessageKind,
    OriginalRef,
    SettlementTotals,
)
from tests.unit.test_host_codec import CARD, MAK, REQUESTS, T0

ORIGINAL_AT = datetime(2026, 11, 22, 9, 0, 0, tzinfo=UTC)
# Fields a real host adds to its answers (ISO 8583:1987 formats): settlement date n4,
# acquirer ID LLVAR n..11, additional response data LLVAR an..25, private LLLVAR.
EXTRA = (("15", "1122"), ("32", "48020000"), ("44", "OK FROM ISSUER"), ("63", "CUP 000001"))


@pytest.fixture(params=["iso87", "cup"])
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return get_dialect(request.param)


def upload_of(kind: MessageKind, amount: int = 700) -> HostRequest:
    """A 0320 for one transaction of the batch, as settlement builds it (no card data)."""
    orig = OriginalRef(kind, 17, ORIGINAL_AT, amount, "632600000017", "654321", 7, "07")
    return HostRequest(
        MessageKind.BATCH_UPLOAD, "10000001", "898310048160001", 90, T0,
        amount=amount, batch=7, original=orig,
    )  # fmt: skip


@pytest.mark.parametrize(
    "kind", [MessageKind.SALE, MessageKind.VOID, MessageKind.REFUND, MessageKind.ADVICE]
)
def test_a_batch_upload_says_what_the_uploaded_transaction_was(
    dialect: Dialect, kind: MessageKind
) -> None:
    req = upload_of(kind)
    decoded = dialect.decode_request(dialect.encode_request(req, MAK), lambda tid: MAK)
    assert decoded.original is not None
    assert decoded.original.kind is kind
    assert decoded.original.rrn == "632600000017"
    assert decoded.original.auth_code == "654321"
    assert decoded.original.entry_mode == "07"
    assert decoded.original.stan == 17 and decoded.amount == 700


def test_an_iso87_refund_upload_carries_the_refund_processing_code() -> None:
    d = get_dialect("iso87")
    doc, _ = iso8583.decode(d.encode_request(upload_of(MessageKind.REFUND), MAK), d.profile.spec)
    assert doc["t"] == "0320"
    assert doc["3"] == "200000"
    assert doc["22"] == "072"  # contactless chip, cannot accept a PIN
    assert doc["37"] == "632600000017" and doc["38"] == "654321"


def test_a_cup_upload_and_reversal_carry_the_original_type_code() -> None:
    d = get_dialect("cup")
    doc, _ = iso8583.decode(d.encode_request(upload_of(MessageKind.REFUND), MAK), d.profile.spec)
    assert doc["3"] == "200000" and doc["60"][:2] == "25"
    rev = REQUESTS[MessageKind.REVERSAL]
    doc, _ = iso8583.decode(d.encode_request(replace(rev, repeat=False), MAK), d.profile.spec)
    assert doc["t"] == "0400" and doc["60"][:2] == "22"


def test_a_settlement_request_names_its_currency_in_field_49(dialect: Dialect) -> None:
    req = replace(REQUESTS[MessageKind.SETTLEMENT], currency="344")
    doc, _ = iso8583.decode(dialect.encode_request(req, MAK), dialect.profile.spec)
    assert doc["49"] == "344"
    assert dialect.decode_request(dialect.encode_request(req, MAK), lambda t: MAK).currency == "344"


def test_iso87_track_2_uses_the_equals_separator_on_the_wire() -> None:
    d = get_dialect("iso87")
    body = d.encode_request(REQUESTS[MessageKind.SALE], MAK)
    doc, _ = iso8583.decode(body, d.profile.spec)
    assert doc["35"] == "6212345678901232=28122010000000000"
    card = d.decode_request(body, lambda t: MAK).card
    assert card is not None and card.track2 == CARD.track2


def answer_with_extras(dialect: Dialect, rc: str = "00") -> bytes:
    req = REQUESTS[MessageKind.SALE]
    resp = HostResponse(
        req.kind, req.tid, req.stan, rc, rrn="632600000123", auth_code="A1B2C3",
        extra_fields=EXTRA,
    )  # fmt: skip
    return dialect.encode_response(resp, req, MAK)


def test_an_approval_with_fields_the_dialect_does_not_use_is_still_an_approval(
    dialect: Dialect,
) -> None:
    body = answer_with_extras(dialect)
    resp = dialect.decode_response(body, MAK)
    assert resp.approved and resp.rrn == "632600000123"
    # kept raw: every extra field the dialect does not read itself (cup reads 63)
    assert resp.extra_fields == tuple((f, v) for f, v in EXTRA if f not in dialect.profile.types)
    assert "44" in dict(resp.extra_fields)
    assert resp.echoed_transmission == "1122130509"  # field 7 of the request, echoed


def test_the_mac_covers_the_extra_fields_as_received(dialect: Dialect) -> None:
    body = bytearray(answer_with_extras(dialect))
    i = body.index(b"OK FROM ISSUER")
    body[i] = ord("X")
    with pytest.raises(MacError):
        dialect.decode_response(bytes(body), MAK)


def test_a_host_still_refuses_a_request_with_a_field_it_does_not_use(dialect: Dialect) -> None:
    req = REQUESTS[MessageKind.SALE]
    body = dialect.fields.encode(
        "0200", dialect.items.request_items(req, dialect.kind_spec(req.kind)), MAK, True,
        extra={"44": "X"},
    )  # fmt: skip
    with pytest.raises(ProtocolError, match="44"):
        dialect.decode_request(body, lambda t: MAK)


def test_a_bitmap_naming_a_field_outside_the_table_is_a_protocol_error() -> None:
    d = get_dialect("cup")
    req = REQUESTS[MessageKind.ECHO]
    body = bytearray(d.encode_request(req, None))
    body[2 + 2] |= 0x01  # bitmap bit 24: no UnionPay POS field, not in the spec at all
    with pytest.raises(ProtocolError, match="unknown field"):
        d.decode_response(bytes(body), None)


def test_host_totals_still_come_back_with_a_0510(dialect: Dialect) -> None:
    req = REQUESTS[MessageKind.SETTLEMENT]
    resp = HostResponse(
        MessageKind.SETTLEMENT, req.tid, req.stan, "95", batch=7,
        host_totals=SettlementTotals(2, 3000, 0, 0),
    )  # fmt: skip
    out = dialect.decode_response(dialect.encode_response(resp, req, MAK), MAK)
    assert out.host_totals == SettlementTotals(2, 3000, 0, 0)


@pytest.mark.parametrize(
    ("note", "code"),
    [
        ("response MAC rejected: MAC does not verify", "A0"),
        ("no response from the host within the timeout", "98"),
        ("undecodable reply from the host: frame length 0 out of range", "96"),
        ("recovered at start-up: outcome unknown", "06"),
    ],
)
def test_a_reversal_says_why_it_is_sent(note: str, code: str) -> None:
    from appliance.services.terminal import reversal_reason

    assert reversal_reason(note) == code
    d = get_dialect("cup")
    rev = replace(REQUESTS[MessageKind.REVERSAL], repeat=False, reason=code)
    doc, _ = iso8583.decode(d.encode_request(rev, MAK), d.profile.spec)
    assert doc["39"] == code


def test_a_cup_settlement_answer_says_out_of_balance_in_48_with_39_approved() -> None:
    d = get_dialect("cup")
    req = REQUESTS[MessageKind.SETTLEMENT]
    resp = HostResponse(
        MessageKind.SETTLEMENT, req.tid, req.stan, "95", batch=7,
        host_totals=SettlementTotals(2, 3000, 0, 0),
    )  # fmt: skip
    body = d.encode_response(resp, req, MAK)
    doc, _ = iso8583.decode(body, d.profile.spec)
    assert doc["39"] == "00"
    assert doc["48"][:31] == "000000003000" + "002" + "000000000000" + "000" + "2"
    out = d.decode_response(body, MAK)
    assert out.response_code == "95" and out.settlement_balanced is False
