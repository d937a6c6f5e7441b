"""The crash torture of QR payments: kill -9 a terminal during the query loop and the cancel.

Like ``appliance.sim.torture`` for cards: each trial gets a fresh demo shop; one reference QR
gateway runs in this process for the whole run (its books are a file: they survive whatever
happens to the terminal). The QR shift (``python -m appliance.sim.qr_torture shift …``) runs as
a subprocess and takes QR payments under the gateway's faults — a plain payment, one the
customer confirms late (query loop), one never confirmed whose cancels fail twice (cancel
owed), one whose answer is lost after the gateway committed it, a partial refund, a
merchant-presented code the customer scans — then forwards what is owed. The harness kills it
at a seeded random moment, boots the terminal again (recovery owes the cancel of every order
left PENDING or PAYING), forwards until nothing is owed and checks (``check_qr``):

- no order is left PENDING, PAYING or owed;
- every gateway trade of the terminal is known to it, and they agree: SUCCESS (or REFUNDED)
  at the gateway ⇔ SUCCESS at the terminal; nothing the terminal cancelled, declined or never
  sent is charged;
- every payment the cashier was told approved is charged exactly once; nothing told failed,
  declined or cancelled is charged;
- refunds agree one by one, and no order is refunded beyond what was paid.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance.sim.shop import SUPERVISOR
from appliance.sim.torture import TortureReport, TrialResult

QR_SETTINGS = {"query_interval": 0.05, "query_limit": 0.4, "timeout": 0.5, "show_expiry": 1.0}
WECHAT = "134567890123456789"
ALIPAY = "289431869362714645"
UNIONPAY = "6212345678901234567"


# ---- invariants ---------------------------------------------------------------------------


def check_qr(
    orders: Sequence[Any],
    trades: Sequence[dict[str, Any]],
    refunds: Sequence[dict[str, Any]],
    tid: str,
    told: Sequence[dict[str, Any]],
) -> list[str]:
    """Every way the journal's QR orders and the gateway's books disagree (empty: none)."""
    from appliance.domain.qr import QrKind, QrState

    problems: list[str] = []
    mine = {t["out_trade_no"]: t for t in trades if t["tid"] == tid}
    pays = {o.order: o for o in orders if o.kind == QrKind.PAY}
    for o in orders:
        if o.state in (QrState.PENDING, QrState.PAYING, QrState.CANCEL_OWED, QrState.REFUND_OWED):
            problems.append(f"{o.order} is still {o.state.value}")
    for no, t in mine.items():
        o = pays.get(no)
        charged = t["state"] in ("SUCCESS", "REFUNDED")
        if o is None:
            if charged:
                problems.append(f"gateway charged {no}, unknown to the terminal")
            continue
        if charged and o.state != QrState.SUCCESS:
            problems.append(f"{no}: charged at the gateway, {o.state.value} at the terminal")
        if not charged and o.state == QrState.SUCCESS:
            problems.append(f"{no}: SUCCESS at the terminal, {t['state']} at the gateway")
        if charged and t["amount"] != o.amount:
            problems.append(f"{no}: amount {o.amount} here, {t['amount']} there")
    for no, o in pays.items():
        if o.state == QrState.SUCCESS and no not in mine:
            problems.append(f"{no}: SUCCESS at the terminal, unknown at the gateway")
    by_refund = {r["out_refund_no"]: r for r in refunds}
    refunded: dict[str, int] = {}
    for o in orders:
        if o.kind != QrKind.REFUND:
            continue
        r = by_refund.pop(o.order, None)
        if o.state == QrState.SUCCESS:
            if r is None or r["status"] != "SUCCESS" or r["amount"] != o.amount:
                problems.append(f"refund {o.order}: SUCCESS here, {r and r['status']} there")
            refunded[o.original] = refunded.get(o.original, 0) + o.amount
        elif r is not None and r["status"] == "SUCCESS":
            problems.append(f"refund {o.order}: {o.state.value} here, refunded there")
    for no, r in by_refund.items():
        if r["out_trade_no"] in pays:
            problems.append(f"refund {no} at the gateway, unknown to the terminal")
    for no, amount in refunded.items():
        if no in pays and amount > pays[no].amount:
            problems.append(f"{no}: refunded {amount}, more than paid {pays[no].amount}")
    for entry in told:
        no = entry.get("order")
        if not no or entry.get("kind") != "pay":
            continue
        t = mine.get(no)
        charged = t is not None and t["state"] in ("SUCCESS", "REFUNDED")
        if entry["result"] == "approved" and not charged:
            problems.append(f"{no} told approved, gateway has {t and t['state']}")
        if entry["result"] != "approved" and charged:
            problems.append(f"{no} told {entry['result']}, but charged at the gateway")
    return problems


# ---- the shift (a subprocess) ----------------------------------------------------------------


def run_qr_shift(config: str | Path, seed: int, told: Path, gateway: str, *, wait_go: bool) -> int:
    """The scripted QR shift; returns the number of outcomes told."""
    import httpx

    from appliance.bootstrap import build_terminal
    from appliance.config import load_config
    from appliance.errors import CountertopError
    from appliance.sim.shift import DONE, READY, ToldLog

    rng = random.Random(seed)
    cfg = load_config(config)
    log = ToldLog(told)
    term = build_terminal(cfg)
    qr = term.qr
    ctl = httpx.Client(base_url=gateway, timeout=5.0)
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()
    if wait_go:
        sys.stdin.readline()
    n = 0

    def fault(name: str, **params: Any) -> None:
        ctl.post("/sim/fault", json={"name": name, **params}).raise_for_status()

    def tell(op: str, out: Any) -> Any:
        nonlocal n
        o = out.order
        log.tell(
            {
                "op": op,
                "result": out.result,
                "order": o.order if o else None,
                "kind": o.kind.value if o else None,
                "state": o.state.value if o else None,
                "amount": o.amount if o else None,
            }
        )
        n += 1
        return out

    def amount() -> int:
        return rng.randrange(1, 200) * 100 + rng.choice((0, 0, 50))

    try:
        first = tell("pay", qr.pay(amount(), WECHAT, operator="01"))
        fault("userpaying", after=0.15, times=1)
        tell("pay", qr.pay(amount(), ALIPAY, operator="01"))
        fault("userpaying", after=None, times=1)
        fault("cancel_fails", times=2)
        tell("pay", qr.pay(amount(), UNIONPAY, operator="01"))
        fault("pay_timeout_after_commit", hold=1.0, times=1)
        tell("pay", qr.pay(amount(), WECHAT, operator="01"))
        if first.result == "approved" and first.order is not None:
            tell(
                "refund",
                qr.refund(first.order.order, max(1, first.order.amount // 3), approver=SUPERVISOR),
            )
        fault("refund_pending", after=0.1, times=1)
        if first.result == "approved" and first.order is not None:
            tell("refund", qr.refund(first.order.order, 1, approver=SUPERVISOR))

        def scan(url: str, order: Any) -> None:
            ctl.post("/sim/scan", json={"out_trade_no": order.order, "wallet": "ALIPAY"})

        tell("show", qr.show(amount(), on_code=scan, operator="01"))
        for _ in range(10):
            if not qr.send_owed().still_owed:
                break
            time.sleep(0.1)
    except CountertopError as exc:
        log.tell({"op": "error", "result": "error", "error": str(exc)})
    finally:
        term.close()
        ctl.close()
    sys.stdout.write(DONE + "\n")
    sys.stdout.flush()
    return n


# ---- the harness ---------------------------------------------------------------------------


def drain_qr(cfg: Any, rounds: int = 30) -> None:
    """Boot the terminal (recovery owes cancels) and forward owed QR messages until none."""
    from appliance.bootstrap import build_terminal

    term = build_terminal(cfg)
    try:
        for _ in range(rounds):
            if not term.qr.send_owed().still_owed:
                break
            time.sleep(0.05)
    finally:
        term.close()


class QrTorture:
    """Runs QR crash trials in ``workdir`` (one sub-directory per trial, kept on failure)."""

    def __init__(self, workdir: Path, *, seed: int = 0, keep: bool = False) -> None:
        self.workdir = Path(workdir)
        self.seed = seed
        self.keep = keep
        self.max_delay_ms: float | None = None
        self.server: Any = None

    def _gateway(self) -> Any:
        if self.server is None:
            from appliance.sim.qrgateway import GatewayServer, QrGateway

            self.workdir.mkdir(parents=True, exist_ok=True)
            self.server = GatewayServer(QrGateway(self.workdir / "ledger.db", {}, {})).start()
        return self.server

    def close(self) -> None:
        """Stop the gateway (its books stay in ``workdir``)."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def trial(self, i: int, *, kill: bool = True) -> TrialResult:
        """One trial: the QR shift, maybe kill -9 at a random moment, restart, drain, check."""
        from appliance.config import load_config
        from appliance.journal import qr as qrj
        from appliance.sim.shift import DONE, READY, ToldLog
        from appliance.sim.shop import init_demo

        server = self._gateway()
        gw = server.gateway
        rng = random.Random(self.seed * 1_000_003 + i)
        shift_seed = rng.randrange(2**31)
        d = self.workdir / f"qr-trial-{i:05d}"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        tid = f"{30_000_000 + i % 60_000_000:08d}"
        path = init_demo(
            d / "terminal.toml",
            overrides={"merchant": {"tid": tid}, "qr": {**QR_SETTINGS, "gateway": server.url}},
        )
        cfg = load_config(path)
        gw.keys[tid] = cfg.qr_key()
        gw.mids[tid] = cfg.merchant.mid
        told = d / "told.jsonl"
        cmd = [sys.executable, "-m", "appliance.sim.qr_torture", "shift", str(cfg.path)]
        cmd += [str(shift_seed), "--told", str(told), "--gateway", server.url, "--go"]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        result = TrialResult(i, shift_seed, None, 0, workdir=str(d))
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            if proc.stdout.readline().decode().strip() != READY:
                _, err = proc.communicate(timeout=60)
                result.violations.append(f"the QR shift did not start: {err.decode()[-500:]}")
                return result
            proc.stdin.write(b"GO\n")
            proc.stdin.close()
            started = time.perf_counter()
            delay = rng.uniform(0, self.max_delay_ms or 0) / 1000 if kill else None
            try:
                proc.wait(timeout=delay if delay is not None else 120)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                result.kill_after_ms = round((time.perf_counter() - started) * 1000, 1)
            self.last_ms = (time.perf_counter() - started) * 1000
            out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
            if result.kill_after_ms is None and (proc.returncode != 0 or DONE not in out):
                result.violations.append(
                    f"the QR shift failed (exit {proc.returncode}): {err.strip()[-800:]}"
                )
            gw.clear_faults()  # the faults were the shift's; the shop's network is fine now
            drain_qr(cfg)
            entries = ToldLog.read(told)
            result.told = len(entries)
            from appliance.bootstrap import open_journal

            journal = open_journal(cfg)
            try:
                result.violations += check_qr(
                    qrj.orders(journal), gw.book.trades(), gw.book.refunds(), tid, entries
                )
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
                shutil.rmtree(d, ignore_errors=True)
        return result

    def run(
        self, trials: int, *, on_trial: Callable[[TrialResult], None] | None = None
    ) -> TortureReport:
        """One unkilled shift to calibrate the kill window, then ``trials`` killed trials."""
        report = TortureReport(seed=self.seed)
        start = time.perf_counter()
        try:
            for i in range(trials):
                calibrating = self.max_delay_ms is None
                r = self.trial(i, kill=not calibrating)
                if calibrating:
                    self.max_delay_ms = max(100.0, self.last_ms * 1.1)
                    report.shift_ms = self.last_ms
                if r.kill_after_ms is not None:
                    report.told_at_kill[r.told] = report.told_at_kill.get(r.told, 0) + 1
                report.trials += 1
                report.killed += r.kill_after_ms is not None
                report.told += r.told
                if r.violations:
                    report.failures.append(r)
                if on_trial:
                    on_trial(r)
        finally:
            self.close()
        report.seconds = time.perf_counter() - start
        return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m appliance.sim.qr_torture shift CONFIG SEED --told PATH --gateway URL``."""
    p = argparse.ArgumentParser(prog="qr_torture")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("shift")
    s.add_argument("config")
    s.add_argument("seed", type=int)
    s.add_argument("--told", type=Path, required=True)
    s.add_argument("--gateway", required=True)
    s.add_argument("--go", action="store_true")
    args = p.parse_args(argv)
    run_qr_shift(args.config, args.seed, args.told, args.gateway, wait_go=args.go)
    return 0


if __name__ == "__main__":
    sys.exit(main())
