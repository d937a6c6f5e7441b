"""``countertop settle / report / reconcile / acquirer statement`` through the CLI entry point."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_OWED, EXIT_USAGE, main
from tests.shop import SUPERVISOR, SUPERVISOR_PIN, Shop, add_supervisor


def cli(shop: Shop, *argv: str) -> int:
    return main(["--config", str(shop.cfg.path), *argv])


def out_json(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    return json.loads(capsys.readouterr().out)


def test_report_x_settle_and_reprint_z(
    shop: Shop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    approve = add_supervisor(shop)
    for a in (1000, 2345):
        assert shop.terminal.sale(a, operator="01").result == "approved"
    capsys.readouterr()
    assert cli(shop, "report", "x", "--json", "--print") == EXIT_OK
    x = out_json(capsys)
    assert (x["sale_count"], x["sale_amount"], x["print_job"] is not None) == (2, 3345, True)
    assert cli(shop, "settle", "--json") == EXIT_USAGE  # nobody approved it: nothing cut
    assert "主管" in capsys.readouterr().err  # the config speaks zh_CN and LANG is C
    monkeypatch.setattr("sys.stdin", io.StringIO(SUPERVISOR_PIN + "\n"))
    assert cli(shop, "settle", "--json", *approve) == EXIT_OK
    captured = capsys.readouterr()
    s = json.loads(captured.out)
    assert (s["result"], s["terminal"]["sale_amount"], s["slip_queued"]) == ("balanced", 3345, True)
    assert "sending batch totals" in captured.err  # progress goes to stderr
    assert cli(shop, "report", "z", "--batch", str(s["batch"]), "--print") == EXIT_OK
    text = capsys.readouterr().out
    assert "BALANCED" in text and "REPRINT" in text.upper() and "33.45" in text
    assert cli(shop, "settle", "--if-due") == EXIT_OK  # empty batch: never due
    assert "not due" in capsys.readouterr().out


def test_settle_refuses_with_exit_3_while_a_reversal_is_owed(
    shop: Shop, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    approve = add_supervisor(shop)
    monkeypatch.setattr("sys.stdin", io.StringIO(SUPERVISOR_PIN + "\n"))
    out = shop.terminal.sale(1000)
    assert out.txn is not None
    shop.terminal.journal.owe_reversal(out.txn.uuid, "test")
    shop.acquirer.set_fault("refuse")
    assert cli(shop, "settle", *approve) == EXIT_OWED
    assert "冲正" in capsys.readouterr().err  # reversal, in the config's language


def test_statement_export_then_reconcile(
    shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for a in (1000, 2000, 3000):
        assert shop.terminal.sale(a).result == "approved"
    today = datetime.now(UTC).date().isoformat()
    clean = tmp_path / "clean.csv"
    assert cli(shop, "acquirer", "statement", "--date", today, "--out", str(clean)) == EXIT_OK
    assert clean.read_text().splitlines()[0].startswith("settlement_date,tid,batch,stan,rrn")
    assert cli(shop, "reconcile", str(clean)) == EXIT_OK
    assert "all lines match" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    inject = ("--inject", "missing,fee,unknown")
    assert cli(shop, "acquirer", "statement", "--date", today, "--out", str(bad), *inject) == 0
    with bad.open("a") as f:
        f.write("garbage line\n")
    capsys.readouterr()
    assert cli(shop, "reconcile", str(bad), "--json", "--print") == EXIT_FAILED
    r = out_json(capsys)
    assert r["counts"]["terminal_only"] == 1 and r["counts"]["fee_mismatch"] == 1
    assert r["counts"]["acquirer_only"] == 1
    assert [b["line_no"] for b in r["bad_lines"]] == [5]
    assert len(r["print_jobs"]) == 3  # slip + the two stubs the journal knows
    assert r["net_difference"] != 0


def test_settle_killed_mid_upload_resumes_after_restart(shop: Shop) -> None:
    """A real crash: ``countertop settle`` is SIGKILLed while uploading, then run again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from appliance.domain.settlement import SettleResult, SettleState
    from appliance.services.settlement import Settlement
    from tests.integration.test_settle_flow import unknown_to_host

    unknown_to_host(shop, *range(101, 141))  # 40 sales the acquirer never saw
    batch = shop.terminal.journal.batch
    shop.acquirer.set_fault("latency", ms=100)
    approve = add_supervisor(shop)
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "--config", str(shop.cfg.path), "settle", *approve],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert proc.stdin is not None
    proc.stdin.write((SUPERVISOR_PIN + "\n").encode())
    proc.stdin.close()
    st = Settlement(shop.terminal)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:  # poll the journal: the only shared state
            rec = st.unfinished()
            if rec is not None and rec.state == SettleState.UPLOADING and rec.uploaded >= 8:
                break
            assert proc.poll() is None, "settle finished before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("settlement never reached the upload")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    shop.acquirer.clear_faults()
    term = shop.restart()
    out = Settlement(term).settle(approver=SUPERVISOR)
    assert out.resumed and out.record.batch == batch
    assert out.record.state == SettleState.CLOSED
    assert out.record.result == SettleResult.BALANCED_AFTER_UPLOAD
    uploads = shop.acquirer.books._db.execute(
        "SELECT COUNT(*) FROM uploads WHERE batch=?", (batch,)
    ).fetchone()[0]
    assert uploads == 40  # the window cut short by the kill was resent as repeats
    assert term.journal.batch == batch + 1


def test_a_second_settle_while_one_runs_refuses_with_exit_4_and_does_nothing(
    tmp_path: Path,
) -> None:
    """Two real ``countertop settle`` processes: the second is refused, the first settles.

    The first is paused (SIGSTOP) mid-upload while it holds the claim, so the second surely
    runs while the first is settling, however slowly this machine starts a process; a long
    response timeout keeps the pause from looking like a lost answer.
    """
    import os
    import signal
    import subprocess
    import sys
    import time

    from appliance.cli import EXIT_BUSY
    from appliance.domain.settlement import SettleResult, SettleState
    from appliance.services.settlement import Settlement
    from tests.integration.test_settle_flow import host_settlements, unknown_to_host
    from tests.shop import open_shop

    shop = open_shop(tmp_path, response_timeout=30.0)
    try:
        shop.terminal.sign_on("01")
        unknown_to_host(shop, *range(101, 141))  # 40 sales the acquirer never saw: an upload
        batch = shop.terminal.journal.batch
        shop.acquirer.set_fault("latency", ms=50)
        approve = add_supervisor(shop)
        command = [
            *(sys.executable, "-m", "appliance", "--config", str(shop.cfg.path), "settle"),
            *approve,
        ]
        env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
        pin = tmp_path / "supervisor-pin"
        pin.write_text(SUPERVISOR_PIN + "\n")
        with pin.open() as pin_in:
            first = subprocess.Popen(
                command, stdin=pin_in, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            )
        st = Settlement(shop.terminal)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:  # poll the journal: the only shared state
                rec = st.unfinished()
                if rec is not None and rec.state == SettleState.UPLOADING:
                    break
                assert first.poll() is None, "the first settle finished before it was paused"
                time.sleep(0.01)
            else:
                pytest.fail("the first settlement never reached the upload")
            first.send_signal(signal.SIGSTOP)
            second = subprocess.run(
                [*command, "--json"],
                input=SUPERVISOR_PIN + "\n",
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
        finally:
            first.send_signal(signal.SIGCONT)
            _, err = first.communicate(timeout=60)
        assert second.returncode == EXIT_BUSY, second.stderr
        # In the shop's language (zh_CN here): which batch, how far, and who holds it.
        assert f"批次 {batch:06d} 正在结算（已上送 " in second.stderr
        assert f"进程 {first.pid}，开始于" in second.stderr
        assert "Traceback" not in second.stderr and second.stdout == ""
        assert first.returncode == EXIT_OK, err.decode()
        closed = st.get(batch)
        assert closed.state == SettleState.CLOSED
        assert closed.result == SettleResult.BALANCED_AFTER_UPLOAD
        assert {int(s["batch"]) for s in host_settlements(shop)} == {batch}  # nothing else
        assert shop.terminal.journal.batch == batch + 1  # the second cut nothing
        assert st.unfinished() is None
        assert shop.terminal.journal.session_get("settlement_claim") == ""
    finally:
        shop.close()
