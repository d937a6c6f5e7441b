"""``countertop bench fleet``: N simulated terminals publish a day of events into the back office.

The terminals are simulated, not threads: N paho clients (one MQTT connection each, as N real
terminals have) driven round-robin from one loop, each publishing its day's events with QoS 1
through a real local Mosquitto into the back office's real subscriber and database. Figures:
events per second end to end (first publish → last event stored), p50/p99 delay from publish
to stored, and how many were lost (expected ids − stored ids; must be 0).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from appliance.bench.stats import percentile
from appliance.domain.fleet import Topics, canonical, event_envelope
from appliance.office.db import OfficeDb
from appliance.office.ingest import Ingestor
from appliance.sim.mosquitto import Mosquitto

TARGET_LOST = 0


def _day_event(tid: str, i: int) -> dict[str, Any]:
    uuid = f"{tid}-{i:05d}"
    state = "approved"
    body = {
        "uuid": uuid,
        "type": "sale",
        "state": state,
        "previous_state": "pending",
        "amount": 100 + (i * 37) % 20000,
        "currency": "CNY",
        "stan": i % 999999 + 1,
        "batch": 1,
        "invoice": i + 1,
        "masked_pan": "622588******1234",
        "scheme": "UNIONPAY",
        "entry_mode": "07",
        "aid": "A000000333010101",
        "label": "UnionPay",
        "rrn": f"{i:012d}",
        "auth_code": "123456",
        "response_code": "00",
        "original_uuid": None,
        "original_stan": None,
        "operator": "01",
        "offline": 0,
        "local_date": "2026-12-02",
        "created_at": "2026-12-02T08:00:00+00:00",
        "updated_at": "2026-12-02T08:00:00+00:00",
    }
    return event_envelope(f"txn:{uuid}:{state}", i + 1, "transaction", str(time.time()), body)


def bench_fleet(terminals: int = 50, events: int = 100, db: str = "") -> dict[str, Any]:
    """``terminals`` × ``events`` through Mosquitto into the office (SQLite unless ``db``)."""
    with tempfile.TemporaryDirectory(prefix="countertop-bench-fleet-") as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        office_db = OfficeDb(db or f"sqlite:///{tmp}/office.db")
        office_db.migrate()
        stored_at: dict[str, float] = {}
        sent_at: dict[str, float] = {}
        ingest = Ingestor(office_db, broker.url, client_id="bench-office")
        handle = ingest.handle

        def timed(topic: str, payload: bytes) -> str:
            out = handle(topic, payload)
            if topic.endswith("/event"):
                stored_at[json.loads(payload)["id"]] = time.perf_counter()
            return out

        ingest.handle = timed  # type: ignore[method-assign]
        ingest.start()
        clients = []
        try:
            deadline = time.monotonic() + 10
            while not ingest.connected.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)
            for n in range(terminals):
                tid = f"{30000000 + n:08d}"
                c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{tid}")
                c.max_inflight_messages_set(100)
                c.connect("127.0.0.1", broker.port)
                clients.append((c, Topics("countertop/v1", "898310048169999", tid), tid))
            for c, _t, _tid in clients:
                c.loop(0.01)
            start = time.perf_counter()
            total = terminals * events
            for i in range(events):
                for c, topics, tid in clients:
                    doc = _day_event(tid, i)
                    sent_at[doc["id"]] = time.perf_counter()
                    c.publish(topics.event, canonical(doc), qos=1)
                    c.loop(0)
            deadline = time.monotonic() + 120
            while len(stored_at) < total and time.monotonic() < deadline:
                for c, _t, _tid in clients:
                    c.loop(0)
                time.sleep(0.001)
            elapsed = (max(stored_at.values()) - start) if stored_at else float("inf")
        finally:
            for c, _t, _tid in clients:
                c.disconnect()
            ingest.stop()
            broker.stop()
        delays = [(stored_at[k] - sent_at[k]) * 1000 for k in stored_at]
        rows = OfficeDb(db or f"sqlite:///{tmp}/office.db").query("SELECT COUNT(*) FROM events")
        lost = total - int(rows[0][0])
    return {
        "terminals": terminals,
        "events": total,
        "events_per_s": round(total / elapsed, 1) if elapsed else None,
        "delay_p50_ms": round(percentile(delays, 50), 1) if delays else None,
        "delay_p99_ms": round(percentile(delays, 99), 1) if delays else None,
        "lost": lost,
        "target_lost": TARGET_LOST,
        "ok": lost == TARGET_LOST,
    }
