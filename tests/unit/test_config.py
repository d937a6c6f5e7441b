"""Config validation: every error names the file, the key, the value and what was expected."""

from pathlib import Path

import pytest

from appliance.config import load_config, template
from appliance.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "terminal.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_the_template_is_itself_a_valid_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, template()))
    assert cfg.host.port == 8583
    assert cfg.currency.alpha == "CNY"
    assert cfg.settlement.fees_bp["VISA"] == 60


def test_bad_port_names_file_key_value_and_expectation(tmp_path: Path) -> None:
    p = write(tmp_path, '[host]\nport = "80a"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f'{p}: host.port: "80a" is not a port number (1-65535)'


def test_unknown_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"host\.prot: unknown key"):
        load_config(write(tmp_path, "[host]\nprot = 9000\n"))


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[hosts\]: unknown section"):
        load_config(write(tmp_path, "[hosts]\nport = 9000\n"))


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = '[merchant]\nmid = "123"\ntid = "1234567"\n[reader]\nbackend = "acr122"\n'
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    msg = str(e.value)
    assert 'merchant.mid: "123" is not 15 letters or digits' in msg
    assert 'merchant.tid: "1234567" is not 8 letters or digits' in msg
    assert 'reader.backend: "acr122" is not one of "nfcpy", "mock"' in msg


def test_currency_numeric_must_match_alpha(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not match currency USD"):
        load_config(write(tmp_path, '[merchant]\ncurrency = "USD"\n'))


def test_booleans_are_not_numbers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"host\.port: True is not a port number"):
        load_config(write(tmp_path, "[host]\nport = true\n"))


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[host\nport = 1\n"))


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config init"):
        load_config(tmp_path / "nope.toml")


def test_environment_variable_is_used_when_no_path_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = write(tmp_path, '[merchant]\nname = "Env Shop"\n')
    monkeypatch.setenv("COUNTERTOP_CONFIG", str(p))
    assert load_config().merchant.name == "Env Shop"


def test_relative_state_dir_is_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[state]\ndir = "st"\n'))
    assert cfg.state_dir == (tmp_path / "st").resolve()


def test_missing_secret_says_how_to_provision(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, template()))
    with pytest.raises(ConfigError, match="countertop provision"):
        cfg.tmk()


def test_fee_rates_are_integer_basis_points(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="basis points"):
        load_config(write(tmp_path, "[settlement]\nfees_bp = { visa = 0.6 }\n"))


def test_unprovisioned_credential_says_to_provision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(write(tmp_path, template()))
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "tmk").write_text("unprovisioned")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with pytest.raises(ConfigError, match="not provisioned yet"):
        cfg.tmk()


def test_a_udp_reader_port_out_of_range_names_file_key_value_and_expectation(
    tmp_path: Path,
) -> None:
    p = write(tmp_path, '[reader]\nbackend = "nfcpy"\ndevice = "udp:127.0.0.1:99999"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == (
        f'{p}: reader.device: "udp:127.0.0.1:99999" is not '
        "a udp:HOST:PORT device with a port number (1-65535)"
    )


@pytest.mark.parametrize("device", ["udp:127.0.0.1:0", "udp:localhost:8583x", "tty:", "pn532"])
def test_a_reader_device_nfcpy_cannot_open_is_a_config_error(tmp_path: Path, device: str) -> None:
    with pytest.raises(ConfigError, match=r"reader\.device: .* is not a"):
        load_config(write(tmp_path, f'[reader]\ndevice = "{device}"\n'))


@pytest.mark.parametrize(
    "device",
    [
        "tty:AMA0:pn532",
        "tty:USB0",
        "usb",
        "usb:072f:2200",
        "usb:001:004",
        "udp",
        "udp:127.0.0.1:54321",
    ],
)
def test_every_nfcpy_device_form_is_accepted(tmp_path: Path, device: str) -> None:
    assert load_config(write(tmp_path, f'[reader]\ndevice = "{device}"\n')).reader.device == device


def test_the_scanner_defaults_to_the_mock_with_a_minute_to_scan(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, template()))
    assert (cfg.scanner.backend, cfg.scanner.timeout) == ("mock", 60.0)


def test_an_unknown_scanner_backend_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'scanner\.backend: "laser" is not one of "evdev"'):
        load_config(write(tmp_path, '[scanner]\nbackend = "laser"\n'))


@pytest.mark.parametrize("backend", ["evdev", "serial"])
def test_a_real_scanner_backend_needs_a_device(tmp_path: Path, backend: str) -> None:
    with pytest.raises(ConfigError, match=rf'scanner\.device: "" .*backend "{backend}" needs one'):
        load_config(write(tmp_path, f'[scanner]\nbackend = "{backend}"\n'))
