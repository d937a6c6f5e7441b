"""``countertop printer status|test``: ask the configured printer how it is, print a test page.

Settings come from ``[printer]`` in the config; any ``--backend``/``--host``/… flag overrides
the file, and with ``--backend`` the file may be absent (bench setup of a new printer).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _hex_id(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a hex USB id (e.g. 0416)") from None
    if not 0 < value <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not a USB id (0001-ffff)")
    return value


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("printer settings (override [printer] in the config)")
    g.add_argument("--backend", choices=("usb", "serial", "network", "file", "mock"))
    g.add_argument("--usb-vendor", type=_hex_id, metavar="HEX", help="USB vendor id, e.g. 0416")
    g.add_argument("--usb-product", type=_hex_id, metavar="HEX", help="USB product id, e.g. 5011")
    g.add_argument("--serial-device", metavar="DEV", help="e.g. /dev/ttyUSB0")
    g.add_argument("--baudrate", type=int, metavar="BAUD")
    g.add_argument("--host", help="network printer address")
    g.add_argument("--port", type=int, help="network printer port (9100)")
    g.add_argument("--path", metavar="FILE", help="device file, e.g. /dev/usb/lp0")
    g.add_argument("--width-mm", type=int, choices=(58, 80))
    g.add_argument("--chinese", choices=("fs", "image"))
    g.add_argument("--cutter", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--drawer", action=argparse.BooleanOptionalAction, default=None)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``printer status``, ``printer test``, ``printer jobs`` and ``printer retry``."""
    parser = sub.add_parser("printer", help="receipt printer status and test page")
    psub = parser.add_subparsers(dest="printer_command", metavar="ACTION", required=True)

    status = psub.add_parser("status", help="query the printer (DLE EOT): online, paper, cover")
    status.add_argument("--json", action="store_true", help="print machine-readable JSON")
    _connection_flags(status)
    status.set_defaults(func=cmd_status)

    test = psub.add_parser("test", help="print a test page with the configured profile")
    test.add_argument("--png", metavar="PATH", help="also save a picture of the page")
    test.add_argument(
        "--kick-drawer", action="store_true", help="also open the cash drawer (if fitted)"
    )
    _connection_flags(test)
    test.set_defaults(func=cmd_test)

    jobs = psub.add_parser("jobs", help="print jobs not printed yet (queued, uncertain, parked)")
    jobs.add_argument("--json", action="store_true", help="print machine-readable JSON")
    jobs.add_argument(
        "--print", action="store_true", help="print them now (when no kiosk prints for it)"
    )
    jobs.set_defaults(func=cmd_jobs)

    retry = psub.add_parser(
        "retry", help="print parked jobs (needs attention) again, marked DUPLICATE"
    )
    retry.add_argument("job", nargs="?", help="one job id (default: every parked job)")
    retry.add_argument("--json", action="store_true", help="print machine-readable JSON")
    retry.set_defaults(func=cmd_retry)


def _job_line(job: Any) -> str:
    err = f"  ({job.last_error})" if job.last_error else ""
    return f"{job.id}  {job.state:<15} {job.attempts} attempt(s)  {job.what}{err}"


def cmd_jobs(args: argparse.Namespace) -> int:
    """List the jobs that have not printed; with ``--print``, print them (no kiosk running)."""
    from appliance.cli.common import emit_json
    from appliance.cli.terminal_cmd import terminal_for

    with terminal_for(args) as term:
        queue = term.receipts
        run = queue.print_here() if args.print else None
        jobs = queue.waiting_jobs()
        if args.json:
            emit_json(
                {
                    "jobs": [j.as_dict() for j in jobs],
                    "print_owner": queue.owner_elsewhere(),
                    "print": run.as_dict() if run else None,
                }
            )
        else:
            if run is not None and run.message():
                print(run.message())
            for job in jobs:
                print(_job_line(job))
            if not jobs:
                print("every job has printed")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    """Print parked jobs again (one more attempt each, marked DUPLICATE)."""
    from appliance.cli.common import emit_json
    from appliance.cli.terminal_cmd import terminal_for
    from appliance.errors import NotFound

    with terminal_for(args) as term:
        queue = term.receipts
        n = queue.retry(args.job)
        if args.job and not n:
            raise NotFound(
                f"no parked print job {args.job}: `countertop printer jobs` lists the jobs"
            )
        queue.journal.audit(
            getattr(args, "operator", "") or "-", "print_retry", args.job or f"all ({n})"
        )
        owner = queue.owner_elsewhere()
        run = queue.print_here()
        if args.json:
            emit_json({"retried": n, "print_owner": owner, "print": run.as_dict()})
        else:
            print(f"{n} job(s) will print again, marked DUPLICATE")
            if run.message():
                print(run.message())
    return 0


def printer_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The [printer] settings: config file (or defaults with ``--backend``) plus flags."""
    from appliance.config import config_path, load_config, validate

    path = config_path(getattr(args, "config", None))
    if args.backend and not path.exists():
        settings = dict(validate({}, Path("<defaults>")).printer.values)
    else:
        settings = dict(load_config(getattr(args, "config", None)).printer.values)
    for key in (
        "backend",
        "usb_vendor",
        "usb_product",
        "serial_device",
        "baudrate",
        "host",
        "port",
        "path",
        "width_mm",
        "chinese",
        "cutter",
        "drawer",
    ):
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    return settings


def shop_timezone(args: argparse.Namespace) -> str:
    """The configured ``locale.timezone`` (the default zone when no config file exists)."""
    from appliance.config import config_path, load_config, validate

    path = config_path(getattr(args, "config", None))
    cfg = load_config(getattr(args, "config", None)) if path.exists() else validate({}, path)
    return str(cfg.locale.timezone)


def open_printer(settings: dict[str, Any]) -> Any:
    """The printer the settings describe (never a silent mock)."""
    from drivers.printer import make_printer, make_profile

    profile = make_profile(
        settings["width_mm"],
        chinese=settings["chinese"],
        cutter=settings["cutter"],
        drawer=settings["drawer"],
    )
    return make_printer(
        settings["backend"],
        profile=profile,
        usb_vendor=settings["usb_vendor"],
        usb_product=settings["usb_product"],
        serial_device=settings["serial_device"],
        baudrate=settings["baudrate"],
        host=settings["host"],
        port=settings["port"],
        path=settings["path"],
    )


def _device(printer: Any, settings: dict[str, Any]) -> str:
    return str(getattr(printer, "device", settings["backend"]))


def cmd_status(args: argparse.Namespace) -> int:
    """Print the status; exit 0 when the printer can print, 1 when it cannot."""
    from appliance.cli.common import emit_json

    settings = printer_settings(args)
    printer = open_printer(settings)
    try:
        status = printer.status()
    finally:
        printer.close()
    device = _device(printer, settings)
    if args.json:
        p = printer.profile
        emit_json(
            {
                "status": status.value,
                "can_print": status.can_print,
                "backend": settings["backend"],
                "device": device,
                "profile": {
                    "width_mm": p.width_mm,
                    "columns": p.columns,
                    "dots": p.dots,
                    "chinese": p.chinese,
                    "cutter": p.cutter,
                    "drawer": p.drawer,
                },
            }
        )
    else:
        print(f"{device}: {status.value}")
    return 0 if status.can_print else 1


def cmd_test(args: argparse.Namespace) -> int:
    """Print the test page; PrinterError (exit 1) says why it could not."""
    from datetime import datetime

    from drivers.printer.testpage import build_test_page

    settings = printer_settings(args)
    printer = open_printer(settings)
    device = _device(printer, settings)
    data = build_test_page(
        printer.profile, device=device, drawer=args.kick_drawer, tz=shop_timezone(args)
    )
    if args.png:
        from drivers.printer.escpos_render import render_png

        render_png(data, args.png, printer.profile.dots)
    job_id = "test-" + datetime.now().strftime("%Y%m%d%H%M%S")
    try:
        printer.print_job(job_id, data)
    finally:
        printer.close()
    print(f"printed test page {job_id} ({len(data)} bytes) on {device}")
    if args.png:
        print(f"picture of the page: {args.png}")
    return 0
