"""``countertop selftest`` against the demo shop, healthy and with faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from appliance.cli import main
from appliance.selftest import run_selftest
from tests.shop import Shop

PARTS = ["config", "journal", "reader", "printer", "indicators", "scanner", "host", "clock"]


def by_part(results: list) -> dict:
    """Results keyed by part name."""
    return {r.part: r for r in results}


def test_a_healthy_shop_passes_every_part(shop: Shop) -> None:
    results = run_selftest(cfg=shop.cfg, terminal=shop.terminal)
    assert [r.part for r in results] == PARTS
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert "from the host's time" in by_part(results)["clock"].detail


def test_refused_connection_fails_the_host_part_with_its_fix(shop: Shop) -> None:
    shop.acquirer.set_fault("refuse")
    parts = by_part(run_selftest(cfg=shop.cfg, terminal=shop.terminal))
    assert not parts["host"].ok and "not reachable" in parts["host"].detail
    assert "host.address" in parts["host"].fix
    assert parts["printer"].ok and parts["reader"].ok


def test_paper_out_fails_the_printer_part(shop: Shop) -> None:
    shop.terminal.printer.paper_out()
    parts = by_part(run_selftest(cfg=shop.cfg, terminal=shop.terminal))
    assert not parts["printer"].ok
    assert parts["printer"].detail == "paper_out" and "paper roll" in parts["printer"].fix
    shop.terminal.printer.paper_low()
    parts = by_part(run_selftest(cfg=shop.cfg, terminal=shop.terminal))
    assert parts["printer"].ok and "paper low" in parts["printer"].detail


def test_a_clock_far_from_the_hosts_or_before_2024_fails(shop: Shop) -> None:
    late = lambda: datetime.now(UTC) + timedelta(hours=1)  # noqa: E731
    parts = by_part(run_selftest(cfg=shop.cfg, terminal=shop.terminal, clock=late))
    assert not parts["clock"].ok and "timedatectl" in parts["clock"].fix
    old = lambda: datetime(1970, 1, 1, tzinfo=UTC)  # noqa: E731
    parts = by_part(run_selftest(cfg=shop.cfg, terminal=shop.terminal, clock=old))
    assert not parts["clock"].ok and "1970" in parts["clock"].detail


def test_too_little_free_disk_fails_the_journal_part(shop: Shop) -> None:
    parts = by_part(run_selftest(cfg=shop.cfg, terminal=shop.terminal, min_free=1 << 60))
    assert not parts["journal"].ok and "MB free" in parts["journal"].detail


def test_cli_builds_its_own_ports_and_exits_non_zero_on_a_fail(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["selftest", "--json", "--config", str(shop.cfg.path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and [p["part"] for p in doc["parts"]] == PARTS
    assert all(p["status"] == "OK" for p in doc["parts"])

    shop.acquirer.set_fault("refuse")
    assert main(["selftest", "--config", str(shop.cfg.path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  host" in out and "fix: " in out and "1 part(s) failed" in out


def test_cli_with_a_broken_config_fails_the_config_part(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "terminal.toml"
    bad.write_text("[merchant]\ntid = 'x'\n", encoding="utf-8")
    assert main(["selftest", "--config", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  config" in out and "merchant.tid" in out


def test_an_unplugged_scanner_fails_its_part_and_a_missing_one_passes(shop: Shop) -> None:
    from drivers.scanner.mock import NoScanner

    scanner = shop.terminal.scanner
    scanner.unplug()
    try:
        parts = by_part(run_selftest(cfg=shop.cfg, terminal=shop.terminal))
    finally:
        scanner.plug()
    assert not parts["scanner"].ok and "offline" in parts["scanner"].detail
    assert "/dev/input/by-id/" in parts["scanner"].fix
    assert parts["reader"].ok and parts["printer"].ok
    shop.terminal.scanner = NoScanner()
    try:
        parts = by_part(run_selftest(cfg=shop.cfg, terminal=shop.terminal))
    finally:
        shop.terminal.scanner = scanner
    assert parts["scanner"].ok and "not fitted" in parts["scanner"].detail
