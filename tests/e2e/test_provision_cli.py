"""``countertop provision`` and ``countertop config check`` through the real command line."""

from __future__ import annotations

import io
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import load_config
from appliance.host.keys import combine_components, kcv

C1 = "0123456789ABCDEFFEDCBA9876543210"
C2 = "1111111122222222333333334444444A"
C3 = "89ABCDEF0123456776543210FEDCBA98"


def kcv_of(hexkey: str) -> str:
    """The check value printed on a component's envelope."""
    return kcv(bytes.fromhex(hexkey))


def tmk_of(*components: str) -> bytes:
    """The key the components combine to."""
    return combine_components([bytes.fromhex(c) for c in components])


ANSWERS = """
[merchant]
mid = "898310048160002"
tid = "20000002"
name = "Corner Shop 街角店"

[host]
address = "acq.example.net"
port = 9000
dialect = "cup"

[limits]
offline_max_amount = 20000

[locale]
timezone = "Asia/Shanghai"

[ceremony]
components = 2
component_kcvs = ["{k1}", "{k2}"]
"""


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str = "",
) -> tuple[int, str, str]:
    """Run countertop with ``stdin`` as its input; return (code, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    """An answers file whose envelope check values match C1 and C2."""
    p = tmp_path / "answers.toml"
    p.write_text(ANSWERS.format(k1=kcv_of(C1), k2=kcv_of(C2)), encoding="utf-8")
    return p


def provision_argv(cfg: Path, answers: Path, *extra: str) -> list[str]:
    """A scripted provisioning with demo devices."""
    return [
        "provision",
        "--config",
        str(cfg),
        "--from",
        str(answers),
        "--component-stdin",
        "--demo",
        "--state-dir",
        str(cfg.parent / "state"),
        *extra,
    ]


def test_provisioning_writes_a_valid_config_and_secrets_never_shown(
    tmp_path: Path,
    answers: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg_path = tmp_path / "etc" / "terminal.toml"
    code, out, err = run(
        monkeypatch, capsys, provision_argv(cfg_path, answers), stdin=f"{C1}\n{C2}\n"
    )
    assert code == 0, err
    cfg = load_config(cfg_path)
    assert cfg.merchant.tid == "20000002" and cfg.host.dialect == "cup"
    assert cfg.limits.offline_max_amount == 20000
    assert cfg.tmk() == tmk_of(C1, C2)
    assert len(cfg.data_key()) == 32
    tmk_hex = tmk_of(C1, C2).hex()
    everything = out + err + caplog.text + cfg_path.read_text(encoding="utf-8")
    for secret in (C1, C2, tmk_hex, cfg.data_key().hex()):
        assert secret.lower() not in everything.lower()
    assert kcv_of(C1) in out and kcv_of(C2) in out and kcv(tmk_of(C1, C2)) in out
    assert "reader: mock (--demo" in out and "printer: mock (--demo" in out
    for secret_file in (cfg.resolve(cfg.keys.tmk_file), cfg.resolve(cfg.keys.data_key_file)):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
    code, out, _ = run(monkeypatch, capsys, ["config", "check", "--config", str(cfg_path)])
    assert code == 0 and "OK" in out


def test_three_custodians_combine_three_components(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_path = tmp_path / "terminal.toml"
    argv = [
        "provision",
        "--config",
        str(cfg_path),
        "--component-stdin",
        "--demo",
        "--mid=898310048160003",
        "--tid=30000003",
        "--name=Three",
        "--host=10.0.0.1",
        "--port=8583",
        "--dialect=iso87",
        "--components=3",
        *(f"--kcv={kcv_of(c)}" for c in (C1, C2, C3)),
        f"--tmk-kcv={kcv(tmk_of(C1, C2, C3))}",
    ]
    code, _, err = run(monkeypatch, capsys, argv, stdin=f"{C1}\n{C2}\n{C3}\n")
    assert code == 0, err
    assert load_config(cfg_path).tmk() == tmk_of(C1, C2, C3)


def test_a_wrong_component_check_value_refuses_and_writes_nothing(
    tmp_path: Path,
    answers: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg_path = tmp_path / "etc" / "terminal.toml"
    typo = C2[:-1] + "C"  # one mistyped digit (not only its parity bit)
    code, out, err = run(
        monkeypatch, capsys, provision_argv(cfg_path, answers), stdin=f"{C1}\n{typo}\n"
    )
    assert code == 1
    assert "component 2 check value" in err and "nothing was written" in err
    assert not cfg_path.exists()
    assert not (tmp_path / "etc" / "state" / "secrets" / "tmk.hex").exists()
    assert typo.lower() not in (out + err).lower() and C1.lower() not in (out + err).lower()


def test_a_malformed_component_is_refused_without_quoting_it(
    tmp_path: Path,
    answers: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg_path = tmp_path / "terminal.toml"
    short = C1[:-2]
    code, out, err = run(monkeypatch, capsys, provision_argv(cfg_path, answers), stdin=f"{short}\n")
    assert code == 2 and "component 1: not 32 hex digits" in err
    assert short not in out + err and not cfg_path.exists()


def test_invalid_answers_are_refused_by_the_config_loaders_rules(
    tmp_path: Path,
    answers: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg_path = tmp_path / "terminal.toml"
    argv = provision_argv(cfg_path, answers, "--tid", "123")
    code, _, err = run(monkeypatch, capsys, argv, stdin=f"{C1}\n{C2}\n")
    assert code == 2
    assert f"{cfg_path}: merchant.tid" in err and "8 letters or digits" in err
    assert not cfg_path.exists()


def test_without_demo_a_missing_reader_is_an_error_not_a_mock(
    tmp_path: Path,
    answers: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from appliance.provision import detect_devices, load_answers

    with pytest.raises(Exception, match="no card reader found"):
        detect_devices(load_answers(answers), dev=tmp_path)


def test_devices_are_detected_and_each_choice_is_said(tmp_path: Path, answers: Path) -> None:
    from appliance.provision import detect_devices, load_answers

    (tmp_path / "usb").mkdir()
    for p in ("ttyAMA0", "usb/lp0", "gpiochip0"):
        (tmp_path / p).touch()
    chosen, notes = detect_devices(load_answers(answers), dev=tmp_path)
    assert chosen["reader"] == {"backend": "nfcpy", "device": "tty:AMA0:pn532"}
    assert chosen["printer"] == {"backend": "file", "path": str(tmp_path / "usb" / "lp0")}
    assert chosen["indicators"] == {"backend": "gpio"}
    assert [n.split(":")[0] for n in notes] == ["reader", "printer", "indicators"]


def test_reprovisioning_keeps_journal_and_data_key_and_asks_for_sign_on(
    tmp_path: Path,
    answers: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from appliance.bootstrap import open_journal

    cfg_path = tmp_path / "terminal.toml"
    assert run(monkeypatch, capsys, provision_argv(cfg_path, answers), f"{C1}\n{C2}\n")[0] == 0
    cfg = load_config(cfg_path)
    data_key = cfg.data_key()
    journal = open_journal(cfg)
    journal.audit("01", "marker", "before re-provisioning")
    journal.session_set(pik="AA" * 16, pik_kcv="123456", mak="BB" * 16, mak_kcv="654321")
    journal.close()

    new_answers = tmp_path / "new.toml"
    new_answers.write_text(
        ANSWERS.format(k1=kcv_of(C3), k2=kcv_of(C2)).replace("Corner Shop", "New Name"),
        encoding="utf-8",
    )
    argv = [a for a in provision_argv(cfg_path, new_answers) if a != "--state-dir"]
    argv.remove(str(tmp_path / "state"))  # the state dir is kept from the old config
    code, out, err = run(monkeypatch, capsys, argv, f"{C3}\n{C2}\n")
    assert code == 0, err
    assert "new host sign-on is needed" in out and "card data key kept" in out
    cfg = load_config(cfg_path)
    assert cfg.tmk() == tmk_of(C3, C2) and cfg.data_key() == data_key
    assert cfg.merchant.name.startswith("New Name")
    journal = open_journal(cfg)
    try:
        assert any(a["action"] == "marker" for a in journal.audit_trail())
        assert not journal.session_get("mak")
    finally:
        journal.close()


def test_credentials_dir_holds_the_secrets_as_systemd_credentials(
    tmp_path: Path,
    answers: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg_path = tmp_path / "terminal.toml"
    creds = tmp_path / "credentials"
    argv = provision_argv(cfg_path, answers, "--credentials", str(creds))
    code, _, err = run(monkeypatch, capsys, argv, f"{C1}\n{C2}\n")
    assert code == 0, err
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    assert sorted(p.name for p in creds.iterdir()) == ["data-key", "tmk"]
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    cfg = load_config(cfg_path)
    assert cfg.tmk() == tmk_of(C1, C2)


def test_config_check_names_every_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.sim.shop import init_demo

    cfg_path = init_demo(tmp_path / "terminal.toml", port=9)
    cfg = load_config(cfg_path)
    tmk_file = cfg.resolve(cfg.keys.tmk_file)
    tmk_file.write_text("0000000000000000000000000000000\n")  # 31 digits
    os.chmod(tmk_file, 0o644)
    cfg.resolve(cfg.keys.data_key_file).write_bytes(b"short")
    text = cfg_path.read_text(encoding="utf-8").replace("tls = false", "tls = true")
    text = text.replace('ca_file = ""', 'ca_file = "missing-ca.pem"')
    cfg_path.write_text(text, encoding="utf-8")
    code, _, err = run(monkeypatch, capsys, ["config", "check", "--config", str(cfg_path)])
    assert code == 2
    assert "terminal master key" in err and "not 32 or 48 hex digits" in err
    assert "card data key" in err
    assert "readable by group or others (mode 0644)" in err
    assert "host.ca_file" in err and "missing-ca.pem" in err


def test_config_check_refuses_a_tmk_without_odd_parity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.sim.shop import init_demo

    cfg_path = init_demo(tmp_path / "terminal.toml", port=9)
    cfg = load_config(cfg_path)
    cfg.resolve(cfg.keys.tmk_file).write_text("00" * 16 + "\n")
    code, _, err = run(monkeypatch, capsys, ["config", "check", "--config", str(cfg_path)])
    assert code == 2 and "odd parity" in err


def test_interactive_provisioning_prompts_and_reads_components_without_echo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import getpass

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(
        [
            "898310048160004",  # MID
            "40000004",  # TID
            "Tea House 茶馆",
            "10.1.2.3",
            "8583",
            "iso87",
            "",  # TLS: Enter keeps the default (no)
            "",
            "30000",  # offline_max_amount
            "en",
            "",
            kcv_of(C1),  # custodian 1 reads the envelope
            kcv_of(C2),
        ]
    )
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    typed = iter([C1, C2])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(typed)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    monkeypatch.setattr(sys, "stdin", Tty(""))
    cfg_path = tmp_path / "terminal.toml"
    assert main(["provision", "--config", str(cfg_path), "--demo"]) == 0
    out = capsys.readouterr().out
    assert prompts == ["component 1: ", "component 2: "]
    assert C1 not in out and C2 not in out
    cfg = load_config(cfg_path)
    assert cfg.merchant.name == "Tea House 茶馆" and cfg.tmk() == tmk_of(C1, C2)
    assert cfg.limits.offline_max_amount == 30000 and cfg.locale.language == "en"
    assert cfg.locale.timezone == "Asia/Shanghai" and cfg.host.tls is False
    assert cfg.state_dir == (tmp_path / "state").resolve()


def test_scripted_provisioning_without_envelope_values_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "provision",
        "--config",
        str(tmp_path / "t.toml"),
        "--component-stdin",
        "--demo",
        "--mid=898310048160005",
        "--tid=50000005",
        "--name=N",
        "--host=h",
        "--port=1",
        "--dialect=cup",
    ]
    code, _, err = run(monkeypatch, capsys, argv, stdin=f"{C1}\n{C2}\n")
    assert code == 2 and "envelope check values are needed" in err
    assert not (tmp_path / "t.toml").exists()
