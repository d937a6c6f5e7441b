"""QR payments, pure: code shapes, signing, answers and the query-then-cancel rule, checked
against the wallets' published documents (tests/golden/qr, sources named in each file)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from pathlib import Path

import pytest

from appliance.domain.qr import (
    Answer,
    BadPaymentCode,
    QrState,
    QueryPolicy,
    Step,
    Wallet,
    cancel_acknowledged,
    check_qr_transition,
    classify_answer,
    classify_code,
    mask_payer,
    next_step,
    order_number,
    sign,
    string_to_sign,
    verify,
)
from appliance.errors import IllegalTransition

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "qr"


def load(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def test_the_published_wechat_signature_example_is_reproduced() -> None:
    g = load("wechat_sign_example.json")
    assert string_to_sign(g["params"], g["key"]) == g["stringSignTemp"]
    assert sign(g["params"], g["key"]) == g["sign_hmac_sha256"]
    # The same string under MD5 gives the page's other value: the string itself is right.
    assert hashlib.md5(g["stringSignTemp"].encode()).hexdigest().upper() == g["sign_md5"]


def test_signature_skips_empty_values_and_the_sign_itself() -> None:
    g = load("wechat_sign_example.json")
    params = {**g["params"], "sign": "X", "attach": "", "detail": None}
    assert sign(params, g["key"]) == g["sign_hmac_sha256"]


def test_a_pay_request_is_signed_over_the_hand_written_string() -> None:
    g = load("pay_exchange.json")
    assert string_to_sign(g["request"], g["key"]) == g["request_string_to_sign"]
    expected = (
        hmac.new(g["key"].encode(), g["request_string_to_sign"].encode(), hashlib.sha256)
        .hexdigest()
        .upper()
    )
    assert sign(g["request"], g["key"]) == expected


def test_verify_accepts_its_signature_and_refuses_any_change() -> None:
    g = load("pay_exchange.json")
    signed = {**g["request"], "sign": sign(g["request"], g["key"])}
    assert verify(signed, g["key"])
    assert not verify({**signed, "total_amount": 1251}, g["key"])
    assert not verify(signed, g["key"] + "x")
    assert not verify(g["request"], g["key"])  # unsigned


@pytest.mark.parametrize(("code", "wallet"), load("payment_codes.json")["valid"])
def test_published_code_shapes_are_recognised(code: str, wallet: str) -> None:
    assert classify_code(code) == Wallet(wallet)
    assert classify_code(code + "\r\n") == Wallet(wallet)  # a keyboard-wedge scanner's Enter


@pytest.mark.parametrize("code", load("payment_codes.json")["invalid"])
def test_other_shapes_are_refused_without_quoting_the_code(code: str) -> None:
    with pytest.raises(BadPaymentCode) as exc:
        classify_code(code)
    if len(code) > 4:
        assert code not in str(exc.value)
    assert "scan" in str(exc.value)


@pytest.mark.parametrize(("name", "meaning"), load("pay_exchange.json")["expected"].items())
def test_answers_mean_what_the_wallets_say(name: str, meaning: str) -> None:
    body = load("pay_exchange.json")["answers"][name]
    assert classify_answer(body) == Answer(meaning)


def test_no_answer_and_an_unknown_order_are_unknown() -> None:
    assert classify_answer(None) == Answer.UNKNOWN
    body = {"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "ORDERNOTEXIST"}
    assert classify_answer(body) == Answer.UNKNOWN


def test_cancel_is_acknowledged_only_without_recall() -> None:
    answers = load("pay_exchange.json")["answers"]
    assert cancel_acknowledged(answers["cancel_done"])
    assert not cancel_acknowledged(answers["cancel_retry"])
    assert not cancel_acknowledged(None)


def test_the_published_rule_queries_every_interval_up_to_the_limit_then_cancels() -> None:
    """Unknown or user paying → query every 5 s while within ~60 s → cancel right after."""
    policy = QueryPolicy(interval=5.0, limit=60.0)
    steps = []
    elapsed = 0.0
    while True:
        d = next_step(Answer.USER_PAYING, elapsed, policy)
        steps.append(d.step)
        if d.step != Step.QUERY:
            break
        assert d.delay == 5.0
        elapsed += d.delay
    assert steps.count(Step.QUERY) == 12  # queries at 5, 10, … 60 s
    assert steps[-1] == Step.CANCEL
    assert next_step(Answer.UNKNOWN, 61.0, policy).step == Step.CANCEL
    assert next_step(Answer.PAID, 61.0, policy).step == Step.APPROVE  # paid wins, even late
    assert next_step(Answer.FAILED, 0.0, policy).step == Step.DECLINE


def test_policy_refuses_an_interval_longer_than_the_limit() -> None:
    with pytest.raises(ValueError):
        QueryPolicy(interval=10, limit=5)


def test_order_numbers_are_unique_per_terminal_and_day_and_fit_the_wallets() -> None:
    n = order_number("10000001", date(2026, 12, 2), 7)
    assert n == "QR1000000120261202000007"
    assert len(n) <= 32
    with pytest.raises(ValueError):
        order_number("10000001", date(2026, 12, 2), 0)


def test_payer_reference_is_masked() -> None:
    assert mask_payer("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o") == "oUp****eS6o"
    assert mask_payer("") == ""
    assert mask_payer("abc") == "a**"


def test_order_states_follow_the_allowed_transitions() -> None:
    check_qr_transition(QrState.PENDING, QrState.PAYING)
    check_qr_transition(QrState.PAYING, QrState.CANCEL_OWED)
    check_qr_transition(QrState.CANCEL_OWED, QrState.CANCELLED)
    with pytest.raises(IllegalTransition):
        check_qr_transition(QrState.CANCEL_OWED, QrState.SUCCESS)  # told failed: stays so
    with pytest.raises(IllegalTransition):
        check_qr_transition(QrState.NOT_SENT, QrState.PAYING)
