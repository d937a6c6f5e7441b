"""Fleet reporting, decided purely: topics, payload schema, signed parameter changes.

The terminal publishes to an MQTT broker under ``{prefix}/{mid}/{tid}/…`` and the back office
subscribes to the whole prefix (see docs/fleet.md for the layout and the payload schema).
Nothing here does I/O: the agent (appliance/fleet) and the back office (appliance/office) call
these functions and act on the answers.

Parameter changes travel down signed by the back office (Ed25519). A change is applied only if
its signature verifies with the terminal's provisioned ``office_public_key``, it is addressed
to this terminal, its version is greater than the last one applied, and every key it sets is
one the terminal lets the back office change (``ALLOWED_PARAMS``), with a value of the right
type and range. Signing and verifying are done by the caller; this module builds the exact
bytes that are signed and checks everything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from appliance.errors import CountertopError

SCHEMA_VERSION = 1
DEFAULT_PREFIX = "countertop/v1"

# Event kinds a terminal publishes (payload["kind"]).
EVENT_KINDS = ("transaction", "settlement", "reconciliation", "params")

_TOPIC_PART = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class FleetError(CountertopError):
    """Base of fleet reporting and parameter push errors."""


class ParamsRejected(FleetError, ValueError):
    """A parameter change that is not applied; ``code`` says why (see docs/fleet.md)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Topics:
    """The topic names of one terminal (``mid``/``tid``) under ``prefix``."""

    prefix: str
    mid: str
    tid: str

    def __post_init__(self) -> None:
        for part in (self.mid, self.tid):
            if not _TOPIC_PART.fullmatch(part):
                raise FleetError(f"{part!r} cannot be part of an MQTT topic (A-Z a-z 0-9 _ . -)")

    @property
    def base(self) -> str:
        """``{prefix}/{mid}/{tid}``."""
        return f"{self.prefix}/{self.mid}/{self.tid}"

    @property
    def event(self) -> str:
        """Journal events, QoS 1, never retained (the back office stores each once)."""
        return f"{self.base}/event"

    @property
    def status(self) -> str:
        """Heartbeat and status, QoS 1, retained (the latest one is what matters)."""
        return f"{self.base}/status"

    @property
    def online(self) -> str:
        """``"1"`` while connected; the broker publishes the will ``"0"`` when the link dies."""
        return f"{self.base}/online"

    @property
    def params(self) -> str:
        """Signed parameter changes and commands, down to the terminal (QoS 1, retained)."""
        return f"{self.base}/params"

    @property
    def params_result(self) -> str:
        """The terminal's answer to each parameter message: applied or rejected, with why."""
        return f"{self.base}/params/result"


def office_subscriptions(prefix: str, group: str | None = None) -> list[str]:
    """The topic filters a back-office worker subscribes to.

    With ``group`` the event filter is a shared subscription (``$share/GROUP/…``): several
    workers split the events between them, which is how a clustered broker scales the office.
    Status, online and results are small and retained, so every worker takes all of them.
    """
    events = f"{prefix}/+/+/event"
    if group:
        events = f"$share/{group}/{events}"
    return [
        events,
        f"{prefix}/+/+/status",
        f"{prefix}/+/+/online",
        f"{prefix}/+/+/params/result",
    ]


def parse_topic(prefix: str, topic: str) -> tuple[str, str, str] | None:
    """(mid, tid, what) of a fleet topic, or None when it is not one."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) < 3 or not all(_TOPIC_PART.fullmatch(p) for p in parts[:2]):
        return None
    return parts[0], parts[1], "/".join(parts[2:])


def canonical(obj: Any) -> bytes:
    """The one byte form of a JSON object that is signed and verified (sorted, compact, UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_envelope(
    event_id: str, seq: int, kind: str, at: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """The versioned payload of one event.

    ``id`` is stable across repeats (the back office stores an event once per terminal and id);
    ``seq`` is the terminal's outbox order, so a late repeat never overrides a newer state.
    """
    if kind not in EVENT_KINDS:
        raise FleetError(f"unknown event kind {kind!r}")
    return {
        "v": SCHEMA_VERSION,
        "id": event_id,
        "seq": seq,
        "kind": kind,
        "at": at,
        "body": dict(body),
    }


def parse_event(payload: bytes) -> dict[str, Any]:
    """Decode and check an event payload; FleetError says what is wrong with it."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FleetError(f"event is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise FleetError("event is not a JSON object")
    if doc.get("v") != SCHEMA_VERSION:
        raise FleetError(f"event schema version {doc.get('v')!r} is not {SCHEMA_VERSION}")
    for key, typ in (("id", str), ("seq", int), ("kind", str), ("at", str), ("body", dict)):
        if not isinstance(doc.get(key), typ):
            raise FleetError(f"event field {key!r} is missing or not a {typ.__name__}")
    if doc["kind"] not in EVENT_KINDS:
        raise FleetError(f"unknown event kind {doc['kind']!r}")
    return doc


# ---- heartbeats ------------------------------------------------------------------------------


def heartbeat_state(last_seen: datetime | None, now: datetime, interval_s: float) -> str:
    """``fresh``, ``late`` (one interval missed) or ``stale`` (three missed, or never seen)."""
    if last_seen is None:
        return "stale"
    age = now - last_seen
    if age <= timedelta(seconds=interval_s * 1.5):
        return "fresh"
    if age <= timedelta(seconds=interval_s * 3):
        return "late"
    return "stale"


# ---- parameter changes -----------------------------------------------------------------------


# Only what an owner or technician may change remotely: limits, the settlement time and receipt
# options. Keys, the host address and devices stay local. Values are checked by the caller with
# the config's own rules for that key (the same check as in terminal.toml).
ALLOWED_PARAMS = frozenset(
    {
        "limits.max_amount",
        "limits.offline_enabled",
        "limits.offline_max_amount",
        "limits.offline_max_total",
        "limits.offline_max_count",
        "limits.offline_max_age_hours",
        "limits.cvm_limit",
        "settlement.time",
        "receipts.customer_copy",
        "receipts.print_after_forward",
    }
)
COMMANDS = ("forward_now", "settle_now")


@dataclass(frozen=True)
class ParamChange:
    """A verified parameter change for one terminal."""

    tid: str
    version: int
    issued_at: str
    params: dict[str, Any] = field(default_factory=dict)
    commands: tuple[str, ...] = ()


def signed_body(doc: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: every field of the message except ``sig``."""
    return canonical({k: v for k, v in doc.items() if k != "sig"})


def check_change(
    doc: Any, *, tid: str, last_version: int, check_value: Callable[[str, Any], Any]
) -> ParamChange:
    """Everything but the signature: addressee, version order, keys, values.

    ``check_value(key, value)`` returns the value converted by the config's rule for ``key``
    or raises ValueError naming what was expected. Raises ParamsRejected with a code: ``malformed``,
    ``wrong_terminal``, ``replayed`` (version not above the last applied), ``not_allowed``,
    ``bad_value``.
    """
    if not isinstance(doc, dict):
        raise ParamsRejected("malformed", "not a JSON object")
    version, target = doc.get("version"), doc.get("tid")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ParamsRejected("malformed", "version must be a positive whole number")
    if not isinstance(target, str):
        raise ParamsRejected("malformed", "tid missing")
    if target != tid:
        raise ParamsRejected("wrong_terminal", f"addressed to {target}, this is {tid}")
    if version <= last_version:
        raise ParamsRejected(
            "replayed", f"version {version} is not above the last applied ({last_version})"
        )
    params, commands = doc.get("params", {}), doc.get("commands", [])
    if not isinstance(params, dict) or not isinstance(commands, list):
        raise ParamsRejected("malformed", "params must be an object and commands a list")
    checked: dict[str, Any] = {}
    for key, value in params.items():
        if key not in ALLOWED_PARAMS:
            raise ParamsRejected("not_allowed", f"{key} cannot be changed remotely")
        try:
            checked[key] = check_value(key, value)
        except ValueError as exc:
            raise ParamsRejected("bad_value", f"{key}: {value!r} is not {exc}") from None
    for command in commands:
        if command not in COMMANDS:
            raise ParamsRejected("not_allowed", f"unknown command {command!r}")
    issued = doc.get("issued_at", "")
    return ParamChange(
        tid=tid,
        version=version,
        issued_at=issued if isinstance(issued, str) else "",
        params=checked,
        commands=tuple(commands),
    )
