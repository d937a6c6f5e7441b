"""The back office's MQTT subscriber: every fleet message into the database, exactly once.

Messages are acknowledged by hand (paho ``manual_ack``) and only after their database
transaction committed: a kill -9 or a database failure before the commit leaves the message
unacknowledged, and the broker delivers it again to the persistent session. A repeat is
recognised by its event id and only counted.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from appliance.domain.fleet import FleetError, office_subscriptions, parse_event, parse_topic
from appliance.fleet import mqtt as fmqtt
from appliance.office.db import OfficeDb

log = logging.getLogger("countertop.office")


@dataclass
class IngestCounts:
    """What the subscriber has done since it started."""

    stored: int = 0
    repeats: int = 0
    rejected: int = 0
    failures: int = 0
    rejects: list[str] = field(default_factory=list)


class Ingestor:
    """Subscribes to ``prefix`` on ``broker`` and stores what arrives in ``db``."""

    def __init__(
        self,
        db: OfficeDb,
        broker: str,
        *,
        prefix: str = "countertop/v1",
        client_id: str = "countertop-office",
        group: str | None = None,
        username: str = "",
        password: str = "",
        ca_file: str = "",
    ) -> None:
        self.db = db
        self.prefix = prefix
        self.group = group
        self.broker = fmqtt.Broker.parse(broker)
        self.counts = IngestCounts()
        self.connected = threading.Event()
        # Set when the broker acknowledged the subscriptions: from then on the persistent
        # session keeps every event for this office, even while it is away.
        self.subscribed = threading.Event()
        self.client = fmqtt.client(
            client_id,
            self.broker,
            username=username,
            password=password,
            ca_file=ca_file,
            manual_ack=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("broker %s refused the office: %s", self.broker, rc)
            return
        client.subscribe([(t, 1) for t in office_subscriptions(self.prefix, self.group)])
        self.connected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: Any, codes: Any, _p: Any) -> None:
        if any(code.is_failure for code in codes):
            log.warning("broker %s refused a subscription of the office: %s", self.broker, codes)
            return
        self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle(msg.topic, bytes(msg.payload))
        except Exception as exc:  # not stored: do not acknowledge; reconnect to get it again
            self.counts.failures += 1
            log.error("could not store %s (%s): will be delivered again", msg.topic, exc)
            client.disconnect()
            return
        client.ack(msg.mid, msg.qos)

    def handle(self, topic: str, payload: bytes) -> str:
        """Store one message; returns ``stored``, ``repeat``, ``rejected`` or ``ignored``."""
        where = parse_topic(self.prefix, topic)
        if where is None:
            return "ignored"
        mid, tid, what = where
        if what == "event":
            try:
                doc = parse_event(payload)
            except FleetError as exc:
                self.counts.rejected += 1
                self.counts.rejects.append(f"{topic}: {exc}")
                log.warning("rejected a malformed event on %s: %s", topic, exc)
                return "rejected"
            if self.db.ingest_event(mid, tid, doc):
                self.counts.stored += 1
                return "stored"
            self.counts.repeats += 1
            return "repeat"
        if what in ("status", "params/result"):
            try:
                doc = json.loads(payload)
                if not isinstance(doc, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                self.counts.rejected += 1
                log.warning("rejected a malformed %s on %s: %s", what, topic, exc)
                return "rejected"
            if what == "status":
                self.db.ingest_status(mid, tid, doc)
            else:
                self.db.ingest_param_result(mid, tid, doc)
            return "stored"
        if what == "online":
            self.db.ingest_online(mid, tid, payload.strip() == b"1")
            return "stored"
        return "ignored"

    def start(self) -> None:
        """Connect and run paho's network thread."""
        self.client.connect_async(self.broker.host, self.broker.port, 30)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect (the persistent session keeps what arrives meanwhile)."""
        self.client.disconnect()
        self.client.loop_stop()
        self.db.close()
