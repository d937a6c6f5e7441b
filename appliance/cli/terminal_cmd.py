"""Terminal use cases on the command line: sign-on, sale, void, refund, forward, status, journal."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from appliance.bootstrap import build_terminal
from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_OWED
from appliance.cli.common import add_json, add_supervisor, config_from, emit_json, supervisor_from
from appliance.config import Config
from appliance.domain.money import format_amount, parse_amount
from appliance.domain.transactions import Transaction
from appliance.errors import ConfigError, JournalError
from appliance.messages import cli_language, translate
from appliance.services.terminal import Outcome, Terminal


@contextmanager
def terminal_for(args: argparse.Namespace, cfg: Config | None = None) -> Iterator[Terminal]:
    """Build the terminal from config (``--card`` presents a mock card), and close it after."""
    cfg = cfg or config_from(args)
    overrides: dict[str, Any] = {}
    card = getattr(args, "card", None)
    if card:
        if cfg.reader.backend != "mock":
            raise ConfigError(
                f"--card {card} only works with the mock reader (reader.backend is "
                f'"{cfg.reader.backend}"): tap a real card instead'
            )
        from drivers.reader import make_reader

        overrides["reader"] = make_reader("mock", mock_card=card)
    term = build_terminal(cfg, **overrides)
    try:
        yield term
    finally:
        try:
            print_queued(term)
        finally:
            term.close()


def print_queued(term: Terminal) -> None:
    """Print the jobs this command queued before it exits, when no kiosk prints for the
    printer (bounded by ``printer.cli_wait``); say on stderr what happened to them."""
    queue = term.receipts
    if queue is None or not getattr(queue, "queued_here", None):
        return
    try:
        run = queue.print_here()
    except Exception as exc:  # the command's own result stands; the jobs stay journaled
        print(f"countertop: printing failed: {exc}; the job(s) stay queued", file=sys.stderr)
        return
    message = run.message()
    if message:
        print(f"countertop: {message}", file=sys.stderr)


def _print_outcome(out: Outcome, args: argparse.Namespace, term: Terminal) -> int:
    if args.json:
        emit_json(out.as_dict())
    else:
        t = out.txn
        lang = cli_language(term.config.locale.language)
        print(translate(out.code, out.params, lang) if out.code else out.message(lang))
        if t:
            print(
                f"  {t.type.value} {format_amount(t.amount, term.cur)} {t.currency}  "
                f"trace {t.trace}  batch {t.batch:06d}  card {t.masked_pan or '-'}  "
                f"RRN {t.rrn or '-'}  auth {t.auth_code or '-'}  state {t.state.value}"
            )
    return EXIT_OK if out.result in ("approved", "stored") else EXIT_FAILED


def cmd_sign_on(args: argparse.Namespace) -> int:
    """Host sign-on."""
    with terminal_for(args) as term:
        resp = term.sign_on(args.operator)
        result = {
            "response_code": resp.response_code,
            "batch": term.journal.batch,
            "signed_on": term.signed_on,
        }
        if args.json:
            emit_json(result)
        else:
            print(f"signed on: working keys loaded, batch {term.journal.batch:06d}")
    return EXIT_OK


def cmd_echo(args: argparse.Namespace) -> int:
    """Echo test."""
    with terminal_for(args) as term:
        start = time.perf_counter()
        resp = term.echo()
        ms = (time.perf_counter() - start) * 1000
        if args.json:
            emit_json({"response_code": resp.response_code, "ms": round(ms, 1)})
        else:
            print(f"host answered {resp.response_code} in {ms:.1f} ms")
    return EXIT_OK if resp.approved else EXIT_FAILED


def cmd_sale(args: argparse.Namespace) -> int:
    """One sale."""
    cfg = config_from(args)
    amount = parse_amount(args.amount, cfg.currency)
    with terminal_for(args, cfg) as term:
        return _print_outcome(term.sale(amount, operator=args.operator), args, term)


def cmd_void(args: argparse.Namespace) -> int:
    """Void a sale of the open batch."""
    with terminal_for(args) as term:
        out = term.void(args.trace, approver=supervisor_from(args, term))
        return _print_outcome(out, args, term)


def cmd_refund(args: argparse.Namespace) -> int:
    """Refund (part of) an earlier sale."""
    cfg = config_from(args)
    amount = parse_amount(args.amount, cfg.currency)
    with terminal_for(args, cfg) as term:
        out = term.refund(
            amount, trace=args.trace, rrn=args.rrn, approver=supervisor_from(args, term)
        )
        return _print_outcome(out, args, term)


def cmd_status(args: argparse.Namespace) -> int:
    """Link, owed messages, stored payments, devices."""
    from appliance.services.link_monitor import check_link

    cfg = config_from(args)
    try:
        with terminal_for(args, cfg) as term:
            check_link(term)  # a fresh process has seen no exchange yet: one echo tells the state
            return _status(args, term)
    except JournalError as exc:
        # The journal cannot even be opened or read (a full disk): say why, and the space.
        return _status_without_journal(args, cfg, exc)


def _status(args: argparse.Namespace, term: Terminal) -> int:
    """The status report of an open terminal."""
    st = term.status()
    if args.json:
        emit_json(st.as_dict())
        return EXIT_OK
    cur = term.cur
    print(f"link               {st.link}{'  (' + st.link_error + ')' if st.link_error else ''}")
    print(f"signed on          {'yes' if st.signed_on else 'no'}")
    if st.keys != "ok":
        print(f"keys               out of step{': ' + st.keys_error if st.keys_error else ''}")
    if st.settlement == "due_waiting_for_link":
        print("settlement         due, waiting for the link (runs when the host answers)")
    storage = st.storage
    if storage:
        note = {
            "reserve": f"  BELOW THE RESERVE of {storage['reserve_kib']} KiB: new payments are "
            "refused until space is freed (docs/storage.md)",
            "low": f"  low: payments stop below {storage['reserve_kib']} KiB, free space soon",
        }.get(storage["level"], "")
        free = "?" if storage["free_kib"] is None else storage["free_kib"]
        print(f"storage            {free} KiB free in {storage['directory']}{note}")
    if st.in_doubt:
        print(
            f"in doubt           {st.in_doubt} payment(s) without a recorded answer: "
            f"reversed before the next payment"
        )
    print(f"batch              {st.batch:06d}")
    print(f"pending reversals  {st.pending_reversals}")
    oldest = f", oldest {st.stored_oldest:%Y-%m-%d %H:%M} UTC" if st.stored_oldest else ""
    print(
        f"stored payments    {st.stored_count} ({format_amount(st.stored_amount, cur)} "
        f"{cur.alpha}{oldest})"
    )
    if st.forward_declined:
        print(
            f"declined after forwarding: {st.forward_declined} — collect payment from "
            f"the customer (countertop journal export)"
        )
    if st.next_retry:
        print(f"next retry         {st.next_retry:%H:%M:%S} UTC")
    if st.qr_cancels_owed or st.qr_refunds_owed:
        print(
            f"QR owed            {st.qr_cancels_owed} cancel(s), {st.qr_refunds_owed} "
            f"refund(s) (countertop qr forward)"
        )
    print(f"reader             {st.reader}")
    owner = f", printed by the {st.print_owner}" if st.print_owner else ""
    print(f"printer            {st.printer} ({st.print_jobs_waiting} job(s) waiting{owner})")
    for job in st.print_jobs:
        if job["state"] == "done":
            continue
        err = f": {job['last_error']}" if job["last_error"] else ""
        print(f"  {job['state']:<15} {job['what']} ({job['attempts']} attempt(s)){err}")
    if st.print_jobs_attention:
        print(
            f"  {st.print_jobs_attention} job(s) need attention: check the paper, then "
            f"`countertop printer retry` prints them again, marked DUPLICATE"
        )
    return EXIT_OK


def _status_without_journal(args: argparse.Namespace, cfg: Config, exc: JournalError) -> int:
    """``status`` when the journal cannot even be opened (a full disk): say why, and the space."""
    from appliance.services.storage import storage_status

    storage = storage_status(cfg).as_dict()
    if args.json:
        emit_json({"error": str(exc), "exit_code": EXIT_FAILED, "storage": storage})
    else:
        free = "?" if storage["free_kib"] is None else storage["free_kib"]
        print(f"journal            cannot be opened: {exc}")
        print(f"storage            {free} KiB free in {storage['directory']}")
    print(f"countertop: {exc}", file=sys.stderr)
    return EXIT_FAILED


def cmd_forward(args: argparse.Namespace) -> int:
    """Send everything owed now, with progress; exit 3 if anything is still owed."""
    with terminal_for(args) as term:
        start = time.perf_counter()

        def progress(done: int, total: int, acked: int) -> None:
            if args.json or not total:
                return
            rate = done / max(time.perf_counter() - start, 1e-6)
            width = 30
            filled = int(width * done / total)
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                f"acknowledged {acked}  {rate:.1f}/s"
            )
            sys.stderr.flush()

        before = term.journal.count_amount(_stored())
        report = term.send_owed(on_progress=progress)
        if not args.json:
            sys.stderr.write("\n")
        after = term.journal.count_amount(_stored())
        result = {
            "sent": report.sent,
            "acknowledged": report.acknowledged,
            "forwarded_amount": before[1] - after[1],
            "declined": [t.trace for t in report.declined],
            "still_owed": report.still_owed,
            "errors": report.errors[-5:],
        }
        if args.json:
            emit_json(result)
        else:
            print(
                f"sent {report.sent}, acknowledged {report.acknowledged}, "
                f"forwarded {format_amount(before[1] - after[1], term.cur)} {term.cur.alpha}, "
                f"still owed {report.still_owed}"
            )
            for t in report.declined:
                print(
                    f"  DECLINED after forwarding: trace {t.trace} "
                    f"{format_amount(t.amount, term.cur)} card {t.masked_pan} — collect "
                    f"payment from the customer"
                )
            for e in report.errors[-5:]:
                print(f"  {e}", file=sys.stderr)
    return EXIT_OWED if report.still_owed else EXIT_OK


def _stored() -> tuple[Any, ...]:
    from appliance.domain.transactions import TxnState

    return (TxnState.STORED,)


EXPORT_FIELDS = [
    "uuid",
    "type",
    "state",
    "amount",
    "currency",
    "stan",
    "batch",
    "invoice",
    "masked_pan",
    "scheme",
    "entry_mode",
    "aid",
    "label",
    "rrn",
    "auth_code",
    "response_code",
    "original_uuid",
    "original_stan",
    "operator",
    "offline",
    "note",
    "transmitted_at",
    "created_at",
    "updated_at",
]


def txn_record(t: Transaction) -> dict[str, Any]:
    """A transaction as a flat dict of exportable fields (masked PAN only)."""
    d = dataclasses.asdict(t)
    out = {k: d[k] for k in EXPORT_FIELDS}
    for k in ("type", "state"):
        out[k] = out[k].value
    for k in ("transmitted_at", "created_at", "updated_at"):
        out[k] = out[k].isoformat()
    return out


def _write_rows(rows: list[dict[str, Any]], fmt: str, out: Any) -> None:
    if fmt == "json":
        import json

        json.dump(rows, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        w = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
        w.writeheader()
        w.writerows(rows)


def cmd_journal_export(args: argparse.Namespace) -> int:
    """Export the journal (masked PAN only) as JSON or CSV."""
    with terminal_for(args) as term:
        rows = [txn_record(t) for t in term.journal.transactions(batch=args.batch)]
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            _write_rows(rows, args.format, f)
    else:
        _write_rows(rows, args.format, sys.stdout)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the terminal use-case commands."""

    def op(p: argparse.ArgumentParser) -> None:
        p.add_argument("--operator", default="", help="operator number (audit trail)")
        add_json(p)

    p = sub.add_parser("sign-on", help="host sign-on (签到): load working keys")
    op(p)
    p.set_defaults(func=cmd_sign_on)
    p = sub.add_parser("echo", help="echo test to the host (0800)")
    add_json(p)
    p.set_defaults(func=cmd_echo)
    p = sub.add_parser("sale", help="sale (消费) of AMOUNT, e.g. 12.50")
    p.add_argument("amount", metavar="AMOUNT")
    p.add_argument("--card", metavar="NAME", help="mock reader: present this test card")
    op(p)
    p.set_defaults(func=cmd_sale)
    p = sub.add_parser("void", help="void (撤销) a sale of the open batch by trace number")
    p.add_argument("trace", type=int, metavar="TRACE")
    add_supervisor(p)
    add_json(p)
    p.set_defaults(func=cmd_void)
    p = sub.add_parser("refund", help="refund (退货) AMOUNT of an earlier sale")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--trace", type=int, help="trace number of the sale")
    g.add_argument("--rrn", help="RRN of the sale")
    p.add_argument("amount", metavar="AMOUNT")
    p.add_argument("--card", metavar="NAME", help="mock reader: present this test card")
    add_supervisor(p)
    add_json(p)
    p.set_defaults(func=cmd_refund)
    p = sub.add_parser("status", help="link, owed messages, stored payments, devices")
    add_json(p)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("forward", help="send owed reversals and stored payments now")
    add_json(p)
    p.set_defaults(func=cmd_forward)
    p = sub.add_parser("journal", help="journal tools")
    jsub = p.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    e = jsub.add_parser("export", help="export transactions (masked PAN only)")
    e.add_argument("--format", choices=("json", "csv"), default="json")
    e.add_argument("--batch", type=int, help="only this batch")
    e.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    e.set_defaults(func=cmd_journal_export)
    from appliance.cli.backup_cmd import add_verify

    add_verify(jsub)
