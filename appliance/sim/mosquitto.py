"""A real Mosquitto broker (Debian package mosquitto) on loopback, for tests, benches and demos.

Each instance has its own port and directory; the broker keeps its persistence file there, so
a broker stopped and started again on the same port still has the persistent sessions and
their queued QoS 1 messages, as a real one does after a restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from appliance.errors import ConfigError
from appliance.sim.shop import free_port


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def mosquitto_binary() -> str:
    """The broker binary; ConfigError naming the package to install when it is missing."""
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if path is None:
        raise ConfigError("mosquitto is not installed (Debian: apt-get install mosquitto)")
    return path


class Mosquitto:
    """One Mosquitto broker on 127.0.0.1:``port`` with persistence in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.binary = mosquitto_binary()
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        # As root, Mosquitto drops to user "mosquitto", who could not write a root-only temp
        # dir; "user root" keeps it able to save its persistence file there.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"{user}listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "log_dest stderr\n"
            "log_type error\n",
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart on the same port) and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "broker.log", "ab"),  # noqa: SIM115 - the child owns it
        )
        _wait_port(self.port)

    def stop(self) -> None:
        """Stop cleanly (SIGTERM: the broker saves its sessions and queues first)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None
