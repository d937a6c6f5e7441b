"""Receipt documents: content, masking, CVM, reprint, layout by display width."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from appliance.domain.receipts import (
    LANGS,
    QR,
    Pair,
    Signature,
    Text,
    build_receipt,
    display_width,
    document_to_text,
    kind_for,
    layout,
    wrap,
)
from appliance.domain.transactions import TxnState
from appliance.errors import ConfigError
from appliance.receipts.samples import (
    SAMPLE_KINDS,
    SAMPLE_MERCHANT,
    SAMPLE_PAN,
    sample_document,
    sample_transaction,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "receipts" / "text"
# Set COUNTERTOP_REGEN_GOLDEN=1 to rewrite the golden files from the current renderer (then
# review the diff with git before committing it).
REGEN = os.environ.get("COUNTERTOP_REGEN_GOLDEN") == "1"

CASES = [
    (kind, lang, cols, copy)
    for kind in SAMPLE_KINDS
    for lang in LANGS
    for cols in (32, 48)
    for copy in (("merchant", "customer") if kind in ("sale", "offline") else ("merchant",))
]


def _name(kind: str, lang: str, cols: int, copy: str) -> str:
    suffix = "-customer" if copy == "customer" else ""
    return f"{kind}{suffix}-{lang}-{cols}.txt"


@pytest.mark.parametrize(("kind", "lang", "cols", "copy"), CASES)
def test_every_kind_renders_exactly_its_golden_text(
    kind: str, lang: str, cols: int, copy: str
) -> None:
    text = document_to_text(sample_document(kind, lang=lang, copy=copy, columns=cols), cols)
    path = GOLDEN / _name(kind, lang, cols, copy)
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        pytest.skip(f"regenerated {path.name}")
    assert text == path.read_text("utf-8")


@pytest.mark.parametrize(("kind", "lang", "cols", "copy"), CASES)
def test_no_line_is_wider_than_the_paper(kind: str, lang: str, cols: int, copy: str) -> None:
    for line in layout(sample_document(kind, lang=lang, copy=copy, columns=cols), cols):
        if line.kind == "text":
            limit = cols // 2 if line.double else cols
            assert display_width(line.text) <= limit, line.text


def test_english_sale_merchant_stub_reads_like_a_card_slip() -> None:
    text = document_to_text(sample_document("sale", lang="en"), 32)
    assert text == (
        "            SALE\n"
        "         MERCHANT COPY\n"
        "--------------------------------\n"
        "MERCHANT   鲜果便利店 FRESH MART\n"
        "MID              898310048161234\n"
        "TID                     10012345\n"
        "OPERATOR                      01\n"
        "--------------------------------\n"
        "SCHEME                  UNIONPAY\n"
        "CARD NO         621234******0119\n"
        "ENTRY                CONTACTLESS\n"
        "APP LABEL         UnionPay Debit\n"
        "AID             A000000333010101\n"
        "TYPE                        SALE\n"
        "BATCH NO                  000001\n"
        "TRACE NO                  000123\n"
        "RRN                 633012345678\n"
        "AUTH CODE                 A1B2C3\n"
        "DATE/TIME    2026-11-22 14:30:15\n"
        "--------------------------------\n"
        "AMOUNT:\n"
        "              CNY 12.50\n"
        "--------------------------------\n"
        "     NO SIGNATURE REQUIRED\n"
        "              [QR]\n"
        "   countertop:10012345:000001\n"
        "      :000123:633012345678\n"
        "\n"
        "\n"
    )


def test_chinese_customer_copy_shows_last_four_and_no_qr() -> None:
    text = document_to_text(sample_document("sale", lang="zh_CN", copy="customer"), 32)
    assert "持卡人存根" in text
    assert "卡号                   **** 0119\n" in text
    assert "621234" not in text
    assert "[QR]" not in text
    assert "免签" in text


def test_bilingual_labels_put_chinese_first() -> None:
    text = document_to_text(sample_document("sale", lang="bilingual"), 48)
    assert "商户编号 MID" in text
    assert "凭证号 TRACE NO" in text
    assert "消费 SALE" in text


def test_local_time_comes_from_the_configured_zone() -> None:
    txn = sample_transaction("sale")  # 06:30:15 UTC
    for tz, shown in (
        ("Asia/Shanghai", "14:30:15"),
        ("Europe/London", "06:30:15"),
        ("UTC", "06:30:15"),
    ):
        doc = build_receipt("sale", txn, SAMPLE_MERCHANT, lang="en", tz=tz)
        assert shown in document_to_text(doc, 48)


def test_unknown_zone_language_kind_or_copy_is_a_config_error() -> None:
    txn = sample_transaction()
    with pytest.raises(ConfigError, match="time zone"):
        build_receipt("sale", txn, SAMPLE_MERCHANT, tz="Mars/Olympus")
    with pytest.raises(ConfigError, match="language"):
        build_receipt("sale", txn, SAMPLE_MERCHANT, lang="fr")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="kind"):
        build_receipt("coupon", txn, SAMPLE_MERCHANT)
    with pytest.raises(ConfigError, match="copy"):
        build_receipt("sale", txn, SAMPLE_MERCHANT, copy="bank")  # type: ignore[arg-type]


# ---------------------------------------------------------------- card number and expiry


def _all_documents() -> list[tuple[str, str]]:
    out = []
    for kind, lang, cols, copy in CASES:
        doc = sample_document(kind, lang=lang, copy=copy, columns=cols, reprint=True)
        out.append((f"{kind}/{lang}/{cols}/{copy}", document_to_text(doc, cols)))
    return out


def test_no_receipt_of_any_kind_contains_a_full_pan_or_the_expiry() -> None:
    for name, text in _all_documents():
        assert SAMPLE_PAN not in re.sub(r"\D", "", text), name
        # The 15-digit MID and the AID (hex, EMV Book 4 §11.4: printed on card slips) are the
        # only runs of 13+ digits a slip may hold.
        aid_runs = set(re.findall(r"\d{13,}", sample_transaction().aid))
        assert set(re.findall(r"\d{13,}", text)) <= {SAMPLE_MERCHANT.mid, *aid_runs}, name
        assert not re.search(r"\bEXP(IRY|\.|\b)|EXPIRES|VALID THRU|有效期", text.upper()), name


def test_a_full_pan_leaked_into_the_journal_row_still_prints_masked() -> None:
    leaked = replace(sample_transaction("sale"), masked_pan=SAMPLE_PAN, extra={"expiry": "2812"})
    for copy in ("merchant", "customer"):
        for kind in ("sale", "offline", "forwarded", "declined"):
            text = document_to_text(
                build_receipt(kind, leaked, SAMPLE_MERCHANT, copy=copy, lang="bilingual"), 48
            )
            assert SAMPLE_PAN not in text
            assert "2812" not in text
            assert ("621234******0119" in text) == (copy == "merchant")
            assert "**** 0119" in text or copy == "merchant"


def test_reconciliation_lines_are_masked_even_if_given_a_full_pan() -> None:
    from appliance.domain.receipts import build_reconciliation
    from appliance.receipts.samples import sample_recon

    report = sample_recon()
    bad = replace(report, lines=(replace(report.lines[0], masked_pan=SAMPLE_PAN),))
    text = document_to_text(
        build_reconciliation(bad, SAMPLE_MERCHANT, lang="en", printed_at=datetime.now(UTC)), 32
    )
    assert SAMPLE_PAN not in text
    assert "621234******0119" in text


# ---------------------------------------------------------------- CVM, reprint, kinds


def test_amount_above_cvm_limit_gets_a_signature_line_on_the_merchant_stub_only() -> None:
    txn = sample_transaction("sale", amount=100_001)
    merchant = build_receipt("sale", txn, SAMPLE_MERCHANT, cvm_limit=100_000, lang="bilingual")
    customer = build_receipt(
        "sale", txn, SAMPLE_MERCHANT, cvm_limit=100_000, lang="bilingual", copy="customer"
    )
    assert any(isinstance(b, Signature) and "持卡人签名" in b.label for b in merchant.blocks)
    assert not any(isinstance(b, Signature) for b in customer.blocks)
    assert "免签" not in document_to_text(merchant, 32)
    text = document_to_text(merchant, 32)
    assert "x" + "_" * 31 in text


def test_amount_at_the_cvm_limit_needs_no_signature() -> None:
    txn = sample_transaction("sale", amount=100_000)
    doc = build_receipt("sale", txn, SAMPLE_MERCHANT, cvm_limit=100_000, lang="en")
    assert not any(isinstance(b, Signature) for b in doc.blocks)
    assert "NO SIGNATURE REQUIRED" in document_to_text(doc, 32)


def test_a_reprint_keeps_the_original_numbers_and_adds_a_banner_with_the_time() -> None:
    original = sample_document("sale", lang="bilingual")
    reprint = sample_document("sale", lang="bilingual", reprint=True)
    added = [b for b in reprint.blocks if b not in original.blocks]
    assert added == [
        Text("*** 重打印 REPRINT ***", "center", bold=True),
        Pair("重打印时间 REPRINTED", "2026-11-22 22:00:00"),
    ]
    assert [b for b in reprint.blocks if b not in added] == list(original.blocks)
    assert reprint.reference == original.reference


def test_offline_stub_says_pending_authorization_and_has_no_auth_code() -> None:
    text = document_to_text(sample_document("offline", lang="bilingual"), 48)
    assert "脱机 OFFLINE" in text
    assert "待授权 PENDING AUTHORIZATION" in text
    assert "AUTH CODE" not in text
    assert "RRN" not in text


def test_forwarded_final_shows_auth_code_or_tells_to_collect_payment() -> None:
    ok = document_to_text(sample_document("forwarded", lang="en"), 32)
    assert "APPROVED" in ok and "A1B2C3" in ok and "633012345678" in ok
    bad = document_to_text(sample_document("forwarded_declined", lang="bilingual"), 48)
    assert "DECLINED" in bad
    assert "请向顾客另行收款 COLLECT PAYMENT FROM THE" in bad
    assert "\n                    CUSTOMER\n" in bad
    assert "AUTH CODE" not in bad


def test_declined_slip_explains_the_response_code() -> None:
    text = document_to_text(sample_document("declined", lang="bilingual"), 48)
    assert "余额不足 INSUFFICIENT FUNDS" in text
    assert "NO MONEY WAS TAKEN" in text
    assert "[QR]" not in text


def test_a_payment_that_was_never_sent_or_was_reversed_says_so() -> None:
    for state, zh, en in (
        (TxnState.NOT_SENT, "交易未发送", "NOT SENT"),
        (TxnState.REVERSED, "交易已冲正", "REVERSED"),
    ):
        txn = replace(sample_transaction("declined"), state=state, response_code=None)
        assert kind_for(txn) == "declined"
        text = document_to_text(build_receipt(None, txn, SAMPLE_MERCHANT, lang="bilingual"), 48)
        assert zh in text and en in text
        assert "NO MONEY WAS TAKEN" in text
        assert "DECLINED" not in text


def test_void_and_refund_print_negative_amounts_and_the_original_trace() -> None:
    for kind in ("void", "refund"):
        text = document_to_text(sample_document(kind, lang="en"), 32)
        assert "CNY -12.50" in text
        assert "ORIG TRACE" in text


def test_settlement_out_of_balance_shows_both_sides() -> None:
    text = document_to_text(sample_document("settlement", lang="en"), 48)
    assert "OUT OF BALANCE" in text
    assert "TERMINAL" in text and "HOST" in text
    assert "REFUNDS x1" in text and "REFUNDS x2" in text
    assert "EXPECTED DEPOSIT" in text and "CNY 15786.73" in text
    balanced = document_to_text(sample_document("settlement_balanced", lang="zh_CN"), 32)
    assert "对账平" in balanced and "主机" not in balanced


def test_interim_totals_show_each_scheme_and_each_operator() -> None:
    text = document_to_text(sample_document("interim", lang="en"), 32)
    for name in ("UNIONPAY", "VISA", "BY OPERATOR"):
        assert name in text
    assert "SALES x30" in text and "SALES x19" in text


def test_kind_follows_the_transaction_state() -> None:
    assert kind_for(sample_transaction("sale")) == "sale"
    assert kind_for(sample_transaction("void")) == "void"
    assert kind_for(sample_transaction("offline")) == "offline"
    assert kind_for(sample_transaction("forwarded")) == "forwarded"
    assert kind_for(sample_transaction("forwarded_declined")) == "forwarded"
    assert kind_for(sample_transaction("declined")) == "declined"
    assert kind_for(replace(sample_transaction(), state=TxnState.VOIDED)) == "sale"


def test_merchant_stub_qr_carries_the_transaction_reference() -> None:
    doc = sample_document("sale")
    assert QR("countertop:10012345:000001:000123:633012345678") in doc.blocks


# ---------------------------------------------------------------- layout


def test_cjk_and_ambiguous_characters_take_two_columns() -> None:
    assert display_width("SALE") == 4
    assert display_width("消费，") == 6
    assert display_width("A·B") == 4  # GB2312 A1A4: full width on a Chinese printer


def test_two_column_lines_pad_by_display_width() -> None:
    lines = layout([Pair("商户名称", "便利店")], 20)
    assert lines[0].text == "商户名称      便利店"
    assert display_width(lines[0].text) == 20


def test_a_pair_too_long_for_one_line_puts_the_value_right_aligned_below() -> None:
    lines = [line.text for line in layout([Pair("日期/时间 DATE/TIME", "2026-11-22 14:30:15")], 32)]
    assert lines == ["日期/时间 DATE/TIME", "             2026-11-22 14:30:15"]


def test_wrap_breaks_between_cjk_characters_and_at_spaces() -> None:
    assert wrap("本人确认以上交易", 6) == ["本人确", "认以上", "交易"]
    assert wrap("NO SIGNATURE REQUIRED", 12) == ["NO SIGNATURE", "REQUIRED"]
    assert wrap("ABCDEFGHIJ", 4) == ["ABCD", "EFGH", "IJ"]


@given(st.text(alphabet="ab 中文商户", max_size=60), st.integers(min_value=2, max_value=48))
def test_wrap_never_exceeds_the_width_nor_loses_characters(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert all(display_width(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


@given(
    st.text(alphabet="AB 商户名称", min_size=1, max_size=30),
    st.text(alphabet="0123456789 鲜果店", min_size=1, max_size=50),
    st.sampled_from([32, 48]),
)
def test_a_pair_never_overflows_and_keeps_its_text(label: str, value: str, cols: int) -> None:
    lines = [line.text for line in layout([Pair(label, value)], cols)]
    assert all(display_width(line) <= cols for line in lines)
    squashed = "".join(lines).replace(" ", "")
    assert squashed == (label + value).replace(" ", "")


@given(
    st.text(alphabet="0123456789", min_size=13, max_size=19).filter(lambda p: p[6:-4] != ""),
    st.sampled_from(["sale", "void", "refund", "offline", "forwarded", "declined"]),
    st.sampled_from(["merchant", "customer"]),
)
def test_any_pan_even_unmasked_in_the_row_never_prints_in_full(
    pan: str, kind: str, copy: str
) -> None:
    def squashed(masked: str) -> tuple[str, str]:
        txn = replace(sample_transaction(kind), masked_pan=masked)
        doc = build_receipt(kind, txn, SAMPLE_MERCHANT, copy=copy, lang="en")  # type: ignore[arg-type]
        text = document_to_text(doc, 48)
        return text, text.replace(" ", "").replace("\n", "")

    # A random number may happen to sit inside the MID or RRN: that is not the card number.
    assume(pan not in squashed("")[1])
    text, flat = squashed(pan)
    assert pan not in flat
    shown = pan[-4:] if copy == "customer" else pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
    assert shown in text
