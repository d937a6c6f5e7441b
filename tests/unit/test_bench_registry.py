"""The bench registry: names map to import paths; unavailable benches are skipped with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from appliance import bench


def test_every_known_bench_names_a_module_and_a_function() -> None:
    for name, target in bench.KNOWN.items():
        module, sep, attr = target.partition(":")
        assert sep and module and attr, name


def test_the_terminal_benches_resolve() -> None:
    assert bench.resolve("sale") is bench.bench_sale
    assert bench.resolve("drain") is bench.bench_drain


def test_a_bench_whose_module_is_missing_is_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(bench.KNOWN, "ghost", "appliance.no_such_module:bench_ghost")
    with pytest.raises(ImportError, match="no_such_module"):
        bench.resolve("ghost")
    found, skipped = bench.available()
    assert "ghost" not in found
    assert "appliance.no_such_module" in skipped["ghost"]
    assert "sale" in found


def test_a_module_without_the_function_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.KNOWN, "half", "appliance.bench:bench_nothing")
    _, skipped = bench.available()
    assert "has no function bench_nothing" in skipped["half"]


def test_a_registered_bench_is_listed_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "_extra", {})

    def bench_fake(n: int = 1) -> dict[str, Any]:
        return {"n": n, "ok": True}

    bench.register("fake", bench_fake)
    assert bench.names()[-1] == "fake"
    assert bench.resolve("fake")(n=3) == {"n": 3, "ok": True}


def test_percentiles_are_nearest_rank() -> None:
    xs = [float(x) for x in range(1, 101)]
    assert bench._pct(xs, 50) == 50.0
    assert bench._pct(xs, 99) == 99.0
    assert bench._pct([7.0], 99) == 7.0
