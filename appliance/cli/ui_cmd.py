"""Touchscreen commands: ``run``, ``demo``, ``bench ui``, ``screenshots``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.cli import EXIT_OK
from appliance.cli.common import config_from

SIZES = ("800x480", "1024x600", "720x720")


def _has_display() -> bool:
    """True when SDL can open a window or the framebuffer (not in CI, not over plain SSH)."""
    if os.environ.get("SDL_VIDEODRIVER") == "dummy":
        return False
    return bool(
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("SDL_VIDEODRIVER") in ("kmsdrm", "KMSDRM")
    )


def watchdog_pinger() -> tuple[Callable[[], None] | None, Any]:
    """The UI loop's ``on_tick`` (sd_notify ``WATCHDOG=1`` when due) and the notifier.

    ``Notifier.tick`` sends at most one ping per half watchdog interval, so calling it on every
    loop iteration is cheap; without ``$NOTIFY_SOCKET`` both are None.
    """
    from appliance.sdnotify import Notifier

    notifier = Notifier()
    if not notifier.enabled:
        return None, None
    return notifier.tick, notifier


def cmd_run(args: argparse.Namespace) -> int:
    """The touchscreen application on the configured devices (the appliance's main process)."""
    from ui.app import App, parse_resolution
    from ui.backend import open_backend
    from ui.fonts import find_cjk_font

    cfg = config_from(args)
    find_cjk_font()  # before opening anything: a missing font names the package to install
    size = parse_resolution(args.size or cfg.ui.resolution)
    fullscreen = cfg.ui.fullscreen and not args.windowed
    backend = open_backend(cfg, deferred=True)  # built on the worker: the first frame is quick
    tick, notifier = watchdog_pinger()
    try:
        app = App(
            backend,
            size=size,
            fullscreen=fullscreen,
            on_tick=tick,  # language: saved, else config
        )
        app.draw()
        # systemd stops the service with SIGTERM: leave the loop and close everything in order.
        signal.signal(signal.SIGTERM, lambda _sig, _frame: app.quit())
        if notifier is not None:
            notifier.ready("touchscreen up")
        # Echo tests and automatic forwarding when the link returns, once the terminal is built.
        link_worker = _start_link_worker(backend)
        app.run()
        app.close()
    finally:
        if notifier is not None:
            notifier.stopping()
        if "link_worker" in locals() and link_worker is not None:
            link_worker.stop()
        if backend.terminal is not None:
            backend.terminal.close()
    return EXIT_OK


def _start_link_worker(backend: Any) -> Any:
    """Start the echo / forwarding worker (and the fleet agent, if configured) once the
    terminal exists."""
    from appliance.services.link_monitor import LinkWorker

    holder: list[Any] = []

    def start() -> None:
        if backend.ready.wait(60) and backend.terminal is not None:
            worker = LinkWorker(backend.terminal)
            worker.start()
            holder.append(worker)
            if backend.terminal.config.fleet.broker:
                # The back office hears of every journal event (outbox), status and params.
                from appliance.cli.fleet_cmd import terminal_agent

                term = backend.terminal
                agent = terminal_agent(term, on_params=lambda new: setattr(term, "config", new))
                agent.start()
                holder.append(agent)

    threading.Thread(target=start, name="link-worker-start", daemon=True).start()

    class _Stopper:
        def stop(self) -> None:
            for w in holder:
                w.stop()

    return _Stopper()


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole appliance on mock drivers with the reference acquirer on loopback."""
    from appliance.sim.demo import run_headless, run_interactive
    from ui.app import parse_resolution

    size = parse_resolution(args.size)
    if args.headless or args.out or not _has_display():
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        out = Path(args.out or "demo-screens")
        summary = run_headless(out, size, args.lang)
        story = summary.pop("story", [])
        print("What happened in the demo shift (terminal journal vs acquirer ledger):")
        for line in story:
            print(f"  {line}")
        print(f"Screens and receipts written to {out}/ (PNG); summary:")
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return EXIT_OK
    return run_interactive(size, args.lang)


def cmd_screenshots(args: argparse.Namespace) -> int:
    """Regenerate the README screenshots (every resolution × language)."""
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    from appliance.sim.screenshots import write_screenshots

    for path in write_screenshots(Path(args.out)):
        print(path)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``, ``demo`` and ``screenshots``."""
    run = sub.add_parser("run", help="the touchscreen application (the appliance's main process)")
    run.add_argument("--size", choices=SIZES, help="screen size (default: ui.resolution)")
    run.add_argument("--windowed", action="store_true", help="a window even if ui.fullscreen")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="the whole appliance on mock devices with a local acquirer")
    demo.add_argument(
        "--headless",
        action="store_true",
        help="run the scripted shift and write every screen as PNG",
    )
    demo.add_argument("--out", metavar="DIR", help="where the PNGs go (implies --headless)")
    demo.add_argument("--size", choices=SIZES, default="800x480")
    demo.add_argument("--lang", choices=("zh_CN", "en"), default="zh_CN")
    demo.set_defaults(func=cmd_demo)

    # ``countertop bench ui`` is found by the bench group (appliance/cli/bench_cmd.py) through
    # the registry in appliance/bench/__init__.py, which maps "ui" to appliance.bench.ui:bench_ui.

    shots = sub.add_parser("screenshots", help="regenerate the README screenshots")
    shots.add_argument("--out", metavar="DIR", default="docs/screenshots")
    shots.set_defaults(func=cmd_screenshots)
