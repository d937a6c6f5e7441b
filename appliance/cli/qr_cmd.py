"""QR payments on the command line: ``countertop qr pay|show|query|refund|forward``.

Every command has ``--json`` (one document: ``result`` approved / declined / cancelled / failed /
refused, ``order``, ``trade_no``, ``state``, …). The countdown of the query loop goes to stderr.
``refund`` needs a supervisor's approval (``--supervisor NN``, the PIN prompted or read with
``--pin-stdin``), as the card ``refund`` does. Exit codes: 0 approved (or, for ``query``, the
order was found), 1 declined / cancelled / failed / refused, 2 a refund without a supervisor's
approval (nothing is journaled or sent), 3 a cancel or refund is still owed to the gateway.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_OWED
from appliance.cli.common import (
    add_json,
    add_supervisor,
    config_from,
    emit_json,
    supervisor_from,
)
from appliance.domain.money import format_amount, parse_amount
from appliance.domain.qr import QrState, wallet_label
from appliance.errors import ConfigError


def _qr(term: Any) -> Any:
    if term.qr is None or not term.qr.enabled:
        raise ConfigError(
            f"{term.config.path}: qr.gateway is empty: QR payments are off on this terminal "
            f"(set the QR gateway URL in [qr])"
        )
    return term.qr


def _exit(out: Any) -> int:
    if out.order is not None and out.order.state in (QrState.CANCEL_OWED, QrState.REFUND_OWED):
        return EXIT_OWED
    return EXIT_OK if out.result == "approved" else EXIT_FAILED


def _print(
    out: Any, args: argparse.Namespace, term: Any, extra: dict[str, Any] | None = None
) -> None:
    if args.json:
        emit_json({**out.as_dict(), **(extra or {})})
        return
    lang = term.config.locale.language
    print(out.message(lang))
    o = out.order
    if o is not None:
        wallet = wallet_label(o.wallet, lang) if o.wallet else "-"
        print(
            f"  {o.kind.value} {format_amount(o.amount, term.cur)} {o.currency}  order {o.order}  "
            f"wallet {wallet}  trade {o.trade_no or '-'}  payer {o.payer or '-'}  "
            f"state {o.state.value}"
        )
    if out.gateway_state:
        print(f"  gateway: {out.gateway_state}")


def _countdown(args: argparse.Namespace) -> Any:
    def show(seconds: float, order: Any) -> None:
        sys.stderr.write(f"\rwaiting for the customer to confirm: {seconds:4.0f} s  ")
        sys.stderr.flush()

    return show


def _read_code(args: argparse.Namespace) -> str:
    code = args.code
    if code == "-":  # from stdin: the code then never appears in the process list
        code = sys.stdin.readline()
    return str(code).strip()


def cmd_qr_pay(args: argparse.Namespace) -> int:
    """Customer-presented code (付款码)."""
    from appliance.cli.terminal_cmd import terminal_for

    cfg = config_from(args)
    amount = parse_amount(args.amount, cfg.currency)
    code = _read_code(args)
    with terminal_for(args, cfg) as term:
        counted: list[float] = []

        def countdown(seconds: float, order: Any) -> None:
            counted.append(seconds)
            _countdown(args)(seconds, order)

        out = _qr(term).pay(amount, code, operator=args.operator, on_countdown=countdown)
        del code
        if counted:
            sys.stderr.write("\n")
        _print(out, args, term)
        return _exit(out)


def cmd_qr_show(args: argparse.Namespace) -> int:
    """Merchant-presented dynamic code: print its content and wait for the payment."""
    from appliance.cli.terminal_cmd import terminal_for

    cfg = config_from(args)
    amount = parse_amount(args.amount, cfg.currency)
    shown: dict[str, Any] = {}

    def on_code(url: str, order: Any) -> None:
        shown["code_url"] = url
        if args.json:
            print(f"code: {url}", file=sys.stderr)
        else:
            print(url, flush=True)
        if args.ascii:
            import qrcode

            q = qrcode.QRCode(border=1)
            q.add_data(url)
            q.print_ascii(out=sys.stderr, invert=True)
        sys.stderr.write(f"order {order.order}: ask the customer to scan the code\n")
        sys.stderr.flush()

    with terminal_for(args, cfg) as term:
        out = _qr(term).show(
            amount, operator=args.operator, on_code=on_code, on_countdown=_countdown(args)
        )
        sys.stderr.write("\n")
        _print(out, args, term, {"code_url": shown.get("code_url")})
        return _exit(out)


def cmd_qr_query(args: argparse.Namespace) -> int:
    """What the journal and the gateway say about an order."""
    from appliance.cli.terminal_cmd import terminal_for

    with terminal_for(args) as term:
        out = _qr(term).query(args.order)
        _print(out, args, term)
        if out.order is None:
            return EXIT_FAILED
        return EXIT_OWED if out.order.owed else EXIT_OK


def cmd_qr_refund(args: argparse.Namespace) -> int:
    """Refund (part of) a paid order."""
    from appliance.cli.terminal_cmd import terminal_for

    cfg = config_from(args)
    amount = parse_amount(args.amount, cfg.currency)
    with terminal_for(args, cfg) as term:
        out = _qr(term).refund(args.order, amount, approver=supervisor_from(args, term))
        _print(out, args, term)
        return _exit(out)


def cmd_qr_forward(args: argparse.Namespace) -> int:
    """Send owed cancels and refunds now."""
    from appliance.cli.terminal_cmd import terminal_for

    with terminal_for(args) as term:
        report = _qr(term).send_owed()
        result = {
            "sent": report.sent,
            "acknowledged": report.acknowledged,
            "still_owed": report.still_owed,
            "errors": report.errors[-5:],
        }
        if args.json:
            emit_json(result)
        else:
            print(
                f"sent {report.sent}, acknowledged {report.acknowledged}, "
                f"still owed {report.still_owed}"
            )
            for e in report.errors[-5:]:
                print(f"  {e}", file=sys.stderr)
    return EXIT_OWED if report.still_owed else EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``qr`` and its subcommands."""
    qr = sub.add_parser("qr", help="QR payments 扫码支付 (WeChat Pay, Alipay, UnionPay QR)")
    qsub = qr.add_subparsers(dest="qr_command", metavar="ACTION", required=True)

    def op(p: argparse.ArgumentParser) -> None:
        p.add_argument("--operator", default="", help="operator number")
        add_json(p)

    p = qsub.add_parser("pay", help="take AMOUNT by the customer's payment code (付款码)")
    p.add_argument("amount", metavar="AMOUNT")
    p.add_argument(
        "--code",
        required=True,
        metavar="CODE",
        help="the scanned payment code, or - to read it from stdin (kept out of the process list)",
    )
    op(p)
    p.set_defaults(func=cmd_qr_pay)
    p = qsub.add_parser("show", help="show a dynamic code for AMOUNT (主扫) and wait")
    p.add_argument("amount", metavar="AMOUNT")
    p.add_argument("--ascii", action="store_true", help="also draw the code on stderr")
    op(p)
    p.set_defaults(func=cmd_qr_show)
    p = qsub.add_parser("query", help="the state of ORDER at the terminal and the gateway")
    p.add_argument("order", metavar="ORDER")
    op(p)
    p.set_defaults(func=cmd_qr_query)
    p = qsub.add_parser("refund", help="refund AMOUNT of the paid ORDER (partial allowed)")
    p.add_argument("order", metavar="ORDER")
    p.add_argument("amount", metavar="AMOUNT")
    add_supervisor(p)
    add_json(p)
    p.set_defaults(func=cmd_qr_refund)
    p = qsub.add_parser("forward", help="send owed QR cancels and refunds now")
    op(p)
    p.set_defaults(func=cmd_qr_forward)
