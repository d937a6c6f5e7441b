"""The link worker: echo when idle, back off while offline, forward when the link returns."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from appliance.domain.transactions import TxnState
from appliance.services.link_monitor import LinkWorker, check_link
from appliance.services.link_state import LinkState


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def worker(shop: Any, clock: FakeClock, **kw: Any) -> LinkWorker:
    return LinkWorker(shop.terminal, interval=60, base=1, clock=clock, **kw)


def ledger_types(shop: Any) -> list[str]:
    return [r["type"] for r in shop.acquirer.ledger()]


def test_an_idle_terminal_echoes_once_per_interval_and_is_online(
    shop: Any, clock: FakeClock
) -> None:
    w = worker(shop, clock)
    assert w.tick() == pytest.approx(60)
    assert w.checks == 1
    assert shop.terminal.status().link == "online"
    clock.advance(30)
    assert w.tick() == pytest.approx(30)
    assert w.checks == 1  # not due yet
    clock.advance(30)
    w.tick()
    assert w.checks == 2


def test_other_traffic_counts_as_a_check(shop: Any, clock: FakeClock) -> None:
    w = worker(shop, clock)
    w.tick()
    clock.advance(59)
    assert shop.terminal.sale(1000).result == "approved"
    clock.advance(2)
    assert w.tick() == pytest.approx(60)
    assert w.checks == 1  # the sale proved the link a moment ago


def test_a_refused_link_goes_offline_and_echoes_back_off_exponentially(
    shop: Any, clock: FakeClock
) -> None:
    w = worker(shop, clock, cap=10)
    w.tick()
    shop.acquirer.set_fault("refuse")
    clock.advance(60)
    delays = []
    for _ in range(6):
        delays.append(w.tick())
        clock.advance(delays[-1])
    assert shop.terminal.status().link == "offline"
    assert shop.terminal.status().link_error  # the reason is shown next to the state
    assert delays == [pytest.approx(d) for d in (1, 2, 4, 8, 10, 10)]
    assert w.checks == 7


def test_no_echo_while_the_terminal_is_busy(shop: Any, clock: FakeClock) -> None:
    w = worker(shop, clock)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with shop.terminal._busy:
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    try:
        w.tick()
        assert w.checks == 0
    finally:
        release.set()
        t.join()
    w.tick()
    assert w.checks == 1


def test_stored_payments_are_forwarded_automatically_when_the_link_returns(
    shop: Any, clock: FakeClock
) -> None:
    w = worker(shop, clock)
    w.tick()
    shop.acquirer.set_fault("refuse")
    out = shop.terminal.sale(2500)
    assert out.result == "stored"
    clock.advance(60)
    w.tick()
    assert w.state == LinkState.OFFLINE
    assert shop.terminal.status().stored_count == 1
    shop.acquirer.clear_faults()
    clock.advance(w.delay())
    w.tick()
    assert w.state == LinkState.ONLINE
    assert w.forwards == 1
    st = shop.terminal.status()
    assert (st.stored_count, st.pending_reversals) == (0, 0)
    assert shop.terminal.journal.get(out.txn.uuid).state == TxnState.APPROVED
    assert ledger_types(shop).count("advice") == 1


def test_payments_that_failed_to_forward_go_when_the_link_returns_despite_their_backoff(
    shop: Any, clock: FakeClock
) -> None:
    w = worker(shop, clock)
    w.tick()
    shop.acquirer.set_fault("refuse")
    assert shop.terminal.sale(2500).result == "stored"
    report = shop.terminal.send_owed()  # fails: its next attempt is pushed into the future
    assert report.still_owed == 1
    shop.acquirer.clear_faults()
    clock.advance(60)
    w.tick()
    assert shop.terminal.status().stored_count == 0


def test_the_thread_runs_ticks_until_stopped(shop: Any) -> None:
    w = LinkWorker(shop.terminal, interval=60)
    w.start()
    try:
        assert w.wait_ticks(1)
    finally:
        w.stop()
    assert w.checks == 1
    assert shop.terminal.status().link == "online"


def test_check_link_reports_offline_without_raising(shop: Any) -> None:
    assert check_link(shop.terminal) == LinkState.ONLINE
    shop.acquirer.set_fault("refuse")
    assert check_link(shop.terminal) == LinkState.OFFLINE


def test_unanswered_echoes_make_the_link_degraded_and_back_off(shop: Any, clock: FakeClock) -> None:
    w = worker(shop, clock)
    w.tick()
    shop.acquirer.set_fault("drop_request")
    clock.advance(60)
    assert w.tick() == pytest.approx(1)
    assert w.state == LinkState.DEGRADED
    assert shop.terminal.status().link == "degraded"
    shop.acquirer.clear_faults()
    clock.advance(1)
    assert w.tick() == pytest.approx(60)
    assert w.state == LinkState.ONLINE
