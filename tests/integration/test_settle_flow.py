"""Settlement against the reference acquirer on loopback: balance, batch upload, crashes, faults."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from appliance.domain.settlement import SettleResult, SettleState
from appliance.domain.transactions import TxnState
from appliance.errors import NoResponse, NotFound, Refused, ReversalOwed
from appliance.messages import error_text
from appliance.services.settlement import Settlement
from tests.shop import SUPERVISOR, Shop, agreement


class Crash(Exception):
    """Stands for the process dying at a chosen point."""


def crash_at(point: str, *, after: int = 1) -> Any:
    seen = {"n": 0}

    def hook(p: str) -> None:
        if p == point:
            seen["n"] += 1
            if seen["n"] >= after:
                raise Crash(point)

    return hook


def sales(shop: Shop, *amounts: int, operator: str = "01") -> None:
    for a in amounts:
        assert shop.terminal.sale(a, operator=operator).result == "approved"


def unknown_to_host(shop: Shop, *amounts: int) -> None:
    """Approved sales the acquirer never saw (so the first 0500 is out of balance)."""
    from appliance.bench.settlement import _fill

    j = shop.terminal.journal
    before = len(j.transactions())
    _fill(j, len(amounts), "CNY")
    rows = j.transactions()[before:]
    with j.unit() as uow:
        for t, a in zip(rows, amounts, strict=True):
            uow.execute("UPDATE transactions SET amount=? WHERE uuid=?", (a, t.uuid))
        uow.commit()


def host_settlements(shop: Shop) -> list[dict[str, Any]]:
    return shop.acquirer.books.settlements()


def test_balanced_settlement_closes_the_batch_and_opens_the_next(shop: Shop) -> None:
    sales(shop, 1000, 2050)
    term = shop.terminal
    batch = term.journal.batch
    out = Settlement(term).settle(approver=SUPERVISOR)
    rec = out.record
    assert rec.state == SettleState.CLOSED and rec.result == SettleResult.BALANCED
    assert rec.totals.totals.sale_amount == 3050 and rec.host_totals == rec.totals.totals
    assert term.journal.batch == batch + 1
    assert rec.slip_queued and out.slip_job
    assert [s["response_code"] for s in host_settlements(shop)] == ["00"]
    sales(shop, 500)
    assert term.journal.transactions()[-1].batch == batch + 1
    assert agreement(shop) == []


def test_out_of_balance_uploads_the_batch_then_balances(shop: Shop) -> None:
    sales(shop, 1000)
    unknown_to_host(shop, 111, 222, 333)
    progress: list[tuple[str, int, int]] = []
    out = Settlement(shop.terminal, window=2).settle(
        approver=SUPERVISOR, on_progress=lambda *a: progress.append(a)
    )
    rec = out.record
    assert rec.result == SettleResult.BALANCED_AFTER_UPLOAD
    assert (rec.upload_total, rec.uploaded) == (4, 4)
    assert ("upload", 4, 4) in progress and ("upload", 2, 4) in progress
    assert [s["response_code"] for s in host_settlements(shop)] == ["95", "00"]
    assert rec.host_totals is not None and rec.host_totals.sale_amount == 1666


def test_the_slip_states_both_sides_when_still_out_of_balance(shop: Shop) -> None:
    from appliance.domain.receipts import document_to_text

    sales(shop, 1000)
    st = Settlement(shop.terminal)
    # the host drops the upload on the floor: its totals stay different after the upload
    books = shop.acquirer.books
    orig = books._upload
    books._upload = lambda db, req: books._reply(req, "00", batch=req.batch)  # type: ignore[method-assign]
    try:
        unknown_to_host(shop, 700)
        rec = st.settle(approver=SUPERVISOR).record
    finally:
        books._upload = orig  # type: ignore[method-assign]
    assert rec.result == SettleResult.OUT_OF_BALANCE
    text = document_to_text(st.z_document(rec.batch), 32)
    assert "对账不平 OUT OF" in text and "AFTER BATCH UPLOAD" in text
    assert "HOST" in text and "TERMINAL" in text
    assert "17.00" in text and "10.00" in text


@pytest.mark.parametrize(
    "point",
    [
        "cut",
        "totals_sent",
        "totals_answered",
        "uploading",
        "uploaded",
        "final_sent",
        "closed",
        "slip_queued",
    ],
)
def test_a_crash_anywhere_resumes_and_closes_the_batch_exactly_once(shop: Shop, point: str) -> None:
    sales(shop, 1000, 2000)
    unknown_to_host(shop, 10, 20, 30)
    batch = shop.terminal.journal.batch
    with pytest.raises(Crash):
        Settlement(shop.terminal, window=2, hook=crash_at(point)).settle(approver=SUPERVISOR)
    term = shop.restart()
    assert term.journal.batch == batch + 1  # the cut happened once, before any crash point
    out = Settlement(term, window=2).settle(approver=SUPERVISOR)
    if point in ("closed", "slip_queued"):  # it had closed: this settles the next (empty) batch
        assert not out.resumed and out.record.batch == batch + 1
    else:
        assert out.resumed and out.record.batch == batch
    rec = Settlement(term).get(batch)
    assert rec.state == SettleState.CLOSED
    assert rec.result == SettleResult.BALANCED_AFTER_UPLOAD
    codes = [s["response_code"] for s in host_settlements(shop) if s["batch"] == batch]
    assert codes == ["95", "00"]  # a resent 0500 is a repeat the host answers from its record
    uploads = shop.acquirer.books._db.execute(
        "SELECT COUNT(*) FROM uploads WHERE batch=?", (batch,)
    ).fetchone()[0]
    assert uploads == 5
    jobs = [j for j in term.receipts.jobs() if j.what == f"settlement {batch:06d}"]
    assert len(jobs) == 1
    # a further call settles a later batch, never this one again
    assert Settlement(term).settle(approver=SUPERVISOR).record.batch != batch


def test_a_lost_0510_is_resent_with_the_same_stan_and_answered_from_the_record(shop: Shop) -> None:
    sales(shop, 1000)
    shop.acquirer.set_fault("drop_response", count=1)
    st = Settlement(shop.terminal)
    with pytest.raises(NoResponse, match="run countertop settle again") as lost:
        st.settle(approver=SUPERVISOR)
    assert lost.value.code == "settle.interrupted"
    assert "结算中断：银行无应答" in error_text(lost.value, "zh_CN")
    assert st.unfinished() is not None and st.unfinished().state == SettleState.TOTALS_SENT  # type: ignore[union-attr]
    rec = st.settle(approver=SUPERVISOR).record
    assert rec.result == SettleResult.BALANCED
    assert len(host_settlements(shop)) == 1


def test_host_unreachable_mid_upload_resumes_from_the_last_journaled_window(shop: Shop) -> None:
    unknown_to_host(shop, 1, 2, 3, 4, 5, 6)
    st = Settlement(shop.terminal, window=2, hook=crash_at("uploaded", after=2))
    with pytest.raises(Crash):
        st.settle(approver=SUPERVISOR)
    rec = st.unfinished()
    assert rec is not None and rec.state == SettleState.UPLOADING and rec.uploaded == 4
    shop.acquirer.set_fault("refuse")
    shop.terminal.link.close()
    with pytest.raises(Exception, match="interrupted after 4 of 6") as cut:
        Settlement(shop.terminal, window=2).settle(approver=SUPERVISOR)
    assert cut.value.code == "settle.upload_interrupted"  # type: ignore[attr-defined]
    zh = error_text(cut.value, "zh_CN")
    assert "批上送在 4/6 笔后中断" in zh and not re.search(r"[A-Za-z]{3,}", zh)
    shop.acquirer.clear_faults()
    assert Settlement(shop.terminal, window=2).settle(approver=SUPERVISOR).record.uploaded == 6


def test_settlement_is_refused_while_a_reversal_is_owed_and_nothing_is_cut(shop: Shop) -> None:
    sales(shop, 1000)
    term = shop.terminal
    t = term.journal.transactions()[-1]
    term.journal.owe_reversal(t.uuid, "test: answer lost")
    shop.acquirer.set_fault("refuse")
    term.link.close()
    batch = term.journal.batch
    with pytest.raises(ReversalOwed, match="1 reversal") as owed:
        Settlement(term).settle(approver=SUPERVISOR)
    assert (owed.value.code, owed.value.params) == ("settle.owed", {"reversals": 1, "stored": 0})
    assert "仍有 1 笔冲正和 0 笔脱机交易待上送银行" in error_text(owed.value, "zh_CN")
    assert term.journal.batch == batch
    with pytest.raises(NotFound):
        Settlement(term).get(batch)
    shop.acquirer.clear_faults()
    rec = Settlement(term).settle(approver=SUPERVISOR).record
    assert rec.totals.totals.sale_count == 0  # the reversed sale is not in the totals
    assert term.journal.get(t.uuid).state == TxnState.REVERSED


def test_a_stored_payment_is_forwarded_first_and_counted(shop: Shop) -> None:
    term = shop.terminal
    shop.acquirer.set_fault("refuse")
    term.link.close()
    out = term.sale(1200, operator="01")
    assert out.result == "stored"
    shop.acquirer.clear_faults()
    rec = Settlement(term).settle(approver=SUPERVISOR).record
    assert rec.result == SettleResult.BALANCED
    assert rec.totals.totals.sale_amount == 1200
    assert term.journal.get(out.txn.uuid).state == TxnState.APPROVED  # type: ignore[union-attr]


def test_settlement_waits_for_a_payment_in_progress_and_never_interrupts_it(shop: Shop) -> None:
    from appliance.services.oplock import OperationLock

    term = shop.terminal
    batch = term.journal.batch
    other_process = OperationLock(term.oplock.path)  # another process's payment
    settle_waiting = threading.Event()
    seen_batch: list[int] = []
    holding = threading.Event()

    def payment() -> None:
        with other_process.hold("sale"):
            holding.set()
            settle_waiting.wait(10)
            seen_batch.append(term.journal.batch)  # the cut has not happened meanwhile

    th = threading.Thread(target=payment)
    th.start()
    holding.wait(10)

    def progress(phase: str, _d: int, _t: int) -> None:
        if phase == "waiting_for_payment":
            settle_waiting.set()

    rec = Settlement(term).settle(approver=SUPERVISOR, on_progress=progress).record
    th.join(10)
    assert seen_batch == [batch]
    assert rec.state == SettleState.CLOSED and rec.batch == batch


def test_a_payment_waits_while_the_batch_is_cut_then_goes_to_the_next_batch(shop: Shop) -> None:
    term = shop.terminal
    batch = term.journal.batch
    results: list[Any] = []
    started = threading.Event()

    def hook(point: str) -> None:
        if point == "cut":
            # the cut is done: a sale from another thread now lands in the next batch
            t = threading.Thread(target=lambda: results.append(term.sale(999)))
            t.start()
            t.join(10)
            started.set()

    Settlement(term, hook=hook).settle(approver=SUPERVISOR)
    assert started.is_set()
    assert results[0].result == "approved" and results[0].txn.batch == batch + 1


def test_settlement_gives_up_if_another_process_keeps_the_lock(shop: Shop) -> None:
    from appliance.services.oplock import OperationLock

    term = shop.terminal
    term.oplock.wait = 0.1
    with OperationLock(term.oplock.path).hold("sale"), pytest.raises(Refused, match="busy"):
        Settlement(term).settle(approver=SUPERVISOR)
    assert Settlement(term).unfinished() is None


def test_x_report_and_z_reprint(shop: Shop) -> None:
    from appliance.domain.receipts import document_to_text

    sales(shop, 1000, operator="01")
    sales(shop, 2000, operator="02")
    st = Settlement(shop.terminal)
    x = st.open_summary()
    assert (x["sale_count"], x["sale_amount"]) == (2, 3000)
    assert {o["operator"] for o in x["operators"]} == {"01", "02"}
    assert st.print_x() and st.print_x()  # any number of times
    assert shop.terminal.journal.batch == x["batch"]
    batch = st.settle(approver=SUPERVISOR).record.batch
    job = st.print_z(batch)
    assert job
    text = document_to_text(st.z_document(batch, reprint=True), 32)
    assert "BALANCED" in text and "30.00" in text
    assert "EST. FEES" in text and "EXPECTED DEPOSIT" in text


def test_due_when_the_time_has_passed_and_the_batch_has_sales(shop: Shop) -> None:
    from datetime import UTC, datetime

    term = shop.terminal
    st = Settlement(term)
    assert not st.due()  # empty batch
    sales(shop, 100)
    term.journal.clock = lambda: datetime(2030, 1, 1, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
    assert st.due()
    st.settle(approver=SUPERVISOR)
    assert not st.due()


def test_a_sign_on_naming_a_settled_batch_does_not_reopen_it(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    term = shop.terminal
    sales(shop, 1000)
    settled = Settlement(term).settle(approver=SUPERVISOR).record.batch
    exchange = term._exchange
    monkeypatch.setattr(term, "_exchange", lambda req: replace(exchange(req), batch=settled))
    term.sign_on("01")
    assert term.journal.batch == settled + 1
    monkeypatch.setattr(term, "_exchange", lambda req: replace(exchange(req), batch=500))
    term.sign_on("01")
    assert term.journal.batch == 500  # a batch number the host hands out is taken otherwise
