"""Real servers for the fleet tests: a Mosquitto broker and a throwaway PostgreSQL cluster.

Both come from Debian packages (mosquitto; postgresql) that ``./dev test`` installs. Each
test gets its own port and directory; the broker keeps its persistence file there, so a
broker stopped and started again (the same port) still has the persistent sessions and their
queued QoS 1 messages, as a real one does after a restart.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

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
    """The broker binary, or skip the test with the reason and the package to install."""
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if path is None:
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto)")
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


class Postgres:
    """A throwaway PostgreSQL cluster in its own temp dir on a free port, run as postgres."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.bin = bins[-1].parent
        try:
            self.user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres system user (the postgresql package creates it)")
        if os.geteuid() != 0:
            pytest.skip("starting a PostgreSQL cluster as user postgres needs root here")
        # Not under pytest's root-only tmp dir: user postgres must be able to reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="countertop-pg-"))
        self.port = free_port()
        self.data = self.dir / "data"

    def _as_postgres(self, *cmd: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *cmd],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    @property
    def url(self) -> str:
        """A psycopg URL for database ``office``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/office"

    def start(self) -> None:
        """initdb, start, create database ``office``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "start",
        )
        self._as_postgres(
            str(self.bin / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "office",
        )

    def stop(self) -> None:
        """Stop the cluster (fast shutdown)."""
        if self.data.exists():
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "fast",
                    "stop",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        shutil.rmtree(self.dir, ignore_errors=True)


class WebServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread (a real HTTP server)."""

    def __init__(self, app: object) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        )
        self.thread = threading.Thread(target=self.server.run, name="office-web", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve and wait until it accepts connections."""
        self.thread.start()
        _wait_port(self.port)

    def stop(self) -> None:
        """Shut down gracefully."""
        self.server.should_exit = True
        self.thread.join(10)
