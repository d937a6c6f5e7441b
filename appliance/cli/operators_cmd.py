"""``countertop operators add|list|remove|reset-password``: manage who may use the terminal.

PINs are read from a prompt that does not echo (asked twice), or with ``--password-stdin`` from
the first line of standard input (for provisioning scripts). They never appear on the command
line, where ``ps`` and shell history would show them.

The journal is found from the config (``state_dir/journal.db``) unless ``--db`` names it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.errors import ConfigError, JournalError
from appliance.journal import Journal
from appliance.operators import OperatorStore, Role, parse_role, validate_number, validate_pin


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``operators`` command group to the ``countertop`` parser."""
    parser = sub.add_parser("operators", help="add, list, remove operators; reset PINs")
    parser.add_argument(
        "--db", metavar="PATH", help="journal database (default: state_dir/journal.db from config)"
    )
    commands = parser.add_subparsers(dest="operators_command", metavar="ACTION", required=True)

    add = commands.add_parser("add", help="add an operator, supervisor or technician")
    add.add_argument("number", help="two-digit operator number, 00-99")
    add.add_argument("--name", required=True, help="name shown on screen and in the audit trail")
    add.add_argument(
        "--role", default="operator", choices=[r.value for r in Role], help="default: operator"
    )
    _password_option(add)
    add.set_defaults(func=_add)

    listing = commands.add_parser("list", help="list operators and any lockouts")
    listing.set_defaults(func=_list)

    remove = commands.add_parser("remove", help="remove an operator")
    remove.add_argument("number")
    remove.set_defaults(func=_remove)

    reset = commands.add_parser("reset-password", help="set a new PIN and clear a lockout")
    reset.add_argument("number")
    _password_option(reset)
    reset.set_defaults(func=_reset_password)


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the PIN from the first line of standard input instead of prompting",
    )


def _add(args: argparse.Namespace) -> int:
    number = validate_number(args.number)
    role = parse_role(args.role)
    pin = _read_pin(args, role)
    with _open(args) as journal:
        operator = OperatorStore(journal).add(number, args.name, role, pin, by=_actor())
    print(f"added {operator.role} {operator.number} {operator.name}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with _open(args) as journal:
        operators = OperatorStore(journal).list()
    if not operators:
        print("no operators: add one with `countertop operators add NUMBER --name NAME`")
        return 0
    for op in operators:
        if op.locked_until is not None:
            state = f"locked until {op.locked_until.astimezone():%Y-%m-%d %H:%M}"
        elif op.failed_attempts:
            state = f"{op.failed_attempts} wrong PIN(s)"
        else:
            state = ""
        print(f"{op.number}  {op.role:<10}  {op.name}  {state}".rstrip())
    return 0


def _remove(args: argparse.Namespace) -> int:
    number = validate_number(args.number)
    with _open(args) as journal:
        OperatorStore(journal).remove(number, by=_actor())
    print(f"removed operator {number}")
    return 0


def _reset_password(args: argparse.Namespace) -> int:
    number = validate_number(args.number)
    with _open(args) as journal:
        store = OperatorStore(journal)
        role = store.get(number).role
        pin = _read_pin(args, role)
        store.reset_password(number, pin, by=_actor())
    print(f"new PIN set for operator {number}; any lockout is cleared")
    return 0


def _read_pin(args: argparse.Namespace, role: Role) -> str:
    """The PIN from stdin or a silent prompt, checked against the role's rules."""
    if args.password_stdin:
        pin = sys.stdin.readline().rstrip("\r\n")
        return validate_pin(pin, role)
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to prompt for the PIN: pipe it in with --password-stdin")
    pin = validate_pin(getpass.getpass(f"PIN for the {role}: "), role)
    if getpass.getpass("Same PIN again: ") != pin:
        raise ConfigError("the two PINs differ; nothing was changed")
    return pin


def _actor() -> str:
    """Who acted, for the audit trail: the person behind sudo, else the Unix account."""
    # `sudo countertop` switches to the service user; SUDO_USER still names the person.
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user:
        return f"cli:{sudo_user}"
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def _journal_path(args: argparse.Namespace) -> Path:
    if args.db:
        return Path(args.db)
    from appliance.config import load_config

    return load_config(getattr(args, "config", None)).journal_path


@contextmanager
def _open(args: argparse.Namespace) -> Iterator[Journal]:
    """The migrated journal for one command (``--db`` must name an existing file); always closed."""
    path = _journal_path(args)
    if args.db and not path.exists():  # a typo in --db must not create a stray journal
        raise JournalError(f"no journal at {path}: check the path, or omit --db to use the config")
    journal = Journal.open(path)  # WAL + synchronous=FULL, like every journal connection
    try:
        yield journal
    finally:
        journal.close()
