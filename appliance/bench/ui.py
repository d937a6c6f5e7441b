"""``countertop bench ui``: start-up time, memory, idle CPU and frame times of the touchscreen.

The reference acquirer runs in this process; the terminal with its UI runs in a child process
(``python -m appliance.bench.ui child MODE CONFIG``) so each figure is the terminal's alone:

- ``first_frame_s``: child process spawn → first frame flipped (target ≤ 1.0 s); the terminal
  (journal, devices) is then still being built by the backend's worker, as in ``countertop run``
- ``terminal_ready_s``: spawn → terminal built, host signed on, sign-in usable (no target)
- ``rss_mb_after_100_sales``: resident memory after a 100-sale scripted shift (≤ 80 MB)
- ``idle_cpu_percent``: CPU use on the home screen over 10 s (≤ 1 %)
- ``frame_ms_p99``: 99th percentile frame time during the shift at 800×480 (≤ 16 ms), wall
  clock; ``frame_cpu_ms_p99`` is the drawing thread's CPU time alone, which a busy machine
  (see ``load_average``) does not inflate
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.bench.stats import percentile

TARGETS: dict[str, float] = {
    "first_frame_s": 1.0,
    "rss_mb_after_100_sales": 80.0,
    "idle_cpu_percent": 1.0,
    "frame_ms_p99": 16.0,
}


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SDL_VIDEODRIVER", "dummy")
    env.setdefault("SDL_AUDIODRIVER", "dummy")
    env["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _child(
    mode: str, config: Path, *args: str, timeout: float = 300
) -> tuple[float, dict[str, Any]]:
    """Run one child; return (seconds from spawn to its "first frame"/"started" line, its JSON
    result)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.bench.ui", "child", mode, str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    while first and not first.startswith(("first frame", "started")):
        first = proc.stdout.readline()  # anything a library prints before
    first_at = time.perf_counter() - start
    rest, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {mode} failed ({proc.returncode}): {err.strip()[-2000:]}")
    lines = [ln for ln in (first + rest).splitlines() if ln.startswith("{")]
    return first_at, json.loads(lines[-1]) if lines else {}


def bench_ui(sales: int = 100, idle_seconds: float = 10.0) -> dict[str, Any]:
    """Measure the four figures (see the module docstring) and compare them with the targets."""
    from appliance.config import load_config
    from appliance.sim.demo import prepare_demo
    from appliance.sim.shop import acquirer_for

    with tempfile.TemporaryDirectory(prefix="countertop-bench-") as tmp:
        path = prepare_demo(Path(tmp))
        acquirer = acquirer_for(load_config(path))
        acquirer.start()
        try:
            first_frame, start = _child("first_frame", path)
            _, shift = _child("shift", path, str(sales))
            _, idle = _child("idle", path, str(idle_seconds))
        finally:
            acquirer.stop()
    result: dict[str, Any] = {
        "first_frame_s": round(first_frame, 3),
        "terminal_ready_s": round(first_frame + start["ready_after_frame_s"], 3),
        "rss_mb_after_100_sales": shift["rss_mb"],
        "sales": shift["sales"],
        "idle_cpu_percent": idle["cpu_percent"],
        "frame_ms_p99": shift["frame_ms_p99"],
        "frame_cpu_ms_p99": shift["frame_cpu_ms_p99"],
        "load_average": round(os.getloadavg()[0], 2),
        "frames": shift["frames"],
    }
    result["pass"] = {k: result[k] <= limit for k, limit in TARGETS.items()}
    return result


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _p99(values: list[float]) -> float:
    return round(percentile(values, 99), 2) if values else 0.0


def child_main(mode: str, config: str, *args: str) -> int:
    """The terminal side of one measurement (runs in its own process)."""
    from appliance.config import load_config
    from appliance.sim.demo import DemoShop, Shift, demo_backend
    from ui.app import App

    cfg = load_config(config)
    backend = demo_backend(cfg, deferred=True)  # as ``countertop run`` builds it
    if mode == "first_frame":
        app = App(backend, size=(800, 480), language=cfg.locale.language)
        app.draw()
        print("first frame", flush=True)
        frame_at = time.perf_counter()
        backend.wait_ready()
        app.wait_idle()
        print(json.dumps({"ready_after_frame_s": time.perf_counter() - frame_at}), flush=True)
        app.close()
        backend.terminal.close()
        return 0
    app = App(backend, size=(800, 480), language=cfg.locale.language)
    shop = DemoShop(cfg, None, backend)
    shift = Shift(app, shop, None)
    print("started", flush=True)
    try:
        app.wait_idle()
        shift.sign_in("01", "1234")
        if mode == "shift":
            sales = int(args[0])
            app.frame_ms.clear()
            app.frame_cpu_ms.clear()
            for i in range(sales):
                shift.sale(str(100 + i), "visa", f"sale{i}")
                shift.new_sale()
            app.wait_idle()
            out = {
                "sales": sales,
                "rss_mb": _rss_mb(),
                "frame_ms_p99": _p99(app.frame_ms),
                "frame_cpu_ms_p99": _p99(app.frame_cpu_ms),
                "frames": app.frames,
            }
        else:
            seconds = float(args[0])
            app.wait_idle()
            app.run(max_seconds=1.0)  # settle: the first status refresh, the first frames
            cpu0, wall0 = time.process_time(), time.perf_counter()
            app.run(max_seconds=seconds)
            cpu = time.process_time() - cpu0
            out = {"cpu_percent": round(100 * cpu / (time.perf_counter() - wall0), 2)}
        print(json.dumps(out), flush=True)
    finally:
        app.close()
        backend.terminal.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        raise SystemExit(child_main(*sys.argv[2:]))
    print(json.dumps(bench_ui(), indent=2))
