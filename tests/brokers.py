"""Real servers for the fleet tests: Mosquitto, a throwaway PostgreSQL cluster, the web app.

Mosquitto and PostgreSQL come from Debian packages that ``./dev test`` installs; a test whose
server is missing skips and says which package to install.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.sim import mosquitto as _mosquitto
from appliance.sim.mosquitto import _wait_port
from appliance.sim.shop import free_port


class Mosquitto(_mosquitto.Mosquitto):
    """The simulator's broker; a test skips (with the package to install) when it is missing."""

    def __init__(self, directory: Path) -> None:
        try:
            super().__init__(directory)
        except ConfigError as exc:
            pytest.skip(str(exc))


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
