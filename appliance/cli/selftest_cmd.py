"""``countertop selftest``: every part of the terminal, OK or FAIL with its fix."""

from __future__ import annotations

import argparse

from appliance.cli import EXIT_FAILED, EXIT_OK
from appliance.cli.common import add_json, emit_json
from appliance.selftest import run_selftest


def cmd_selftest(args: argparse.Namespace) -> int:
    """Run the self-test; exit 1 when any part fails."""
    results = run_selftest(getattr(args, "config", None))
    failed = [r for r in results if not r.ok]
    if args.json:
        emit_json({"ok": not failed, "parts": [r.as_dict() for r in results]})
    else:
        for r in results:
            print(f"{'OK  ' if r.ok else 'FAIL'}  {r.part:<11} {r.detail}")
            if r.fix:
                print(f"      {'':<11} fix: {r.fix}")
        print("self-test passed" if not failed else f"self-test: {len(failed)} part(s) failed")
    return EXIT_FAILED if failed else EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``selftest``."""
    p = sub.add_parser("selftest", help="check config, journal, reader, printer, LEDs, host, clock")
    add_json(p)
    p.set_defaults(func=cmd_selftest)
