"""``countertop bench NAME|all [k=v ...]`` and ``countertop torture --trials N``.

Benches are found through ``appliance.bench`` (name → ``module:function``); a bench that
cannot be imported is an error (never a silent skip). ``k=v`` (or ``--k v``) arguments are passed
to the bench function as keyword arguments (numbers are converted), e.g.
``countertop bench drain n=200`` or ``countertop bench ui --sales 20``. Exit 1 when a bench
misses its target (``ok`` false, or any value of its ``pass`` dict false).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from appliance.cli.common import add_json, emit_json


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass  # not this type: try the next one
    return {"true": True, "false": False}.get(text.lower(), text)


def _kwargs(tokens: list[str]) -> tuple[dict[str, Any], bool]:
    """Keyword arguments from ``k=v``, ``--k v`` or ``--k=v`` tokens; and whether --json."""
    out: dict[str, Any] = {}
    as_json = False
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok == "--json":
            as_json = True
            continue
        if tok.startswith("--"):
            key, sep, value = tok[2:].partition("=")
            if not sep:
                # A flag alone (or followed by another option) is true.
                value = "true"
                if i < len(tokens) and not tokens[i].startswith("--"):
                    value, i = tokens[i], i + 1
        else:
            key, sep, value = tok.partition("=")
            if not sep:
                raise SystemExit(f"countertop bench: {tok!r} is not k=v or --k v")
        if not key:
            raise SystemExit(f"countertop bench: {tok!r} has no name")
        out[key.replace("-", "_")] = _value(value)
    return out, as_json


def _missed(result: dict[str, Any]) -> bool:
    """True when the bench says a target was missed (``ok`` false or any ``pass`` false)."""
    passes = result.get("pass")
    return result.get("ok") is False or (isinstance(passes, dict) and not all(passes.values()))


def _todo(bench: Any, name: str) -> list[tuple[str, Any]] | None:
    """The benches to run for ``name`` ("all" or one), or None for an unknown name."""
    if name == "all":
        return list(bench.available().items())
    if name not in bench.names():
        return None
    return [(name, bench.resolve(name))]


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one bench, or every bench."""
    from appliance import bench

    kwargs, as_json = _kwargs(args.params)
    args.json = args.json or as_json
    try:
        todo = _todo(bench, args.name)
    except ImportError as exc:
        # A bench ships with the product: failing to import it is a bug, reported, not skipped.
        print(f"countertop bench: {args.name}: cannot import the bench: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if todo is None:
        print(
            f"countertop bench: no bench {args.name!r}; known: {', '.join(bench.names())}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    results: dict[str, Any] = {}
    failed = False
    for name, fn in todo:
        start = time.perf_counter()
        try:
            result = fn(**kwargs) if args.name != "all" else fn()
        except TypeError as exc:
            print(f"countertop bench {name}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        result.setdefault("bench_seconds", round(time.perf_counter() - start, 1))
        results[name] = result
        failed |= _missed(result)
        if not args.json:
            print(f"{name}:")
            for key, value in result.items():
                print(f"  {key:24} {value}")
    if args.json:
        emit_json({"results": results})
    return EXIT_FAILED if failed else EXIT_OK


def cmd_torture(args: argparse.Namespace) -> int:
    """Kill -9 a terminal mid-shift N times; exit 1 on any invariant violation."""
    from appliance.sim.torture import Torture

    def progress(r: Any) -> None:
        if args.json:
            if r.violations:  # visible while a long run goes on, not only at its end
                print(f"trial {r.trial}: {'; '.join(r.violations)}", file=sys.stderr, flush=True)
            return
        mark = "VIOLATION " + "; ".join(r.violations) if r.violations else "ok"
        kill = f"killed at {r.kill_after_ms:.0f} ms" if r.kill_after_ms is not None else "ran out"
        print(f"trial {r.trial:4d}  {kill:18}  told {r.told:2d}  {mark}", flush=True)

    with tempfile.TemporaryDirectory(prefix="countertop-torture-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        if args.qr:
            from appliance.sim.qr_torture import QrTorture

            torture: Any = QrTorture(workdir, seed=args.seed, keep=args.keep)
        else:
            torture = Torture(workdir, seed=args.seed, keep=args.keep)
        report = torture.run(args.trials, on_trial=progress)
        if report.failures and not args.workdir:
            print(
                "failing trials' directories are deleted with the temporary directory: "
                "rerun with --workdir DIR to keep them",
                file=sys.stderr,
            )
    if args.json:
        emit_json(report.as_dict())
    else:
        print(
            f"{report.trials} trials ({report.killed} killed mid-shift), "
            f"{report.told} outcomes told, {report.violations} violation(s), "
            f"{report.seconds:.0f} s (seed {report.seed}, shift {report.shift_ms:.0f} ms)"
        )
    return EXIT_FAILED if report.violations else EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench`` and ``torture``."""
    p = sub.add_parser(
        "bench",
        help="measure speed: sale, drain, card, receipt, ... or all",
        description="Run a bench and print its figures (exit 1 if a target is missed).",
    )
    p.add_argument("name", help="bench name, or 'all'")
    p.add_argument(
        "params",
        nargs=argparse.REMAINDER,
        metavar="k=v",
        help="keyword arguments of the bench function, e.g. n=200 or --sales 20",
    )
    add_json(p)
    p.set_defaults(func=cmd_bench)

    t = sub.add_parser(
        "torture",
        help="crash torture test: kill -9 the terminal mid-shift, check nothing is lost",
    )
    t.add_argument("--trials", type=int, default=50, help="how many trials (default 50)")
    t.add_argument("--seed", type=int, default=0, help="seed of the kill moments and shifts")
    t.add_argument("--workdir", help="keep trial directories here (default: a temporary one)")
    t.add_argument("--keep", action="store_true", help="keep passing trials' directories too")
    t.add_argument(
        "--qr",
        action="store_true",
        help="QR payments: kill during the query loop and the cancel (appliance.sim.qr_torture)",
    )
    add_json(t)
    t.set_defaults(func=cmd_torture)
