"""The fleet outbox: every journal event is written in the same SQLite transaction as its change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.errors import JournalError
from appliance.fleet.signing import generate
from appliance.journal import fleet as outbox
from tests.shop import SUPERVISOR, Shop, open_shop

PUBLIC = generate()[1].hex()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    s = open_shop(
        tmp_path,
        settings={"fleet": {"broker": "mqtt://127.0.0.1:1", "office_public_key": PUBLIC}},
    )
    s.terminal.sign_on("01")
    yield s
    s.close()


def _ids(shop: Shop) -> list[str]:
    return [e.event_id for e in outbox.unsent(shop.terminal.journal, limit=1000)]


def test_a_sale_a_decline_and_a_void_each_leave_their_events(shop: Shop) -> None:
    t = shop.terminal
    sale = t.sale(1250, operator="01").txn
    t.void(sale.stan, approver=SUPERVISOR)
    from drivers.reader import make_reader

    shop.restart(reader=make_reader("mock", mock_card="decline"))
    declined = shop.terminal.sale(999, operator="01").txn
    ids = _ids(shop)
    assert f"txn:{sale.uuid}:approved" in ids
    assert f"txn:{sale.uuid}:voided" in ids
    assert f"txn:{declined.uuid}:declined" in ids
    events = {e.event_id: e for e in outbox.unsent(shop.terminal.journal, limit=1000)}
    body = events[f"txn:{sale.uuid}:approved"].body
    assert body["amount"] == 1250 and body["currency"] == "CNY"
    assert body["previous_state"] == "pending"
    # Only the masked PAN travels: 6 + 4 digits, the middle masked.
    assert body["masked_pan"][:6].isdigit() and "*" in body["masked_pan"]


def test_events_are_in_journal_order_and_ids_never_repeat(shop: Shop) -> None:
    for amount in (100, 200, 300):
        shop.terminal.sale(amount, operator="01")
    events = outbox.unsent(shop.terminal.journal, limit=1000)
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert len({e.event_id for e in events}) == len(events)


def test_a_change_rolled_back_leaves_no_event(shop: Shop) -> None:
    journal = shop.terminal.journal
    sale = shop.terminal.sale(500, operator="01").txn
    before = _ids(shop)
    with pytest.raises(JournalError), journal.unit() as uow:
        uow.execute("UPDATE transactions SET state = 'voided' WHERE uuid = ?", (sale.uuid,))
        raise JournalError("the void's answer never came")
    assert _ids(shop) == before


def test_marking_events_sent_takes_them_out_of_the_depth(shop: Shop) -> None:
    shop.terminal.sale(100, operator="01")
    journal = shop.terminal.journal
    events = outbox.unsent(journal)
    assert outbox.depth(journal).unsent == len(events) > 0
    outbox.mark_sent(journal, [e.seq for e in events], journal.clock())
    assert outbox.depth(journal).unsent == 0
    assert outbox.unsent(journal) == []


def test_without_a_fleet_broker_no_event_is_recorded(tmp_path: Path) -> None:
    s = open_shop(tmp_path)
    try:
        s.terminal.sign_on("01")
        s.terminal.sale(100, operator="01")
        assert not outbox.enabled(s.terminal.journal)
        assert outbox.depth(s.terminal.journal).unsent == 0
    finally:
        s.close()
