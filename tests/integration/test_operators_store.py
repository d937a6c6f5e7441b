"""Operators in a real SQLite journal file: PIN hashing, lockout with a timed unlock, auditing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.domain import roles
from appliance.errors import ConfigError, NotFound, Refused
from appliance.journal import Journal
from appliance.operators import (
    LoginRefused,
    Operator,
    OperatorStore,
    Role,
    RoleRefused,
    hash_pin,
    verify_pin,
)


class FakeClock:
    """A clock the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal.open(tmp_path / "journal.db")
    yield opened
    opened.close()


@pytest.fixture
def conn(journal: Journal, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A second, read-only look at the same file, as an auditor would open it."""
    connection = sqlite3.connect(f"file:{tmp_path / 'journal.db'}?mode=ro", uri=True)
    yield connection
    connection.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(journal: Journal, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> OperatorStore:
    # n=2**10 keeps the suite fast; hashes carry their parameters, so verification is unchanged.
    # test_a_pin_hash_is_salted_self_describing_and_verifies checks the production cost.
    monkeypatch.setattr("appliance.operators.SCRYPT_N", 2**10)
    return OperatorStore(journal, clock=clock)


def audit_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return conn.execute("SELECT operator, action, detail FROM audit ORDER BY id").fetchall()


def test_a_pin_hash_is_salted_self_describing_and_verifies() -> None:
    first, second = hash_pin("2468"), hash_pin("2468")
    assert first != second
    assert first.startswith("scrypt$16384$8$1$")
    assert verify_pin("2468", first)
    assert not verify_pin("2469", first)


@pytest.mark.parametrize("damaged", ["", "bcrypt$x", "scrypt$16384$8$1$!!$!!", "scrypt$a$b$c$d$e"])
def test_a_damaged_hash_refuses_instead_of_crashing(damaged: str) -> None:
    assert not verify_pin("2468", damaged)


def test_the_right_pin_signs_in_and_the_pin_is_never_stored_or_audited(
    store: OperatorStore, conn: sqlite3.Connection
) -> None:
    store.add("01", "Wang Fang", "operator", "2468", by="cli:root")
    assert store.authenticate("01", "2468") == Operator("01", "Wang Fang", Role.OPERATOR)
    dump = "\n".join(conn.iterdump())
    assert "2468" not in dump
    assert audit_rows(conn) == [
        ("cli:root", "operator.add", "01 Wang Fang (operator)"),
        ("01", "login", ""),
    ]


def test_a_wrong_pin_says_how_many_tries_are_left(store: OperatorStore) -> None:
    store.add("02", "Li Lei", "operator", "1357", by="cli:root")
    with pytest.raises(LoginRefused, match="4 tries left") as refused:
        store.authenticate("02", "0000")
    assert refused.value.remaining == 4
    assert isinstance(refused.value, Refused)


def test_five_wrong_pins_lock_the_number_even_against_the_right_pin_until_the_lock_ends(
    store: OperatorStore, clock: FakeClock, conn: sqlite3.Connection
) -> None:
    store.add("03", "Zhao Min", "operator", "1357", by="cli:root")
    for left in (4, 3, 2, 1):
        with pytest.raises(LoginRefused) as refused:
            store.authenticate("03", "9999")
        assert refused.value.remaining == left
    with pytest.raises(LoginRefused, match="now locked until") as refused:
        store.authenticate("03", "9999")
    assert refused.value.locked_until == clock.now + timedelta(minutes=15)

    clock.now += timedelta(minutes=14, seconds=59)
    with pytest.raises(LoginRefused, match="is locked until"):
        store.authenticate("03", "1357")

    clock.now += timedelta(seconds=1)
    assert store.authenticate("03", "1357").number == "03"
    assert store.get("03").locked_until is None
    actions = [action for _, action, _ in audit_rows(conn)]
    assert actions.count("operator.locked") == 1
    assert actions[-1] == "login"


def test_after_a_lock_expires_the_count_starts_again(
    store: OperatorStore, clock: FakeClock
) -> None:
    store.add("04", "Chen Jie", "operator", "1357", by="cli:root")
    for _ in range(5):
        with pytest.raises(LoginRefused):
            store.authenticate("04", "9999")
    clock.now += timedelta(minutes=15)
    with pytest.raises(LoginRefused) as refused:
        store.authenticate("04", "9999")
    assert refused.value.remaining == 4


def test_the_lockout_duration_is_configurable(journal: Journal, clock: FakeClock) -> None:
    store = OperatorStore(journal, clock=clock, lockout=timedelta(minutes=2), max_failures=1)
    store.add("05", "Sun Li", "operator", "1357", by="cli:root")
    with pytest.raises(LoginRefused) as refused:
        store.authenticate("05", "0000")
    assert refused.value.locked_until == clock.now + timedelta(minutes=2)


def test_a_successful_sign_in_resets_the_failure_count(store: OperatorStore) -> None:
    store.add("06", "Zhou Yu", "operator", "1357", by="cli:root")
    for _ in range(4):
        with pytest.raises(LoginRefused):
            store.authenticate("06", "0000")
    store.authenticate("06", "1357")
    with pytest.raises(LoginRefused) as refused:
        store.authenticate("06", "0000")
    assert refused.value.remaining == 4


def test_an_unknown_number_is_refused_like_a_wrong_pin(
    store: OperatorStore, conn: sqlite3.Connection
) -> None:
    with pytest.raises(LoginRefused, match="wrong operator number or PIN"):
        store.authenticate("42", "1234")
    assert audit_rows(conn) == [("42", "login.refused", "unknown operator number")]


def test_resetting_a_pin_unlocks_and_the_old_pin_stops_working(
    store: OperatorStore, conn: sqlite3.Connection
) -> None:
    store.add("07", "Wu Hao", "operator", "1357", by="cli:root")
    for _ in range(5):
        with pytest.raises(LoginRefused):
            store.authenticate("07", "9999")
    store.reset_password("07", "8642", by="00")
    assert store.authenticate("07", "8642").number == "07"
    with pytest.raises(LoginRefused):
        store.authenticate("07", "1357")
    assert ("00", "operator.reset-password", "07") in audit_rows(conn)


@pytest.mark.parametrize(
    ("role", "pin"),
    [("operator", "123"), ("supervisor", "12345"), ("technician", "12345"), ("operator", "12a4")],
)
def test_pins_too_short_for_the_role_or_not_digits_are_rejected(
    journal: Journal, role: str, pin: str
) -> None:
    store = OperatorStore(journal)
    with pytest.raises(ConfigError, match=f"a {role} PIN must be") as error:
        store.add("08", "X", role, pin, by="cli:root")
    assert pin not in str(error.value)


@pytest.mark.parametrize("number", ["1", "100", "ab", " 01"])
def test_operator_numbers_are_two_digits(store: OperatorStore, number: str) -> None:
    with pytest.raises(ConfigError, match="two digits"):
        store.add(number, "X", "operator", "1234", by="cli:root")


def test_a_number_cannot_be_added_twice(store: OperatorStore) -> None:
    store.add("09", "Ma Li", "operator", "1234", by="cli:root")
    with pytest.raises(Refused, match="already exists"):
        store.add("09", "Ma Li", "operator", "1234", by="cli:root")


def test_list_and_remove(store: OperatorStore, conn: sqlite3.Connection) -> None:
    store.add("10", "He Jun", "operator", "1234", by="cli:root")
    store.add("00", "Boss", "supervisor", "123456", by="cli:root")
    assert [(o.number, o.role) for o in store.list()] == [
        ("00", Role.SUPERVISOR),
        ("10", Role.OPERATOR),
    ]
    store.remove("10", by="00")
    assert [o.number for o in store.list()] == ["00"]
    with pytest.raises(NotFound):
        store.remove("10", by="00")
    assert ("00", "operator.remove", "10 He Jun (operator)") in audit_rows(conn)


def test_supervisors_cover_operators_but_technicians_never_touch_money(
    store: OperatorStore, conn: sqlite3.Connection
) -> None:
    operator = Operator("01", "A", Role.OPERATOR)
    supervisor = Operator("00", "B", Role.SUPERVISOR)
    technician = Operator("99", "C", Role.TECHNICIAN)
    store.require_role(supervisor, Role.OPERATOR)
    store.require_role(supervisor, Role.SUPERVISOR)
    store.require_role(technician, Role.TECHNICIAN)
    with pytest.raises(RoleRefused, match="void needs a supervisor; operator 01 is a operator"):
        store.require_role(operator, Role.SUPERVISOR, action="void")
    with pytest.raises(roles.RoleRefused) as refund:  # one class: the services' rule raises it too
        store.require_role(technician, "supervisor", action="refund")
    assert (refund.value.code, refund.value.params["number"]) == ("role.refused", "99")
    with pytest.raises(RoleRefused) as key_load:
        store.require_role(supervisor, Role.TECHNICIAN, action="key load")
    assert key_load.value.code == "role.technician_only"
    assert [(who, action) for who, action, _ in audit_rows(conn)] == [
        ("01", "role.refused"),
        ("99", "role.refused"),
        ("00", "role.refused"),
    ]


def test_other_services_can_audit_their_privileged_actions(
    store: OperatorStore, conn: sqlite3.Connection, clock: FakeClock
) -> None:
    store.audit("00", "void", "trace 000123")
    assert conn.execute("SELECT at, operator, action, detail FROM audit").fetchall() == [
        ("2026-11-22T09:00:00.000+00:00", "00", "void", "trace 000123")
    ]
