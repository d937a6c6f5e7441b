"""Fleet reporting decided purely: topics, event envelopes, heartbeats, parameter checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from appliance.config import check_value
from appliance.domain.fleet import (
    FleetError,
    ParamsRejected,
    Topics,
    canonical,
    check_change,
    event_envelope,
    heartbeat_state,
    office_subscriptions,
    parse_event,
    parse_topic,
    signed_body,
)

TOPICS = Topics("countertop/v1", "898310048160001", "10000001")


def test_a_terminal_s_topics_sit_under_prefix_mid_tid() -> None:
    assert TOPICS.event == "countertop/v1/898310048160001/10000001/event"
    assert TOPICS.status.endswith("/10000001/status")
    assert TOPICS.params_result.endswith("/10000001/params/result")


def test_a_tid_with_a_wildcard_or_slash_cannot_become_a_topic() -> None:
    for bad in ("100+0001", "10/00001", "#", ""):
        with pytest.raises(FleetError, match="MQTT topic"):
            Topics("countertop/v1", "898310048160001", bad)


def test_the_office_subscribes_to_every_terminal_and_shares_events_in_a_group() -> None:
    plain = office_subscriptions("countertop/v1")
    assert plain[0] == "countertop/v1/+/+/event"
    shared = office_subscriptions("countertop/v1", group="office")
    assert shared[0] == "$share/office/countertop/v1/+/+/event"
    assert shared[1:] == plain[1:]  # status, online and results go to every worker


def test_topics_parse_back_to_mid_tid_and_what() -> None:
    assert parse_topic("countertop/v1", TOPICS.params_result) == (
        "898310048160001",
        "10000001",
        "params/result",
    )
    assert parse_topic("countertop/v1", "other/x/y/event") is None
    assert parse_topic("countertop/v1", "countertop/v1/onlymid") is None


def test_an_event_round_trips_and_a_broken_one_says_what_is_wrong() -> None:
    doc = event_envelope("txn:u1:approved", 7, "transaction", "2026-12-02T08:00:00", {"a": 1})
    assert parse_event(canonical(doc)) == doc
    with pytest.raises(FleetError, match="not JSON"):
        parse_event(b"{nope")
    with pytest.raises(FleetError, match="schema version"):
        parse_event(canonical({**doc, "v": 99}))
    with pytest.raises(FleetError, match="'seq'"):
        parse_event(canonical({k: v for k, v in doc.items() if k != "seq"}))
    with pytest.raises(FleetError, match="unknown event kind"):
        parse_event(canonical({**doc, "kind": "gossip"}))


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical({"b": 1, "a": "商"}) == '{"a":"商","b":1}'.encode()


def test_heartbeats_are_fresh_late_or_stale() -> None:
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert heartbeat_state(now - timedelta(seconds=60), now, 60) == "fresh"
    assert heartbeat_state(now - timedelta(seconds=120), now, 60) == "late"
    assert heartbeat_state(now - timedelta(seconds=181), now, 60) == "stale"
    assert heartbeat_state(None, now, 60) == "stale"


def _doc(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"tid": "10000001", "version": 3, "params": {}, "commands": []}
    base.update(kw)
    return base


def test_a_change_for_this_terminal_with_a_new_version_and_allowed_keys_is_accepted() -> None:
    change = check_change(
        _doc(
            params={"limits.offline_max_amount": 20000, "settlement.time": "22:00"},
            commands=["forward_now"],
        ),
        tid="10000001",
        last_version=2,
        check_value=check_value,
    )
    assert change.version == 3
    assert change.params == {"limits.offline_max_amount": 20000, "settlement.time": "22:00"}
    assert change.commands == ("forward_now",)


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (_doc(tid="10000002"), "wrong_terminal"),
        (_doc(version=2), "replayed"),
        (_doc(version=1), "replayed"),
        (_doc(version=0), "malformed"),
        (_doc(version="3"), "malformed"),
        (_doc(params={"host.address": "10.0.0.1"}), "not_allowed"),
        (_doc(params={"keys.tmk_file": "/tmp/x"}), "not_allowed"),
        (_doc(params={"limits.offline_max_amount": -5}), "bad_value"),
        (_doc(params={"settlement.time": "25:00"}), "bad_value"),
        (_doc(commands=["rm -rf"]), "not_allowed"),
        (["not", "an", "object"], "malformed"),
    ],
)
def test_a_change_that_must_not_apply_is_rejected_with_a_code(doc: Any, code: str) -> None:
    with pytest.raises(ParamsRejected) as exc:
        check_change(doc, tid="10000001", last_version=2, check_value=check_value)
    assert exc.value.code == code


def test_the_signature_covers_everything_but_itself() -> None:
    doc = _doc(sig="00")
    assert json.loads(signed_body(doc)) == _doc()
