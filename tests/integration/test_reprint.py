"""Stub reprint (存根补打), PDF export and retention, on the journal of a real shop."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from appliance.errors import NotFound
from appliance.messages import error_text
from appliance.services.reprint import export_stubs, purge_expired, reprint, select
from tests.shop import Shop

PAN = "4761739001010119"


def test_reprint_by_trace_keeps_the_original_numbers_and_says_reprint(shop: Shop) -> None:
    t = shop.terminal
    sale = t.sale(1234).txn
    t.sale(999)
    q = t.receipts
    q.drain()
    before = len(t.printer.jobs)
    done = reprint(q, select(t.journal, trace=sale.stan), copy="merchant", operator="08")
    assert q.drain() == 1
    text = t.printer.text()
    assert len(t.printer.jobs) == before + 1
    assert "REPRINT" in text and "重打印" in text
    assert sale.trace in text and sale.rrn in text and sale.auth_code in text
    assert "476173******0119" in text and PAN not in text
    audit = t.journal.audit_trail()[0]
    assert (audit["operator"], audit["action"]) == ("08", "reprint")
    assert sale.trace in audit["detail"] and done[0].job_id in audit["detail"]


def test_customer_copy_reprint_shows_only_the_last_four(shop: Shop) -> None:
    t = shop.terminal
    t.sale(500)
    reprint(t.receipts, select(t.journal, last=True), copy="customer")
    t.receipts.drain()
    text = t.printer.text()
    assert "0119" in text and "476173" not in text


def test_reprint_by_date_covers_the_whole_day(shop: Shop) -> None:
    t = shop.terminal
    for amount in (100, 200, 1251):  # two approved, one declined: all have stubs
        t.sale(amount)
    day = t.journal.transactions()[0].created_at.astimezone(t.journal.tz).date()
    done = reprint(t.receipts, select(t.journal, on_date=day))
    assert sorted(r.kind for r in done) == ["declined", "sale", "sale"]
    with pytest.raises(NotFound, match="no transactions on"):
        select(t.journal, on_date=day - timedelta(days=3))


def test_reprints_wait_for_paper_and_then_print(shop: Shop) -> None:
    t = shop.terminal
    t.sale(700)
    t.receipts.drain()
    t.printer.paper_out()
    reprint(t.receipts, select(t.journal, last=True))
    assert t.receipts.drain() == 0 and t.receipts.waiting() == 1
    t.printer.restore()
    assert t.receipts.drain() == 1 and t.receipts.waiting() == 0


def test_export_writes_one_pdf_page_per_stub(shop: Shop, tmp_path: Path) -> None:
    import re

    t = shop.terminal
    t.sale(100)
    t.sale(200)
    day = t.journal.transactions()[0].created_at.astimezone(t.journal.tz).date()
    out = tmp_path / "stubs.pdf"
    assert export_stubs(t.receipts, day, day, out, operator="09") == 2
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 2
    assert PAN.encode() not in data
    assert t.journal.audit_trail()[0]["action"] == "stubs_export"


def test_retention_purges_old_settled_rows_but_keeps_what_is_owed(shop: Shop) -> None:
    t = shop.terminal
    old = t.sale(100).txn
    shop.acquirer.set_fault("refuse")
    stored = t.sale(200).txn  # stored offline: still owed, must survive any retention
    shop.acquirer.clear_faults()
    t.receipts.drain()
    later = t.journal.clock() + timedelta(days=541)
    assert purge_expired(t.journal, 540, now=later) == 1
    with pytest.raises(NotFound):
        t.journal.get(old.uuid)
    assert t.journal.get(stored.uuid).uuid == stored.uuid


def test_reprint_of_an_unknown_trace_or_an_empty_day_says_so_in_the_shops_language(
    shop: Shop,
) -> None:
    from datetime import date

    j = shop.terminal.journal
    with pytest.raises(NotFound) as none_yet:
        select(j, last=True)
    assert none_yet.value.code == "reprint.nothing_yet"
    assert error_text(none_yet.value, "zh_CN") == "目前还没有可补打的存根"
    shop.terminal.sale(500)
    with pytest.raises(NotFound) as unknown:
        select(j, trace=4242)
    assert (unknown.value.code, unknown.value.params) == ("reprint.not_found", {"trace": "004242"})
    assert "004242" in error_text(unknown.value, "zh_CN")
    assert error_text(unknown.value, "en") == "No stub with trace 004242: check the number"
    with pytest.raises(NotFound) as empty_day:
        select(j, on_date=date(2001, 1, 2))
    assert empty_day.value.code == "reprint.none_on_date"
    assert error_text(empty_day.value, "zh_CN") == "2001-01-02 没有可补打的存根：请核对日期"
