"""QR payments in the books: per-wallet totals, statement matching with evidence, the slip,
and the torture harness's own invariant check (it must catch what it is there to catch)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from appliance.domain.qr import QrKind, QrOrder, QrState
from appliance.domain.qr_books import match_qr, order_sequence, qr_statement_line, qr_totals
from appliance.domain.qr_receipt import build_qr_receipt
from appliance.domain.receipts import MerchantInfo, document_to_text
from appliance.domain.reconcile import parse_statement, statement_csv

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def order(
    no: str,
    state: QrState,
    amount: int,
    wallet: str = "WECHATPAY",
    *,
    kind: QrKind = QrKind.PAY,
    trade: str = "",
    original: str = "",
) -> QrOrder:
    return QrOrder(
        order=no,
        kind=kind,
        state=state,
        amount=amount,
        currency="CNY",
        wallet=wallet,
        mode="scan",
        batch=1,
        trade_no=trade,
        payer="oUp****eS6o",
        original=original,
        gateway_state="",
        err_code="",
        operator="01",
        note="",
        created_at=NOW,
        updated_at=NOW,
        local_date="2026-12-02",
    )


A = "QR1000000120261202000001"
B = "QR1000000120261202000002"
C = "QR1000000120261202000003"
D = "QR1000000120261202000004"


def test_totals_have_one_line_per_wallet_and_count_only_completed_orders() -> None:
    orders = [
        order(A, QrState.SUCCESS, 1000, trade="T1"),
        order(B, QrState.SUCCESS, 500, "ALIPAY", trade="T2"),
        order(C, QrState.CANCELLED, 700),
        order(D, QrState.CANCEL_OWED, 800, "UNIONPAYQR"),
        order(A + "R01", QrState.SUCCESS, 300, kind=QrKind.REFUND, trade="R1", original=A),
    ]
    lines = {s.scheme: s for s in qr_totals(orders, batch=1)}
    assert list(lines) == ["WECHATPAY", "ALIPAY"]
    w = lines["WECHATPAY"]
    assert (w.sale_count, w.sale_amount, w.refund_count, w.refund_amount, w.gross) == (
        1,
        1000,
        1,
        300,
        700,
    )
    assert qr_totals(orders, batch=2) == ()


def test_order_sequence_is_the_stan_of_a_qr_statement_line() -> None:
    assert order_sequence(A) == 1
    assert order_sequence(A + "R02") == 1


def _statement(rows: list[dict]) -> list:
    lines, bad = parse_statement(statement_csv(rows))
    assert bad == []
    return lines


def _line(no: str, trade: str, amount: int, typ: str = "sale", scheme: str = "WECHATPAY") -> dict:
    return qr_statement_line(
        no,
        trade,
        typ,
        amount,
        scheme,
        "oUp****eS6o",
        day=date(2026, 12, 2),
        tid="10000001",
        fees_bp={},
    )


def test_one_sided_qr_cases_are_listed_with_evidence() -> None:
    orders = [
        order(A, QrState.SUCCESS, 1000, trade="T1"),  # matched
        order(B, QrState.SUCCESS, 500, trade="T2"),  # paid here, not on the statement
        order(C, QrState.DECLINED, 700, trade="T3"),  # told not paid, yet charged
        order(D, QrState.CANCEL_OWED, 800, trade="T4"),  # charged while the cancel is owed
    ]
    lines = _statement(
        [
            _line(A, "T1", 1000),
            _line(C, "T3", 700),
            _line(D, "T4", 800),
            _line("QR1000000120261202000099", "T9", 100, scheme="ALIPAY"),
        ]
    )
    m = match_qr(lines, orders, in_scope=[A, B])
    kinds = {f["kind"]: f for f in m.found}
    assert m.matched_count == 1 and m.matched_amount == 1000
    assert set(kinds) == {"terminal_only", "qr_charged_not_paid", "qr_cancel_owed", "acquirer_only"}
    assert kinds["terminal_only"]["txn_uuid"] == B
    assert kinds["qr_charged_not_paid"]["terminal_state"] == "declined"
    assert kinds["qr_charged_not_paid"]["rrn"] == "T3"
    assert kinds["qr_cancel_owed"]["trace"] == D
    assert kinds["acquirer_only"]["scheme"] == "ALIPAY"


def test_the_slip_shows_wallet_payer_order_and_trade_but_no_code() -> None:
    o = order(A, QrState.SUCCESS, 1250, trade="42202612020000000001")
    doc = build_qr_receipt(
        o, MerchantInfo("Demo", "898310048160001", "10000001"), lang="bilingual", tz="UTC"
    )
    text = document_to_text(doc, 32)
    for want in ("微信支付", "WeChat Pay", "oUp****eS6o", A, "42202612020000000001", "12.50"):
        assert want in text, want
    assert "134567890123456789" not in text
    refused = build_qr_receipt(
        order(B, QrState.CANCELLED, 700),
        MerchantInfo("Demo", "898310048160001", "10000001"),
        lang="en",
        tz="UTC",
    )
    assert "NO MONEY WAS TAKEN" in document_to_text(refused, 32)


def test_the_torture_check_catches_a_one_sided_payment_and_a_double_tell() -> None:
    from appliance.sim.qr_torture import check_qr

    trades = [
        {"out_trade_no": A, "tid": "1", "state": "SUCCESS", "amount": 1000},
        {"out_trade_no": B, "tid": "1", "state": "SUCCESS", "amount": 500},
    ]
    orders = [order(A, QrState.SUCCESS, 1000), order(B, QrState.CANCELLED, 500)]
    told = [{"op": "pay", "kind": "pay", "order": B, "result": "cancelled"}]
    problems = check_qr(orders, trades, [], "1", told)
    assert any("charged at the gateway, cancelled" in p for p in problems)
    assert any("told cancelled, but charged" in p for p in problems)
    good = [order(A, QrState.SUCCESS, 1000), order(B, QrState.SUCCESS, 500)]
    assert check_qr(good, trades, [], "1", []) == []
    assert check_qr([order(C, QrState.PAYING, 10)], [], [], "1", []) == [f"{C} is still paying"]
