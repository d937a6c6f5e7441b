"""The composition root builds the configured scanner and releases it with the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.bootstrap import build_terminal
from appliance.config import load_config
from appliance.errors import ScannerOffline
from appliance.sim.shop import free_port, init_demo
from drivers.scanner.base import ScannerStatus
from drivers.scanner.mock import MockScanner


def _cfg(tmp_path: Path, scanner: dict[str, object]):
    path = init_demo(tmp_path / "terminal.toml", port=free_port(), overrides={"scanner": scanner})
    return load_config(path)


def test_the_demo_terminal_gets_the_mock_scanner_with_its_auto_code(tmp_path: Path) -> None:
    terminal = build_terminal(_cfg(tmp_path, {"mock_code": "134567890123456789"}), recover=False)
    try:
        assert isinstance(terminal.scanner, MockScanner)
        assert terminal.scanner.read_code(1).value == "134567890123456789"
    finally:
        terminal.close()


def test_a_serial_scanner_that_is_not_there_builds_and_reports_offline(tmp_path: Path) -> None:
    missing = tmp_path / "ttyACM7"
    cfg = _cfg(tmp_path, {"backend": "serial", "device": str(missing)})
    terminal = build_terminal(cfg, recover=False)  # nothing is opened while building
    try:
        assert terminal.scanner.status() is ScannerStatus.OFFLINE
        with pytest.raises(ScannerOffline, match="ttyACM7"):
            terminal.scanner.read_code(0.1)
    finally:
        terminal.close()


def test_backend_none_gives_a_terminal_without_customer_codes(tmp_path: Path) -> None:
    terminal = build_terminal(_cfg(tmp_path, {"backend": "none"}), recover=False)
    try:
        assert terminal.scanner.status() is ScannerStatus.NOT_CONFIGURED
    finally:
        terminal.close()
