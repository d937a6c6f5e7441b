"""The ``countertop`` command line.

Each ``appliance/cli/*_cmd.py`` module has ``register(subparsers)`` that adds its commands with
``set_defaults(func=handler)``; a handler takes the parsed args and returns an exit code.

Exit codes: 0 success; 1 the operation ran and failed or was declined; 2 bad config or usage;
3 something is still owed to the host (reversals, stored payments) after the command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from appliance import __version__
from appliance.errors import ConfigError, CountertopError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OWED = 0, 1, 2, 3


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
        "--config",
        metavar="PATH",
        help="terminal config (default: $COUNTERTOP_CONFIG, else /etc/countertop/terminal.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules():
        importlib.import_module(name).register(sub)
    return parser


def _split_config(argv: list[str]) -> tuple[list[str], str | None]:
    """Take ``--config PATH`` from anywhere on the line (before or after the command)."""
    rest, config = [], None
    it = iter(argv)
    for arg in it:
        if arg == "--config":
            config = next(it, None)
            if config is None:
                raise SystemExit("countertop: --config needs a PATH")
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest, config


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one clear line on stderr and an exit code."""
    parser = build_parser()
    rest, config = _split_config(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    if config is not None:
        args.config = config
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"countertop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CountertopError as exc:
        print(f"countertop: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("countertop: interrupted", file=sys.stderr)
        return 130
