"""The terminal's fleet agent: publishes the journal's outbox, heartbeats, applies parameters.

One thread (``start()``/``stop()``, or ``run()`` in the foreground for ``countertop fleet run``)
owns the MQTT client's work; paho's own network thread only hands acknowledgements and
parameter messages over through queues, never touching the journal (paho calls ``on_publish``
while holding its own locks).

Delivery: an outbox event is marked sent only when the broker acknowledges it (PUBACK, QoS 1).
After every (re)connect everything still unsent is published again, so an event is delivered
at least once; its stable id makes the back office store it exactly once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from appliance.config import Config, check_value
from appliance.domain.fleet import (
    SCHEMA_VERSION,
    ParamsRejected,
    Topics,
    canonical,
    check_change,
    event_envelope,
    signed_body,
)
from appliance.errors import ConfigError, JournalError
from appliance.fleet import mqtt as fmqtt
from appliance.fleet.signing import verify
from appliance.journal import fleet as outbox
from appliance.journal.journal import Journal

log = logging.getLogger("countertop.fleet")

StatusFn = Callable[[], dict[str, Any]]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FleetSettings:
    """The ``[fleet]`` section, resolved (credentials read, client id defaulted)."""

    broker: fmqtt.Broker
    client_id: str
    topics: Topics
    username: str
    password: str
    ca_file: str
    office_public_key: str
    heartbeat_s: float
    poll_s: float

    @classmethod
    def of(cls, cfg: Config) -> FleetSettings | None:
        """The settings, or None when the config has no fleet broker (fleet off)."""
        f = cfg.fleet
        if not f.broker:
            return None
        password = ""
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        candidates = [os.path.join(cred_dir, "fleet-password")] if cred_dir else []
        if f.password_file:
            candidates.append(str(cfg.resolve(f.password_file)))
        for path in candidates:
            if os.path.isfile(path):
                try:
                    with open(path, encoding="utf-8") as fh:
                        password = fh.read().strip()
                except OSError as exc:
                    raise ConfigError(f"{cfg.path}: fleet.password_file: {exc}") from exc
                break
        else:
            if f.password_file:
                raise ConfigError(
                    f"{cfg.path}: fleet.password_file: {candidates[-1]} not found "
                    f"(write the broker password there, mode 0600)"
                )
        return cls(
            broker=fmqtt.Broker.parse(f.broker),
            client_id=f.client_id or cfg.merchant.tid,
            topics=Topics(f.topic_prefix, cfg.merchant.mid, cfg.merchant.tid),
            username=f.username,
            password=password,
            ca_file=str(cfg.resolve(f.ca_file)) if f.ca_file else "",
            office_public_key=f.office_public_key,
            heartbeat_s=float(f.heartbeat_seconds),
            poll_s=float(f.poll_seconds),
        )


def software_version() -> str:
    """The installed countertop version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("countertop")
    except PackageNotFoundError:
        return "unknown"


class FleetAgent:
    """Publishes one terminal's events and status; receives its signed parameter changes.

    ``status()`` returns the terminal's status dict (link, stored, owed, devices);
    ``commands`` maps ``forward_now``/``settle_now`` to what runs them; ``on_params`` gets the
    new Config after a change was applied (the kiosk swaps it in for the next transaction).
    """

    def __init__(
        self,
        cfg: Config,
        journal: Journal,
        *,
        status: StatusFn,
        commands: dict[str, Callable[[], Any]] | None = None,
        on_params: Callable[[Config], None] | None = None,
        clock: Clock = _utcnow,
        window: int = 100,
    ) -> None:
        settings = FleetSettings.of(cfg)
        if settings is None:
            raise ConfigError(f"{cfg.path}: [fleet] broker is not set: fleet reporting is off")
        self.cfg = cfg
        self.settings = settings
        self.journal = journal
        self.status_fn = status
        self.commands = commands or {}
        self.on_params = on_params
        self.clock = clock
        self.window = window
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._params: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}
        self._cursor = 0
        self._connected = threading.Event()
        self._reset = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_heartbeat = 0.0
        self.published = 0
        self.acknowledged = 0
        self.client = fmqtt.client(
            settings.client_id,
            settings.broker,
            username=settings.username,
            password=settings.password,
            ca_file=settings.ca_file,
        )
        self.client.will_set(settings.topics.online, b"0", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    # ---- paho's thread: hand over, never touch the journal ----------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("fleet broker %s refused the connection: %s", self.settings.broker, rc)
            return
        client.publish(self.settings.topics.online, b"1", qos=1, retain=True)
        client.subscribe(self.settings.topics.params, qos=1)
        self._reset.set()
        self._connected.set()
        log.info("fleet broker %s connected", self.settings.broker)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._connected.clear()
        log.info("fleet broker %s disconnected (%s)", self.settings.broker, rc)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        self._acks.put(mid)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.settings.topics.params:
            self._params.put(bytes(msg.payload))

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and run the agent's thread."""
        outbox.set_enabled(self.journal, True)
        self.client.connect_async(self.settings.broker.host, self.settings.broker.port, 30)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="fleet-agent", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, say goodbye (online = 0) and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._connected.is_set():
            info = self.client.publish(self.settings.topics.online, b"0", qos=1, retain=True)
            info.wait_for_publish(timeout=1.0)
        self.client.disconnect()
        self.client.loop_stop()
        try:
            self._record_connection(False)
        except JournalError as exc:  # the terminal closed its journal first: nothing to record
            log.info("fleet agent stopped after the journal closed: %s", exc)

    def run(self) -> None:
        """Run in the foreground until ``stop()`` is called (or KeyboardInterrupt)."""
        self.start()
        try:
            self._stop.wait()
        finally:
            self.stop()

    def wait_connected(self, timeout: float) -> bool:
        """True once the broker has accepted the connection."""
        return self._connected.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the agent must outlive a bad moment; the outbox keeps the events
                log.exception("fleet agent step failed; retrying")
            self._stop.wait(self.settings.poll_s)

    # ---- one step --------------------------------------------------------------------------

    def step(self) -> None:
        """Acknowledgements, parameter messages, the next window of events, a due heartbeat."""
        if self._reset.is_set():
            self._reset.clear()
            self._inflight.clear()  # republish everything unsent after a (re)connect
            self._cursor = 0
            self._record_connection(True)
        self._drain_acks()
        while True:
            try:
                payload = self._params.get_nowait()
            except queue.Empty:
                break
            self.handle_params(payload)
        if not self._connected.is_set():
            return
        self._publish_window()
        now = self.clock().timestamp()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.settings.heartbeat_s
            self.publish_status()

    def _drain_acks(self) -> None:
        done: list[int] = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            seq = self._inflight.pop(mid, None)
            if seq is not None:
                done.append(seq)
        if done:
            outbox.mark_sent(self.journal, done, self.clock())
            self.acknowledged += len(done)

    def _publish_window(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        for ev in outbox.unsent(self.journal, after=self._cursor, limit=room):
            payload = canonical(event_envelope(ev.event_id, ev.seq, ev.kind, ev.at, ev.body))
            info = self.client.publish(self.settings.topics.event, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return  # connection lost meanwhile: the next connect republishes from the start
            self._inflight[info.mid] = ev.seq
            self._cursor = ev.seq
            self.published += 1

    def status_document(self) -> dict[str, Any]:
        """The retained status message: the terminal's status plus the fleet's own figures."""
        depth = outbox.depth(self.journal)
        applied = outbox.applied_params(self.journal)
        try:
            free = shutil.disk_usage(self.cfg.state_dir).free
        except OSError:
            free = None
        return {
            "v": SCHEMA_VERSION,
            "at": self.clock().isoformat(timespec="seconds"),
            "tid": self.cfg.merchant.tid,
            "mid": self.cfg.merchant.mid,
            "name": self.cfg.merchant.name,
            "timezone": self.cfg.locale.timezone,
            "software": software_version(),
            "heartbeat_seconds": self.settings.heartbeat_s,
            "free_disk_bytes": free,
            "outbox": {"unsent": depth.unsent, "oldest_at": depth.oldest_at},
            "params_version": applied.version,
            "terminal": self.status_fn(),
        }

    def publish_status(self) -> None:
        """Publish the status now (retained, QoS 1)."""
        doc = self.status_document()
        self.client.publish(self.settings.topics.status, canonical(doc), qos=1, retain=True)
        self._record_seen()

    # ---- parameters ------------------------------------------------------------------------

    def handle_params(self, payload: bytes) -> dict[str, Any]:
        """Verify and apply one parameter message; publish and return the result."""
        result: dict[str, Any]
        try:
            doc = verify(payload, self.settings.office_public_key)
            digest = hashlib.sha256(signed_body(doc)).hexdigest()
            applied = outbox.applied_params(self.journal)
            if doc.get("version") == applied.version and digest == applied.digest:
                return {"result": "already_applied", "version": applied.version}
            change = check_change(
                doc, tid=self.cfg.merchant.tid, last_version=applied.version, check_value=_check
            )
            detail = json.dumps(
                {"version": change.version, "params": change.params, "commands": change.commands},
                sort_keys=True,
            )
            if not outbox.apply_params(
                self.journal, change.version, digest, change.params, by="fleet", detail=detail
            ):
                raise ParamsRejected("replayed", "a newer change was applied meanwhile")
            if change.params and self.on_params is not None:
                self.on_params(self.cfg.with_values(outbox.applied_params(self.journal).values))
            ran = {}
            for command in change.commands:
                ran[command] = self._run_command(command)
            result = {
                "result": "applied",
                "version": change.version,
                "params": change.params,
                "commands": ran,
            }
        except ParamsRejected as exc:
            version = None
            with contextlib.suppress(ValueError, AttributeError):
                version = json.loads(payload).get("version")
            outbox.record_rejection(self.journal, by="fleet", detail=f"{exc.code}: {exc.detail}")
            log.warning("fleet parameter message rejected: %s: %s", exc.code, exc.detail)
            result = {
                "result": "rejected",
                "code": exc.code,
                "detail": exc.detail,
                "version": version,
            }
        result["at"] = self.clock().isoformat(timespec="seconds")
        if self._connected.is_set():
            self.client.publish(self.settings.topics.params_result, canonical(result), qos=1)
        return result

    def _run_command(self, command: str) -> str:
        fn = self.commands.get(command)
        if fn is None:
            return "not available on this terminal"
        try:
            out = fn()
        except Exception as exc:  # reported back to the office in words, the agent goes on
            log.warning("fleet command %s failed: %s", command, exc)
            return f"failed: {exc}"
        return "done" if out is None else str(out)

    # ---- what `countertop fleet status` reads ----------------------------------------------

    def _record_connection(self, connected: bool) -> None:
        outbox.record_agent(self.journal, connected=connected, at=self.clock())

    def _record_seen(self) -> None:
        outbox.record_agent(self.journal, connected=self._connected.is_set(), at=self.clock())


def _check(dotted: str, value: Any) -> Any:
    return check_value(dotted, value)
