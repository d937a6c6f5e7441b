"""The back office on a real PostgreSQL server: same schema, same exactly-once ingest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appliance.domain.fleet import Topics, canonical, event_envelope
from appliance.office.db import OfficeDb
from appliance.office.ingest import Ingestor
from appliance.office.views import day, search
from tests.brokers import Postgres

TOPICS = Topics("countertop/v1", "898310048160001", "10000001")


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    server = Postgres()
    server.start()
    yield server
    server.stop()


def _txn(uuid: str, state: str, amount: int, stan: int) -> dict[str, object]:
    return {
        "uuid": uuid,
        "type": "sale",
        "state": state,
        "previous_state": "pending",
        "amount": amount,
        "currency": "CNY",
        "stan": stan,
        "batch": 1,
        "invoice": stan,
        "masked_pan": "622588******1234",
        "scheme": "UNIONPAY",
        "entry_mode": "07",
        "aid": "A000000333010101",
        "label": "UnionPay",
        "rrn": f"00000000{stan:04d}",
        "auth_code": "123456",
        "response_code": "00",
        "original_uuid": None,
        "original_stan": None,
        "operator": "01",
        "offline": 0,
        "local_date": "2026-12-02",
        "created_at": f"2026-12-02T0{stan}:00:00+00:00",
        "updated_at": "2026-12-02T09:00:00+00:00",
    }


def test_events_stored_once_newest_state_wins_and_pages_read_it(pg: Postgres) -> None:
    db = OfficeDb(pg.url)
    assert db.migrate() == 1
    assert db.migrate() == 1  # applied once
    ingest = Ingestor(db, "mqtt://127.0.0.1:1883")
    approved = event_envelope(
        "txn:a:approved", 1, "transaction", "t1", _txn("a", "approved", 1250, 1)
    )
    voided = event_envelope("txn:a:voided", 3, "transaction", "t3", _txn("a", "voided", 1250, 1))
    other = event_envelope("txn:b:approved", 2, "transaction", "t2", _txn("b", "approved", 800, 2))
    assert ingest.handle(TOPICS.event, canonical(approved)) == "stored"
    assert ingest.handle(TOPICS.event, canonical(other)) == "stored"
    assert ingest.handle(TOPICS.event, canonical(voided)) == "stored"
    # A repeat of the oldest event after a reconnect: counted, stored once, state not moved back.
    assert ingest.handle(TOPICS.event, canonical(approved)) == "repeat"
    assert db.query("SELECT deliveries FROM events WHERE event_id = 'txn:a:approved'") == [(2,)]
    assert db.query("SELECT state FROM txns WHERE uuid = 'a'") == [("voided",)]
    from datetime import date

    d = day(db, "10000001", date(2026, 12, 2))
    assert d["net"] == 800  # the voided sale no longer counts
    db.add_user("tech", "technician", "tech-pass-1", [])
    user = db.authenticate("tech", "tech-pass-1")
    assert user is not None
    assert [r["stan"] for r in search(db, user, amount=800)] == [2]
    db.close()
