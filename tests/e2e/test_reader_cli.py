"""``countertop card read|bench|list`` through the real command-line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import template
from appliance.sim.udp_card import UdpCard
from drivers.reader.profile import find_profile


def test_card_read_shows_the_masked_pan_and_never_the_full_one(capsys):
    assert main(["card", "read", "--backend", "mock", "--card", "visa"]) == 0
    out = capsys.readouterr().out
    assert "476173******0119" in out and "4761739001010119" not in out
    assert "VISA" in out and "A0000000031010" in out and "12/31" in out and "4 APDUs" in out


def test_card_read_json_for_scripts(capsys):
    assert main(["card", "read", "--backend", "mock", "--card", "unionpay", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["pan"] == "623456*********6780" and data["expiry"] == "06/33"
    assert data["scheme"] == "UNIONPAY" and data["apdus"] == 5
    assert "6234567890123456780" not in out


def test_card_read_uses_the_config_file(tmp_path: Path, capsys):
    config = tmp_path / "terminal.toml"
    config.write_text(template({"reader": {"mock_card": "mastercard"}}), encoding="utf-8")
    assert main(["--config", str(config), "card", "read", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scheme"] == "MASTERCARD"


def test_card_read_reports_a_failed_read_in_plain_words(capsys):
    assert main(["card", "read", "--backend", "mock", "--card", "removed-mid-read"]) == 1
    assert "card removed too early" in capsys.readouterr().err


def test_card_read_with_an_absent_reader_names_the_device(capsys):
    argv = ["card", "read", "--backend", "nfcpy", "--device", "tty:NOSUCH9:pn532"]
    assert main([*argv, "--timeout", "1"]) == 1
    assert "tty:NOSUCH9:pn532" in capsys.readouterr().err


def test_card_read_through_nfcpy_and_the_udp_card(capsys):
    with UdpCard() as card:
        card.present(find_profile("mastercard"))
        argv = ["card", "read", "--backend", "nfcpy", "--device", card.device_path, "--json"]
        assert main([*argv, "--timeout", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["pan"] == "541333******0434"


def test_a_mock_card_with_a_real_reader_is_a_usage_error(capsys):
    argv = ["card", "read", "--backend", "nfcpy", "--card", "visa", "--timeout", "1"]
    assert main(argv) == 2
    assert "only works with the mock reader" in capsys.readouterr().err


def test_card_bench_reports_percentiles_and_apdu_counts(capsys):
    assert main(["card", "bench", "-n", "30", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reads"] == 30 and result["p50_ms"] <= result["p99_ms"]
    assert result["apdus"] == {"visa": 4, "mastercard": 6, "unionpay": 5}  # +GENERATE AC


@pytest.mark.parametrize("flag", [[], ["--json"]])
def test_card_list_shows_the_test_cards(capsys, flag):
    assert main(["card", "list", *flag]) == 0
    out = capsys.readouterr().out
    assert "decline" in out and "removed-mid-read" in out
