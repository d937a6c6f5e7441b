"""``countertop acquirer``: run the reference acquirer, read its ledger, switch its faults.

    countertop acquirer [--config PATH | --terminal TID:TMKHEX ...] [--host H] [--port P]
                        [--dialect D] [--ledger PATH] [--control-port P] [--fault NAME[:k=v,...]]
    countertop acquirer ledger [--ledger PATH] [--json]
    countertop acquirer fault NAME [k=v ...] | --clear [NAME]   (via the control port)
    countertop acquirer statement --date YYYY-MM-DD --out F.csv [--inject KIND,...]

The control port defaults to the acquirer port + 1, on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from appliance.cli.common import emit_json
from appliance.errors import ConfigError

DEFAULT_PORT = 8583


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``acquirer`` and its subcommands."""
    from appliance.sim.acquirer.faults import FAULTS

    p = sub.add_parser(
        "acquirer",
        help="run the reference acquirer host (testing, demo)",
        description="Run the reference acquirer in the foreground (Ctrl-C stops it).",
    )
    _common(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--dialect", choices=["iso87", "cup"], help="message dialect")
    p.add_argument(
        "--terminal",
        action="append",
        default=[],
        metavar="TID:TMKHEX",
        help="a terminal this host knows, with its master key (repeatable)",
    )
    p.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate chain")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:k=v,...]",
        help="start with a fault switched on: " + ", ".join(FAULTS),
    )
    p.set_defaults(func=cmd_serve)
    acq_sub = p.add_subparsers(dest="acquirer_command", metavar="SUBCOMMAND")

    led = acq_sub.add_parser("ledger", help="list what the acquirer approved, declined, reversed")
    _common(led, sub=True)
    led.add_argument("--json", action="store_true", help="print machine-readable JSON")
    led.add_argument(
        "--uploads",
        action="store_true",
        help="list the batch-upload lines (0320) instead, each as the type it was booked as",
    )
    led.set_defaults(func=cmd_ledger)

    bench = acq_sub.add_parser(
        "bench", help="codec and loopback link speed against an in-process acquirer"
    )
    bench.add_argument("--dialect", choices=["iso87", "cup"], default="iso87")
    bench.add_argument("-n", type=int, default=500, help="requests per measurement")
    bench.add_argument("--window", type=int, default=8, help="requests outstanding at once")
    bench.add_argument("--json", action="store_true", help="print machine-readable JSON")
    bench.set_defaults(func=cmd_bench)

    fault = acq_sub.add_parser("fault", help="switch a fault on or off in a running acquirer")
    _common(fault, sub=True)
    fault.add_argument("name", nargs="?", help="fault name: " + ", ".join(FAULTS))
    fault.add_argument("params", nargs="*", metavar="k=v", help="e.g. seconds=20 ms=300")
    fault.add_argument("--count", type=int, help="only the next N requests")
    fault.add_argument("--probability", type=float, help="hit each request with this chance")
    fault.add_argument("--seed", type=int, help="seed of the probability RNG")
    fault.add_argument("--clear", action="store_true", help="switch NAME (or every fault) off")
    fault.set_defaults(func=cmd_fault)

    stmt = acq_sub.add_parser(
        "statement", help="export the settlement statement of a day as CSV (for reconcile)"
    )
    _common(stmt)
    stmt.add_argument("--date", required=True, help="business day YYYY-MM-DD (UTC)")
    stmt.add_argument("--out", required=True, type=Path, help="CSV file to write")
    stmt.add_argument(
        "--inject",
        default="",
        metavar="KIND,...",
        help="discrepancies to inject: missing, amount, fee, unknown, reversed_charged",
    )
    stmt.set_defaults(func=cmd_statement)


def _common(p: argparse.ArgumentParser, *, sub: bool = False) -> None:
    # On a subcommand the options default to "absent", so that a value given before the
    # subcommand (countertop acquirer --ledger X ledger) is not overwritten by None.
    default = argparse.SUPPRESS if sub else None
    p.add_argument(
        "--port", type=int, default=default, help=f"acquirer port (default {DEFAULT_PORT})"
    )
    p.add_argument("--ledger", metavar="PATH", default=default, help="acquirer ledger database")
    p.add_argument(
        "--control-port", type=int, default=default, help="control port (default: port + 1)"
    )


def _config(args: argparse.Namespace) -> Any:
    """The terminal config when one is named (flag or environment), else None."""
    if getattr(args, "config", None) or os.environ.get("COUNTERTOP_CONFIG"):
        from appliance.cli.common import config_from

        return config_from(args)
    return None


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    cfg = _config(args)
    port = args.port or (cfg.host.port if cfg else DEFAULT_PORT)
    if args.ledger:
        ledger = Path(args.ledger)
    elif cfg is not None:
        ledger = cfg.state_dir / "acquirer" / "ledger.db"
    else:
        ledger = Path("acquirer-ledger.db")
    return {
        "cfg": cfg,
        "port": port,
        "ledger": ledger,
        "control_port": args.control_port or port + 1,
    }


def _parse_terminal(text: str) -> tuple[str, bytes]:
    tid, sep, hexkey = text.partition(":")
    try:
        key = bytes.fromhex(hexkey)
    except ValueError:
        key = b""
    if not sep or not tid or len(key) not in (16, 24):
        raise ConfigError(f"--terminal {text!r}: expected TID:32-or-48-hex-digit TMK")
    return tid, key


def _parse_kv(items: list[str], where: str) -> dict[str, str]:
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConfigError(f"{where}: {item!r} is not key=value")
        out[k] = v
    return out


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the acquirer until interrupted."""
    from appliance.sim.acquirer.server import ReferenceAcquirer

    s = _settings(args)
    cfg = s["cfg"]
    terminals: dict[str, bytes] = {}
    mids: dict[str, str] = {}
    if cfg is not None:
        terminals[cfg.merchant.tid] = cfg.tmk()
        mids[cfg.merchant.tid] = cfg.merchant.mid
    for t in args.terminal:
        tid, key = _parse_terminal(t)
        terminals[tid] = key
    if not terminals:
        raise ConfigError("no terminals: give --config PATH or --terminal TID:TMKHEX")
    host = args.host or "127.0.0.1"
    dialect = args.dialect or (cfg.host.dialect if cfg else "iso87")
    acq = ReferenceAcquirer(
        host,
        s["port"],
        dialect,
        s["ledger"],
        terminals,
        mids,
        control_port=s["control_port"],
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    for spec in args.fault:
        name, _, rest = spec.partition(":")
        acq.set_fault(name, **_parse_kv([x for x in rest.split(",") if x], f"--fault {spec}"))
    root = logging.getLogger()
    if root.level > logging.INFO:  # a foreground server's log is what it shows: INFO unless -vv
        root.setLevel(logging.INFO)
    port = acq.start()
    qr = _qr_gateway(cfg, s["ledger"])
    _stop_on_sigterm()
    print(
        f"acquirer ({acq.dialect.name}) on {host}:{port}, control 127.0.0.1:{acq.control_port}, "
        f"ledger {s['ledger']}, terminals {', '.join(sorted(terminals))}"
        + (f", QR gateway {qr.url}" if qr is not None else ""),
        flush=True,
    )
    try:
        acq.serve_forever()
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to stop it; stop() runs below
    finally:
        acq.stop()
        if qr is not None:
            qr.stop()
    return 0


def _qr_gateway(cfg: Any, ledger: Path) -> Any:
    """The QR gateway beside the acquirer when the config names one (its books share the
    ledger's file, so the statement lists both); None otherwise."""
    if cfg is None or not cfg.qr.gateway:
        return None
    from urllib.parse import urlsplit

    from appliance.sim.qrgateway import GatewayServer, QrGateway

    url = urlsplit(cfg.qr.gateway)
    gateway = QrGateway(
        ledger, {cfg.merchant.tid: cfg.qr_key()}, {cfg.merchant.tid: cfg.merchant.mid}
    )
    return GatewayServer(gateway, url.hostname or "127.0.0.1", url.port or 80).start()


def _stop_on_sigterm() -> None:
    """Let systemd's SIGTERM end the server like Ctrl-C does (main thread only)."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        """Turn SIGTERM into the KeyboardInterrupt that ends serve_forever()."""
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


LEDGER_COLUMNS = (
    "tid",
    "stan",
    "rrn",
    "type",
    "amount",
    "response_code",
    "status",
    "batch",
    "masked_pan",
    "transmitted_at",
)


UPLOAD_COLUMNS = ("tid", "batch", "stan", "type", "amount", "rrn", "auth_code", "entry_mode")


def cmd_ledger(args: argparse.Namespace) -> int:
    """Print the acquirer's ledger (read straight from its database)."""
    from appliance.sim.acquirer.ledger import Ledger

    s = _settings(args)
    path: Path = s["ledger"]
    if not path.exists():
        raise ConfigError(f"no acquirer ledger at {path} (use --ledger PATH)")
    ledger = Ledger(path)
    uploads = getattr(args, "uploads", False)
    try:
        rows = ledger.uploads() if uploads else ledger.transactions()
    finally:
        ledger.close()
    if args.json:
        emit_json(rows)
        return 0
    columns = UPLOAD_COLUMNS if uploads else LEDGER_COLUMNS
    print("  ".join(f"{c:>12}" for c in columns))
    for r in rows:
        print("  ".join(f"{'' if r[c] is None else r[c]!s:>12}" for c in columns))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure encode/decode time, sequential round trips and pipelined throughput."""
    import tempfile
    import time
    from datetime import UTC, datetime, timedelta

    from appliance.host import keys
    from appliance.host.link import HostLink
    from appliance.host.messages import CardFields, HostRequest, MessageKind
    from appliance.sim.acquirer.server import ReferenceAcquirer

    n = max(1, args.n)
    tid, mid, tmk = "10000001", "898310048160001", keys.generate_key()
    card = CardFields(pan="6212345678901232", expiry="2812", emv_data=bytes(64))
    t0 = datetime.now(UTC).replace(microsecond=0)
    seq = iter(range(1, 10**6))

    def req(kind: MessageKind = MessageKind.SALE) -> HostRequest:
        """A request with a fresh STAN and transmission time."""
        i = next(seq)
        return HostRequest(
            kind,
            tid,
            mid,
            i % 999_999 + 1,
            t0 + timedelta(seconds=i),
            amount=1000,
            card=card if kind is MessageKind.SALE else None,
            batch=1,
        )

    out: dict[str, Any] = {"dialect": args.dialect, "n": n, "window": args.window}
    with tempfile.TemporaryDirectory() as tmp:
        acq = ReferenceAcquirer("127.0.0.1", 0, args.dialect, Path(tmp) / "acq.db", {tid: tmk})
        port = acq.start()
        link = HostLink("127.0.0.1", port, acq.dialect, connect_timeout=2, response_timeout=10)
        link.set_signon_key(keys.signon_key(tmk))
        try:
            resp = link.exchange(req(MessageKind.SIGN_ON))
            assert resp.working_keys is not None
            mak = keys.unwrap_working_keys(tmk, resp.working_keys)[1]
            link.set_mak(mak)
            d = acq.dialect
            sample = req()
            start = time.perf_counter()
            for _ in range(n):
                body = d.encode_request(sample, mak)
            out["encode_us"] = (time.perf_counter() - start) / n * 1e6
            start = time.perf_counter()
            for _ in range(n):
                d.decode_request(body, lambda _tid: mak)
            out["decode_us"] = (time.perf_counter() - start) / n * 1e6
            lat = []
            for _ in range(n):
                s = time.perf_counter()
                link.exchange(req())
                lat.append(time.perf_counter() - s)
            lat.sort()
            out["exchange_ms_p50"] = lat[len(lat) // 2] * 1e3
            out["exchange_ms_p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
            start = time.perf_counter()
            window: list[Any] = []
            for _ in range(n):
                window.append(link.submit(req()))
                if len(window) >= args.window:
                    window.pop(0).result()
            for f in window:
                f.result()
            out["pipelined_per_s"] = n / (time.perf_counter() - start)
        finally:
            link.close()
            acq.stop()
    if args.json:
        emit_json(out)
    else:
        for k, v in out.items():
            print(f"{k:>18}: {v:.1f}" if isinstance(v, float) else f"{k:>18}: {v}")
    return 0


def cmd_fault(args: argparse.Namespace) -> int:
    """Switch a fault on a running acquirer through its control port."""
    from appliance.sim.acquirer.faults import parse_params
    from appliance.sim.acquirer.server import control

    s = _settings(args)
    if args.clear:
        command = "CLEAR" + (f" {args.name}" if args.name else "")
    else:
        if not args.name:
            raise ConfigError("name a fault, or use --clear")
        params: dict[str, Any] = _parse_kv(args.params, "fault")
        for opt in ("count", "probability", "seed"):
            if getattr(args, opt) is not None:
                params[opt] = getattr(args, opt)
        parse_params(args.name, params)  # fail here, with the CLI's error, not remotely
        command = " ".join(["FAULT", args.name, *(f"{k}={v}" for k, v in params.items())])
    control("127.0.0.1", s["control_port"], command)
    active = json.loads(control("127.0.0.1", s["control_port"], "FAULTS"))
    print("active faults: " + (", ".join(sorted(active)) or "none"))
    return 0


def cmd_statement(args: argparse.Namespace) -> int:
    """Write the acquirer's statement of one day (see appliance/sim/acquirer/statement.py)."""
    from datetime import date

    from appliance.sim.acquirer.ledger import Ledger
    from appliance.sim.acquirer.statement import statement_text

    s = _settings(args)
    path: Path = s["ledger"]
    if not path.exists():
        raise ConfigError(f"no acquirer ledger at {path} (use --ledger PATH)")
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        raise ConfigError(f"--date {args.date!r}: expected YYYY-MM-DD") from None
    cfg = s["cfg"]
    fees = cfg.settlement.fees_bp if cfg is not None else {}
    inject = [x.strip() for x in args.inject.split(",") if x.strip()]
    ledger = Ledger(path)
    try:
        text = statement_text(ledger, day, fees, inject)
    finally:
        ledger.close()
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {args.out}: {exc}") from exc
    lines = text.count("\n") - 1
    print(f"statement of {day}: {lines} line(s) written to {args.out}")
    return 0
