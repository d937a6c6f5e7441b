"""``countertop reprint`` and ``countertop stubs export``: stubs again, from the journal."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from appliance.cli import EXIT_OK
from appliance.cli.common import add_json, emit_json
from appliance.cli.terminal_cmd import terminal_for
from appliance.errors import ConfigError
from appliance.services.reprint import export_stubs, reprint, select


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def cmd_reprint(args: argparse.Namespace) -> int:
    """Reprint the last stub, one trace, or a whole day."""
    if not (args.which == "last" or args.trace is not None or args.date is not None):
        raise ConfigError("say which stub: countertop reprint last | --trace N | --date YYYY-MM-DD")
    with terminal_for(args) as term:
        queue = term.receipts
        txns = select(term.journal, last=args.which == "last", trace=args.trace, on_date=args.date)
        done = reprint(queue, txns, copy=args.copy, operator=args.operator or "-")
        run = queue.print_here()
        if args.json:
            emit_json(
                {
                    "reprinted": [r.as_dict() for r in done],
                    "printed": run.printed,
                    "waiting": run.waiting,
                    "print": run.as_dict(),
                }
            )
        else:
            for r in done:
                print(f"reprint queued: trace {r.trace} ({r.kind}, {r.copy} copy)")
            if run.message():
                print(run.message())
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Every merchant stub of a date range to one PDF (for the accountant)."""
    with terminal_for(args) as term:
        n = export_stubs(
            term.receipts, args.from_, args.to, Path(args.out), operator=args.operator or "-"
        )
    print(f"{n} merchant stubs written to {args.out}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``reprint`` and ``stubs export``."""
    p = sub.add_parser("reprint", help="reprint stubs (存根补打): last | --trace N | --date D")
    p.add_argument("which", nargs="?", choices=["last"], help="the most recent transaction")
    p.add_argument("--trace", type=int, help="trace (voucher) number")
    p.add_argument("--date", type=_date, help="every stub of this local date (YYYY-MM-DD)")
    p.add_argument("--copy", choices=["merchant", "customer"], default="merchant")
    p.add_argument("--operator", default="", help="who asks (audit trail)")
    add_json(p)
    p.set_defaults(func=cmd_reprint)
    s = sub.add_parser("stubs", help="merchant stubs for the accountant")
    ssub = s.add_subparsers(dest="stubs_command", metavar="ACTION", required=True)
    e = ssub.add_parser("export", help="write every merchant stub of a date range to a PDF")
    e.add_argument("--from", dest="from_", type=_date, required=True, metavar="YYYY-MM-DD")
    e.add_argument("--to", type=_date, required=True, metavar="YYYY-MM-DD")
    e.add_argument("--out", required=True, metavar="FILE.pdf")
    e.add_argument("--operator", default="", help="who asks (audit trail)")
    e.set_defaults(func=cmd_export)
