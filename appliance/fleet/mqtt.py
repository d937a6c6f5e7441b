"""The paho-mqtt client as both sides use it: persistent session, QoS 1, TLS for mqtts://."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from appliance.errors import ConfigError


@dataclass(frozen=True)
class Broker:
    """Where the broker is: ``mqtt://host:1883`` or ``mqtts://host:8883``."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Broker:
        """Parse a broker URL; ConfigError says what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(f"{url!r} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{url!r}: the port is not a number 1-65535") from None
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, port or (8883 if tls else 1883), tls)

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def client(
    client_id: str,
    broker: Broker,
    *,
    username: str = "",
    password: str = "",
    ca_file: str = "",
    persistent: bool = True,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A client with a persistent session (``clean_session=False``): the broker keeps its
    subscriptions and queues QoS 1 messages while it is away. With ``manual_ack`` a received
    message is acknowledged only when the caller says so (after its own commit)."""
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if username:
        c.username_pw_set(username, password or None)
    if broker.tls:
        c.tls_set(ca_certs=ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
    c.reconnect_delay_set(min_delay=1, max_delay=30)
    # In-flight window and queue: the outbox is the real queue, so paho's stays small.
    c.max_inflight_messages_set(100)
    return c
