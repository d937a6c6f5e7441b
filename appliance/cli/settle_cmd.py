"""Settlement on the command line: settle, X/Z reports, reconciliation.

    countertop settle [--json] [--if-due] [--supervisor NN [--pin-stdin]]   progress on stderr
    countertop settle --bench N [--latency-ms MS] [--window W] [--json]
    countertop report x [--json] [--print]
    countertop report z --batch N [--json] [--print]
    countertop reconcile STATEMENT.csv [--date YYYY-MM-DD ...] [--json] [--print]

``settle`` exit codes: 0 settled (balanced, or closed out of balance after upload — the slip
says which; see docs/settlement.md), 1 failed (host unreachable: run again to resume),
3 refused because something is still owed to the host, 4 refused because another process is
settling right now ("settlement in progress": nothing was done; it never resumes the other's
run). ``--if-due`` exits 0 quietly when no settlement is due. A settlement needs a supervisor
(``--supervisor``, PIN asked or read with ``--pin-stdin``); the timer's ``--if-due`` run
settles as the schedule.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from appliance.cli import EXIT_BUSY, EXIT_FAILED, EXIT_OK, EXIT_OWED, EXIT_USAGE
from appliance.cli.common import add_json, add_supervisor, emit_json, error_line, supervisor_from
from appliance.domain.money import format_amount
from appliance.domain.roles import SCHEDULE, RoleRefused
from appliance.errors import ConfigError, HostError, Refused, ReversalOwed, SettlementInProgress


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``settle``, ``report`` and ``reconcile``."""
    p = sub.add_parser(
        "settle",
        help="settlement (结算): close the batch with the host, batch upload if needed",
        description="Settle the open batch (or resume an interrupted settlement).",
    )
    add_json(p)
    p.add_argument(
        "--if-due",
        action="store_true",
        help="only if the daily settlement time has passed and the batch is not settled "
        "(for the systemd timer)",
    )
    add_supervisor(p)
    p.add_argument(
        "--bench",
        type=int,
        metavar="N",
        help="benchmark: settle N sales unknown to a throw-away acquirer (full batch upload)",
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="with --bench: host latency")
    p.add_argument("--window", type=int, default=256, help="with --bench: uploads in flight")
    p.add_argument(
        "--same-process",
        action="store_true",
        help="with --bench: run the acquirer in this process (default: its own process)",
    )
    p.set_defaults(func=cmd_settle)

    r = sub.add_parser("report", help="X report (open batch) or Z report (a past settlement)")
    rsub = r.add_subparsers(dest="report_command", metavar="KIND", required=True)
    x = rsub.add_parser("x", help="running totals of the open batch per scheme and operator")
    add_json(x)
    x.add_argument("--print", action="store_true", help="queue the X slip to the printer")
    x.set_defaults(func=cmd_report_x)
    z = rsub.add_parser("z", help="the settlement slip of a batch (reprint)")
    add_json(z)
    z.add_argument("--batch", type=int, help="batch number (default: the last settled)")
    z.add_argument("--print", action="store_true", help="queue a reprint of the slip")
    z.set_defaults(func=cmd_report_z)

    c = sub.add_parser("reconcile", help="reconcile (对账) an acquirer statement CSV")
    c.add_argument("statement", type=Path, help="statement CSV (columns: docs/settlement.md)")
    c.add_argument(
        "--date",
        action="append",
        default=[],
        metavar="YYYY-MM-DD",
        help="a business day the statement covers (repeatable; default: its lines' days)",
    )
    add_json(c)
    c.add_argument(
        "--print",
        action="store_true",
        help="queue the reconciliation slip and a merchant stub reprint per discrepancy",
    )
    c.set_defaults(func=cmd_reconcile)


def _terminal(args: argparse.Namespace) -> Any:
    from appliance.cli.terminal_cmd import terminal_for

    return terminal_for(args)


def _progress(phase: str, done: int, total: int) -> None:
    if phase == "upload":
        print(f"\rbatch upload {done}/{total}", end="", file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)
    elif phase == "waiting_for_payment":
        print("closing the batch (waits for a payment in progress)…", file=sys.stderr)
    elif phase == "forwarding" and total:
        print(f"forwarding owed messages {done}/{total}", file=sys.stderr)
    elif phase == "resume":
        print("resuming the interrupted settlement", file=sys.stderr)
    elif phase in ("totals", "final"):
        print(
            "sending batch totals" if phase == "totals" else "sending final totals",
            file=sys.stderr,
        )


def cmd_settle(args: argparse.Namespace) -> int:
    """Settle (or resume), print the result."""
    if args.bench:
        from appliance.bench.settlement import bench_settle

        res = bench_settle(
            args.bench, args.latency_ms, window=args.window, separate=not args.same_process
        )
        if args.json:
            emit_json(res)
        else:
            print(
                f"settled {res['n']} uploads in {res['settle_s']:.2f} s "
                f"({res['uploads_per_s']}/s, latency {res['latency_ms']} ms, window "
                f"{res['window']}, acquirer in a {res['acquirer']}, terminal CPU "
                f"{res['terminal_cpu_ms_per_upload']} ms/upload): {res['result']}; "
                f"target ≤ {res['target_s']} s "
                f"{'met' if res['within_target'] else 'NOT met'}"
            )
        return EXIT_OK
    from appliance.services.settlement import Settlement

    with _terminal(args) as term:
        st = Settlement(term)
        if args.if_due and not st.due():
            if args.json:
                emit_json({"due": False, "batch": term.journal.batch})
            else:
                print(f"settlement not due (batch {term.journal.batch:06d})")
            return EXIT_OK
        try:
            # The timer's run (--if-due) is the schedule's; a person's needs a supervisor.
            approver = supervisor_from(args, term) or (SCHEDULE if args.if_due else None)
            out = st.settle(approver=approver, on_progress=_progress)
        except SettlementInProgress as exc:
            print(error_line(exc, term.config), file=sys.stderr)
            return EXIT_BUSY
        except ReversalOwed as exc:
            print(error_line(exc, term.config), file=sys.stderr)
            return EXIT_OWED
        except RoleRefused as exc:
            print(error_line(exc, term.config), file=sys.stderr)
            return EXIT_USAGE
        except Refused as exc:
            print(error_line(exc, term.config), file=sys.stderr)
            return EXIT_OWED if exc.code in ("settle.owed", "settle.became_owed") else EXIT_FAILED
        except HostError as exc:
            print(error_line(exc, term.config), file=sys.stderr)
            return EXIT_FAILED
        rec = out.record
        if args.json:
            emit_json(out.as_dict())
            return EXIT_OK
        cur = term.cur
        t = rec.totals
        verdict = {
            "balanced": "balanced (对账平)",
            "balanced_after_upload": "balanced after batch upload (批上送后对账平)",
            "out_of_balance": "OUT OF BALANCE after batch upload (对账不平): see the slip",
        }[rec.result.value if rec.result else "out_of_balance"]
        print(f"batch {rec.batch:06d} settled: {verdict}")
        tt = t.totals
        print(
            f"  sales {tt.sale_count} {format_amount(tt.sale_amount, cur)}  refunds "
            f"{tt.refund_count} {format_amount(tt.refund_amount, cur)}  gross "
            f"{format_amount(t.gross, cur)}  est. fees {format_amount(t.fees, cur)}  "
            f"expected deposit {format_amount(t.net, cur)} {cur.alpha}"
        )
        if rec.host_totals and not rec.balanced:
            h = rec.host_totals
            print(
                f"  host: sales {h.sale_count} {format_amount(h.sale_amount, cur)}  refunds "
                f"{h.refund_count} {format_amount(h.refund_amount, cur)}"
            )
        if rec.upload_total:
            print(f"  uploaded {rec.uploaded} transaction(s)")
        for note in out.notes:
            print(f"  {note}")
        print(f"  next batch {term.journal.batch:06d}; settlement slip queued")
    return EXIT_OK


def cmd_report_x(args: argparse.Namespace) -> int:
    """X report of the open batch."""
    from appliance.services.settlement import Settlement

    with _terminal(args) as term:
        st = Settlement(term)
        summary = st.open_summary()
        job = st.print_x() if args.print else None
        if args.json:
            emit_json({**summary, "print_job": job})
            return EXIT_OK
        cur = term.cur
        print(f"X report, batch {summary['batch']:06d} (open, not settled)")
        for s in summary["schemes"]:
            print(
                f"  {s['scheme']:<12} sales {s['sale_count']:>4} "
                f"{format_amount(s['sale_amount'], cur):>12}  refunds {s['refund_count']:>3} "
                f"{format_amount(s['refund_amount'], cur):>10}  est. fee "
                f"{format_amount(s['fee'], cur)}"
            )
        for o in summary["operators"]:
            print(
                f"  operator {o['operator']:<6} sales {o['sale_count']:>4} "
                f"{format_amount(o['sale_amount'], cur):>12}  refunds {o['refund_count']:>3} "
                f"{format_amount(o['refund_amount'], cur):>10}"
            )
        print(
            f"  gross {format_amount(summary['gross'], cur)}  est. fees "
            f"{format_amount(summary['fees'], cur)}  expected deposit "
            f"{format_amount(summary['net'], cur)} {cur.alpha}"
        )
        if summary["stored_count"]:
            print(
                f"  not yet in totals: {summary['stored_count']} stored offline "
                f"({format_amount(summary['stored_amount'], cur)}) awaiting forwarding"
            )
        if job:
            print("  X slip queued")
    return EXIT_OK


def cmd_report_z(args: argparse.Namespace) -> int:
    """Show (and optionally reprint) a settlement slip."""
    from appliance.domain.receipts import document_to_text
    from appliance.errors import NotFound
    from appliance.services.settlement import Settlement

    with _terminal(args) as term:
        st = Settlement(term)
        batch = args.batch
        if batch is None:
            hist = [r for r in st.history() if r.state.value == "closed"]
            if not hist:
                raise NotFound("no batch has been settled yet")
            batch = hist[0].batch
        rec = st.get(batch)
        job = st.print_z(batch) if args.print else None
        if args.json:
            emit_json({**rec.as_dict(), "print_job": job})
            return EXIT_OK
        cols = 48 if term.config.printer.width_mm == 80 else 32
        print(document_to_text(st.z_document(batch, reprint=bool(args.print)), cols))
        if job:
            print("reprint queued", file=sys.stderr)
    return EXIT_OK


# How each discrepancy kind is headed in the plain-text output.
_KIND_LABEL = {"terminal_only": "NOT AT HOST", "acquirer_only": "NOT AT TERMINAL"}


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Reconcile a statement file against the journal."""
    from appliance.services.reconcile import Reconciler

    with _terminal(args) as term:
        rc = Reconciler(term)
        for d in args.date:
            try:
                date.fromisoformat(d)
            except ValueError:
                raise ConfigError(f"--date {d!r} is not YYYY-MM-DD") from None
        result = rc.reconcile_file(args.statement, args.date)
        jobs = rc.print(result) if args.print else []
        if args.json:
            emit_json({**result.as_dict(), "print_jobs": jobs})
            return EXIT_OK if result.clean else EXIT_FAILED
        cur = term.cur
        d = result.as_dict()
        print(
            f"statement {result.statement} ({', '.join(result.dates) or 'no dates'}): "
            f"{result.line_count} line(s), {result.matched_count} matched "
            f"({format_amount(result.matched_amount, cur)} {cur.alpha})"
        )
        print(
            f"  expected deposit {format_amount(result.expected_net, cur)}, stated "
            f"{format_amount(result.stated_net, cur)} (difference "
            f"{format_amount(d['net_difference'], cur)}); fees expected "
            f"{format_amount(result.expected_fees, cur)}, stated "
            f"{format_amount(result.stated_fees, cur)}"
        )
        for disc in result.discrepancies:
            where = f"line {disc.line_no}" if disc.line_no else "journal"
            extra = ""
            if disc.kind == "amount_mismatch":
                extra = f" stated {format_amount(disc.stated_amount or 0, cur)}"
            elif disc.kind == "fee_mismatch":
                extra = (
                    f" fee stated {format_amount(disc.stated_fee or 0, cur)}, expected "
                    f"{format_amount(disc.expected_fee or 0, cur)}"
                )
            when = disc.when.isoformat() if disc.when else "-"
            label = _KIND_LABEL.get(disc.kind, disc.kind.upper())
            print(
                f"  {label} ({where}): {disc.type} trace {disc.trace} RRN "
                f"{disc.rrn or '-'} auth {disc.auth_code or '-'} {when} card "
                f"{disc.masked_pan or '-'} amount {format_amount(disc.amount, cur)}{extra}"
            )
            print(
                f"    → {disc.advice[0] if term.config.locale.language == 'en' else disc.advice[1]}"
            )
        for bad in result.bad_lines:
            print(f"  UNREADABLE line {bad.line_no}: {bad.reason}")
        if result.clean:
            print("  all lines match (对账平)")
        if jobs:
            print(f"  {len(jobs)} slip(s) queued (reconciliation + stub reprints)")
    return EXIT_OK if result.clean else EXIT_FAILED
