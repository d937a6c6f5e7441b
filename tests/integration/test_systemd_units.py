"""The systemd units, sysusers/tmpfiles entries, udev rules and modprobe blacklist under systemd/.

``systemd-analyze verify`` insists that ExecStart= names an existing executable, and the real one
(/opt/countertop/venv/bin/countertop) exists only on an installed terminal. So each unit is copied
to a temporary directory with *only* that path rewritten to a stub script, and the copy is
verified; the test checks that nothing else changed. (``verify --root=`` would need a whole unit
tree inside the root, down to sysinit.target.) The security score is computed offline from the
unmodified file. Without systemd's tools the tests skip and say so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ["countertop.service", "countertop-settle.service", "countertop-settle.timer"]
REAL_EXEC = "/opt/countertop/venv/bin/countertop"
MAX_EXPOSURE = 2.0


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install systemd) - unit checks not run")
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _directives(unit: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, values in order (systemd keys may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (SYSTEMD_DIR / unit).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key, []).append(value)
    return found


@pytest.fixture(scope="module")
def verify_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units with ExecStart= pointing at an existing stub instead of the installed venv."""
    root = tmp_path_factory.mktemp("units")
    stub = root / "bin" / "countertop"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for unit in UNITS:
        original = (SYSTEMD_DIR / unit).read_text()
        copy = original.replace(REAL_EXEC, str(stub))
        assert copy.replace(str(stub), REAL_EXEC) == original
        (root / unit).write_text(copy)
    return root


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_accepts_the_unit(verify_dir: Path, unit: str) -> None:
    analyze = _tool("systemd-analyze")
    result = _run(analyze, "verify", str(verify_dir / unit))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("unit", ["countertop.service", "countertop-settle.service"])
def test_security_exposure_is_at_most_two(unit: str) -> None:
    analyze = _tool("systemd-analyze")
    result = _run(analyze, "security", "--offline=true", str(SYSTEMD_DIR / unit))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    score = float(match.group(1))
    print(f"{unit}: exposure {score}")
    assert score <= MAX_EXPOSURE
    threshold = _run(
        analyze, "security", "--offline=true", "--threshold=20", str(SYSTEMD_DIR / unit)
    )
    assert threshold.returncode == 0


def test_the_terminal_unit_is_a_watched_kiosk_on_tty1_that_reboots_as_a_last_resort() -> None:
    d = _directives("countertop.service")
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert int(d["WatchdogSec"][0]) > 0
    assert d["Restart"] == ["always"]
    assert d["RestartPreventExitStatus"] == ["2"]  # a config error must not loop into reboots
    assert d["StartLimitAction"] == ["reboot"]
    assert d["TTYPath"] == ["/dev/tty1"]
    assert d["StandardInput"] == ["tty"]
    assert "getty@tty1.service" in d["Conflicts"][0].split()
    assert d["User"] == ["countertop"]
    assert d["ExecStart"] == [f"{REAL_EXEC} run"]
    assert "SDL_VIDEODRIVER=kmsdrm" in d["Environment"]
    assert d["DevicePolicy"] == ["closed"]
    assert d["CapabilityBoundingSet"] == [""]


@pytest.mark.parametrize("unit", ["countertop.service", "countertop-settle.service"])
def test_keys_cannot_cause_a_reboot_loop_or_reach_a_core_dump(unit: str) -> None:
    d = _directives(unit)
    assert d["LimitCORE"] == ["0"]  # a core dump would write keys and card data to disk
    loaded = sorted(v.split(":")[0] for v in d["LoadCredential"])
    assert loaded == ["data-key", "tmk"]
    assert sorted(d["SetCredential"]) == ["data-key:unprovisioned", "tmk:unprovisioned"]


def test_the_terminal_may_open_only_display_input_gpio_serial_and_usb_devices() -> None:
    allowed = {v.split()[0] for v in _directives("countertop.service")["DeviceAllow"]}
    assert allowed == {
        "char-drm",
        "char-input",
        "/dev/tty1",
        "char-gpiochip",
        "/dev/ttyAMA0",
        "/dev/ttyS0",
        "char-ttyUSB",
        "char-ttyACM",
        "char-usb",
        "char-usb_device",
    }


def test_settlement_runs_daily_at_half_past_eleven_and_catches_up_after_power_off() -> None:
    timer = _directives("countertop-settle.timer")
    assert timer["OnCalendar"] == ["*-*-* 23:30:00"]
    assert timer["Persistent"] == ["true"]
    service = _directives("countertop-settle.service")
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == [f"{REAL_EXEC} settle --if-due"]


def test_sysusers_creates_the_user_in_every_device_group(tmp_path: Path) -> None:
    sysusers = _tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "group", "shadow", "gshadow"):
        (tmp_path / "etc" / name).write_text("")
    result = _run(
        sysusers, f"--root={tmp_path}", str(SYSTEMD_DIR / "sysusers.d" / "countertop.conf")
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "etc/passwd").read_text().startswith("countertop:x:")
    members = {
        line.split(":")[0]
        for line in (tmp_path / "etc/group").read_text().splitlines()
        if line.endswith(":countertop")
    }
    assert members == {"video", "input", "render", "dialout", "gpio", "lp"}


def test_tmpfiles_makes_the_credentials_directory_root_only(tmp_path: Path) -> None:
    tmpfiles = _tool("systemd-tmpfiles")
    conf = SYSTEMD_DIR / "tmpfiles.d" / "countertop.conf"
    result = _run(tmpfiles, f"--root={tmp_path}", "--create", str(conf))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "etc/countertop/credentials").stat().st_mode & 0o777 == 0o700


_UDEV_ITEM = re.compile(r'^[A-Z_]+(\{[^}]+\})?(==|!=|=|\+=|:=)"[^"]*"$')


def test_every_udev_rule_line_is_well_formed() -> None:
    lines = [
        line
        for line in (SYSTEMD_DIR / "udev" / "60-countertop.rules").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines
    for line in lines:
        items = [item.strip() for item in line.split(", ")]
        assert all(_UDEV_ITEM.match(item) for item in items), line
        assert any(item.startswith(("GROUP=", "ENV{ID_MM")) for item in items), line


def test_the_kernel_nfc_drivers_that_grab_readers_are_blacklisted() -> None:
    conf = (SYSTEMD_DIR / "modprobe.d" / "countertop-blacklist-nfc.conf").read_text()
    blacklisted = {line.split()[1] for line in conf.splitlines() if line.startswith("blacklist ")}
    assert {"nfc", "pn533", "pn533_usb", "pn533_i2c", "port100"} <= blacklisted
