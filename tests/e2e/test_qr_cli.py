"""``countertop qr pay|show|query|refund|forward`` and ``status`` through the CLI entry point,
against the reference QR gateway on loopback."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.bootstrap import open_journal
from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_OWED, EXIT_USAGE, main
from appliance.journal import qr as qrj
from appliance.sim.shop import SUPERVISOR, SUPERVISOR_PIN, init_demo, qr_gateway_for

CODE = "134567890123456789"


class Env:
    def __init__(self, tmp: Path) -> None:
        from appliance.config import load_config

        self.path = init_demo(
            tmp / "terminal.toml",
            overrides={"qr": {"query_interval": 0.02, "query_limit": 0.2, "timeout": 1.0}},
        )
        self.cfg = load_config(self.path)
        self.server = qr_gateway_for(self.cfg).start()
        self.gateway = self.server.gateway
        self._supervisor = False

    def add_supervisor(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> tuple[str, ...]:
        """The demo supervisor in the operator store (``countertop operators add``, once); the
        arguments that approve as them, with their PIN waiting on stdin for the next command."""
        if not self._supervisor:
            monkeypatch.setattr("sys.stdin", io.StringIO(SUPERVISOR_PIN + "\n"))
            add = ("operators", "add", SUPERVISOR.number, "--name", "Sup", "--role", "supervisor")
            assert main(["--config", str(self.path), *add, "--password-stdin"]) == EXIT_OK
            capsys.readouterr()
            self._supervisor = True
        monkeypatch.setattr("sys.stdin", io.StringIO(SUPERVISOR_PIN + "\n"))
        return ("--supervisor", SUPERVISOR.number, "--pin-stdin")

    def orders(self) -> list[Any]:
        """The QR orders in the terminal's journal, oldest first."""
        journal = open_journal(self.cfg)
        try:
            return qrj.orders(journal)
        finally:
            journal.close()

    def run(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
        code = main(["--config", str(self.path), *argv])
        cap = capsys.readouterr()
        doc = json.loads(cap.out) if "--json" in argv else cap.out
        return code, doc, cap.err


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.server.stop()


def test_pay_query_refund_with_json(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, doc, err = env.run(capsys, "qr", "pay", "12.50", "--code", CODE, "--json")
    assert code == EXIT_OK
    assert (doc["result"], doc["state"], doc["wallet"], doc["amount"]) == (
        "approved",
        "success",
        "WECHATPAY",
        1250,
    )
    assert doc["order"] and doc["trade_no"]
    assert CODE not in json.dumps(doc) + err
    order = doc["order"]
    code, doc, _ = env.run(capsys, "qr", "query", order, "--json")
    assert (code, doc["state"], doc["gateway_state"]) == (EXIT_OK, "success", "SUCCESS")
    approve = env.add_supervisor(capsys, monkeypatch)
    code, doc, _ = env.run(capsys, "qr", "refund", order, "5.00", "--json", *approve)
    assert (code, doc["result"], doc["kind"], doc["original"]) == (
        EXIT_OK,
        "approved",
        "refund",
        order,
    )
    approve = env.add_supervisor(capsys, monkeypatch)
    code, doc, _ = env.run(capsys, "qr", "refund", order, "8.00", "--json", *approve)
    assert (code, doc["result"], doc["code"]) == (EXIT_FAILED, "refused", "qr.refund_too_much")


def test_a_refund_without_a_supervisor_exits_2_and_sends_nothing(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, doc, _ = env.run(capsys, "qr", "pay", "12.50", "--code", CODE, "--json")
    assert code == EXIT_OK
    order = doc["order"]
    code, doc, err = env.run(capsys, "qr", "refund", order, "5.00", "--json")
    assert (code, doc["exit_code"]) == (EXIT_USAGE, EXIT_USAGE)
    assert "supervisor" in doc["error"]
    assert "主管授权" in err  # the demo terminal speaks zh_CN: the coded message, translated
    code, text, err = env.run(capsys, "qr", "refund", order, "5.00")
    assert code == EXIT_USAGE and text == ""
    assert env.gateway.book.refunds() == []
    assert [o.kind.value for o in env.orders()] == ["pay"]
    approve = env.add_supervisor(capsys, monkeypatch)
    code, doc, _ = env.run(capsys, "qr", "refund", order, "5.00", "--json", *approve)
    assert (code, doc["result"], doc["amount"]) == (EXIT_OK, "approved", 500)
    (refund,) = env.gateway.book.refunds()
    assert (refund["out_refund_no"], refund["status"]) == (doc["order"], "SUCCESS")
    assert [(o.kind.value, o.operator) for o in env.orders()] == [
        ("pay", ""),
        ("refund", SUPERVISOR.number),
    ]


def test_a_code_from_stdin_and_a_bad_code(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("289431869362714645\n"))
    code, doc, _ = env.run(capsys, "qr", "pay", "3.00", "--code", "-", "--json")
    assert (code, doc["wallet"]) == (EXIT_OK, "ALIPAY")
    code, text, _ = env.run(capsys, "qr", "pay", "3.00", "--code", "999999999999999999")
    assert code == EXIT_FAILED and "这不是付款码" in text  # the demo terminal speaks zh_CN
    assert "999999999999999999" not in text


def test_an_owed_cancel_exits_3_shows_in_status_and_is_forwarded(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.gateway.set_fault("userpaying", after=None, times=1)
    env.gateway.set_fault("cancel_fails", times=1)
    code, doc, err = env.run(capsys, "qr", "pay", "7.00", "--code", CODE, "--json")
    assert (code, doc["result"], doc["state"]) == (EXIT_OWED, "failed", "cancel_owed")
    assert "waiting for the customer to confirm" in err  # the countdown, on stderr
    code, st, _ = env.run(capsys, "status", "--json")
    assert st["qr_cancels_owed"] == 1
    code, text, _ = env.run(capsys, "status")
    assert "QR owed            1 cancel(s)" in text
    code, doc, _ = env.run(capsys, "qr", "forward", "--json")
    assert (code, doc["acknowledged"], doc["still_owed"]) == (EXIT_OK, 1, 0)


def test_show_prints_the_code_and_waits_for_the_customer(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    def customer() -> None:
        for _ in range(200):
            waiting = [
                t
                for t in env.gateway.book.trades()
                if t["mode"] == "show" and t["state"] == "WAIT_BUYER_PAY"
            ]
            if waiting and env.gateway.customer_scans(waiting[0]["out_trade_no"], "WECHATPAY"):
                return
            threading.Event().wait(0.01)

    t = threading.Thread(target=customer)
    t.start()
    code, doc, err = env.run(capsys, "qr", "show", "9.00", "--json")
    t.join()
    assert (code, doc["result"], doc["wallet"]) == (EXIT_OK, "approved", "WECHATPAY")
    assert doc["code_url"] and doc["code_url"] in err


def test_unreachable_gateway_fails_clearly(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.server.stop()
    code, doc, _ = env.run(capsys, "qr", "pay", "7.00", "--code", CODE, "--json")
    assert (code, doc["result"], doc["state"], doc["code"]) == (
        EXIT_FAILED,
        "failed",
        "not_sent",
        "qr.unreachable",
    )
