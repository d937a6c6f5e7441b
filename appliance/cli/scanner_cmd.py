"""Technician scanner tool: ``countertop scanner read`` reads one code and shows it masked.

It uses the configured scanner (or ``--backend``/``--device``/``--baudrate``/``--code`` given on
the line) with the same adapter the terminal uses, so an evdev scanner is grabbed exclusively
while it reads: stop the service first (it holds the grab). The code itself is never printed:
only its masked form, its length and which payment-code shape it has, if any.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from appliance.cli import EXIT_OK
from appliance.errors import ConfigError, CountertopError

DEFAULT_TIMEOUT = 30.0


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """backend, device, baudrate, mock code and timeout: flags first, then the config file."""
    s: Any = None
    if args.backend is None or args.timeout is None or args.device is None:
        try:
            from appliance.cli.common import config_from

            s = config_from(args).scanner
        except ConfigError:
            if args.backend is None:
                raise
    backend = args.backend or s.backend
    if args.code and backend != "mock":
        raise ConfigError(f"--code only works with the mock scanner, not {backend!r}")
    return {
        "backend": backend,
        "device": args.device if args.device is not None else (s.device if s else ""),
        "baudrate": args.baudrate or (s.baudrate if s else 9600),
        "mock_code": args.code or (s.mock_code if s and backend == "mock" else "") or None,
        "timeout": args.timeout if args.timeout is not None else (s.timeout if s else 30.0),
    }


def code_shape(code: str) -> str | None:
    """The wallet whose published payment-code shape ``code`` has (None: not a payment code)."""
    try:
        from appliance.domain.qr import classify_code
    except ImportError:
        return None
    try:
        return str(classify_code(code).value)
    except ValueError:
        return None


def read_one(scanner: Any, timeout: float) -> Any:
    """Read one code in a worker thread so Ctrl-C cancels the read cleanly."""
    cancel = threading.Event()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["code"] = scanner.read_code(timeout, cancel)
        except CountertopError as exc:
            result["error"] = exc

    worker = threading.Thread(target=work, name="scanner-read", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        cancel.set()
        worker.join(5)
        raise
    if "error" in result:
        raise result["error"]
    return result["code"]


def cmd_read(args: argparse.Namespace) -> int:
    """Read one code and print it masked, with its length and payment-code shape."""
    from appliance.cli.common import emit_json
    from drivers.scanner import make_scanner

    s = _settings(args)
    scanner = make_scanner(
        s["backend"], device=s["device"], baudrate=s["baudrate"], mock_code=s["mock_code"]
    )
    try:
        if not args.json:
            print(f"scan one code with the {s['backend']} scanner within {s['timeout']:g} s …")
        code = read_one(scanner, float(s["timeout"]))
    finally:
        scanner.close()
    summary = {
        "code": code.masked,
        "length": len(code.value),
        "device": code.device,
        "payment_code": code_shape(code.value),
    }
    if args.json:
        emit_json(summary)
    else:
        shape = summary["payment_code"] or "not a payment code"
        print(f"{summary['code']}  ({summary['length']} characters, {shape})  from {code.device}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``scanner read``."""
    p = sub.add_parser("scanner", help="barcode / QR scanner tools (technician)")
    ssub = p.add_subparsers(dest="scanner_command", metavar="ACTION", required=True)
    r = ssub.add_parser("read", help="read one code; shows it masked, never in clear")
    r.add_argument("--json", action="store_true", help="print machine-readable JSON")
    r.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for a code")
    r.add_argument(
        "--backend", choices=("evdev", "serial", "mock", "none"), help="override scanner.backend"
    )
    r.add_argument("--device", metavar="PATH", help="/dev/input/by-id/…-event-kbd or /dev/ttyACM0")
    r.add_argument("--baudrate", type=int, metavar="N", help="serial scanner baud rate")
    r.add_argument("--code", metavar="CODE", help="mock scanner: the code it reads")
    r.set_defaults(func=cmd_read)
