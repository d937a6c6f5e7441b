"""``countertop run`` as systemd runs it: READY after the first frame, watchdog pings from the
UI loop, STOPPING and exit 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from appliance.sim.shop import free_port, init_demo


def test_run_notifies_ready_pings_the_watchdog_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = init_demo(tmp_path / "terminal.toml", port=free_port())  # no acquirer: offline
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(20)
    env = {
        **os.environ,
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
        "NOTIFY_SOCKET": address,
        "WATCHDOG_USEC": "200000",  # a ping due every 0.1 s
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen: list[str] = []
        while "WATCHDOG=1" not in seen:
            seen += sock.recv(4096).decode().splitlines()
        assert "READY=1" in seen
        assert seen.index("READY=1") < seen.index("WATCHDOG=1")
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in seen:
            seen += sock.recv(4096).decode().splitlines()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
