"""The QR gateway client over httpx's MockTransport: what goes out is signed by the published
rule, what comes back is believed only with a valid signature, and httpx's failures become
NotSent (nothing left) or NoResponse (outcome unknown)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest

from appliance.domain.qr import sign, string_to_sign
from appliance.errors import NoResponse, NotSent
from appliance.host.qrlink import QrGatewayClient, QrSignatureError

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "golden" / "qr" / "pay_exchange.json").read_text(
        encoding="utf-8"
    )
)
KEY = GOLDEN["key"]


def client(handler) -> QrGatewayClient:  # type: ignore[no-untyped-def]
    return QrGatewayClient(
        "http://gateway.test",
        "10000001",
        "898310048160001",
        KEY,
        transport=httpx.MockTransport(handler),
    )


def signed_answer(body: dict, key: str = KEY) -> httpx.Response:
    return httpx.Response(200, json={**body, "sign": sign(body, key)})


def test_the_request_is_signed_over_its_sorted_parameters_and_the_key() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/qr/v1/pay"
        seen.append(json.loads(request.content))
        return signed_answer(GOLDEN["answers"]["paid"])

    req = {k: v for k, v in GOLDEN["request"].items() if k not in ("tid", "mid", "nonce_str")}
    answer = client(handler).call("pay", req)
    assert answer["trade_state"] == "SUCCESS"
    body = seen[0]
    stripped = {k: v for k, v in body.items() if k != "sign"}
    text = string_to_sign(stripped, KEY)
    assert text.endswith(f"&key={KEY}") and text.startswith("auth_code=134567890123456789&")
    expected = hmac.new(KEY.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    assert body["sign"] == expected


def test_an_answer_with_a_wrong_signature_is_not_believed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return signed_answer(GOLDEN["answers"]["paid"], KEY + "x")

    with pytest.raises(QrSignatureError):
        client(handler).call("query", {"out_trade_no": "X"})


def test_a_refused_connection_is_not_sent_and_a_timeout_is_unknown() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="bad gateway")

    with pytest.raises(NotSent):
        client(refuse).call("pay", {"out_trade_no": "X"})
    with pytest.raises(NoResponse) as exc:
        client(slow).call("pay", {"out_trade_no": "X"})
    assert not isinstance(exc.value, NotSent)
    with pytest.raises(NoResponse):
        client(broken).call("pay", {"out_trade_no": "X"})


def test_the_payment_code_is_not_in_the_error_text() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(NoResponse) as exc:
        client(slow).call("pay", {"out_trade_no": "X", "auth_code": "134567890123456789"})
    assert "134567890123456789" not in str(exc.value)
