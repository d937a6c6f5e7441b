"""Every job prints exactly once, or twice with the second marked DUPLICATE, never more.

Against a LAN printer on loopback (``FakeNetworkPrinter``) that drains at a set rate and holds
data through faults (printing it when the fault clears), through the real network adapter:

- a slow printer that needs longer than the status timeout for a job is busy, not offline:
  one print (it used to be judged offline and sent again every few seconds, 11-12 copies);
- a fault mid-job, a connection cut mid-job and a process killed mid-print: the job prints
  once more, after the printer is ready, headed by DUPLICATE 重复打印;
- two processes printing the same queue: each job once;
- the kiosk's worker prints jobs another process queued without being told.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.bootstrap import build_printer
from appliance.config import load_config
from appliance.journal import Journal
from appliance.services.printing import LEASE, PrintQueue
from appliance.sim.printer_net import FakeNetworkPrinter
from appliance.sim.shop import init_demo
from drivers.printer.base import PrinterStatus
from tests.print_worker import numbered

ROOT = Path(__file__).resolve().parents[2]


def shop_config(tmp_path: Path, fake: FakeNetworkPrinter, **printer: Any) -> Any:
    settings = {
        "backend": "network",
        "host": fake.host,
        "port": fake.port,
        "drain_margin": 2.0,
        **printer,
    }
    return load_config(init_demo(tmp_path / "terminal.toml", overrides={"printer": settings}))


@pytest.fixture
def fake() -> Iterator[FakeNetworkPrinter]:
    with FakeNetworkPrinter() as server:
        yield server


def prints_of(paper: bytes, n: int) -> list[bool]:
    """For each time job ``n`` appears on the paper: whether a DUPLICATE banner heads it."""
    marker = f"JOB-{n:03d}".encode()
    out, start = [], 0
    while (i := paper.find(marker, start)) >= 0:
        # headed by the banner: the nearest earlier banner comes after the previous job's mark
        out.append(paper.rfind(b"DUPLICATE", 0, i) > paper.rfind(b"JOB-", 0, i))
        start = i + len(marker)
    return out


def open_queue(cfg: Any) -> tuple[Journal, PrintQueue]:
    journal = Journal.open(cfg.journal_path)
    return journal, PrintQueue(cfg, journal, build_printer(cfg))


def worker(cfg: Any, role: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.print_worker", str(cfg.path), role, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_slow_printer_is_busy_not_offline_and_prints_a_long_job_once(tmp_path: Path) -> None:
    # 2 KB/s of paper; the 8 KB job needs ~4 s, longer than the 3 s status timeout allowed before.
    with FakeNetworkPrinter(rate=2000) as fake:
        cfg = shop_config(tmp_path, fake, drain_rate=1000)
        journal, queue = open_queue(cfg)
        try:
            big = numbered(0).__class__(
                "test", "en", numbered(0).blocks[:1] + tuple(numbered(0).blocks[1:2]) * 260
            )
            queue.document(big, "long slip")
            seen: list[PrinterStatus] = []
            t = threading.Thread(target=queue.drain)
            t.start()
            while t.is_alive():
                seen.append(queue.printer.status())
                time.sleep(0.2)
            t.join()
            assert PrinterStatus.BUSY in seen and PrinterStatus.OFFLINE not in seen
            assert prints_of(fake.received, 0) == [False]  # once, no banner
            assert [j.state for j in queue.jobs()] == ["done"]
            time.sleep(0.5)
            assert queue.drain() == 0
            assert prints_of(fake.received, 0) == [False]
        finally:
            queue.printer.close()
            journal.close()


def test_a_job_the_printer_held_through_paper_out_prints_twice_the_second_marked(
    tmp_path: Path, fake: FakeNetworkPrinter
) -> None:
    cfg = shop_config(tmp_path, fake)
    journal, queue = open_queue(cfg)
    try:
        queue.document(numbered(1), "job 1")
        queue.document(numbered(2), "job 2")
        fake.fault_after_bytes(12, PrinterStatus.PAPER_OUT)  # mid-way through job 1
        assert queue.drain() == 0
        assert fake.held  # the printer kept the rest of job 1
        assert [j.state for j in queue.jobs()] == ["uncertain", "queued"]
        assert queue.drain() == 0  # paper still out: nothing sent
        fake.restore()  # new roll: the printer prints what it held: job 1 is whole
        assert prints_of(fake.received, 1) == [False]
        assert queue.drain() == 2
        assert prints_of(fake.received, 1) == [False, True]  # twice, the second marked
        assert prints_of(fake.received, 2) == [False]
        assert queue.drain() == 0
        assert [j.state for j in queue.jobs()] == ["done", "done"]
    finally:
        queue.printer.close()
        journal.close()


def test_a_job_whose_connection_was_cut_prints_again_once_marked(
    tmp_path: Path, fake: FakeNetworkPrinter
) -> None:
    cfg = shop_config(tmp_path, fake)
    journal, queue = open_queue(cfg)
    try:
        queue.document(numbered(3), "job 3")
        fake.close_after_bytes(20)
        # Cut after its first 20 bytes; the printer answers again at once: printed once more.
        assert queue.drain() == 1
        assert prints_of(fake.received, 3) == [False, True]  # the cut start, then marked
        assert queue.drain() == 0
        assert prints_of(fake.received, 3) == [False, True]
    finally:
        queue.printer.close()
        journal.close()


def test_a_printer_that_keeps_failing_mid_job_gets_the_job_twice_then_a_person(
    tmp_path: Path, fake: FakeNetworkPrinter
) -> None:
    cfg = shop_config(tmp_path, fake)
    journal, queue = open_queue(cfg)
    try:
        job_id = queue.document(numbered(4), "job 4")
        for _ in range(2):
            fake.fault_after_bytes(40, PrinterStatus.PAPER_OUT)
            queue.drain()
            fake.restore()  # the held rest prints each time
        assert queue.drain() == 0  # never a third time by itself
        assert prints_of(fake.received, 4) == [False, True]
        [job] = queue.jobs()
        assert (job.state, job.attempts) == ("needs_attention", 2)
        assert "out of paper" in job.last_error
        assert queue.drain() == 0
        assert queue.retry(job_id) == 1  # an operator asks for it
        assert queue.drain() == 1
        assert prints_of(fake.received, 4) == [False, True, True]
    finally:
        queue.printer.close()
        journal.close()


def test_two_processes_printing_one_queue_print_each_job_once(
    tmp_path: Path, fake: FakeNetworkPrinter
) -> None:
    cfg = shop_config(tmp_path, fake)
    enq = worker(cfg, "enqueue", "12")
    out, _ = enq.communicate(timeout=60)
    assert len(out.split()) == 12
    # Both bypass the print owner on purpose: the claim alone must keep them apart.
    a, b = worker(cfg, "drain"), worker(cfg, "drain")
    counts = [int(p.communicate(timeout=120)[0]) for p in (a, b)]
    assert sum(counts) == 12
    for n in range(12):
        assert prints_of(fake.received, n) == [False], n


def test_the_kiosk_prints_what_another_process_queued_and_the_cli_leaves_it_to_the_kiosk(
    tmp_path: Path, fake: FakeNetworkPrinter
) -> None:
    cfg = shop_config(tmp_path, fake)
    kiosk = worker(cfg, "kiosk")
    try:
        assert kiosk.stdout is not None and kiosk.stdout.readline().strip() == "READY"
        journal, cli = open_queue(cfg)
        try:
            deadline = time.monotonic() + 10
            while cli.owner_elsewhere() != "kiosk" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cli.owner_elsewhere() == "kiosk"
            for n in range(6):
                cli.document(numbered(n), f"job {n}")
            run = cli.print_here(wait=0)  # what `countertop reprint` does: the kiosk prints
            assert run.owner == "kiosk" and run.printed == 0
            # Nobody woke the kiosk: it saw the journal change by itself.
            fake.wait_for_bytes(1, timeout=10)
            deadline = time.monotonic() + 10
            while cli.waiting() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cli.waiting() == 0
            for n in range(6):
                assert prints_of(fake.received, n) == [False], n
            # `countertop status` asks the kiosk (its last report), not the printer: a LAN
            # printer may take one connection at a time.
            connections = fake.connections
            deadline = time.monotonic() + 10
            while cli.reported_status() != "online" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert cli.reported_status() == "online"
            assert fake.connections == connections
        finally:
            cli.printer.close()
            journal.close()
    finally:
        assert kiosk.stdin is not None
        kiosk.stdin.close()
        kiosk.wait(timeout=20)


def test_a_process_killed_mid_print_leaves_a_job_printed_once_more_marked(
    tmp_path: Path, fake: FakeNetworkPrinter
) -> None:
    cfg = shop_config(tmp_path, fake, drain_margin=60.0)
    journal, queue = open_queue(cfg)
    try:
        queue.document(numbered(5), "job 5")
        fake.rate = 20  # bytes a second: the job takes seconds to go in
        victim = worker(cfg, "drain")
        assert len(fake.wait_for_bytes(10, timeout=20)) >= 10  # the job is going in
        assert queue.jobs()[0].state == "printing"
        os.kill(victim.pid, signal.SIGKILL)  # mid-print
        victim.wait(timeout=10)
        fake.wait_for_bytes(40, timeout=20)  # what it had sent reaches the paper
        before = prints_of(fake.received, 5)
        assert before == [False]
        assert queue.drain() == 0  # its lease still runs: nobody else prints it yet
        assert queue.drain(now=time.time() + LEASE + 1) == 1
        assert prints_of(fake.received, 5) == [False, True]
        assert queue.drain(now=time.time() + LEASE + 1) == 0
    finally:
        queue.printer.close()
        journal.close()
