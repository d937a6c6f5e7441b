"""The command line prints the jobs it queues when no kiosk prints (against a LAN printer on
loopback), and lists and retries parked jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli import EXIT_OK, main
from appliance.config import load_config
from appliance.journal import Journal
from appliance.sim.printer_net import FakeNetworkPrinter
from appliance.sim.shop import acquirer_for, init_demo
from drivers.printer.base import PrinterStatus
from drivers.printer.escpos_render import render_text


@pytest.fixture
def fake() -> Iterator[FakeNetworkPrinter]:
    with FakeNetworkPrinter() as server:
        yield server


@pytest.fixture
def cfg_path(tmp_path: Path, fake: FakeNetworkPrinter) -> Iterator[Path]:
    printer = {"backend": "network", "host": fake.host, "port": fake.port, "cli_wait": 0.5}
    path = init_demo(tmp_path / "terminal.toml", overrides={"printer": printer})
    acq = acquirer_for(load_config(path), control_port=0)
    acq.start()
    yield path
    acq.stop()


def test_a_cli_sale_has_printed_its_stub_when_the_command_exits(
    cfg_path: Path, fake: FakeNetworkPrinter, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(cfg_path), "sale", "12.50", "--json"]) == EXIT_OK
    out = capsys.readouterr()
    sale = json.loads(out.out)  # stdout stays one JSON document
    text = render_text(fake.received, dots=384)
    assert sale["trace"] in text and "12.50" in text
    assert "printed 1 job(s)" in out.err
    journal = Journal.open(load_config(cfg_path).journal_path)
    try:
        assert [j.state for j in journal.print_jobs.list()] == ["done"]
    finally:
        journal.close()


def test_a_cli_sale_says_its_stub_waits_when_the_printer_is_out_of_paper(
    cfg_path: Path, fake: FakeNetworkPrinter, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.status = PrinterStatus.PAPER_OUT
    assert main(["--config", str(cfg_path), "sale", "3.00"]) == EXIT_OK
    err = capsys.readouterr().err
    assert "1 job(s) wait: the printer is paper_out" in err
    assert fake.received == b""
    fake.status = PrinterStatus.ONLINE
    assert main(["--config", str(cfg_path), "printer", "jobs", "--print", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["print"]["printed"] == 1 and report["jobs"] == []
    assert "3.00" in render_text(fake.received, dots=384)


def test_parked_jobs_are_listed_by_status_and_printed_again_on_request(
    cfg_path: Path, fake: FakeNetworkPrinter, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ["--config", str(cfg_path)]
    fake.fault_after_bytes(30, PrinterStatus.PAPER_OUT)  # paper runs out mid-stub
    assert main([*config, "sale", "4.00"]) == EXIT_OK
    fake.restore()  # the printer prints what it held
    fake.fault_after_bytes(30, PrinterStatus.PAPER_OUT)  # and again for the DUPLICATE
    main([*config, "printer", "jobs", "--print"])
    fake.restore()
    capsys.readouterr()
    assert main([*config, "status", "--json"]) == EXIT_OK
    status = json.loads(capsys.readouterr().out)
    [job] = status["print_jobs"]
    assert (job["state"], job["attempts"]) == ("needs_attention", 2)
    assert "out of paper" in job["last_error"]
    assert status["print_jobs_attention"] == 1
    before = fake.received.count(b"DUPLICATE")
    assert main([*config, "printer", "retry", "--json"]) == EXIT_OK
    retried = json.loads(capsys.readouterr().out)
    assert retried["retried"] == 1 and retried["print"]["printed"] == 1
    assert fake.received.count(b"DUPLICATE") > before
    assert main([*config, "printer", "jobs", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["jobs"] == []
