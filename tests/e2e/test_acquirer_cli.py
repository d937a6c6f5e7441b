"""``countertop acquirer --config`` as a separate process: serves, obeys the control port, stops on
SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from appliance.cli import main
from appliance.config import load_config
from appliance.sim.shop import free_port, init_demo

ROOT = Path(__file__).resolve().parents[2]


def test_the_foreground_acquirer_serves_the_configured_host_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    cfg_path = init_demo(tmp_path / "terminal.toml", port=free_port())
    cfg = load_config(cfg_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COUNTERTOP_CONFIG": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "acquirer", "--config", str(cfg_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()  # printed once it listens
        assert f"127.0.0.1:{cfg.host.port}" in banner and cfg.merchant.tid in banner
        assert main(["--config", str(cfg_path), "sign-on"]) == 0
        assert main(["--config", str(cfg_path), "acquirer", "fault", "latency", "ms=1"]) == 0
        assert main(["--config", str(cfg_path), "acquirer", "fault", "--clear"]) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (cfg.state_dir / "acquirer" / "ledger.db").exists()
