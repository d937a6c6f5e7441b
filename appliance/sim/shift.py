"""A scripted shop shift, run as its own process by the crash torture test.

``python -m appliance.sim.shift CONFIG SEED --told PATH [--control-port PORT]`` builds the terminal
from CONFIG (recovering whatever a previous crash left), signs on, takes online sales, voids
one, cuts the link (the reference acquirer's ``refuse`` fault, via its control port), takes
offline sales, restores the link and forwards everything owed.

Every outcome the operator is told is first appended to the ``--told`` file and fsync'd, and
only then printed: that file is the record of what the customer was told, which the harness
checks against the acquirer's ledger after killing this process at a random moment.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance.sim.shop import SUPERVISOR

READY = "READY"
DONE = "DONE"


class ToldLog:
    """The append-only, fsync'd record of what the operator (and so the customer) was told."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def tell(self, entry: dict[str, Any]) -> None:
        """Make ``entry`` durable, then print it: a crash can lose the print, never the record."""
        line = json.dumps(entry, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        sys.stdout.write(line)
        sys.stdout.flush()

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        """Every complete entry (a line cut short by a crash was never told: it is skipped)."""
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


def _warm_up() -> None:
    """Import what the first sale would import, as a booted terminal has: the kill window is
    then spent in transactions, not in the import system."""
    import importlib

    for name in (
        "appliance.host.link",
        "appliance.host.keys",
        "appliance.host.dialects",
        "appliance.emv.kernel",
        "appliance.domain.receipts",
        "appliance.receipts.escpos",
    ):
        importlib.import_module(name)


def _told_entry(op: str, outcome: Any) -> dict[str, Any]:
    t = outcome.txn
    return {
        "op": op,
        "result": outcome.result,
        "uuid": t.uuid if t else None,
        "stan": t.stan if t else None,
        "amount": t.amount if t else None,
        "state": t.state.value if t else None,
    }


def run_shift(
    config: str | Path,
    seed: int,
    told: Path,
    *,
    control_port: int | None = None,
    online_sales: int = 4,
    offline_sales: int = 3,
    voids: bool = True,
    wait_go: bool = False,
) -> int:
    """Run the shift; returns the number of outcomes told. Raises nothing a crash would not."""
    from appliance.bootstrap import build_terminal
    from appliance.config import load_config
    from appliance.errors import CountertopError
    from appliance.sim.acquirer.server import control

    rng = random.Random(seed)
    cfg = load_config(config)
    log = ToldLog(told)
    term = build_terminal(cfg)
    _warm_up()
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()
    if wait_go:
        sys.stdin.readline()  # the harness starts the clock when it says GO
    n = 0

    def sale(amount: int) -> Any:
        nonlocal n
        try:
            out = term.sale(amount, operator="01")
        except CountertopError as exc:
            log.tell({"op": "sale", "result": "error", "error": str(exc), "amount": amount})
            n += 1
            return None
        log.tell(_told_entry("sale", out))
        n += 1
        return out

    def amount() -> int:
        # Cents 51 are declined by the reference acquirer: some declines in every shift.
        return rng.randrange(1, 400) * 100 + (51 if rng.random() < 0.15 else rng.randrange(0, 50))

    try:
        term.send_owed()
        term.sign_on("01")
        approved = []
        for _ in range(online_sales):
            out = sale(amount())
            if out is not None and out.result == "approved":
                approved.append(out.txn)
        if voids and approved:
            victim = rng.choice(approved)
            try:
                out = term.void(victim.stan, approver=SUPERVISOR)
                log.tell(_told_entry("void", out))
            except CountertopError as exc:
                log.tell({"op": "void", "result": "error", "error": str(exc)})
            n += 1
        if control_port is not None:
            control("127.0.0.1", control_port, "FAULT refuse")
        for _ in range(offline_sales):
            sale(amount())
        if control_port is not None:
            control("127.0.0.1", control_port, "CLEAR refuse")
        for _ in range(5):
            report = term.send_owed()
            if not report.still_owed:
                break
    finally:
        term.close()
    sys.stdout.write(DONE + "\n")
    sys.stdout.flush()
    return n


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m appliance.sim.shift CONFIG SEED --told PATH``."""
    p = argparse.ArgumentParser(prog="python -m appliance.sim.shift", description=__doc__)
    p.add_argument("config")
    p.add_argument("seed", type=int)
    p.add_argument("--told", required=True, type=Path, help="the fsync'd record of outcomes")
    p.add_argument("--control-port", type=int, help="acquirer control port (link cut)")
    p.add_argument("--online", type=int, default=4, help="online sales")
    p.add_argument("--offline", type=int, default=3, help="sales while the link is cut")
    p.add_argument("--go", action="store_true", help="after READY, wait for a line on stdin")
    p.add_argument("--no-voids", action="store_true", help="leave voids out of the shift")
    a = p.parse_args(argv)
    run_shift(
        a.config,
        a.seed,
        a.told,
        control_port=a.control_port,
        online_sales=a.online,
        offline_sales=a.offline,
        voids=not a.no_voids,
        wait_go=a.go,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
