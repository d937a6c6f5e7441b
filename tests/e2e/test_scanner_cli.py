"""``countertop scanner read`` through the real command-line entry point."""

from __future__ import annotations

import json
from pathlib import Path

from appliance.cli import main
from appliance.config import template

CODE = "134567890123456789"


def test_scanner_read_shows_the_code_masked_and_never_in_clear(capsys) -> None:
    assert main(["scanner", "read", "--backend", "mock", "--code", CODE, "--timeout", "2"]) == 0
    out = capsys.readouterr().out
    assert "13************6789" in out and "18 characters" in out and CODE not in out


def test_scanner_read_json_uses_the_config_file(tmp_path: Path, capsys) -> None:
    config = tmp_path / "terminal.toml"
    config.write_text(template({"scanner": {"mock_code": "ABC-12345678"}}), encoding="utf-8")
    assert main(["--config", str(config), "scanner", "read", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["code"] == "AB******5678" and doc["length"] == 12
    assert doc["device"] == "mock scanner" and doc["payment_code"] is None


def test_scanner_read_with_an_absent_serial_scanner_names_the_port(tmp_path: Path, capsys) -> None:
    port = tmp_path / "ttyACM5"
    argv = ["scanner", "read", "--backend", "serial", "--device", str(port), "--timeout", "1"]
    assert main(argv) == 1
    assert "ttyACM5" in capsys.readouterr().err


def test_a_mock_code_with_a_real_scanner_is_a_usage_error(capsys) -> None:
    argv = ["scanner", "read", "--backend", "evdev", "--device", "/dev/null", "--code", CODE]
    assert main(argv) == 2
    assert "--code only works with the mock scanner" in capsys.readouterr().err


def test_scanner_read_names_the_payment_code_shape(capsys) -> None:
    argv = ["scanner", "read", "--backend", "mock", "--code", CODE, "--json", "--timeout", "2"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["payment_code"] == "WECHATPAY"
