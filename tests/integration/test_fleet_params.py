"""Signed parameter changes pushed through a real broker: applied once, or refused with why."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from appliance.bootstrap import build_terminal
from appliance.domain.fleet import Topics, canonical
from appliance.fleet.agent import FleetAgent
from appliance.fleet.signing import generate, sign
from appliance.journal import fleet as outbox
from tests.brokers import Mosquitto
from tests.shop import Shop, open_shop

PRIVATE, PUBLIC = generate()
OTHER_PRIVATE, _ = generate()


def _until(cond: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"not reached within {timeout} s: {what}")


class Office:
    """The back office's side of the params topic: publishes, and collects the results."""

    def __init__(self, broker: Mosquitto, topics: Topics) -> None:
        self.topics = topics
        self.results: list[dict[str, Any]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="office-params")
        self.client.on_message = lambda _c, _u, m: self.results.append(json.loads(m.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(topics.params_result, qos=1)
        self.client.loop_start()

    def push(self, doc: dict[str, Any]) -> None:
        info = self.client.publish(self.topics.params, canonical(doc), qos=1, retain=True)
        info.wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Shop, FleetAgent, Office, list[Any]]]:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    shop = open_shop(
        tmp_path / "shop",
        settings={
            "fleet": {"broker": broker.url, "office_public_key": PUBLIC.hex(), "poll_seconds": 0.05}
        },
    )
    shop.terminal.sign_on("01")
    term = shop.terminal
    swapped: list[Any] = []

    def on_params(cfg: Any) -> None:
        swapped.append(cfg)
        term.config = cfg

    agent = FleetAgent(
        term.config,
        term.journal,
        status=lambda: term.status().as_dict(),
        commands={"forward_now": lambda: f"still owed {term.send_owed().still_owed}"},
        on_params=on_params,
    )
    agent.start()
    assert agent.wait_connected(10)
    office = Office(broker, agent.settings.topics)
    yield shop, agent, office, swapped
    office.close()
    agent.stop()
    shop.close()
    broker.stop()


def _change(version: int, **kw: Any) -> dict[str, Any]:
    return {"tid": "10000001", "version": version, "params": {}, "commands": [], **kw}


def test_a_signed_change_applies_is_journaled_and_survives_a_restart(setup: Any) -> None:
    shop, agent, office, swapped = setup
    office.push(sign(_change(1, params={"limits.offline_max_amount": 12345}), PRIVATE))
    _until(lambda: office.results, what="a result")
    assert office.results[-1]["result"] == "applied"
    assert swapped and swapped[-1].limits.offline_max_amount == 12345
    applied = outbox.applied_params(shop.terminal.journal)
    assert applied.version == 1 and applied.values == {"limits.offline_max_amount": 12345}
    with shop.terminal.journal.unit() as uow:
        audit = uow.execute(
            "SELECT action, detail FROM audit WHERE action LIKE 'fleet%'"
        ).fetchall()
    assert audit and audit[-1][0] == "fleet_params" and "12345" in audit[-1][1]
    # A restart builds the terminal with the pushed value over the file's.
    agent.stop()
    shop.terminal.close()
    shop.terminal = build_terminal(shop.cfg)
    assert shop.terminal.config.limits.offline_max_amount == 12345
    assert shop.cfg.limits.offline_max_amount != 12345


def test_a_tampered_message_is_refused_and_reported(setup: Any) -> None:
    shop, _agent, office, _ = setup
    doc = sign(_change(1, params={"limits.offline_max_amount": 100}), PRIVATE)
    doc["params"]["limits.offline_max_amount"] = 99_999_999  # changed after signing
    office.push(doc)
    _until(lambda: office.results, what="a result")
    assert office.results[-1]["result"] == "rejected"
    assert office.results[-1]["code"] == "bad_signature"
    assert outbox.applied_params(shop.terminal.journal).version == 0


def test_a_message_signed_by_another_key_is_refused(setup: Any) -> None:
    _shop, _agent, office, _ = setup
    office.push(sign(_change(1, params={"settlement.time": "21:00"}), OTHER_PRIVATE))
    _until(lambda: office.results, what="a result")
    assert office.results[-1]["code"] == "bad_signature"


def test_a_replayed_or_out_of_order_change_is_refused(setup: Any) -> None:
    shop, _agent, office, _ = setup
    first = sign(_change(1, params={"settlement.time": "21:00"}), PRIVATE)
    second = sign(_change(2, params={"settlement.time": "22:00"}), PRIVATE)
    office.push(second)
    _until(lambda: len(office.results) >= 1, what="applied")
    office.push(first)  # an older, validly signed change arriving late
    _until(lambda: len(office.results) >= 2, what="rejected")
    assert [r["result"] for r in office.results] == ["applied", "rejected"]
    assert office.results[1]["code"] == "replayed"
    assert outbox.applied_params(shop.terminal.journal).values == {"settlement.time": "22:00"}


def test_a_command_runs_and_its_outcome_is_reported(setup: Any) -> None:
    _shop, _agent, office, _ = setup
    office.push(sign(_change(1, commands=["forward_now"]), PRIVATE))
    _until(lambda: office.results, what="a result")
    assert office.results[-1]["result"] == "applied"
    assert office.results[-1]["commands"] == {"forward_now": "still owed 0"}


def test_the_retained_message_seen_again_after_a_reconnect_is_not_applied_twice(setup: Any) -> None:
    shop, agent, office, _ = setup
    doc = sign(_change(1, params={"limits.offline_max_count": 7}), PRIVATE)
    office.push(doc)
    _until(lambda: office.results, what="applied")
    assert agent.handle_params(canonical(doc))["result"] == "already_applied"
    with shop.terminal.journal.unit() as uow:
        n = uow.execute("SELECT COUNT(*) FROM audit WHERE action = 'fleet_params'").fetchone()[0]
    assert n == 1
