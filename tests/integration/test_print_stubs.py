"""Which stubs a payment journals, and that it journals them with its outcome: the sale commits
what its stub is built from in the outcome's transaction and renders nothing; the stub prints
the transaction as that outcome left it (a void or a forward before the printer takes the job
does not change it); a decline prints no merchant stub unless configured; the test page says
the shop's local time and zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from appliance.domain.receipt_data import from_data
from appliance.domain.receipts import document_to_text
from appliance.domain.transactions import TxnState
from drivers.printer.base import PrinterProfile
from drivers.printer.escpos_render import render_text
from drivers.printer.testpage import build_test_page
from tests.shop import SUPERVISOR, Shop, open_shop


def test_an_approved_sale_commits_its_stub_document_with_its_outcome(tmp_path: Path) -> None:
    shop = open_shop(tmp_path)
    try:
        term = shop.terminal
        rendered: list[object] = []
        term.receipts.render = rendered.append  # type: ignore[method-assign]
        out = term.sale(2_345, operator="01")
        assert out.result == "approved"
        assert rendered == []  # the sale path renders nothing
        [job] = term.receipts.jobs()
        assert (job.state, job.txn_uuid, job.data) == ("queued", out.txn.uuid, None)
        assert job.document is not None
        text = document_to_text(from_data(job.document), 32)
        assert out.txn.trace in text and out.txn.auth_code in text and "23.45" in text
        # committed together: the same commit that made the sale APPROVED has the job
        assert term.journal.get(out.txn.uuid).state.value == "approved"
    finally:
        shop.close()


def test_a_decline_prints_no_merchant_stub_by_default(tmp_path: Path) -> None:
    shop = open_shop(tmp_path)
    try:
        out = shop.terminal.sale(1_051, operator="01")  # amounts ending 51: insufficient funds
        assert (out.result, out.response_code) == ("declined", "51")
        assert shop.terminal.receipts.jobs() == []
        assert shop.terminal.journal.get(out.txn.uuid).response_code == "51"  # the evidence
    finally:
        shop.close()


def test_a_decline_prints_a_merchant_stub_when_configured(tmp_path: Path) -> None:
    shop = open_shop(tmp_path, settings={"receipts": {"decline_stub": True}})
    try:
        out = shop.terminal.sale(1_051, operator="01")
        [job] = shop.terminal.receipts.jobs()
        assert job.what == f"declined merchant {out.txn.trace}"
    finally:
        shop.close()


def test_the_test_page_prints_the_shop_local_time_with_its_zone() -> None:
    moment = datetime(2026, 12, 2, 12, 30, 0, tzinfo=UTC)
    text = render_text(build_test_page(PrinterProfile(), now=moment, tz="Asia/Shanghai"), dots=384)
    assert "2026-12-02 20:30:00 CST +0800" in text
    utc = render_text(build_test_page(PrinterProfile(), now=moment, tz="UTC"), dots=384)
    assert "2026-12-02 12:30:00 UTC +0000" in utc


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "escpos"


def golden_hex(name: str) -> bytes:
    """A hand-annotated hex fixture: hex pairs, ``#`` starts a comment."""
    text = (GOLDEN / name).read_text(encoding="utf-8")
    return bytes.fromhex(" ".join(line.split("#", 1)[0] for line in text.splitlines()))


def test_a_job_printed_again_starts_with_the_duplicate_banner_laid_out_from_the_epson_reference(
    tmp_path: Path,
) -> None:
    from appliance.domain.receipts import Cut, Document, Text
    from appliance.journal import Journal
    from appliance.services.printing import PrintQueue
    from appliance.sim.torture import make_shop_config
    from drivers.printer.mock import MockPrinter

    banner = golden_hex("duplicate-banner-32-fs.hex")
    cfg = make_shop_config(tmp_path)
    journal = Journal.open(cfg.journal_path)
    try:
        printer = MockPrinter()
        queue = PrintQueue(cfg, journal, printer)
        queue.document(Document("test", "en", (Text("HELLO"), Cut())), "hello")
        printer.fail_after_bytes(4)  # cut short: the outcome is uncertain
        assert queue.drain() == 0
        printer.restore()
        assert queue.drain() == 1
        [(_, printed)] = printer.jobs
        assert printed.startswith(banner)
        assert printed[len(banner) :].startswith(b"HELLO\n")
    finally:
        journal.close()


def test_a_sale_voided_before_its_stub_prints_still_prints_as_the_sale_it_was(
    shop: Shop,
) -> None:
    term = shop.terminal
    sale = term.sale(1_234, operator="01").txn
    assert term.void(sale.stan, approver=SUPERVISOR).result == "approved"
    assert term.journal.get(sale.uuid).state is TxnState.VOIDED
    assert term.receipts.drain() == 2  # the sale's stub, then the void's
    sale_text, void_text = term.printer.texts()
    assert "VOIDED" not in sale_text and "已撤销" not in sale_text
    assert sale.trace in sale_text and sale.auth_code in sale_text
    assert "VOID" in void_text


def test_an_offline_stub_forwarded_before_it_prints_still_prints_pending_authorization(
    shop: Shop,
) -> None:
    term = shop.terminal
    shop.acquirer.set_fault("refuse")
    out = term.sale(2_000, operator="01")
    assert out.result == "stored", out.message_en
    shop.acquirer.clear_faults()
    assert term.send_owed().acknowledged == 1
    forwarded = term.journal.get(out.txn.uuid)
    assert forwarded.state is TxnState.APPROVED and forwarded.rrn
    term.receipts.drain()
    first = term.printer.texts()[0]
    assert "待授权" in first and "PENDING AUTHORIZATION" in first
    assert forwarded.rrn not in first
