"""Helpers shared by the command modules: config loading, JSON output, amounts."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from appliance.config import Config, load_config


def config_from(args: argparse.Namespace) -> Config:
    """The config named by ``--config`` (or the environment, or the system default)."""
    return load_config(getattr(args, "config", None))


def add_json(parser: argparse.ArgumentParser) -> None:
    """Add the ``--json`` flag."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


#: JSON documents printed by the running command (main prints an error document only if none).
_documents = 0


def reset_documents() -> None:
    """A new command starts (main may run several in one process, as the tests do)."""
    global _documents
    _documents = 0


def documents_written() -> int:
    """How many documents ``emit_json`` printed for the running command."""
    return _documents


def emit_json(obj: Any) -> None:
    """Print one JSON document (UTF-8, stable key order)."""
    global _documents
    _documents += 1
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def add_supervisor(parser: argparse.ArgumentParser) -> None:
    """``--supervisor NN`` and ``--pin-stdin``: the approval a void, refund or settle needs."""
    parser.add_argument(
        "--supervisor",
        metavar="NN",
        default="",
        help="the approving supervisor's operator number (asked for the PIN)",
    )
    parser.add_argument(
        "--pin-stdin",
        action="store_true",
        help="read the supervisor's PIN from the first line of standard input",
    )


def supervisor_from(args: argparse.Namespace, term: Any) -> Any:
    """The approving operator named by ``--supervisor`` after their PIN (None if not named).

    The service checks the role (``appliance.domain.roles``); this only proves who it is.
    """
    import getpass

    from appliance.errors import ConfigError
    from appliance.operators import OperatorStore

    number = str(getattr(args, "supervisor", "") or "")
    if not number:
        return None
    if getattr(args, "pin_stdin", False):
        pin = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        pin = getpass.getpass(f"PIN of supervisor {number}: ")
    else:
        raise ConfigError("no terminal to prompt for the supervisor's PIN: use --pin-stdin")
    return OperatorStore(term.journal).authenticate(number, pin)


def error_line(exc: BaseException, config: Any = None) -> str:
    """The one stderr line for ``exc`` in the CLI's language (``LANG``, else the config's):
    in English the detailed reason, in Chinese the translated message of its code."""
    from appliance.messages import cli_language, error_text, is_generic

    language = getattr(getattr(config, "locale", None), "language", None)
    lang = cli_language(language)
    if lang == "en" and str(exc):
        return f"countertop: {exc}"
    text = error_text(exc, lang)
    if is_generic(exc) and str(exc):
        # No message of its own: the translated kind of error, and the detail for the
        # technician (a path, a key name) as the error gave it.
        text = f"{text}（{exc}）"
    return f"countertop: {text}"
