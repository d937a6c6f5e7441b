"""The print queue: jobs wait for the printer in order (across restarts), an interrupted job
prints again once, in full and marked DUPLICATE, and a sale never waits for the printer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.journal import Journal
from appliance.services.printing import PrintQueue
from appliance.sim.torture import make_shop_config
from drivers.printer.base import PrinterStatus
from drivers.printer.mock import MockPrinter

FAULTS = {
    "paper_out": (MockPrinter.paper_out, PrinterStatus.PAPER_OUT),
    "cover_open": (MockPrinter.cover_open, PrinterStatus.COVER_OPEN),
    "offline": (MockPrinter.unplug, PrinterStatus.OFFLINE),
}


@pytest.fixture
def cfg(tmp_path: Path) -> Any:
    return make_shop_config(tmp_path)


@pytest.fixture
def journal(cfg: Any) -> Iterator[Journal]:
    j = Journal.open(cfg.journal_path)
    yield j
    j.close()


def job_bytes(n: int) -> bytes:
    return f"job {n}\n".encode() * 20


def duplicate_of(data: bytes, printed: bytes) -> bool:
    """``printed`` is ``data`` whole, headed by the DUPLICATE banner."""
    return printed.endswith(data) and b"DUPLICATE" in printed[: len(printed) - len(data)]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_jobs_wait_in_order_while_the_printer_cannot_print_and_print_when_it_is_back(
    cfg: Any, journal: Journal, fault: str
) -> None:
    printer = MockPrinter()
    make_fault, status = FAULTS[fault]
    make_fault(printer)
    assert printer.status() is status
    queue = PrintQueue(cfg, journal, printer)
    ids = [queue.enqueue(f"job {n}", job_bytes(n)) for n in range(3)]
    assert queue.drain() == 0
    assert queue.waiting() == 3
    assert [j.id for j in queue.jobs("queued")] == ids
    assert printer.jobs == []
    printer.restore()
    assert queue.drain() == 3
    assert [job_id for job_id, _ in printer.jobs] == ids
    assert [data for _, data in printer.jobs] == [job_bytes(n) for n in range(3)]
    assert queue.waiting() == 0


def test_waiting_jobs_survive_a_restart_and_keep_their_order(cfg: Any, tmp_path: Path) -> None:
    printer = MockPrinter()
    printer.paper_out()
    journal = Journal.open(cfg.journal_path)
    first = PrintQueue(cfg, journal, printer)
    ids = [first.enqueue(f"job {n}", job_bytes(n)) for n in range(4)]
    first.drain()
    journal.close()

    # Power cycle: a new journal connection, a new queue, a new roll of paper.
    journal = Journal.open(cfg.journal_path)
    try:
        printer = MockPrinter()
        again = PrintQueue(cfg, journal, printer)
        assert [j.id for j in again.jobs("queued")] == ids
        assert again.drain() == 4
        assert [job_id for job_id, _ in printer.jobs] == ids
    finally:
        journal.close()


def test_a_job_cut_short_by_the_paper_running_out_prints_again_once_marked_duplicate(
    cfg: Any, journal: Journal
) -> None:
    printer = MockPrinter()
    queue = PrintQueue(cfg, journal, printer)
    cut, after = job_bytes(1), job_bytes(2)
    ids = [queue.enqueue("cut", cut), queue.enqueue("after", after)]
    printer.fail_after_bytes(len(cut) // 2)
    assert queue.drain() == 0
    assert printer.received == cut[: len(cut) // 2]  # half a slip came out
    [job] = [j for j in queue.jobs() if j.id == ids[0]]
    assert (job.state, job.attempts, job.duplicate) == ("uncertain", 1, True)
    assert "out of paper" in job.last_error
    assert queue.drain() == 0  # still out of paper: nothing is sent, no attempt is used
    assert queue.jobs()[0].attempts == 1
    printer.restore()
    assert queue.drain() == 2
    assert [jid for jid, _ in printer.jobs] == ids  # whole, then the next, in order
    assert duplicate_of(cut, printer.jobs[0][1])
    assert printer.jobs[1][1] == after  # a job that printed first time has no banner
    assert [j.state for j in queue.jobs()] == ["done", "done"]


@pytest.mark.parametrize("then", [PrinterStatus.COVER_OPEN, PrinterStatus.OFFLINE])
def test_a_job_interrupted_by_the_cover_or_the_cable_prints_again_once_marked_duplicate(
    cfg: Any, journal: Journal, then: PrinterStatus
) -> None:
    printer = MockPrinter()
    queue = PrintQueue(cfg, journal, printer)
    data = job_bytes(7)
    job_id = queue.enqueue("interrupted", data)
    printer.fail_after_bytes(10, then)
    assert queue.drain() == 0
    printer.restore()
    assert queue.drain() == 1
    [(jid, printed)] = printer.jobs
    assert jid == job_id and duplicate_of(data, printed)


def test_a_job_that_stays_uncertain_is_parked_for_a_person_and_printed_on_request(
    cfg: Any, journal: Journal
) -> None:
    printer = MockPrinter()
    queue = PrintQueue(cfg, journal, printer)
    assert queue.max_attempts == 2
    data = job_bytes(8)
    job_id = queue.enqueue("twice cut", data)
    for _ in range(2):
        printer.fail_after_bytes(5)
        assert queue.drain() == 0
        printer.restore()
    assert queue.drain() == 0  # never a third print by itself
    [job] = queue.jobs()
    assert (job.state, job.attempts) == ("needs_attention", 2)
    assert len(printer.received) == 10  # two cut attempts, nothing more
    assert [j.id for j in queue.attention()] == [job_id]
    assert queue.retry() == 1  # the operator asks for it
    assert queue.drain() == 1
    assert duplicate_of(data, printer.jobs[-1][1])
    assert queue.jobs()[0].state == "done"


def test_a_job_left_printing_by_a_killed_process_prints_once_more_marked_duplicate(
    cfg: Any,
) -> None:
    import time

    journal = Journal.open(cfg.journal_path)
    dead = PrintQueue(cfg, journal, MockPrinter())
    job_id = dead.enqueue("crashed", job_bytes(3))
    # The process claimed the job and died mid-print: its lease is never renewed.
    assert journal.print_jobs.claim(dead.owner, lease=10, max_attempts=2) is not None
    journal.close()

    journal = Journal.open(cfg.journal_path)
    try:
        printer = MockPrinter()
        queue = PrintQueue(cfg, journal, printer)
        assert [j.state for j in queue.jobs()] == ["printing"]
        assert queue.drain() == 0  # the lease still runs: nobody else may print it yet
        assert queue.drain(now=time.time() + 11) == 1  # lease expired: taken over
        [(jid, printed)] = printer.jobs
        assert jid == job_id and duplicate_of(job_bytes(3), printed)
    finally:
        journal.close()


def test_a_sale_never_waits_for_the_printer(tmp_path: Path) -> None:
    from tests.shop import open_shop

    shop = open_shop(tmp_path)
    try:
        term = shop.terminal
        term.printer.paper_out()
        out = term.sale(1234, operator="01")
        assert out.result == "approved"
        assert term.printer.jobs == []
        assert term.status().printer == "paper_out"
        assert term.status().print_jobs_waiting == 1
        [job] = term.receipts.jobs("queued")
        assert job.txn_uuid == out.txn.uuid
        term.printer.restore()
        assert term.receipts.drain() == 1
        assert [job_id for job_id, _ in term.printer.jobs] == [job.id]
    finally:
        shop.close()


def test_the_print_worker_prints_what_was_queued_while_the_printer_was_out(
    cfg: Any, journal: Journal
) -> None:
    printer = MockPrinter()
    printer.paper_out()
    queue = PrintQueue(cfg, journal, printer)
    job_id = queue.enqueue("waits", job_bytes(4))
    queue.drain()
    printer.restore()
    done = threading.Event()
    original = printer.print_job

    def print_job(jid: str, data: bytes) -> None:
        original(jid, data)
        done.set()

    printer.print_job = print_job  # type: ignore[method-assign]
    queue.start(poll=0.05)
    try:
        assert done.wait(10)
    finally:
        queue.stop()
    assert printer.jobs == [(job_id, job_bytes(4))]
    assert queue.waiting() == 0


def test_a_stopped_print_worker_can_be_started_again(cfg: Any, journal: Journal) -> None:
    printer = MockPrinter()
    queue = PrintQueue(cfg, journal, printer)
    queue.start()
    queue.stop()
    done = threading.Event()
    original = printer.print_job

    def print_job(jid: str, data: bytes) -> None:
        original(jid, data)
        done.set()

    printer.print_job = print_job  # type: ignore[method-assign]
    queue.start()
    try:
        queue.enqueue("after restart", job_bytes(5))
        assert done.wait(10)
    finally:
        queue.stop()
