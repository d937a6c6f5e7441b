"""The fleet outbox: journal events waiting to be published to the back office.

Rows are written by SQLite triggers (migration 11) inside the very transaction that changes a
transaction's state, closes a settlement or stores a reconciliation, so an event exists if and
only if its change is durable: a broker outage, a reboot or a kill -9 loses nothing. Triggers
fire only while ``session['fleet.enabled'] = '1'`` (set from the config at start), so a terminal
without a ``[fleet]`` section keeps no outbox. Each event has a stable id
(``txn:{uuid}:{state}``…), so a repeat after a crash is recognised by the back office.

Also kept here: the last applied parameter change (version and values), journaled with an audit
row in the same unit as its version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.journal.journal import Journal

_ENABLED = "fleet.enabled"
_PARAMS = "fleet.params"
_VERSION = "fleet.params_version"
_DIGEST = "fleet.params_digest"


@dataclass(frozen=True)
class OutboxEvent:
    """One event not yet acknowledged by the broker."""

    seq: int
    event_id: str
    kind: str
    at: str
    body: dict[str, Any]


@dataclass(frozen=True)
class OutboxDepth:
    """How much is waiting: count and the time of the oldest unsent event."""

    unsent: int
    oldest_at: str | None


def _set(uow: Any, key: str, value: str) -> None:
    uow.execute(
        "INSERT INTO session (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def set_enabled(journal: Journal, enabled: bool) -> None:
    """Record events from now on (or stop); called at start from the config's [fleet]."""
    with journal.unit() as uow:
        _set(uow, _ENABLED, "1" if enabled else "0")
        uow.commit()


def enabled(journal: Journal) -> bool:
    """Whether the triggers are recording events."""
    with journal.unit() as uow:
        row = uow.execute("SELECT value FROM session WHERE key = ?", (_ENABLED,)).fetchone()
    return bool(row and row[0] == "1")


def unsent(journal: Journal, *, after: int = 0, limit: int = 100) -> list[OutboxEvent]:
    """Up to ``limit`` unsent events with ``seq > after``, oldest first."""
    with journal.unit() as uow:
        rows = uow.execute(
            "SELECT id, event_id, kind, at, body FROM fleet_outbox "
            "WHERE sent_at IS NULL AND id > ? ORDER BY id LIMIT ?",
            (after, limit),
        ).fetchall()
    return [OutboxEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


def mark_sent(journal: Journal, seqs: list[int], at: datetime) -> None:
    """The broker acknowledged these events (PUBACK): one commit for the lot."""
    if not seqs:
        return
    with journal.unit() as uow:
        stamp = at.isoformat(timespec="microseconds")
        for seq in seqs:
            uow.execute(
                "UPDATE fleet_outbox SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                (stamp, seq),
            )
        uow.commit()


def depth(journal: Journal) -> OutboxDepth:
    """Unsent count and the time of the oldest unsent event."""
    with journal.unit() as uow:
        row = uow.execute(
            "SELECT COUNT(*), MIN(at) FROM fleet_outbox WHERE sent_at IS NULL"
        ).fetchone()
    return OutboxDepth(int(row[0]), row[1])


def purge_sent(journal: Journal, before: datetime) -> int:
    """Forget events acknowledged before ``before``; returns how many."""
    with journal.unit() as uow:
        n = uow.execute(
            "DELETE FROM fleet_outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
            (before.isoformat(timespec="microseconds"),),
        ).rowcount
        uow.commit()
    return int(n)


@dataclass(frozen=True)
class AppliedParams:
    """The last applied parameter change: its version, the digest of the signed message and
    every value applied so far (``"section.key"`` → value)."""

    version: int
    digest: str
    values: dict[str, Any]


def applied_params(journal: Journal) -> AppliedParams:
    """The last applied parameter change (version 0 and no values before the first)."""
    with journal.unit() as uow:
        rows = dict(
            uow.execute(
                "SELECT key, value FROM session WHERE key IN (?, ?, ?)",
                (_VERSION, _PARAMS, _DIGEST),
            ).fetchall()
        )
    return AppliedParams(
        int(rows.get(_VERSION, "0")), rows.get(_DIGEST, ""), json.loads(rows.get(_PARAMS, "{}"))
    )


def apply_params(
    journal: Journal, version: int, digest: str, params: dict[str, Any], *, by: str, detail: str
) -> bool:
    """Store a verified change and its audit row in one unit; False if a change of this or a
    later version was applied meanwhile (the check is repeated inside the unit, so two
    deliveries of one message cannot both apply)."""
    with journal.unit() as uow:
        row = uow.execute("SELECT value FROM session WHERE key = ?", (_VERSION,)).fetchone()
        current = int(row[0]) if row else 0
        if version <= current:
            return False
        row = uow.execute("SELECT value FROM session WHERE key = ?", (_PARAMS,)).fetchone()
        merged = json.loads(row[0]) if row else {}
        merged.update(params)
        _set(uow, _VERSION, str(version))
        _set(uow, _PARAMS, json.dumps(merged, sort_keys=True))
        _set(uow, _DIGEST, digest)
        uow.execute(
            "INSERT INTO audit (at, operator, action, detail) VALUES (?, ?, ?, ?)",
            (journal.clock().isoformat(timespec="microseconds"), by, "fleet_params", detail),
        )
        uow.commit()
    return True


def record_rejection(journal: Journal, *, by: str, detail: str) -> None:
    """An audit row for a parameter message that was refused (bad signature, replay, …)."""
    with journal.unit() as uow:
        uow.execute(
            "INSERT INTO audit (at, operator, action, detail) VALUES (?, ?, ?, ?)",
            (
                journal.clock().isoformat(timespec="microseconds"),
                by,
                "fleet_params_rejected",
                detail,
            ),
        )
        uow.commit()


def record_agent(journal: Journal, *, connected: bool, at: datetime) -> None:
    """The agent's connection state and when it last reported (for ``fleet status``)."""
    with journal.unit() as uow:
        _set(uow, "fleet.connected", "1" if connected else "0")
        _set(uow, "fleet.agent_at", at.isoformat(timespec="seconds"))
        uow.commit()


def agent_state(journal: Journal) -> tuple[bool, str | None]:
    """(connected as last recorded, when the agent last recorded anything)."""
    with journal.unit() as uow:
        rows = dict(
            uow.execute(
                "SELECT key, value FROM session WHERE key IN ('fleet.connected', 'fleet.agent_at')"
            ).fetchall()
        )
    return rows.get("fleet.connected") == "1", rows.get("fleet.agent_at")


def event_ids(journal: Journal) -> list[str]:
    """Every event id still in the outbox, sent or not, in order (for checks and exports)."""
    with journal.unit() as uow:
        return [r[0] for r in uow.execute("SELECT event_id FROM fleet_outbox ORDER BY id")]
