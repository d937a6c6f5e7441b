"""The ``countertop`` command line.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)`` that adds its commands with
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

COMMAND_MODULES: list[str] = [
    "appliance.cli.config_cmd",
    "appliance.cli.terminal_cmd",
    "appliance.cli.operators_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="countertop", description="Countertop payment terminal."
    )
    parser.add_argument("--version", action="version", version=f"countertop {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="terminal config (default: $COUNTERTOP_CONFIG, else /etc/countertop/terminal.toml)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one clear line on stderr and an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
