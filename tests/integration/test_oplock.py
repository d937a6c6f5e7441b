"""A second process's start-up recovery never takes another's sale in flight for a crash."""

from __future__ import annotations

import threading

from appliance.bootstrap import build_terminal
from appliance.domain.transactions import TxnState, TxnType
from tests.shop import Shop


def test_recovery_waits_for_the_sale_in_flight_instead_of_reversing_it(shop: Shop) -> None:
    a = shop.terminal
    txn = a.journal.begin(TxnType.SALE, 1000, "CNY")  # A sent it and waits for the answer
    holding, answer_arrives = threading.Event(), threading.Event()

    def sale_in_flight() -> None:
        with a.oplock.hold("sale"):
            holding.set()
            answer_arrives.wait(10)
            a.journal.record_outcome(
                txn.uuid, approved=True, response_code="00", rrn="000000000001", auth_code="A1"
            )

    t = threading.Thread(target=sale_in_flight)
    t.start()
    assert holding.wait(5)
    started: list[object] = []
    b = threading.Thread(target=lambda: started.append(build_terminal(shop.cfg)))
    b.start()
    b.join(0.5)
    assert b.is_alive(), "the second terminal must wait while a payment is in flight"
    answer_arrives.set()
    t.join(5)
    b.join(10)
    assert started, "the second terminal starts once the sale is finished"
    assert a.journal.get(txn.uuid).state == TxnState.APPROVED
    assert a.journal.owed() == []
    started[0].close()


def test_the_lock_is_reentrant_within_one_terminal(shop: Shop) -> None:
    with shop.terminal.oplock.hold("outer"):
        assert shop.terminal.sale(500).result == "approved"
