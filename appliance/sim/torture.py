"""The crash torture test: kill -9 a terminal mid-shift, restart it, and check nothing was lost.

Each trial gets a fresh demo shop (config, keys, journal) and a fresh reference acquirer run
in this process (its ledger is a file: it survives whatever happens to the terminal). The
scripted shift (``appliance.sim.shift``) runs as a subprocess; after it says READY the harness
waits a seeded random time and sends SIGKILL (the first trial runs to the end and measures
how long a shift takes, which bounds the random delay). Then, like a terminal booting after
a power cut, it builds the terminal from the same config (recovery queues reversals for
PENDING rows), forwards until nothing is owed, and checks the invariants (``check``):

- every payment the operator was told approved or stored (the shift's fsync'd ``told`` file)
  is in the acquirer's ledger exactly once (or was reversed / declined when forwarded);
- nothing is charged twice, and nothing the operator was told failed is charged;
- no PENDING row and no owed message is left;
- the journal and the ledger agree row by row and in total.

``run_fault_trial`` checks the same invariants in-process under each network fault of the
reference acquirer.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.domain.transactions import MONEY_MOVED, TxnState, TxnType
from appliance.sim.shop import SUPERVISOR

DEFAULT_SHIFT_CMD: tuple[str, ...] = (sys.executable, "-m", "appliance.sim.shift")
LIVE = ("approved", "voided", "refunded")  # ledger statuses in which money moved


# ---- invariants ---------------------------------------------------------------------------


def agreement(journal: Any, ledger: list[dict[str, Any]], tid: str) -> list[str]:
    """Every way the terminal journal and the acquirer ledger disagree (empty: they agree).

    The acquirer must hold exactly one live charge for each payment the terminal counts as
    money moved, and none for anything the terminal counts as not charged; totals must match.
    """
    problems: list[str] = []
    live: dict[tuple[str, int], dict[str, Any]] = {}
    for row in ledger:
        if row["tid"] != tid or row["status"] not in LIVE:
            continue
        key = (row["type"], int(row["stan"]))
        if key in live:
            problems.append(f"charged twice: {key}")
        live[key] = row
    for t in journal.transactions():
        cands = [("sale", t.stan), ("advice", t.stan)] if t.type == TxnType.SALE else []
        cands = cands or [(t.type.value, t.stan)]
        found = [live.pop(k) for k in cands if k in live]
        if t.state == TxnState.PENDING:
            problems.append(f"{t.type.value} {t.trace} is still pending")
        elif t.state in MONEY_MOVED and t.state != TxnState.STORED:
            if len(found) != 1:
                problems.append(
                    f"{t.type.value} {t.trace} is {t.state.value} here, "
                    f"acquirer has {len(found)} live record(s)"
                )
            elif int(found[0]["amount"]) != t.amount:
                problems.append(f"{t.trace}: amount {t.amount} here, {found[0]['amount']} there")
        elif found:
            problems.append(f"{t.type.value} {t.trace} is {t.state.value} here but charged there")
    for key, row in live.items():
        problems.append(f"acquirer charged {key} ({row['status']}) unknown to the terminal")
    here = sum(
        t.amount
        for t in journal.transactions(states=(TxnState.APPROVED,))
        if t.type == TxnType.SALE
    )
    there = sum(
        int(r["amount"])
        for r in ledger
        if r["tid"] == tid and r["type"] in ("sale", "advice") and r["status"] == "approved"
    )
    if here != there:
        problems.append(f"sales total {here} in the journal, {there} in the ledger")
    return problems


def check(
    journal: Any, ledger: list[dict[str, Any]], tid: str, told: list[dict[str, Any]]
) -> list[str]:
    """The invariants after a drained restart (see the module docstring); empty: all hold."""
    problems = agreement(journal, ledger, tid)
    if journal.owed():
        problems.append(f"{len(journal.owed())} message(s) still owed after draining")
    rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in ledger:
        if r["tid"] == tid:
            rows.setdefault((r["type"], int(r["stan"])), []).append(r)
    from appliance.errors import NotFound

    for entry in told:
        uuid = entry.get("uuid")
        if not uuid:
            continue
        try:
            t = journal.get(uuid)
        except NotFound:
            problems.append(f"told {entry['result']} for {uuid}, which the journal does not know")
            continue
        keys = [("sale", t.stan), ("advice", t.stan)] if t.type == TxnType.SALE else []
        there = [r for k in keys or [(t.type.value, t.stan)] for r in rows.get(k, [])]
        live = [r for r in there if r["status"] in LIVE]
        what = f"{entry['op']} {t.trace} told {entry['result']}"
        if entry["result"] == "approved":
            if len(live) != 1 and not (
                t.state == TxnState.REVERSED and all(r["status"] == "reversed" for r in there)
            ):
                problems.append(f"{what}: {len(live)} live ledger record(s), now {t.state.value}")
        elif entry["result"] == "stored":
            if t.state == TxnState.FORWARD_DECLINED:
                if live:
                    problems.append(f"{what}: declined when forwarded yet charged")
            elif len(live) != 1:
                problems.append(f"{what}: {len(live)} live ledger record(s), now {t.state.value}")
        elif live or t.state in MONEY_MOVED:
            # The customer was told it failed and may pay again: it must not be charged.
            problems.append(f"{what}: but it is {t.state.value} and {len(live)} charge(s) live")
    return problems


# ---- one shop -------------------------------------------------------------------------------


def make_shop_config(
    directory: Path,
    *,
    port: int | None = None,
    tid: str | None = None,
    response_timeout: float = 0.5,
    connect_timeout: float = 0.5,
    print_after_forward: bool = True,
) -> Any:
    """A demo config in ``directory`` with short host timeouts (faults resolve quickly)."""
    from appliance.config import load_config
    from appliance.sim.shop import free_port, init_demo

    overrides: dict[str, dict[str, Any]] = {
        "host": {"response_timeout": response_timeout, "connect_timeout": connect_timeout}
    }
    if tid:
        overrides["merchant"] = {"tid": tid}
    if not print_after_forward:
        overrides["receipts"] = {"print_after_forward": False}
    path = init_demo(directory / "terminal.toml", port=port or free_port(), overrides=overrides)
    return load_config(path)


def drain(cfg: Any, *, rounds: int = 20) -> None:
    """Boot the terminal (recovery queues reversals) and forward until nothing is owed."""
    from appliance.bootstrap import build_terminal
    from appliance.errors import CountertopError

    term = build_terminal(cfg)
    try:
        for _ in range(rounds):
            try:
                if not term.send_owed().still_owed:
                    break
            except CountertopError:
                continue
    finally:
        term.close()


def _journal(cfg: Any) -> Any:
    from appliance.bootstrap import open_journal

    return open_journal(cfg)


# ---- the crash harness -----------------------------------------------------------------------


@dataclass
class TrialResult:
    """What one trial did and which invariants it broke."""

    trial: int
    seed: int
    kill_after_ms: float | None  # None: the shift was not killed (it ended first)
    told: int
    violations: list[str] = field(default_factory=list)
    workdir: str = ""


@dataclass
class TortureReport:
    """The outcome of a torture run."""

    trials: int = 0
    killed: int = 0
    told: int = 0
    seconds: float = 0.0
    shift_ms: float = 0.0
    seed: int = 0
    failures: list[TrialResult] = field(default_factory=list)
    told_at_kill: dict[int, int] = field(default_factory=dict)  # outcomes told → killed trials

    @property
    def violations(self) -> int:
        """How many invariant violations were found, over all trials."""
        return sum(len(f.violations) for f in self.failures)

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable form (``countertop torture --json``)."""
        return {
            "trials": self.trials,
            "killed": self.killed,
            "outcomes_told": self.told,
            "violations": self.violations,
            "seconds": round(self.seconds, 1),
            "shift_ms": round(self.shift_ms, 1),
            "seed": self.seed,
            "told_at_kill": dict(sorted(self.told_at_kill.items())),
            "failures": [
                {
                    "trial": f.trial,
                    "seed": f.seed,
                    "kill_after_ms": f.kill_after_ms,
                    "violations": f.violations,
                    "workdir": f.workdir,
                }
                for f in self.failures
            ],
        }


@dataclass
class _Prepared:
    """A trial whose shop exists and whose shift process is starting."""

    trial: int
    rng: random.Random
    shift_seed: int
    dir: Path
    cfg: Any
    told: Path
    proc: subprocess.Popen[bytes]


class Torture:
    """Runs crash trials in ``workdir`` (one sub-directory per trial, kept only on failure)."""

    def __init__(
        self,
        workdir: Path,
        *,
        seed: int = 0,
        shift_cmd: Sequence[str] = DEFAULT_SHIFT_CMD,
        shift_args: Sequence[str] = (),
        max_delay_ms: float | None = None,
        keep: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.seed = seed
        self.shift_cmd = list(shift_cmd)
        self.shift_args = list(shift_args)
        self.max_delay_ms = max_delay_ms
        self.keep = keep
        self.last_shift_ms = 0.0
        self.adaptive = False  # max_delay_ms follows the measured shift length
        self.acq: Any = None

    def _acquirer(self) -> Any:
        """The one reference acquirer of this run (every trial's shop has its own TID)."""
        if self.acq is None:
            from appliance.sim.acquirer.server import ReferenceAcquirer

            self.workdir.mkdir(parents=True, exist_ok=True)
            self.acq = ReferenceAcquirer(
                "127.0.0.1", 0, "iso87", self.workdir / "ledger.db", {}, {}, control_port=0
            )
            self.acq.start()
        return self.acq

    def close(self) -> None:
        """Stop the acquirer (its ledger stays in ``workdir``)."""
        if self.acq is not None:
            self.acq.stop()
            self.acq = None

    def prepare(self, i: int) -> _Prepared:
        """Make trial ``i``'s shop and start its shift process (it waits for GO after READY)."""
        acq = self._acquirer()
        rng = random.Random(self.seed * 1_000_003 + i)
        shift_seed = rng.randrange(2**31)
        d = self.workdir / f"trial-{i:05d}"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        cfg = make_shop_config(d, port=acq.port, tid=f"{20_000_000 + i % 70_000_000:08d}")
        acq.terminals[cfg.merchant.tid] = cfg.tmk()
        acq.mids[cfg.merchant.tid] = cfg.merchant.mid
        told = d / "told.jsonl"
        cmd = [*self.shift_cmd, str(cfg.path), str(shift_seed), "--told", str(told), "--go"]
        cmd += ["--control-port", str(acq.control_port), *self.shift_args]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return _Prepared(i, rng, shift_seed, d, cfg, told, proc)

    def trial(self, i: int, *, kill: bool = True, prepared: _Prepared | None = None) -> TrialResult:
        """One trial: shift, maybe kill -9 at a random moment, restart, drain, check."""
        from appliance.sim.shift import DONE, READY, ToldLog

        p = prepared or self.prepare(i)
        acq, proc, cfg = self._acquirer(), p.proc, p.cfg
        result = TrialResult(i, p.shift_seed, None, 0, workdir=str(p.dir))
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            first = proc.stdout.readline().decode().strip()
            if first != READY:
                _, err = proc.communicate(timeout=60)
                result.violations.append(f"the shift did not start: {err.decode()[-500:]}")
                return result
            proc.stdin.write(b"GO\n")
            proc.stdin.close()
            started = time.perf_counter()
            delay = p.rng.uniform(0, self.max_delay_ms or 0) / 1000 if kill else None
            try:
                proc.wait(timeout=delay if delay is not None else 120)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                result.kill_after_ms = round((time.perf_counter() - started) * 1000, 1)
            self.last_shift_ms = (time.perf_counter() - started) * 1000
            out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
            if result.kill_after_ms is None and (proc.returncode != 0 or DONE not in out):
                result.violations.append(
                    f"the shift failed (exit {proc.returncode}): {err.strip()[-800:]}"
                )
            # The link cut may have been on when the terminal died: the shop's network is back.
            acq.clear_faults()
            drain(cfg)
            told = ToldLog.read(p.told)
            result.told = len(told)
            journal = _journal(cfg)
            try:
                result.violations += check(journal, acq.ledger(), cfg.merchant.tid, told)
            finally:
                journal.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f is not None:
                    f.close()
            if not result.violations and not self.keep:
                shutil.rmtree(p.dir, ignore_errors=True)
        return result

    def run(
        self, trials: int, *, on_trial: Callable[[TrialResult], None] | None = None
    ) -> TortureReport:
        """Calibrate with one unkilled shift, then run ``trials`` killed trials."""
        report = TortureReport(seed=self.seed)
        start = time.perf_counter()
        try:
            self._run(trials, report, on_trial)
        finally:
            self.close()
        report.seconds = time.perf_counter() - start
        if not report.shift_ms:
            report.shift_ms = self.max_delay_ms or 0.0
        return report

    def _run(
        self,
        trials: int,
        report: TortureReport,
        on_trial: Callable[[TrialResult], None] | None,
    ) -> None:
        nxt = self.prepare(0) if trials else None
        full: list[float] = []
        recent: list[bool] = []
        for i in range(trials):
            calibrating = self.max_delay_ms is None
            cur = nxt
            # The next shift starts (imports, recovery) while this one runs and is checked.
            nxt = self.prepare(i + 1) if i + 1 < trials else None
            try:
                r = self.trial(i, kill=not calibrating, prepared=cur)
            except BaseException:
                if nxt is not None:
                    nxt.proc.kill()
                    nxt.proc.wait()
                raise
            if r.kill_after_ms is None and not r.violations:
                full.append(self.last_shift_ms)
                report.shift_ms = statistics.median(full)
            if calibrating:
                self.adaptive = True
                self.max_delay_ms = max(50.0, self.last_shift_ms * 1.1)
            elif self.adaptive:
                # Shifts run slower or faster with the machine's load: keep about one trial in
                # eight running to its end, so the kills cover the whole shift, forwarding too.
                recent.append(r.kill_after_ms is None)
                ran_out = sum(recent[-8:]) / len(recent[-8:])
                if ran_out < 1 / 16:
                    self.max_delay_ms = (self.max_delay_ms or 50.0) * 1.1
                elif ran_out > 1 / 4:
                    self.max_delay_ms = max(50.0, (self.max_delay_ms or 50.0) * 0.9)
            if r.kill_after_ms is not None:
                report.told_at_kill[r.told] = report.told_at_kill.get(r.told, 0) + 1
            report.trials += 1
            report.killed += r.kill_after_ms is not None
            report.told += r.told
            if r.violations:
                report.failures.append(r)
            if on_trial:
                on_trial(r)


# ---- network faults, in process -----------------------------------------------------------


FAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "refuse": {},
    "drop_request": {"probability": 0.4},
    "drop_response": {"probability": 0.4},
    "delay": {"probability": 0.4, "seconds": 1.0},
    "reset": {"probability": 0.4},
    "garbage": {"probability": 0.4},
    "bad_mac": {"probability": 0.4},
    "latency": {"ms": 20},
}


def run_fault_trial(
    workdir: Path, fault: str, *, seed: int = 0, sales: int = 6, voids: bool = True
) -> list[str]:
    """Sales (and a void) while ``fault`` is on, then the fault clears, the terminal restarts
    and drains: returns the invariant violations (empty: none)."""
    from appliance.bootstrap import build_terminal
    from appliance.errors import CountertopError
    from appliance.sim.shop import acquirer_for

    cfg = make_shop_config(Path(workdir), response_timeout=0.3, connect_timeout=0.3)
    acq = acquirer_for(cfg, control_port=0)
    acq.start()
    told: list[dict[str, Any]] = []
    rng = random.Random(seed)
    try:
        term = build_terminal(cfg)
        try:
            term.sign_on("01")
            params = {**FAULT_SETTINGS.get(fault, {})}
            if "probability" in params:
                params["seed"] = seed
            acq.set_fault(fault, **params)
            approved = []
            for _ in range(sales):
                amount = rng.randrange(1, 300) * 100 + rng.choice((0, 1, 51))
                try:
                    out = term.sale(amount, operator="01")
                except CountertopError as exc:
                    told.append({"op": "sale", "result": "error", "error": str(exc)})
                    continue
                told.append(_entry("sale", out))
                if out.result == "approved":
                    approved.append(out.txn)
            if voids and approved:
                try:
                    told.append(_entry("void", term.void(approved[0].stan, approver=SUPERVISOR)))
                except CountertopError as exc:
                    told.append({"op": "void", "result": "error", "error": str(exc)})
        finally:
            term.close()
        acq.clear_faults()
        drain(cfg)
        journal = _journal(cfg)
        try:
            return check(journal, acq.ledger(), cfg.merchant.tid, told)
        finally:
            journal.close()
    finally:
        acq.stop()


def _entry(op: str, outcome: Any) -> dict[str, Any]:
    from appliance.sim.shift import _told_entry

    return _told_entry(op, outcome)
