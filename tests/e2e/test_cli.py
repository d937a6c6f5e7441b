"""The command line end to end: demo config, the reference acquirer on loopback, JSON contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from appliance.config import load_config
from appliance.sim.shop import acquirer_for, init_demo

PAN = "4761739001010119"


@pytest.fixture
def cfg_path(tmp_path: Path) -> Iterator[Path]:
    path = init_demo(tmp_path / "terminal.toml")
    acq = acquirer_for(load_config(path), control_port=0)
    acq.start()
    yield path
    acq.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sale_json_has_the_documented_fields(cfg_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "--config", str(cfg_path), "sale", "12.50", "--json")
    assert code == EXIT_OK
    d = json.loads(out)
    for key in (
        "state",
        "type",
        "amount",
        "currency",
        "stan",
        "rrn",
        "auth_code",
        "response_code",
        "masked_pan",
    ):
        assert key in d
    assert (d["state"], d["type"], d["amount"], d["currency"]) == ("approved", "sale", 1250, "CNY")
    assert d["masked_pan"] == "476173******0119"
    assert PAN not in out


def test_config_may_follow_the_command(cfg_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "status", "--json", "--config", str(cfg_path))
    assert code == EXIT_OK
    d = json.loads(out)
    for key in ("link", "pending_reversals", "stored_count", "stored_amount", "batch"):
        assert key in d


def test_declined_sale_exits_1_and_says_why(cfg_path: Path, capsys) -> None:
    code, out, _ = run(capsys, "--config", str(cfg_path), "sale", "12.51")
    assert code == EXIT_FAILED
    assert "Insufficient funds" in out or "余额不足" in out


@pytest.mark.parametrize("amount", ["-1", "1e3", "12.505", "", "1234567890123"])
def test_bad_amounts_exit_2_with_a_message(cfg_path: Path, capsys, amount: str) -> None:
    code, _, err = run(capsys, "--config", str(cfg_path), "sale", amount)
    assert code == EXIT_USAGE
    assert "amount" in err


def test_unknown_config_key_exits_2_naming_it(tmp_path: Path, capsys) -> None:
    p = tmp_path / "t.toml"
    p.write_text('[host]\nport = "80a"\n')
    code, _, err = run(capsys, "--config", str(p), "status")
    assert code == EXIT_USAGE
    assert 'host.port: "80a" is not a port number (1-65535)' in err


def test_card_flag_is_refused_with_a_real_reader(cfg_path: Path, capsys) -> None:
    text = cfg_path.read_text().replace(
        'backend = "mock"\n# nfcpy device', 'backend = "nfcpy"\n# nfcpy device', 1
    )
    cfg_path.write_text(
        text.replace(
            '[reader]\n# nfcpy (real reader) or mock\nbackend = "mock"',
            '[reader]\n# nfcpy (real reader) or mock\nbackend = "nfcpy"',
        )
    )
    code, _, err = run(capsys, "--config", str(cfg_path), "sale", "1.00", "--card", "visa")
    assert code == EXIT_USAGE
    assert "only works with the mock reader" in err


def test_journal_export_has_masked_pans_only(cfg_path: Path, capsys, tmp_path: Path) -> None:
    assert run(capsys, "--config", str(cfg_path), "sale", "3.00", "--card", "mastercard")[0] == 0
    out_csv = tmp_path / "j.csv"
    code, _, _ = run(
        capsys,
        "--config",
        str(cfg_path),
        "journal",
        "export",
        "--format",
        "csv",
        "--out",
        str(out_csv),
    )
    assert code == EXIT_OK
    text = out_csv.read_text()
    assert "541333******0434" in text and "5413330089010434" not in text
    code, out, _ = run(capsys, "--config", str(cfg_path), "journal", "export")
    rows = json.loads(out)
    assert rows[0]["masked_pan"] == "541333******0434"


def test_reprint_last_is_audited_and_printed(cfg_path: Path, capsys) -> None:
    run(capsys, "--config", str(cfg_path), "sale", "8.00")
    code, out, _ = run(
        capsys, "--config", str(cfg_path), "reprint", "last", "--json", "--operator", "07"
    )
    assert code == EXIT_OK
    d = json.loads(out)
    assert d["reprinted"][0]["copy"] == "merchant" and d["printed"] >= 1
    from appliance.journal import Journal

    j = Journal.open(load_config(cfg_path).journal_path)
    trail = j.audit_trail()
    j.close()
    assert any(a["action"] == "reprint" and a["operator"] == "07" for a in trail)


def test_acquirer_ledger_json_lists_the_sale(cfg_path: Path, capsys) -> None:
    run(capsys, "--config", str(cfg_path), "sale", "4.00")
    code, out, _ = run(capsys, "--config", str(cfg_path), "acquirer", "ledger", "--json")
    assert code == EXIT_OK
    rows = json.loads(out)
    assert any(r["amount"] == 400 and r["status"] == "approved" for r in rows)
    for r in rows:
        for key in ("tid", "stan", "rrn", "amount", "status"):
            assert key in r


def test_config_init_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    p = tmp_path / "t.toml"
    assert run(capsys, "config", "init", "--out", str(p))[0] == EXIT_OK
    code, _, err = run(capsys, "config", "init", "--out", str(p))
    assert code == EXIT_USAGE and "already exists" in err
