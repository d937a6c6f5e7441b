"""What a real acquirer does that our own terminal-and-host pair used to hide.

A batch upload that says what each transaction was, answers with fields we do not use, keys
rotated behind the terminal's back. Run against the reference acquirer on loopback, in both
dialects (the ``dialect`` fixture).
"""

from __future__ import annotations

import json

import pytest

from appliance.cli import main
from appliance.domain.settlement import SettleResult
from appliance.domain.transactions import TxnState
from appliance.services.settlement import Settlement
from tests.shop import SUPERVISOR, Shop, agreement


def sign_ons(shop: Shop) -> int:
    """Sign-ons the acquirer answered (and recorded)."""
    db = shop.acquirer.books._db
    return db.execute("SELECT COUNT(*) FROM messages WHERE kind='sign_on'").fetchone()[0]


def approved(out: object) -> None:
    assert getattr(out, "result", None) == "approved", getattr(out, "message_en", out)


def test_an_uploaded_batch_books_sales_voids_refunds_and_offline_sales_as_what_they_are(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    term = shop.terminal
    sale1, sale2, sale3 = (term.sale(a, operator="01") for a in (1000, 2500, 4000))
    for out in (sale1, sale2, sale3):
        approved(out)
    approved(term.void(sale2.txn.stan, approver=SUPERVISOR))  # type: ignore[union-attr]
    approved(term.refund(300, trace=sale3.txn.stan, approver=SUPERVISOR))  # type: ignore[union-attr]
    shop.acquirer.set_fault("refuse")
    term.link.close()
    assert term.sale(1200, operator="01").result == "stored"  # offline sale, forwarded later
    shop.acquirer.clear_faults()
    shop.acquirer.set_fault("totals_mismatch")

    rec = Settlement(term, window=2).settle(approver=SUPERVISOR).record

    assert rec.result == SettleResult.BALANCED_AFTER_UPLOAD, rec.last_error
    codes = [s["response_code"] for s in shop.acquirer.books.settlements()]
    assert codes == ["95", "00"]  # out of balance first, balanced after the upload
    uploads = shop.acquirer.books.uploads()
    assert sorted((u["type"], u["amount"]) for u in uploads) == [
        ("advice", 1200),
        ("refund", 300),
        ("sale", 1000),
        ("sale", 4000),
    ]
    db = shop.acquirer.books._db
    ends = db.execute("SELECT COUNT(*) FROM messages WHERE kind='batch_upload_end'").fetchone()[0]
    assert ends == (1 if shop.cfg.host.dialect == "cup" else 0)  # iso87 has no upload end
    refund_up = next(u for u in uploads if u["type"] == "refund")
    assert refund_up["rrn"] and refund_up["auth_code"] and refund_up["entry_mode"] == "07"
    assert rec.host_totals is not None and rec.host_totals.refund_amount == 300

    ledger = shop.acquirer.ledger_path
    assert main(["acquirer", "ledger", "--ledger", str(ledger), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    refunds = [r for r in rows if r["amount"] == 300]
    assert [(r["type"], r["status"]) for r in refunds] == [("refund", "approved")]
    assert main(["acquirer", "ledger", "--ledger", str(ledger), "--uploads", "--json"]) == 0
    booked = json.loads(capsys.readouterr().out)
    assert [u["type"] for u in booked if u["amount"] == 300] == ["refund"]
    assert agreement(shop) == []


def test_an_approval_carrying_fields_15_32_44_63_is_approved_and_nothing_is_reversed(
    shop: Shop,
) -> None:
    shop.acquirer.set_fault("extra_fields")
    out = shop.terminal.sale(1500)
    approved(out)
    assert shop.terminal.journal.owed() == []
    assert [t.state for t in shop.terminal.transactions()] == [TxnState.APPROVED]
    assert [r["status"] for r in shop.acquirer.ledger()] == ["approved"]
    assert agreement(shop) == []


def test_rotated_keys_heal_by_an_automatic_sign_on_and_the_sale_is_approved(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    term = shop.terminal
    approved(term.sale(800))
    before = sign_ons(shop)
    shop.acquirer.set_fault("rotate_keys", count=1)
    out = term.sale(900)
    approved(out)
    assert sign_ons(shop) == before + 1
    states = sorted(t.state.value for t in term.transactions())
    assert states == ["approved", "approved", "reversed"]  # the attempt the rotation cut
    assert term.journal.owed() == []
    assert term.status().keys == "ok"
    assert agreement(shop) == []
    assert main(["--config", str(shop.cfg.path), "forward"]) == 0


def test_a_forward_after_rotated_keys_signs_on_once_and_exits_0(shop: Shop) -> None:
    term = shop.terminal
    approved(term.sale(800))
    shop.acquirer.set_fault("drop_response", count=2)  # the sale's answer, the reversal's
    assert term.sale(1700).result == "failed"
    assert [o.kind for o in term.journal.owed()] == ["reversal"]
    shop.acquirer.set_fault("rotate_keys", count=1)  # a parallel sign-on as our TID
    before = sign_ons(shop)
    assert main(["--config", str(shop.cfg.path), "forward"]) == 0
    assert sign_ons(shop) == before + 1
    assert term.journal.owed() == []
    assert sorted(t.state.value for t in term.transactions()) == ["approved", "reversed"]
    assert agreement(shop) == []


def test_keys_that_stay_out_of_step_say_what_to_check(shop: Shop) -> None:
    term = shop.terminal
    approved(term.sale(800))
    shop.acquirer.set_fault("bad_mac")  # every answer's MAC fails, even with fresh keys
    out = term.sale(900)
    shop.acquirer.clear_faults()
    assert out.result == "failed"
    assert "no other device signs on as TID" in out.message_en
    status = term.status()
    assert status.keys == "out_of_step" and status.link == "degraded"
    assert status.link_error == "keys out of step"
    assert "terminal master key" in status.keys_error
    report = term.send_owed()
    assert report.still_owed == 0
    assert term.status().keys == "ok"  # the sign-on before forwarding renewed the keys
    assert agreement(shop) == []
