"""Golden frames: hand-annotated hex from the specifications (tests/golden/host/<dialect>/).

Each file is a frame laid out field by field from the specification (ISO 8583:1987, the
UnionPay POS layout) with a comment per field, not produced by our encoder; two come from
public sources named in their files. Our encoder must produce the hand-laid frames byte for
byte (fixed STAN, time and keys), and our decoder must read every one of them.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import iso8583
import pytest

from appliance.host.dialects import get_dialect
from appliance.host.messages import (
    HostRequest,
    HostResponse,
    MessageKind,
    OriginalRef,
    SettlementTotals,
)
from tests.unit.test_host_codec import MAK, REQUESTS, T0

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "host"
HOST_TIME = datetime(2026, 11, 22, 13, 5, 10, tzinfo=UTC)


def frame(dialect: str, name: str) -> bytes:
    """The bytes of a golden file: the hex before ';' on every non-comment line."""
    text = (GOLDEN / dialect / name).read_text(encoding="utf-8")
    hexes = [ln.split(";")[0].strip() for ln in text.splitlines()]
    return bytes.fromhex("".join(h for h in hexes if h and not h.startswith("#")))


REFUND_UPLOAD = HostRequest(
    MessageKind.BATCH_UPLOAD, "10000001", "898310048160001", 90, T0, amount=300, batch=7,
    original=OriginalRef(
        MessageKind.REFUND, 17, datetime(2026, 11, 22, 9, 0, 0, tzinfo=UTC), 300,
        "632600000017", "654321", 7, "07",
    ),
)  # fmt: skip

REQUEST_FRAMES = [
    ("iso87", "sale_0200.txt", REQUESTS[MessageKind.SALE]),
    ("iso87", "upload_refund_0320.txt", REFUND_UPLOAD),
    ("iso87", "settlement_0500.txt", REQUESTS[MessageKind.SETTLEMENT]),
    ("cup", "sale_0200.txt", REQUESTS[MessageKind.SALE]),
    ("cup", "upload_end_0320.txt", REQUESTS[MessageKind.BATCH_UPLOAD_END]),
]

SALE = REQUESTS[MessageKind.SALE]
SETTLE = REQUESTS[MessageKind.SETTLEMENT]
APPROVAL = HostResponse(
    MessageKind.SALE, "10000001", 42, "00", rrn="632600000123", auth_code="A1B2C3",
    host_time=HOST_TIME, batch=7,
)  # fmt: skip
ANSWER_FRAMES = [
    ("iso87", "sale_answer_0210.txt", SALE, APPROVAL),
    ("cup", "sale_answer_0210.txt", SALE, APPROVAL),
    (
        "cup",
        "settlement_answer_0510.txt",
        SETTLE,
        HostResponse(
            MessageKind.SETTLEMENT,
            "10000001",
            42,
            "95",
            host_time=HOST_TIME,
            batch=7,
            settlement_balanced=False,
            host_totals=SettlementTotals(2, 4000, 1, 500),
        ),
    ),
]


@pytest.mark.parametrize(("name", "path", "req"), REQUEST_FRAMES)
def test_our_encoder_produces_the_hand_laid_request_byte_for_byte(
    name: str, path: str, req: HostRequest
) -> None:
    d = get_dialect(name)
    assert d.frame(d.encode_request(req, MAK)).hex().upper() == frame(name, path).hex().upper()


@pytest.mark.parametrize(("name", "path", "req"), REQUEST_FRAMES)
def test_our_decoder_reads_the_hand_laid_request(name: str, path: str, req: HostRequest) -> None:
    d = get_dialect(name)
    (body,) = d.reader().feed(frame(name, path))
    decoded = d.decode_request(body, lambda _tid: MAK)
    assert (decoded.kind, decoded.stan, decoded.amount, decoded.batch) == (
        req.kind, req.stan, req.amount, req.batch,
    )  # fmt: skip
    if req.original is not None:
        assert decoded.original is not None and decoded.original.kind is req.original.kind


@pytest.mark.parametrize(("name", "path", "req", "resp"), ANSWER_FRAMES)
def test_our_decoder_reads_the_hand_laid_answer_and_our_host_writes_it(
    name: str, path: str, req: HostRequest, resp: HostResponse
) -> None:
    d = get_dialect(name)
    golden = frame(name, path)
    (body,) = d.reader().feed(golden)
    assert d.decode_response(body, MAK) == resp
    assert d.frame_response(d.encode_response(resp, req, MAK)) == golden


def test_the_hand_laid_macs_are_the_independent_reference_macs() -> None:
    from pyemv import mac as pmac

    d = get_dialect("iso87")
    (body,) = d.reader().feed(frame("iso87", "sale_0200.txt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyemv's 3DES deprecation warnings, nothing else here
        want = pmac.mac_iso9797_3(MAK[:8], MAK[8:], body[:-8], 1)
    assert body[-8:] == want


def test_a_public_unionpay_sign_on_is_read_field_by_field_by_our_cup_layout() -> None:
    d = get_dialect("cup")
    raw = frame("cup", "public_signon_0800.txt")
    body = raw[2 + 11 :]  # length header, that terminal's TPDU and header
    doc, _ = iso8583.decode(body, d.profile.spec)
    assert doc["t"] == "0800"
    assert (doc["11"], doc["41"], doc["42"], doc["63"]) == (
        "000074", "12345678", "123456789123456", "123",
    )  # fmt: skip
    items = d.fields.fields_to_items({k: doc[k] for k in ("11", "41", "42", "60", "63")})
    assert (items["txn_type"], items["batch"], items["netmgmt"]) == ("00", "000000", "003")
    assert items["operator"] == "123"
    assert d.has_kind(MessageKind.SIGN_ON) and d.kind_spec(MessageKind.SIGN_ON).netmgmt == "003"


def test_a_public_iso_8583_1987_0820_is_read_field_by_field_by_our_iso87_spec() -> None:
    d = get_dialect("iso87")
    raw = frame("iso87", "public_0820.txt")
    assert int.from_bytes(raw[:2], "big") == len(raw) - 2
    doc, _ = iso8583.decode(raw[2 + 10 :], d.profile.spec)  # that host's 10-byte header
    assert doc["t"] == "0820"
    assert (doc["11"], doc["12"], doc["13"], doc["41"], doc["70"]) == (
        "362910", "102957", "1031", "10000005", "001",
    )  # fmt: skip
    assert doc["48"] == "SU20111031102957201110311029573"
