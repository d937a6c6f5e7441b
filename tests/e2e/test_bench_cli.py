"""``countertop bench`` and ``countertop torture`` on the command line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from appliance import bench
from appliance.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_unknown_bench_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bench", "nosuch")
    assert code == 2
    assert "known: sale, drain" in err


def test_arguments_reach_the_bench_and_a_missed_target_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def bench_fake(n: int = 1, label: str = "", fast: bool = False) -> dict[str, Any]:
        seen.update(n=n, label=label, fast=fast)
        return {"n": n, "pass": {"speed": False}}

    monkeypatch.setattr(bench, "_extra", {})
    bench.register("fake", bench_fake)
    code, out, _ = run(capsys, "bench", "fake", "n=3", "--label", "x", "--fast", "--json")
    assert seen == {"n": 3, "label": "x", "fast": True}
    assert json.loads(out)["results"]["fake"]["n"] == 3
    assert code == 1


def test_a_bench_that_cannot_be_imported_fails_loudly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(bench.KNOWN, "ghost", "appliance.no_such_module:bench_ghost")
    code, out, err = run(capsys, "bench", "ghost")
    assert code == 1
    assert out == ""
    assert "ghost: cannot import the bench" in err and "no_such_module" in err


def test_bench_sale_reports_overhead_and_floor(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bench", "sale", "n=5", "--json")
    result = json.loads(out)["results"]["sale"]
    assert result["sales"] == 5
    assert 0 < result["overhead_p50_ms"] <= result["sale_p50_ms"]
    assert result["floor_p50_ms"] > 0
    assert code in (0, 1)  # the figure is reported either way; speed is not a test


def test_bench_drain_forwards_every_stored_payment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bench", "drain", "n=16", "latency_ms=1", "window1_n=4", "--json")
    result = json.loads(out)["results"]["drain"]
    assert result["window_acknowledged"] == 16
    assert result["window1_extrapolated"] is True
    assert code in (0, 1)


def test_torture_runs_trials_and_reports_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "torture", "--trials", "2", "--seed", "5", "--json")
    report = json.loads(out)
    assert report["trials"] == 2
    assert report["violations"] == 0
    assert code == 0
