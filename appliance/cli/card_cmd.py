"""Technician card tools: ``countertop card read``, ``card bench`` and ``card list``.

``card read`` reads one card with the configured reader (or ``--backend``/``--device``/
``--card`` given on the line) and shows only what a technician needs: never the full PAN.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from appliance.cli import EXIT_FAILED, EXIT_OK
from appliance.domain.card import CardRead
from appliance.emv.risk import tvr_names
from appliance.errors import ConfigError, CountertopError

DEFAULT_TIMEOUT = 30.0


def card_summary(card: CardRead) -> dict[str, Any]:
    """What ``card read`` shows: scheme, AID, label, masked PAN, expiry MM/YY, APDU count,
    and the kernel's results: kernel, the card's decision, TVR, CVM, expired, field 55 tags."""
    return {
        "scheme": card.scheme,
        "aid": card.aid,
        "label": card.label,
        "pan": card.masked_pan,
        "expiry": f"{card.expiry[2:]}/{card.expiry[:2]}",
        "pan_sequence": card.pan_sequence,
        "apdus": card.apdu_count,
        "field55_bytes": len(card.emv_data),
        "kernel": card.kernel,
        "decision": card.decision,
        "tvr": card.tvr,
        "tvr_bits": tvr_names(bytes.fromhex(card.tvr)) if card.tvr else [],
        "cvm": card.cvm,
        "cvm_method": card.cvm_method,
        "expired": card.expired,
        "field55_tags": list(card.field55_tags),
        "notes": list(card.notes),
    }


def _reader_settings(args: argparse.Namespace) -> tuple[str, str, str | None, float]:
    """backend, device, mock card and timeout: flags first, then the config file."""
    backend, device, card, timeout = args.backend, args.device, args.card, args.timeout
    if backend is None or timeout is None:
        try:
            from appliance.cli.common import config_from

            reader_cfg = config_from(args).reader
        except ConfigError:
            if backend is None:
                raise
            reader_cfg = None
        if reader_cfg is not None:
            backend = backend or reader_cfg.backend
            device = device if device is not None else reader_cfg.device
            if card is None and backend == "mock":
                card = reader_cfg.mock_card or None
            timeout = timeout if timeout is not None else reader_cfg.timeout
    if card and backend != "mock":
        raise ConfigError(f"--card only works with the mock reader, not {backend!r}")
    return backend, device or "", card, DEFAULT_TIMEOUT if timeout is None else timeout


def read_one(reader: Any, timeout: float, amount: int = 1) -> CardRead:
    """Read one card in a worker thread so Ctrl-C cancels the read cleanly."""
    from drivers.reader.base import ReadContext

    cancel = threading.Event()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["card"] = reader.read_card(ReadContext(amount=amount), timeout, cancel)
        except CountertopError as exc:
            result["error"] = exc

    worker = threading.Thread(target=work, name="card-read", daemon=True)
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
    return result["card"]


def cmd_read(args: argparse.Namespace) -> int:
    """Read one card and print the summary."""
    from appliance.cli.common import emit_json
    from drivers.reader import make_reader

    backend, device, card, timeout = _reader_settings(args)
    reader = make_reader(backend, device=device, mock_card=card)
    try:
        if not args.json:
            print(f"present one card to the reader ({backend}) within {timeout:g} s …")
        summary = card_summary(read_one(reader, timeout, args.amount))
    finally:
        reader.close()
    if args.json:
        emit_json(summary)
    else:
        print(
            f"{summary['scheme']}  {summary['label']}  AID {summary['aid']}\n"
            f"card {summary['pan']}  expires {summary['expiry']}"
            f"{'  EXPIRED' if summary['expired'] else ''}  read in {summary['apdus']} APDUs\n"
            f"kernel {summary['kernel']}  card decision {summary['decision']}  "
            f"TVR {summary['tvr']} ({', '.join(summary['tvr_bits']) or 'none'})  "
            f"CVM {summary['cvm']} ({summary['cvm_method']})"
        )
        for note in summary["notes"]:
            print(f"note: {note}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    """Time the EMV kernel per read (transport excluded)."""
    from appliance.bench.emv import bench_card
    from appliance.cli.common import emit_json

    if args.n < 1:
        raise ConfigError("-n must be at least 1")
    result = bench_card(args.n)
    if args.json:
        emit_json(result)
    else:
        apdus = ", ".join(f"{k} {v}" for k, v in result["apdus"].items())  # type: ignore[union-attr]
        print(
            f"EMV kernel CPU per read over {result['reads']} reads: p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms (target ≤ {result['target_ms']} ms) — "
            f"{'OK' if result['ok'] else 'TOO SLOW'}\nAPDUs per read: {apdus}"
        )
    return EXIT_OK if result["ok"] else EXIT_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    """List the shipped test-card profiles."""
    from appliance.cli.common import emit_json
    from drivers.reader.profile import available_cards, find_profile

    cards = [(name, find_profile(name).description) for name in available_cards()]
    if args.json:
        emit_json([{"name": n, "description": d} for n, d in cards])
    else:
        for name, description in cards:
            print(f"{name:18} {description}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``card read``, ``card bench`` and ``card list``."""
    p = sub.add_parser("card", help="card reader tools (technician)")
    csub = p.add_subparsers(dest="card_command", metavar="ACTION", required=True)

    r = csub.add_parser("read", help="read one card; shows the masked PAN only")
    r.add_argument("--json", action="store_true", help="print machine-readable JSON")
    r.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for a card")
    r.add_argument("--backend", choices=("nfcpy", "mock"), help="override reader.backend")
    r.add_argument("--device", metavar="PATH", help="nfcpy device, e.g. tty:AMA0:pn532")
    r.add_argument("--card", metavar="NAME", help="mock reader: present this test card")
    r.add_argument(
        "--amount",
        type=int,
        default=1,
        metavar="MINOR",
        help="amount the card is told, minor units (default 1: below every CVM limit)",
    )
    r.set_defaults(func=cmd_read)

    b = csub.add_parser("bench", help="EMV kernel CPU time per read (target ≤ 5 ms)")
    b.add_argument("-n", type=int, default=1000, help="number of reads (default 1000)")
    b.add_argument("--json", action="store_true", help="print machine-readable JSON")
    b.set_defaults(func=cmd_bench)

    ls = csub.add_parser("list", help="list the test-card profiles of the mock reader")
    ls.add_argument("--json", action="store_true", help="print machine-readable JSON")
    ls.set_defaults(func=cmd_list)
