"""scripts/install-pi.sh against a fake root: syntax, dry run, boot edits, keys, idempotence.

The script's ``--root DIR`` writes files under DIR and skips commands that act on the running
system (apt-get, pip, udevadm, systemctl daemon-reload), so these tests run on any Linux box.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-pi.sh"
WRAPPER = REPO / "scripts" / "countertop-cli.sh"
CONFIG_TXT = """\
# Raspberry Pi OS default
dtparam=audio=on
camera_auto_detect=1
dtoverlay=vc4-kms-v3d
max_framebuffers=2
[cm4]
otg_mode=1
"""
CMDLINE_TXT = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e0e-02 rootfstype=ext4 "
    "fsck.repair=yes rootwait quiet splash\n"
)


def install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def pi_root(tmp_path: Path, model: str = "Raspberry Pi 4 Model B Rev 1.5") -> Path:
    """A fake root with bookworm's boot files and the board model the script reads."""
    root = tmp_path / "root"
    (root / "boot/firmware").mkdir(parents=True)
    (root / "boot/firmware/config.txt").write_text(CONFIG_TXT)
    (root / "boot/firmware/cmdline.txt").write_text(CMDLINE_TXT)
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_bytes(model.encode() + b"\0")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_script_parses_with_bash_n() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, str(SCRIPT), str(WRAPPER)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_cli_wrapper_run_by_root_becomes_the_service_user() -> None:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to switch users")
    # A directory the unprivileged user can enter (pytest's tmp_path is private to root).
    where = Path(tempfile.mkdtemp(prefix="countertop-wrapper-"))
    try:
        where.chmod(0o755)
        stub = where / "countertop"
        stub.write_text('#!/bin/sh\necho "$(id -un) $SUDO_USER $*"\n')
        stub.chmod(0o755)
        env = {**os.environ, "COUNTERTOP_BIN": str(stub), "COUNTERTOP_USER": "nobody"}
        env["SUDO_USER"] = "lihua"
        result = subprocess.run(
            ["sh", str(WRAPPER), "operators", "list"], env=env, capture_output=True, text=True
        )
    finally:
        shutil.rmtree(where)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nobody lihua operators list\n"


def test_a_dry_run_prints_every_step_and_changes_nothing(tmp_path: Path) -> None:
    root = pi_root(tmp_path)
    before = snapshot(root)
    result = install(root, "--dry-run", "--configure-boot")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in ("packages", "user", "venv", "files", "config", "keys", "boot", "services"):
        assert f"## {step}\n" in out
    assert "> /etc/systemd/system/countertop.service (mode 0644)" in out
    assert "> /etc/udev/rules.d/60-countertop.rules (mode 0644)" in out
    assert "> /usr/local/bin/countertop (mode 0755)" in out
    assert "apt-get install -y --no-install-recommends python3-venv" in out
    assert "+enable_uart=1" in out
    assert "-console=serial0,115200 console=tty1" in out
    assert snapshot(root) == before


def test_boot_settings_are_applied_once_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl not installed (apt-get install systemd)")
    root = pi_root(tmp_path)
    first = install(root, "--only", "boot", "--configure-boot")
    assert first.returncode == 0, first.stderr
    config = (root / "boot/firmware/config.txt").read_text()
    assert config.startswith(CONFIG_TXT)
    block = config[len(CONFIG_TXT) :]
    assert "[all]\nenable_uart=1\ndtoverlay=disable-bt\n" in block
    assert "vc4-kms-v3d" not in block  # already enabled by the OS: not added twice
    cmdline = (root / "boot/firmware/cmdline.txt").read_text()
    assert cmdline == CMDLINE_TXT.replace("console=serial0,115200 ", "")
    assert (root / "boot/firmware/cmdline.txt.countertop-orig").read_text() == CMDLINE_TXT
    assert os.readlink(root / "etc/systemd/system/serial-getty@ttyAMA0.service") == "/dev/null"

    before = snapshot(root)
    second = install(root, "--only", "boot", "--configure-boot")
    assert second.returncode == 0, second.stderr
    assert "= /boot/firmware/config.txt unchanged" in second.stdout
    assert "= /boot/firmware/cmdline.txt unchanged" in second.stdout
    assert snapshot(root) == before


def test_a_pi_5_gets_uart0_and_a_missing_kms_overlay_is_added(tmp_path: Path) -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl not installed (apt-get install systemd)")
    root = pi_root(tmp_path, model="Raspberry Pi 5 Model B Rev 1.0")
    (root / "boot/firmware/config.txt").write_text("dtparam=audio=on\n")
    assert install(root, "--only", "boot", "--configure-boot").returncode == 0
    config = (root / "boot/firmware/config.txt").read_text()
    assert "dtparam=uart0=on\ndtoverlay=vc4-kms-v3d\n# <<< countertop" in config
    assert "disable-bt" not in config


def test_boot_files_are_left_alone_without_configure_boot(tmp_path: Path) -> None:
    root = pi_root(tmp_path)
    before = snapshot(root)
    result = install(root, "--only", "boot")
    assert result.returncode == 0
    assert "only with --configure-boot" in result.stdout
    assert snapshot(root) == before


def test_a_data_key_is_made_once_private_and_random(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert install(root, "--only", "keys").returncode == 0
    key_file = root / "etc/countertop/credentials/data-key"
    key = key_file.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", key)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/countertop/credentials").stat().st_mode & 0o777 == 0o700
    assert install(root, "--only", "keys").returncode == 0
    assert key_file.read_text() == key


def test_unknown_options_and_steps_are_usage_errors(tmp_path: Path) -> None:
    assert install(tmp_path, "--frobnicate").returncode == 2
    result = install(tmp_path, "--only", "kernel")
    assert result.returncode == 2
    assert "unknown step 'kernel'" in result.stderr
