"""How report objects (X report, settlement, reconciliation) become label/value rows."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from appliance.domain.money import currency, format_amount
from appliance.domain.receipts import (
    BatchTotals,
    ReconLine,
    ReconReport,
    SchemeTotals,
    SettlementResult,
    Totals,
)
from ui.i18n import I18n
from ui.screens.admin import describe


def fake_app(language: str = "en") -> SimpleNamespace:
    tr = I18n(language)
    cny = currency("CNY")
    return SimpleNamespace(t=tr.t, money=lambda m: format_amount(m, cny, symbol=True))


def test_batch_totals_show_sales_refunds_and_the_expected_deposit() -> None:
    totals = BatchTotals(
        batch=7,
        currency="CNY",
        schemes=(
            SchemeTotals("VISA", 2, 3000, 1, 500, fee=18),
            SchemeTotals("UNIONPAY", 1, 1000, fee=6),
        ),
    )
    rows = dict(describe(fake_app(), totals))
    assert rows["Batch"] == "000007"
    assert rows["Sales"] == "3 · ¥40.00"
    assert rows["Refunds"] == "1 · ¥5.00"
    assert rows["Net deposit"] == "¥34.76"


def test_settlement_result_says_whether_the_bank_agreed() -> None:
    result = SettlementResult(balanced=False, host=Totals(3, 4000, 0, 0), uploaded=True)
    rows = dict(describe(fake_app("zh_CN"), result))
    assert rows["对账平"] == "否"
    assert rows["批上送"] == "是"


def test_reconciliation_lists_each_discrepancy_with_its_trace() -> None:
    line = ReconLine(
        "missing_at_host",
        "000123",
        "632600000001",
        "123456",
        datetime(2026, 11, 22, tzinfo=UTC),
        "476173******0119",
        1250,
    )
    report = ReconReport(
        batch=1, currency="CNY", matched_count=9, matched_amount=90000, lines=(line,)
    )
    rows = describe(fake_app(), report)
    assert ("Discrepancies", "1") in rows
    assert ("Not at the bank 000123", "¥12.50") in rows


def test_any_other_report_shows_its_fields_with_amounts_as_money() -> None:
    from appliance.services.terminal import OwedReport

    rows = dict(describe(fake_app(), OwedReport(sent=3, acknowledged=2, still_owed=1)))
    assert rows == {
        "Sent": "3",
        "Acknowledged": "2",
        "Declined": "0",
        "Still owed": "1",
        "Errors": "0",
    }
