"""The ISO 8583 codec: round trips for every message kind, validation, MAC, keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import iso8583
import pytest

from appliance.errors import ConfigError, KeyCheckError, MacError, ProtocolError
from appliance.host import keys
from appliance.host.dialects import get_dialect
from appliance.host.dialects.base import Dialect
from appliance.host.dialects.fields import FrameMacError
from appliance.host.dialects.wire_time import infer_year
from appliance.host.messages import (
    CardFields,
    HostRequest,
    HostResponse,
    MessageKind,
    OriginalRef,
    SettlementTotals,
    WorkingKeys,
)

T0 = datetime(2026, 11, 22, 13, 5, 9, tzinfo=UTC)
MAK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
CARD = CardFields(
    pan="6212345678901232",
    expiry="2812",
    track2="6212345678901232D28122010000000000",
    emv_data=bytes.fromhex("9F2608A1B2C3D4E5F60718"),
    pan_sequence="001",
)
ORIG = OriginalRef(
    MessageKind.SALE,
    41,
    datetime(2026, 11, 22, 9, 0, 0, tzinfo=UTC),
    1999,
    "632600000001",
    "123456",
    7,
)


def request(kind: MessageKind, **kw: object) -> HostRequest:
    base: dict[str, object] = {
        "kind": kind,
        "tid": "10000001",
        "mid": "898310048160001",
        "stan": 42,
        "transmitted_at": T0,
    }
    base.update(kw)
    return HostRequest(**base)  # type: ignore[arg-type]


REQUESTS = {
    MessageKind.SIGN_ON: request(MessageKind.SIGN_ON),
    MessageKind.ECHO: request(MessageKind.ECHO),
    MessageKind.SALE: request(MessageKind.SALE, amount=1999, card=CARD, batch=7),
    MessageKind.VOID: request(MessageKind.VOID, amount=1999, card=CARD, batch=7, original=ORIG),
    MessageKind.REFUND: request(MessageKind.REFUND, amount=500, card=CARD, batch=7, original=ORIG),
    MessageKind.REVERSAL: request(
        MessageKind.REVERSAL,
        stan=41,
        amount=1999,
        batch=7,
        original=replace(ORIG, rrn=None, auth_code=None),
        repeat=True,
    ),
    MessageKind.ADVICE: request(MessageKind.ADVICE, amount=800, card=CARD, batch=7),
    MessageKind.SETTLEMENT: request(
        MessageKind.SETTLEMENT, batch=7, totals=SettlementTotals(3, 4500, 1, 500)
    ),
    MessageKind.BATCH_UPLOAD: request(
        MessageKind.BATCH_UPLOAD, amount=1999, card=CARD, batch=7, original=ORIG
    ),
    MessageKind.BATCH_UPLOAD_END: request(MessageKind.BATCH_UPLOAD_END, batch=7, count=12),
}

# Every (dialect, kind) pair that exists: iso87 has no batch-upload end.
PAIRS = [
    (name, kind)
    for name in ("iso87", "cup")
    for kind in MessageKind
    if get_dialect(name).has_kind(kind)
]


def carried(dialect: Dialect, req: HostRequest) -> HostRequest:
    """``req`` as far as ``dialect`` carries it on the wire (what a decoder can give back)."""
    if dialect.kind_spec(req.kind).repeat_mti is None:
        req = replace(req, repeat=False)  # a dialect without repeat MTIs cannot tell
    if dialect.name == "iso87":
        return replace(req, reason=None, operator=None)
    o = req.original
    if o is not None:
        # cup 61 names the original by batch, STAN and date (MMDD), not its time or amount
        day = o.transmitted_at.replace(hour=0, minute=0, second=0)
        o = replace(o, transmitted_at=day, amount=req.amount or 0)
    return replace(req, original=o, batch=req.batch or None)


@pytest.fixture(params=["iso87", "cup"])
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return get_dialect(request.param)


def test_unknown_dialect_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown host dialect"):
        get_dialect("iso93")


@pytest.mark.parametrize(("name", "kind"), PAIRS)
def test_every_request_kind_survives_a_round_trip(name: str, kind: MessageKind) -> None:
    dialect = get_dialect(name)
    req = REQUESTS[kind]
    if kind is MessageKind.REVERSAL:
        req = replace(req, reason="98")
    if kind in (MessageKind.SIGN_ON, MessageKind.SETTLEMENT):
        req = replace(req, operator="01")
    body = dialect.encode_request(req, MAK)
    decoded = dialect.decode_request(body, lambda tid: MAK, lambda tid: MAK)
    # cup's composite field 60 sends an absent batch number as 000000
    assert replace(decoded, batch=decoded.batch or None) == carried(dialect, req)


@pytest.mark.parametrize(("name", "kind"), PAIRS)
def test_every_response_kind_survives_a_round_trip(name: str, kind: MessageKind) -> None:
    dialect = get_dialect(name)
    req = REQUESTS[kind]
    wk = None
    digits = 8 if name == "cup" else 6  # check values as long as the dialect carries them
    if kind is MessageKind.SIGN_ON:
        wk = WorkingKeys(b"\x11" * 16, "AAAAAAAA"[:digits], b"\x22" * 16, "BBBBBBBB"[:digits])
    resp = HostResponse(
        kind=kind,
        tid=req.tid,
        stan=req.stan,
        response_code="00",
        rrn="632600000123",
        auth_code="A1B2C3",
        host_time=T0,
        working_keys=wk,
        batch=7,
        settlement_balanced=True if kind is MessageKind.SETTLEMENT else None,
        # a cup 0510 always carries 48 (the verdict digit is in it)
        host_totals=SettlementTotals(3, 4500, 1, 500) if kind is MessageKind.SETTLEMENT else None,
    )
    body = dialect.encode_response(resp, req, MAK)
    assert dialect.decode_response(body, MAK, MAK) == resp


def test_settlement_out_of_balance_decodes_as_not_balanced(dialect: Dialect) -> None:
    req = REQUESTS[MessageKind.SETTLEMENT]
    resp = HostResponse(MessageKind.SETTLEMENT, req.tid, req.stan, "95", batch=7)
    decoded = dialect.decode_response(dialect.encode_response(resp, req, MAK), MAK)
    assert decoded.settlement_balanced is False


def test_echo_carries_no_mac_and_sign_on_is_maced_with_the_sign_on_key(
    dialect: Dialect,
) -> None:
    body = dialect.encode_request(REQUESTS[MessageKind.ECHO], None)
    assert dialect.decode_request(body, lambda tid: None).kind is MessageKind.ECHO
    assert dialect.is_maced(MessageKind.SIGN_ON)
    assert dialect.mac_key_of(MessageKind.SIGN_ON) == "signon"
    signon = keys.signon_key(MAK)
    body = dialect.encode_request(REQUESTS[MessageKind.SIGN_ON], signon)
    assert dialect.decode_request(body, lambda t: MAK, lambda t: signon).kind is MessageKind.SIGN_ON
    with pytest.raises(MacError):
        dialect.decode_request(body, lambda t: MAK, lambda t: keys.signon_key(keys.generate_key()))
    with pytest.raises(KeyCheckError, match="TMK"):
        dialect.encode_request(REQUESTS[MessageKind.SIGN_ON], None)


def test_a_maced_request_without_a_mak_cannot_be_built(dialect: Dialect) -> None:
    with pytest.raises(KeyCheckError, match="sign on"):
        dialect.encode_request(REQUESTS[MessageKind.SALE], None)


def test_iso87_wire_format_is_ascii_mti_binary_bitmap() -> None:
    d = get_dialect("iso87")
    body = d.encode_request(REQUESTS[MessageKind.SALE], MAK)
    assert body[:4] == b"0200"
    framed = d.frame(body)
    assert int.from_bytes(framed[:2], "big") == len(body)
    assert d.reader().feed(framed[:5]) == []


def test_mti_and_processing_codes_follow_the_documented_table() -> None:
    d = get_dialect("iso87")
    expect = {
        MessageKind.SALE: ("0200", "000000"),
        MessageKind.VOID: ("0200", "020000"),
        MessageKind.REFUND: ("0200", "200000"),
        MessageKind.REVERSAL: ("0401", "000000"),
        MessageKind.ADVICE: ("0220", "000000"),
        MessageKind.SETTLEMENT: ("0500", "920000"),
        MessageKind.BATCH_UPLOAD: ("0320", "000000"),
    }
    for kind, (mti, proc) in expect.items():
        doc, _ = iso8583.decode(d.encode_request(REQUESTS[kind], MAK), d.profile.spec)
        assert (doc["t"], doc["3"]) == (mti, proc), kind
    doc, _ = iso8583.decode(d.encode_request(REQUESTS[MessageKind.SIGN_ON], MAK), d.profile.spec)
    assert (doc["t"], doc["70"]) == ("0800", "001")


def test_a_reversal_points_at_the_original_through_field_90() -> None:
    d = get_dialect("iso87")
    doc, _ = iso8583.decode(d.encode_request(REQUESTS[MessageKind.REVERSAL], MAK), d.profile.spec)
    assert doc["90"] == "0200" + "000041" + "1122090000" + "0" * 22
    assert doc["11"] == "000041"
    assert "128" in doc and "64" not in doc  # secondary bitmap present → MAC in 128


# ---------------------------------------------------------------- validation


def _raw_sale(**fields: str) -> bytes:
    d = get_dialect("iso87")
    doc = {"t": "0210", "3": "000000", "11": "000042", "39": "00", "41": "10000001"}
    doc.update(fields)
    raw, _ = iso8583.encode(doc, d.profile.spec)
    return bytes(raw)


def test_numeric_field_with_letters_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="field 11"):
        get_dialect("iso87").decode_response(_raw_sale(**{"11": "00A042"}), MAK)


def test_over_length_variable_field_is_rejected() -> None:
    d = get_dialect("iso87")
    body = bytearray(d.encode_request(REQUESTS[MessageKind.SALE], MAK))
    i = body.index(b"16" + CARD.pan.encode())
    body[i : i + 2] = b"25"  # LLVAR PAN longer than 19
    with pytest.raises(ProtocolError):
        d.decode_request(bytes(body), lambda tid: MAK)


def test_trailing_bytes_are_rejected() -> None:
    body = get_dialect("iso87").encode_request(REQUESTS[MessageKind.SALE], MAK)
    with pytest.raises(ProtocolError, match="Extra data"):
        get_dialect("iso87").decode_request(body + b"X", lambda tid: MAK)


def test_a_bitmap_naming_an_unknown_field_is_a_protocol_error_not_a_key_error() -> None:
    body = bytearray(_raw_sale())
    body[4] |= 0x40  # field 2 … now set field 2's neighbour: bit 2 of byte 0 is field 2
    body[4 + 2] |= 0x01  # field 24: not in the iso87 spec
    with pytest.raises(ProtocolError):
        get_dialect("iso87").decode_response(bytes(body), MAK)


def test_a_tertiary_bitmap_is_refused() -> None:
    d = get_dialect("iso87")
    body = bytearray(d.encode_request(REQUESTS[MessageKind.REVERSAL], MAK))
    body[4 + 8] |= 0x80  # field 65 in the secondary bitmap
    with pytest.raises(ProtocolError):
        d.decode_request(bytes(body), lambda tid: MAK)


def test_a_request_mti_is_not_accepted_as_a_response() -> None:
    d = get_dialect("iso87")
    body = d.encode_request(REQUESTS[MessageKind.ECHO], None)
    with pytest.raises(ProtocolError, match="not a response"):
        d.decode_response(body, MAK)


def test_a_response_lacking_its_response_code_is_rejected() -> None:
    raw, _ = iso8583.encode(
        {"t": "0810", "11": "000042", "41": "10000001", "70": "301"},
        get_dialect("iso87").profile.spec,
    )
    with pytest.raises(ProtocolError, match="39"):
        get_dialect("iso87").decode_response(bytes(raw), None)


def test_values_that_do_not_fit_are_refused_at_encoding() -> None:
    with pytest.raises(ProtocolError):
        get_dialect("iso87").encode_request(replace(REQUESTS[MessageKind.SALE], amount=10**12), MAK)


def test_a_bad_length_header_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="length"):
        get_dialect("iso87").reader().feed(b"\xff\xff" + b"0" * 10)


# ----------------------------------------------------------------------- MAC


def test_a_response_with_a_good_mac_verifies(dialect: Dialect) -> None:
    req = REQUESTS[MessageKind.SALE]
    body = dialect.encode_response(HostResponse(req.kind, req.tid, req.stan, "00"), req, MAK)
    assert dialect.decode_response(body, MAK).approved


def test_a_flipped_bit_anywhere_fails_the_mac(dialect: Dialect) -> None:
    req = REQUESTS[MessageKind.SALE]
    body = bytearray(
        dialect.encode_response(HostResponse(req.kind, req.tid, req.stan, "00"), req, MAK)
    )
    body[-1] ^= 0x01
    with pytest.raises(MacError):
        dialect.decode_response(bytes(body), MAK)


def test_a_response_mac_under_another_key_fails(dialect: Dialect) -> None:
    req = REQUESTS[MessageKind.SALE]
    body = dialect.encode_response(HostResponse(req.kind, req.tid, req.stan, "00"), req, MAK)
    with pytest.raises(FrameMacError) as info:
        dialect.decode_response(body, keys.generate_key())
    assert info.value.message.stan == 42  # still matchable to its request


def test_a_missing_mac_is_a_mac_error(dialect: Dialect) -> None:
    req = REQUESTS[MessageKind.SALE]
    body = dialect.encode_response(HostResponse(req.kind, req.tid, req.stan, "00"), req, None)
    with pytest.raises(MacError, match="missing"):
        dialect.decode_response(body, MAK)


def _x919_reference(key: bytes, data: bytes) -> bytes:
    """X9.19 written out: single-DES CBC-MAC under K1, then decrypt K2, encrypt K1."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    def des(k: bytes, block: bytes, decrypt: bool = False) -> bytes:
        c = Cipher(TripleDES(k * 3), modes.ECB())
        op = c.decryptor() if decrypt else c.encryptor()
        return op.update(block) + op.finalize()

    k1, k2 = key[:8], key[8:]
    data = data + b"\0" * (-len(data) % 8)
    state = bytes(8)
    for i in range(0, len(data), 8):
        state = des(k1, bytes(a ^ b for a, b in zip(state, data[i : i + 8], strict=True)))
    return des(k1, des(k2, state, decrypt=True))


@pytest.mark.parametrize("data", [b"Hello World", bytes(range(64)), b"0200\x00" * 9])
def test_retail_mac_is_ansi_x9_19_with_zero_padding(data: bytes) -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    assert keys.retail_mac(key, data) == _x919_reference(key, data)


# ---------------------------------------------------------------------- keys


def test_kcv_is_six_hex_digits_of_the_standard_value() -> None:
    assert keys.kcv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")) == "08D7B4"


def test_working_keys_unwrap_and_verify() -> None:
    tmk, pik, mak = keys.generate_key(), keys.generate_key(), keys.generate_key()
    wk = WorkingKeys(keys.wrap_key(tmk, pik), keys.kcv(pik), keys.wrap_key(tmk, mak), keys.kcv(mak))
    assert keys.unwrap_working_keys(tmk, wk) == (pik, mak)


def test_a_kcv_mismatch_is_a_key_check_error() -> None:
    tmk, other, pik, mak = (keys.generate_key() for _ in range(4))
    wk = WorkingKeys(keys.wrap_key(tmk, pik), keys.kcv(pik), keys.wrap_key(tmk, mak), keys.kcv(mak))
    with pytest.raises(KeyCheckError, match="check value"):
        keys.unwrap_working_keys(other, wk)


def test_tmk_components_combine_by_xor_with_odd_parity() -> None:
    a, b = bytes(range(16)), bytes(range(16, 32))
    tmk = keys.combine_components([a, b])
    assert all(bin(x).count("1") % 2 == 1 for x in tmk)
    assert all((t ^ x ^ y) & 0xFE == 0 for t, x, y in zip(tmk, a, b, strict=True))
    with pytest.raises(ConfigError):
        keys.combine_components([a])
    with pytest.raises(ConfigError):
        keys.combine_components([a, b[:8]])


def test_generated_keys_have_odd_parity_and_differ() -> None:
    k1, k2 = keys.generate_key(), keys.generate_key()
    assert k1 != k2 and all(bin(x).count("1") % 2 for x in k1)


def test_transmission_time_year_is_inferred_nearest_to_now() -> None:
    assert infer_year("1231235959", T0.replace(month=1, day=1)).year == 2025
    assert infer_year("0101000000", T0.replace(month=12, day=31)).year == 2027
    with pytest.raises(ProtocolError):
        infer_year("1341000000", T0)


def _cup_ecb_reference(key: bytes, data: bytes) -> bytes:
    """UnionPay ECB MAC written out again, on pyemv's 3DES."""
    import binascii

    from pyemv import tools

    data += bytes(-len(data) % 8)
    acc = bytes(8)
    for i in range(0, len(data), 8):
        acc = tools.xor(acc, data[i : i + 8])
    h = binascii.hexlify(acc).upper()
    step = tools.encrypt_tdes_ecb(key, h[:8])
    step = tools.encrypt_tdes_ecb(key, tools.xor(step, h[8:]))
    return binascii.hexlify(step).upper()[:8]


@pytest.mark.parametrize("data", [b"Hello World", bytes(range(64)), b"\x02\x00" * 21])
def test_cup_ecb_mac_matches_the_written_out_algorithm(data: bytes) -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    mac = keys.cup_ecb_mac(key, data)
    assert mac == _cup_ecb_reference(key, data)
    assert len(mac) == 8 and all(c in b"0123456789ABCDEF" for c in mac)


def test_the_cup_dialect_macs_with_the_ecb_algorithm() -> None:
    d = get_dialect("cup")
    body = d.encode_request(REQUESTS[MessageKind.SALE], MAK)
    assert body[-8:] == keys.cup_ecb_mac(MAK, body[:-8])
    with pytest.raises(ConfigError):
        keys.mac_of("x9.9", MAK, body)
