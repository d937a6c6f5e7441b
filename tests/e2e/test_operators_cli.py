"""``countertop operators ...`` end to end through the CLI entry point, on a journal file."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from appliance.journal import Journal
from appliance.operators import OperatorStore


@pytest.fixture(autouse=True)
def only_operator_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("appliance.operators.SCRYPT_N", 2**10)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "journal.db"
    Journal.open(path).close()  # a migrated journal, as the terminal leaves it
    return path


def run(monkeypatch: pytest.MonkeyPatch, db: Path, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["operators", "--db", str(db), *argv])


def test_add_with_a_piped_pin_then_sign_in(
    monkeypatch: pytest.MonkeyPatch, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        monkeypatch, db, "add", "00", "--name", "Boss", "--role", "supervisor",
        "--password-stdin", stdin="135790\n",
    )  # fmt: skip
    assert code == EXIT_OK
    assert "added supervisor 00 Boss" in capsys.readouterr().out
    journal = Journal.open(db)
    try:
        assert OperatorStore(journal).authenticate("00", "135790").name == "Boss"
    finally:
        journal.close()
    with sqlite3.connect(db) as conn:
        (actor,) = conn.execute("SELECT operator FROM audit WHERE action='operator.add'").fetchone()
    assert actor.startswith("cli:")


def test_the_audit_names_the_person_behind_sudo(monkeypatch: pytest.MonkeyPatch, db: Path) -> None:
    monkeypatch.setenv("SUDO_USER", "lihua")
    run(monkeypatch, db, "add", "11", "--name", "Ma", "--password-stdin", stdin="2468\n")
    with sqlite3.connect(db) as conn:
        (actor,) = conn.execute("SELECT operator FROM audit WHERE action='operator.add'").fetchone()
    assert actor == "cli:lihua"


def test_list_shows_roles_and_lockouts(
    monkeypatch: pytest.MonkeyPatch, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(monkeypatch, db, "add", "01", "--name", "Wang", "--password-stdin", stdin="2468\n")
    journal = Journal.open(db)
    try:
        store = OperatorStore(journal)
        for _ in range(5):
            with pytest.raises(Exception, match="PIN"):
                store.authenticate("01", "0000")
    finally:
        journal.close()
    capsys.readouterr()
    assert run(monkeypatch, db, "list") == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("01  operator    Wang  locked until ")


def test_reset_password_clears_the_lock_and_remove_deletes(
    monkeypatch: pytest.MonkeyPatch, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(monkeypatch, db, "add", "02", "--name", "Li", "--password-stdin", stdin="2468\n")
    code = run(monkeypatch, db, "reset-password", "02", "--password-stdin", stdin="8642\n")
    assert code == EXIT_OK
    journal = Journal.open(db)
    try:
        assert OperatorStore(journal).authenticate("02", "8642").number == "02"
    finally:
        journal.close()
    assert run(monkeypatch, db, "remove", "02") == EXIT_OK
    capsys.readouterr()
    run(monkeypatch, db, "list")
    assert capsys.readouterr().out.startswith("no operators")


def test_a_short_pin_is_a_usage_error_that_never_echoes_the_pin(
    monkeypatch: pytest.MonkeyPatch, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        monkeypatch, db, "add", "03", "--name", "Zhao", "--role", "technician",
        "--password-stdin", stdin="98765\n",
    )  # fmt: skip
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "a technician PIN must be 6 to 12 digits" in err
    assert "98765" not in err


def test_without_a_terminal_or_stdin_flag_it_refuses_to_prompt(
    monkeypatch: pytest.MonkeyPatch, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(monkeypatch, db, "add", "04", "--name", "Sun", stdin="1234\n")
    assert code == EXIT_USAGE
    assert "--password-stdin" in capsys.readouterr().err


def test_the_prompt_asks_twice_and_rejects_a_mismatch(
    monkeypatch: pytest.MonkeyPatch, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["2468", "2469"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    tty = io.StringIO()
    tty.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", tty)
    code = main(["operators", "--db", str(db), "add", "05", "--name", "Zhou"])
    assert code == EXIT_USAGE
    assert "the two PINs differ" in capsys.readouterr().err


def test_unknown_operators_and_missing_journals_fail_clearly(
    monkeypatch: pytest.MonkeyPatch, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, db, "remove", "77") == EXIT_FAILED
    assert "no operator 77" in capsys.readouterr().err
    assert run(monkeypatch, tmp_path / "absent.db", "list") == EXIT_FAILED
    assert "no journal at" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()
