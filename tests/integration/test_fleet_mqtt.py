"""Fleet reporting through a real Mosquitto broker into the back office: nothing lost, nothing twice.

The broker is Debian's mosquitto (not ours); the office stores into SQLite here (the
PostgreSQL run is test_office_postgres.py). The proof compares the back office with the
terminal's journal: every event the journal recorded is in the office exactly once, and every
transaction's state there is the journal's.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.fleet.agent import FleetAgent
from appliance.fleet.signing import generate
from appliance.journal import fleet as outbox
from appliance.office.db import OfficeDb
from appliance.office.ingest import Ingestor
from appliance.sim.shop import free_port
from tests.brokers import Mosquitto
from tests.shop import Shop, open_shop

PRIVATE, PUBLIC = generate()


def _until(cond: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Wait for a condition the system must reach (bounded; fails with what was awaited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"not reached within {timeout} s: {what}")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def fleet_shop(tmp_path: Path, broker: Mosquitto) -> Shop:
    shop = open_shop(
        tmp_path / "shop",
        settings={
            "fleet": {
                "broker": broker.url,
                "office_public_key": PUBLIC.hex(),
                "poll_seconds": 0.05,
                "heartbeat_seconds": 5,
            }
        },
    )
    shop.terminal.sign_on("01")
    return shop


def _agent(shop: Shop) -> FleetAgent:
    t = shop.terminal
    return FleetAgent(t.config, t.journal, status=lambda: t.status().as_dict())


def _office_ids(db: OfficeDb, tid: str) -> list[str]:
    return [r[0] for r in db.query("SELECT event_id FROM events WHERE tid = ?", (tid,))]


def _agrees(shop: Shop, db: OfficeDb) -> list[str]:
    """How the office differs from the journal (empty: it has every event, once)."""
    journal = shop.terminal.journal
    tid = shop.cfg.merchant.tid
    want = outbox.event_ids(journal)
    have = _office_ids(db, tid)
    problems = []
    if sorted(have) != sorted(set(have)):
        problems.append("an event is stored twice")
    missing = set(want) - set(have)
    extra = set(have) - set(want)
    if missing:
        problems.append(f"missing at the office: {sorted(missing)[:5]} ({len(missing)})")
    if extra:
        problems.append(f"at the office but not in the journal: {sorted(extra)[:5]}")
    states = dict(db.query("SELECT uuid, state FROM txns WHERE tid = ?", (tid,)))
    with journal.unit() as uow:
        rows = uow.execute(
            "SELECT uuid, state FROM transactions WHERE state <> 'pending'"
        ).fetchall()
    for uuid, state in rows:
        if states.get(uuid) != state:
            problems.append(f"{uuid}: office says {states.get(uuid)}, journal {state}")
    return problems


def _until_agrees(shop: Shop, db: OfficeDb, timeout: float) -> None:
    """Wait until the office agrees with the journal; fail with how it still differs."""
    deadline = time.monotonic() + timeout
    while (problems := _agrees(shop, db)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert problems == [], f"office still differs from the journal after {timeout} s"


def test_events_reach_the_office_once_and_status_is_retained(
    tmp_path: Path, broker: Mosquitto
) -> None:
    shop = fleet_shop(tmp_path, broker)
    db = OfficeDb(f"sqlite:///{tmp_path}/office.db")
    db.migrate()
    office = Ingestor(db, broker.url, client_id="office-1")
    office.start()
    agent = _agent(shop)
    agent.start()
    try:
        assert office.subscribed.wait(10)
        assert agent.wait_connected(10)
        sale = shop.terminal.sale(1250, operator="01").txn
        shop.terminal.void(sale.stan, operator="01")
        shop.terminal.sale(300, operator="01")
        _until(lambda: outbox.depth(shop.terminal.journal).unsent == 0, what="outbox drained")
        _until_agrees(shop, db, 20)
        tid = shop.cfg.merchant.tid
        _until(
            lambda: (
                db.query("SELECT status FROM terminals WHERE tid = ?", (tid,))[0][0] is not None
            ),
            what="status stored",
        )
        row = db.query("SELECT online, name FROM terminals WHERE tid = ?", (tid,))[0]
        assert row == (1, shop.cfg.merchant.name)
        assert office.counts.rejected == 0
        agent.stop()
        # The agent says goodbye: the office sees the terminal go offline.
        _until(
            lambda: db.query("SELECT online FROM terminals WHERE tid = ?", (tid,))[0][0] == 0,
            what="offline after the agent stopped",
        )
    finally:
        agent.stop()
        office.stop()
        shop.close()


def test_a_broker_outage_during_the_shift_loses_nothing(tmp_path: Path, broker: Mosquitto) -> None:
    shop = fleet_shop(tmp_path, broker)
    db = OfficeDb(f"sqlite:///{tmp_path}/office.db")
    db.migrate()
    office = Ingestor(db, broker.url, client_id="office-1")
    office.start()
    agent = _agent(shop)
    agent.start()
    try:
        assert office.subscribed.wait(10)
        assert agent.wait_connected(10)
        shop.terminal.sale(100, operator="01")
        broker.stop()  # the broker goes away mid-shift
        for amount in (200, 300, 400, 500):
            assert shop.terminal.sale(amount, operator="01").result == "approved"
        assert outbox.depth(shop.terminal.journal).unsent >= 4  # kept, not dropped
        broker.start()  # same port, its persistence file holds the office's session
        _until(lambda: outbox.depth(shop.terminal.journal).unsent == 0, 40, "outbox drained")
        _until_agrees(shop, db, 40)
    finally:
        agent.stop()
        office.stop()
        shop.close()


def _office_knows(db_url: str, tid: str) -> bool:
    """True once the office process has stored anything of terminal ``tid``."""
    db = OfficeDb(db_url)
    try:
        return bool(db.query("SELECT 1 FROM terminals WHERE tid = ?", (tid,)))
    except sqlite3.OperationalError:  # the office has not created its schema yet
        return False
    finally:
        db.close()


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "appliance", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_kill_9_of_the_agent_and_of_the_office_at_random_moments_loses_and_doubles_nothing(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """The agent (`countertop fleet run`) and the office (`countertop office`) each die by
    SIGKILL several times while sales go on; in the end the office has every event once."""
    shop = fleet_shop(tmp_path, broker)
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    db_url = f"sqlite:///{tmp_path}/office.db"
    office_args = [
        "office",
        "--broker",
        broker.url,
        "--db",
        db_url,
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--client-id",
        "office-k9",
    ]
    agent_args = ["--config", str(shop.cfg.path), "fleet", "run"]
    rng = random.Random(20261202)
    agent = _spawn(agent_args, env)
    office = _spawn(office_args, env)
    try:
        # As in a shop: the office's broker session exists before the terminal reports.
        # Events published before the office first subscribed are delivered to nobody
        # (docs/fleet.md), so the sales start once the office has the terminal's retained
        # online flag, which it can only have after subscribing.
        _until(
            lambda: _office_knows(db_url, shop.cfg.merchant.tid),
            60,
            "office subscribed (it stored the terminal's retained online flag)",
        )
        for round_ in range(6):
            for _ in range(rng.randint(1, 4)):
                assert (
                    shop.terminal.sale(rng.randint(100, 9999), operator="01").result == "approved"
                )
            time.sleep(rng.uniform(0.0, 0.6))
            if round_ % 2 == 0:
                _kill9(agent)
                agent = _spawn(agent_args, env)
            else:
                _kill9(office)
                office = _spawn(office_args, env)
        db = OfficeDb(db_url)
        _until(lambda: outbox.depth(shop.terminal.journal).unsent == 0, 60, "outbox drained")
        _until_agrees(shop, db, 60)
    finally:
        _kill9(agent)
        _kill9(office)
        shop.close()
