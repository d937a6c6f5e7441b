"""A scheduled settlement that could not reach the host runs by itself when the link returns.

Two paths, as on a Pi: the kiosk's link worker (it settles after forwarding, once the link is
up) and the systemd timer's ``countertop settle --if-due``, retried until it succeeds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from appliance.cli import main
from appliance.domain.settlement import SettleResult, SettleState
from appliance.services.link_monitor import LinkWorker
from appliance.services.settlement import Settlement
from tests.integration.test_linkmon_worker import FakeClock
from tests.shop import Shop, agreement


def sold_before_the_scheduled_time(shop: Shop) -> None:
    """Two approved sales made two days ago: the scheduled settlement has been missed."""
    term = shop.terminal
    for amount in (1000, 2500):
        assert term.sale(amount, operator="01").result == "approved"
    old = (term.journal.clock() - timedelta(days=2)).isoformat()
    with term.journal.unit() as uow:
        uow.execute("UPDATE transactions SET created_at=?", (old,))
        uow.commit()


def timer_run(shop: Shop) -> int:
    """What countertop-settle.service runs (and systemd repeats while it fails)."""
    return main(["--config", str(shop.cfg.path), "settle", "--if-due"])


def link_down(shop: Shop) -> None:
    shop.acquirer.set_fault("refuse")
    shop.terminal.link.close()


def test_a_settlement_missed_while_the_link_was_down_waits_then_the_link_worker_runs_it(
    shop: Shop,
) -> None:
    sold_before_the_scheduled_time(shop)
    link_down(shop)
    assert timer_run(shop) != 0  # the scheduled run cannot reach the host
    status = shop.terminal.status()
    assert status.settlement == "due_waiting_for_link"
    clock = FakeClock()
    w = LinkWorker(shop.terminal, interval=60, base=1, clock=clock)
    w.tick()  # link still down: nothing happens
    assert Settlement(shop.terminal).unfinished() is not None
    shop.acquirer.clear_faults()
    clock.advance(60)  # the back-off is capped at the interval: within a minute
    w.tick()
    assert w.settlements == 1
    rec = Settlement(shop.terminal).history(1)[0]
    assert rec.state == SettleState.CLOSED and rec.result == SettleResult.BALANCED
    assert rec.slip_queued  # the Z slip prints when it closes
    assert shop.terminal.status().settlement == ""
    w.tick()
    assert w.settlements == 1  # settled once, not again
    assert agreement(shop) == []


def test_the_timer_retries_until_the_day_is_settled(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    sold_before_the_scheduled_time(shop)
    link_down(shop)
    assert timer_run(shop) != 0
    assert main(["--config", str(shop.cfg.path), "status"]) == 0
    assert "due, waiting for the link" in capsys.readouterr().out
    assert timer_run(shop) != 0  # systemd's next retry: still down
    shop.acquirer.clear_faults()
    assert timer_run(shop) == 0  # the link is back: settled
    assert "settled: balanced" in capsys.readouterr().out
    assert [s["response_code"] for s in shop.acquirer.books.settlements()] == ["00"]
    assert timer_run(shop) == 0  # a retry after success is a no-op
    assert "not due" in capsys.readouterr().out
    assert shop.terminal.status().settlement == ""


def test_a_batch_opened_after_the_scheduled_time_is_not_settled_early(shop: Shop) -> None:
    assert shop.terminal.sale(1000, operator="01").result == "approved"
    st = Settlement(shop.terminal)
    assert st.due()  # never settled: the timer would settle it at its time
    assert not st.overdue()  # but the link worker does not settle ahead of the schedule
    w = LinkWorker(shop.terminal, interval=60, base=1, clock=FakeClock())
    w.tick()
    assert w.settlements == 0 and st.unfinished() is None
