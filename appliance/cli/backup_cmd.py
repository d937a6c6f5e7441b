"""``countertop backup``, ``restore`` and ``journal verify`` (registered by terminal_cmd)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.cli import EXIT_FAILED, EXIT_OK
from appliance.cli.common import add_json, config_from, emit_json
from appliance.journal.backup import backup, journal_in_use, restore, verify


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the journal consistently while the terminal may be running."""
    cfg = config_from(args)
    info = backup(cfg.journal_path, Path(args.out))
    if args.json:
        emit_json(
            {
                "path": str(info.path),
                "schema_version": info.schema_version,
                "transactions": info.transactions,
                "owed": info.owed,
                "bytes": info.size,
            }
        )
    else:
        print(
            f"backup written to {info.path}: {info.transactions} transaction(s), "
            f"{info.owed} owed message(s), schema {info.schema_version}, {info.size} bytes "
            f"(integrity checked)"
        )
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the journal with a checked backup (the terminal must be stopped)."""
    cfg = config_from(args)
    report = restore(Path(args.file), cfg.journal_path, force=args.force)
    for item in report.lost:
        print(f"given up (--force): {item}", file=sys.stderr)
    if report.replaced_by:
        print(f"previous journal kept as {report.replaced_by}")
    r = report.restored
    print(
        f"journal restored from {args.file}: {r.transactions} transaction(s), {r.owed} owed "
        f"message(s); sign on again before payments (countertop sign-on)"
    )
    return EXIT_OK


def cmd_journal_verify(args: argparse.Namespace) -> int:
    """Integrity, foreign keys and the terminal's own rules; each problem on its own line."""
    cfg = config_from(args)
    running = bool(journal_in_use(cfg.journal_path)) if cfg.journal_path.exists() else False
    problems = verify(
        cfg.journal_path, response_timeout=cfg.host.response_timeout, terminal_running=running
    )
    if args.json:
        emit_json({"ok": not problems, "problems": problems, "terminal_running": running})
    elif problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{cfg.journal_path}: {len(problems)} problem(s)", file=sys.stderr)
    else:
        print(f"{cfg.journal_path}: OK")
    return EXIT_FAILED if problems else EXIT_OK


def add_verify(journal_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``journal verify`` under the existing ``journal`` command."""
    v = journal_sub.add_parser("verify", help="check the journal's integrity and rules")
    add_json(v)
    v.set_defaults(func=cmd_journal_verify)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``backup`` and ``restore``."""
    p = sub.add_parser("backup", help="copy the journal consistently (terminal may run)")
    p.add_argument("--out", required=True, metavar="FILE", help="the backup file to write")
    add_json(p)
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="replace the journal with a backup (terminal stopped)")
    p.add_argument("file", metavar="FILE", help="a backup made by countertop backup")
    p.add_argument(
        "--force",
        action="store_true",
        help="restore even if stored payments or owed messages would be lost",
    )
    p.set_defaults(func=cmd_restore)
