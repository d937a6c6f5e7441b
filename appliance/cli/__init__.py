"""The ``countertop`` command line.

Each ``appliance/cli/*_cmd.py`` module has ``register(subparsers)`` that adds its commands with
``set_defaults(func=handler)``; a handler takes the parsed args and returns an exit code.

Exit codes: 0 success; 1 the operation ran and failed or was declined; 2 bad config or usage;
3 something is still owed to the host (reversals, stored payments) after the command.

Standard output carries only what the command prints for its reader (with ``--json`` exactly one
JSON document); logs go to stderr at WARNING, ``-v`` for INFO and ``-vv`` for DEBUG.
"""

from __future__ import annotations

import os

# pygame prints a banner to stdout when imported; commands that import it (bench ui, demo,
# screenshots) would otherwise print it before their JSON. Set before anything can import it.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from appliance import __version__
from appliance.domain.roles import RoleRefused
from appliance.errors import ConfigError, CountertopError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OWED = 0, 1, 2, 3
# Another process is doing this right now (a settlement): nothing was done; run it again later.
EXIT_BUSY = 4


def command_modules() -> list[str]:
    """Every ``appliance/cli/*_cmd.py`` module, in name order (each registers its commands)."""
    import pkgutil

    return sorted(
        f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.name.endswith("_cmd")
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered command."""
    parser = argparse.ArgumentParser(prog="countertop", description="Countertop payment terminal.")
    parser.add_argument("--version", action="version", version=f"countertop {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output on stderr (-v INFO, -vv DEBUG); anywhere on the line",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="terminal config (default: $COUNTERTOP_CONFIG, else /etc/countertop/terminal.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        importlib.import_module(name).register(sub)
    return parser


#: ``-v`` / ``--verbose`` tokens and how many levels each adds.
VERBOSE_FLAGS = {"-v": 1, "--verbose": 1, "-vv": 2, "-vvv": 3}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is logged (tests swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass  # the stream is always the current sys.stderr


def configure_logging(verbosity: int) -> None:
    """Logs (ours and the libraries', nfcpy's included) to stderr: WARNING, ``-v`` INFO, ``-vv``
    DEBUG. Never stdout: there a script reads the command's output."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(
        logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    )


def _split_config(argv: list[str]) -> tuple[list[str], str | None, int]:
    """Take ``--config PATH`` and ``-v`` from anywhere on the line (before or after the command)."""
    rest, config, verbosity = [], None, 0
    it = iter(argv)
    for arg in it:
        if arg in VERBOSE_FLAGS:
            verbosity += VERBOSE_FLAGS[arg]
        elif arg == "--config":
            config = next(it, None)
            if config is None:
                raise SystemExit("countertop: --config needs a PATH")
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest, config, verbosity


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one clear line on stderr and an exit code.

    A reader that closes stdout early (``countertop acquirer ledger --json | head``) ends the
    command quietly: no traceback, exit code 1 (the recipe of Python's ``signal`` docs).
    """
    try:
        code = _run(argv)
        sys.stdout.flush()  # a pipe closed early shows here, not in the interpreter's shutdown
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the flush at exit must not fail a second time
        return EXIT_FAILED
    return code


def _config_quietly(args: argparse.Namespace) -> object:
    """The config, for the language of an error line (None when it cannot be read: the
    error may be about the config itself)."""
    try:
        from appliance.config import load_config

        return load_config(getattr(args, "config", None))
    except Exception:  # any reason at all: the error line then follows LANG or English
        return None


def _failed(args: argparse.Namespace, exc: Exception, code: int) -> int:
    """Say why on stderr; with ``--json`` also as the one JSON document, if none was printed."""
    from appliance.cli import common

    print(common.error_line(exc, _config_quietly(args)), file=sys.stderr)
    if getattr(args, "json", False) and common.documents_written() == 0:
        common.emit_json({"error": str(exc), "exit_code": code})
    return code


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    rest, config, verbosity = _split_config(list(sys.argv[1:] if argv is None else argv))
    configure_logging(verbosity)
    args = parser.parse_args(rest)
    if config is not None:
        args.config = config
    from appliance.cli import common

    common.reset_documents()
    try:
        return int(args.func(args) or 0)
    except (ConfigError, RoleRefused) as exc:  # a missing approval is bad input too
        return _failed(args, exc, EXIT_USAGE)
    except CountertopError as exc:
        return _failed(args, exc, EXIT_FAILED)
    except KeyboardInterrupt:
        print("countertop: interrupted", file=sys.stderr)
        return 130
