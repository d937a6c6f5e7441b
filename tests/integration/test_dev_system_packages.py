"""``scripts/system-packages.sh`` (run by ``./dev demo`` and ``./dev test``) installs what is missing.

Nothing on this machine is removed or installed: ``apt-get``, ``sudo`` and ``id`` are shims on a
PATH that holds nothing else, each recording its call; the font is looked for at files that do
not exist (``COUNTERTOP_FONT_FILES``) and the interpreter checked for venv is a shim that answers
yes or no. The apt-get shim "installs" the font by creating the file, so a second run can prove
it makes no apt call.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.printer.fonts import CJK_FONT_CANDIDATES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "system-packages.sh"
SH = "/bin/sh"


@dataclass
class Machine:
    """A pretend machine: a PATH of shims, a font location, a python with or without venv."""

    tmp: Path
    bin: Path
    log: Path
    font: Path

    def tool(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!{SH}\n{body}\n", encoding="utf-8")
        path.chmod(0o755)

    def run(
        self, *args: str, uid: int = 0, venv: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        self.tool("id", f'[ "$1" = -u ] && echo {uid}')
        python = self.tmp / ("python-with-venv" if venv else "python-without-venv")
        python.write_text(f"#!{SH}\nexit {0 if venv else 1}\n", encoding="utf-8")
        python.chmod(0o755)
        full_env = {
            "PATH": str(self.bin),
            "PYTHON": str(python),
            "COUNTERTOP_FONT_FILES": f"{self.tmp / 'nowhere.ttc'} {self.font}",
            **env,
        }
        return subprocess.run(
            [SH, str(SCRIPT), *args], env=full_env, capture_output=True, text=True, timeout=30
        )

    def calls(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    """A machine with apt-get (whose install creates the font file) and sudo, as root."""
    m = Machine(tmp_path, tmp_path / "bin", tmp_path / "calls.log", tmp_path / "wqy-microhei.ttc")
    m.bin.mkdir()
    log = shlex.quote(str(m.log))
    font = shlex.quote(str(m.font))
    m.tool(
        "apt-get",
        f'echo "apt-get $*" >> {log}\n'
        f'case " $* " in *" install "*fonts-wqy-microhei*) : > {font} ;; esac',
    )
    m.tool("sudo", f'echo "sudo $*" >> {log}\nexec "$@"')
    return m


APT_INSTALL = "apt-get install -y -qq --no-install-recommends"


def test_a_machine_with_everything_makes_no_apt_call_and_prints_nothing(machine: Machine) -> None:
    machine.font.write_bytes(b"font")
    machine.tool("systemd-analyze", "exit 0")
    result = machine.run("--venv", "--systemd")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert machine.calls() == []


def test_a_missing_font_is_named_with_its_reason_in_one_line_then_installed_as_root(
    machine: Machine,
) -> None:
    result = machine.run()
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        "countertop: installing fonts-wqy-microhei with apt-get "
        "(fonts-wqy-microhei: Chinese text on the screen and the receipts)"
    ]
    assert machine.calls() == ["apt-get update -qq", f"{APT_INSTALL} fonts-wqy-microhei"]


def test_the_second_run_makes_no_apt_call(machine: Machine) -> None:
    assert machine.run().returncode == 0
    assert len(machine.calls()) == 2
    second = machine.run()
    assert (second.returncode, second.stderr) == (0, "")
    assert len(machine.calls()) == 2


def test_everything_missing_for_the_tests_is_installed_in_one_apt_call(machine: Machine) -> None:
    result = machine.run("--venv", "--systemd", venv=False)
    assert result.returncode == 0, result.stderr
    assert machine.calls()[-1] == f"{APT_INSTALL} fonts-wqy-microhei python3-venv systemd"
    line = result.stderr.strip()
    assert "\n" not in line
    for why in ("Chinese text", "virtual environment", "systemd-analyze"):
        assert why in line


def test_venv_and_systemd_are_only_checked_when_asked_for(machine: Machine) -> None:
    machine.font.write_bytes(b"font")
    result = machine.run(venv=False)  # no systemd-analyze either
    assert (result.returncode, result.stderr) == (0, "")
    assert machine.calls() == []


def test_a_person_who_is_not_root_installs_through_sudo(machine: Machine) -> None:
    result = machine.run(uid=1000)
    assert result.returncode == 0, result.stderr
    assert "with sudo apt-get" in result.stderr
    assert machine.calls() == [
        "sudo apt-get update -qq",
        "apt-get update -qq",
        f"sudo {APT_INSTALL} fonts-wqy-microhei",
        f"{APT_INSTALL} fonts-wqy-microhei",
    ]


def test_without_root_or_sudo_it_stops_with_the_exact_command(machine: Machine) -> None:
    (machine.bin / "sudo").unlink()
    result = machine.run("--venv", uid=1000, venv=False)
    assert result.returncode == 2
    assert "needs root" in result.stderr
    assert (
        "    apt-get install -y --no-install-recommends fonts-wqy-microhei python3-venv"
        in result.stderr.splitlines()
    )
    assert machine.calls() == []


def test_without_apt_it_names_the_packages_and_the_font_variable(machine: Machine) -> None:
    (machine.bin / "apt-get").unlink()
    result = machine.run("--venv", venv=False)
    assert result.returncode == 2
    assert "no apt-get" in result.stderr
    for name in ("fonts-wqy-microhei", "python3-venv", "COUNTERTOP_CJK_FONT"):
        assert name in result.stderr
    assert machine.calls() == []


def test_a_missing_systemd_analyze_alone_never_stops_the_tests(machine: Machine) -> None:
    machine.font.write_bytes(b"font")
    (machine.bin / "apt-get").unlink()
    result = machine.run("--systemd")
    assert result.returncode == 0
    assert "unit tests will skip" in result.stderr


def test_a_font_chosen_with_countertop_cjk_font_needs_no_package(machine: Machine) -> None:
    chosen = machine.tmp / "chosen.ttf"
    chosen.write_bytes(b"font")
    result = machine.run(COUNTERTOP_CJK_FONT=str(chosen))
    assert (result.returncode, result.stderr) == (0, "")
    assert machine.calls() == []


def test_the_script_looks_where_the_program_looks_for_the_font() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    default = re.search(r"COUNTERTOP_FONT_FILES:-([^}]*)\}", text)
    assert default is not None
    assert default.group(1).split() == [str(p) for p in CJK_FONT_CANDIDATES]


def _venv_is_current() -> bool:
    """True when ./dev would go straight to the command (no venv to make, nothing to install)."""
    stamp = ROOT / ".venv" / ".installed"
    return (ROOT / ".venv" / "bin" / "python").exists() and (
        stamp.exists() and stamp.stat().st_mtime >= (ROOT / "pyproject.toml").stat().st_mtime
    )


@pytest.mark.skipif(
    not _venv_is_current(),
    reason="./dev would first make or update .venv here (run the tests with ./dev test)",
)
def test_dev_runs_the_check_before_the_command(machine: Machine) -> None:
    machine.tool("id", '[ "$1" = -u ] && echo 0')
    env = {
        **os.environ,
        "PATH": f"{machine.bin}{os.pathsep}{os.environ['PATH']}",
        "COUNTERTOP_FONT_FILES": str(machine.font),
    }
    env.pop("COUNTERTOP_CJK_FONT", None)
    result = subprocess.run(
        [str(ROOT / "dev"), "countertop", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("countertop ")
    assert "installing fonts-wqy-microhei with apt-get" in result.stderr
    assert machine.calls()[-1] == f"{APT_INSTALL} fonts-wqy-microhei"
