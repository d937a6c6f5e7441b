"""Every ``--json`` command of docs/cli.md prints exactly one JSON document on stdout.

Each command runs as its own process (``python -m appliance``), as a script would run it: only
then do an import-time banner (pygame's) or a library's log line land on the real stdout. The
environment has no ``PYGAME_HIDE_SUPPORT_PROMPT``, so the command line must set it itself. The
reference acquirer runs in this process on the demo config, as in the other CLI tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from appliance.config import load_config
from appliance.sim.shop import SUPERVISOR, SUPERVISOR_PIN, acquirer_for, free_port, init_demo
from appliance.sim.udp_card import UdpCard
from drivers.reader.profile import find_profile

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    """Runs ``countertop`` in a child process against one demo config."""

    def __init__(self, config: Path, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "COUNTERTOP_CONFIG": str(config)}
        self.env.pop("PYGAME_HIDE_SUPPORT_PROMPT", None)
        self.env.setdefault("SDL_VIDEODRIVER", "dummy")
        self.env.setdefault("SDL_AUDIODRIVER", "dummy")

    def run(
        self, *argv: str, timeout: float = 300, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "appliance", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=timeout,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """A demo config with its reference acquirer listening."""
    path = init_demo(tmp_path / "shop" / "terminal.toml", port=free_port())
    acquirer = acquirer_for(load_config(path), control_port=0)
    acquirer.start()
    try:
        yield Cli(path, tmp_path)
    finally:
        acquirer.stop()


def one_document(result: subprocess.CompletedProcess[str]) -> str | None:
    """Why stdout is not exactly one JSON document (None when it is)."""
    if "Traceback" in result.stderr:
        return f"traceback on stderr: {result.stderr[-600:]}"
    try:
        json.loads(result.stdout)  # extra data before or after the document fails here
    except json.JSONDecodeError as exc:
        return f"not one JSON document ({exc}): {result.stdout[:300]!r}"
    if not result.stdout.lstrip().startswith(("{", "[")):
        return f"not a JSON object or list: {result.stdout[:100]!r}"
    return None


def test_every_json_command_prints_one_json_document_and_nothing_else(
    cli: Cli, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date().isoformat()
    statement = tmp_path / "statement.csv"
    checked: list[str] = []
    problems: list[str] = []

    def check(argv: tuple[str, ...], codes: tuple[int, ...] = (0,), stdin: str = "") -> Any:
        """Run one command; note what is wrong with its stdout or exit code; its document."""
        result = cli.run(*argv, stdin=stdin)
        checked.append(" ".join(argv))
        why = one_document(result)
        if why is None and result.returncode not in codes:
            why = f"exit {result.returncode}: {result.stderr[-300:]}"
        if why:
            problems.append(f"countertop {' '.join(argv)}: {why}")
            return {}
        return json.loads(result.stdout)

    # A shop's day in order, then the tools. Exit codes are the right ones for each here.
    check(("sign-on", "--json"))
    check(("echo", "--json"))
    first = check(("sale", "12.50", "--json"))
    second = check(("sale", "20.00", "--card", "mastercard", "--json"))
    check(("sale", "12.51", "--json"), (1,))  # the acquirer declines .51: still one document
    # Voids and refunds need a supervisor (the demo's 02): refused without, done with.
    pin = SUPERVISOR_PIN + "\n"
    approve = ("--supervisor", SUPERVISOR.number, "--pin-stdin")
    add = ("operators", "add", SUPERVISOR.number, "--name", "Sup", "--role", "supervisor")
    assert cli.run(*add, "--password-stdin", stdin=pin).returncode == 0
    refused = check(("void", str(int(second.get("trace", 0))), "--json"), (2,))
    assert "supervisor" in refused.get("error", ""), refused
    check(("void", str(int(second.get("trace", 0))), "--json", *approve), stdin=pin)
    check(
        ("refund", "--trace", str(int(first.get("trace", 0))), "5.00", "--json", *approve),
        stdin=pin,
    )
    failed = check(("void", "999999", "--json", *approve), (1,), stdin=pin)  # says why
    assert failed.get("exit_code") == 1 and "999999" in failed.get("error", ""), failed
    check(("status", "--json"))
    check(("forward", "--json"))
    check(("reprint", "last", "--json"))
    check(("report", "x", "--json"))
    check(("card", "read", "--json"))
    check(("card", "list", "--json"))
    check(("card", "bench", "-n", "20", "--json"), (0, 1))
    check(("printer", "status", "--json"))
    check(("selftest", "--json"), (0, 1))
    check(("acquirer", "ledger", "--json"))
    with UdpCard() as card:  # the real nfcpy reader, over its udp device
        card.present(find_profile("visa"))
        check(("card", "read", "--backend", "nfcpy", "--device", card.device_path, "--json"), (0,))
    assert (
        cli.run("acquirer", "statement", "--date", today, "--out", str(statement)).returncode == 0
    )
    tools: list[tuple[tuple[str, ...], tuple[int, ...]]] = [
        (("reconcile", str(statement), "--json"), (0, 1)),
        (("settle", "--json", *approve), (0,)),
        (("report", "z", "--json"), (0,)),
        (("backup", "--out", str(tmp_path / "backup.db"), "--json"), (0,)),
        (("journal", "verify", "--json"), (0,)),
        (("journal", "export", "--format", "json"), (0,)),
        (("acquirer", "bench", "-n", "20", "--json"), (0, 1)),
        (("settle", "--bench", "20", "--json"), (0, 1)),
        (("bench", "sale", "n=5", "--json"), (0, 1)),
        (("bench", "drain", "n=8", "latency_ms=1", "window1_n=2", "--json"), (0, 1)),
        (("bench", "card", "n=20", "--json"), (0, 1)),
        (("bench", "receipt", "--json"), (0, 1)),
        (("bench", "ui", "sales=2", "idle_seconds=0.5", "--json"), (0, 1)),
        (("bench", "settle", "n=20", "--json"), (0, 1)),
        (("bench", "reprint", "rows=5400", "lookups=10", "--json"), (0, 1)),
        (("torture", "--trials", "1", "--seed", "3", "--json"), (0,)),
    ]
    for argv, codes in tools:
        check(argv, codes, stdin=pin)
    assert not problems, "\n".join(problems)
    assert len(checked) == 20 + len(tools)


def test_logs_stay_at_warning_by_default_and_v_lets_more_through_on_stderr(cli: Cli) -> None:
    quiet = cli.run("sign-on", "--json")
    verbose = cli.run("-vv", "sign-on", "--json")
    for result in (quiet, verbose):
        assert result.returncode == 0
        assert one_document(result) is None
    assert " INFO " not in quiet.stderr and " DEBUG " not in quiet.stderr
    assert " DEBUG " in verbose.stderr or " INFO " in verbose.stderr


def test_a_reader_that_closes_stdout_early_ends_the_command_without_a_traceback(cli: Cli) -> None:
    assert cli.run("sale", "1.00").returncode == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has gone: every write to stdout fails with EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "appliance", "acquirer", "ledger", "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env,
            cwd=cli.cwd,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 1
