"""What the slips must say: application label and AID on card slips, a voided or refunded sale
says so when reprinted, refunds are marked on the reconciliation slip, the X slip shows fees
and the expected deposit, and print jobs keep their document (with a DUPLICATE banner when
printed again)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from appliance.domain.receipt_data import DUPLICATE, from_data, to_data, with_duplicate_banner
from appliance.domain.receipts import (
    ReconLine,
    build_interim,
    build_receipt,
    build_reconciliation,
    document_to_text,
)
from appliance.domain.transactions import TxnState
from appliance.receipts.samples import (
    SAMPLE_MERCHANT,
    SAMPLE_TIME,
    sample_batch,
    sample_document,
    sample_recon,
    sample_transaction,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def text_of(doc: object, columns: int = 32) -> str:
    return document_to_text(doc, columns)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["sale", "void", "refund", "offline", "declined"])
def test_card_slips_print_the_application_label_and_aid(kind: str) -> None:
    txn = sample_transaction(kind)
    text = text_of(build_receipt(None, txn, SAMPLE_MERCHANT, lang="bilingual"))
    assert "UnionPay Debit" in text and "A000000333010101" in text
    assert "应用标签 APP LABEL" in text and "应用标识 AID" in text


def test_a_slip_without_card_application_data_prints_no_empty_aid_line() -> None:
    txn = replace(sample_transaction(), aid="", label="")
    text = text_of(build_receipt(None, txn, SAMPLE_MERCHANT, lang="en"))
    assert "AID" not in text and "APP LABEL" not in text


def test_a_reprint_of_a_voided_sale_says_voided() -> None:
    voided = replace(sample_transaction(), state=TxnState.VOIDED)
    text = text_of(build_receipt("sale", voided, SAMPLE_MERCHANT, reprint_at=NOW))
    assert "已撤销 VOIDED" in text and "REPRINT" in text
    plain = text_of(build_receipt("sale", sample_transaction(), SAMPLE_MERCHANT, reprint_at=NOW))
    assert "VOIDED" not in plain


def test_a_reprint_of_a_partly_refunded_sale_says_how_much_was_refunded() -> None:
    sale = sample_transaction(amount=100_00)
    text = text_of(
        build_receipt("sale", sale, SAMPLE_MERCHANT, lang="en", reprint_at=NOW, refunded=30_00)
    )
    assert "REFUNDED" in text and "-30.00" in text
    assert "70.00" in text  # what is left of the sale


def test_the_reconciliation_slip_marks_refund_lines_with_their_type_and_sign() -> None:
    report = sample_recon()
    refund = ReconLine(
        "missing_at_host", "000091", "633012340091", "", SAMPLE_TIME, "621234******0119", 2_500,
        type="refund",
    )  # fmt: skip
    report = replace(report, lines=(*report.lines, refund))
    text = text_of(build_reconciliation(report, SAMPLE_MERCHANT, lang="en", printed_at=NOW))
    assert text.count("TYPE") == 3
    assert "REFUND" in text and "-25.00" in text
    block = text[text.index("000091") - 200 :]
    assert "REFUND" in block


def test_the_x_slip_shows_estimated_fees_and_the_expected_deposit_like_the_screen() -> None:
    totals = sample_batch()
    text = text_of(build_interim(totals, SAMPLE_MERCHANT, lang="en", printed_at=NOW))
    assert "EST. FEES" in text and "EXPECTED DEPOSIT" in text
    assert (totals.fees, totals.net) == (6827, 1578673)
    assert "EST. FEES             CNY -68.27" in text
    assert "EXPECTED DEPOSIT    CNY 15786.73" in text


@pytest.mark.parametrize("kind", ["sale", "declined", "settlement", "reconciliation", "self_test"])
def test_a_stored_document_comes_back_block_for_block(kind: str) -> None:
    doc = sample_document(kind)
    assert from_data(to_data(doc)) == doc


def test_an_unknown_block_in_a_stored_document_is_a_clear_error() -> None:
    data = to_data(sample_document("sale"))
    data["blocks"].append({"type": "Hologram"})
    with pytest.raises(ValueError, match="unknown receipt block 'Hologram'"):
        from_data(data)


def test_the_duplicate_banner_heads_the_slip() -> None:
    text = text_of(with_duplicate_banner(sample_document("sale")))
    first = text.strip().splitlines()[0]
    assert DUPLICATE in first
