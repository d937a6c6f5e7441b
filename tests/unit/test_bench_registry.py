"""The bench registry: names map to import paths; a bench that cannot be imported is an error."""

from __future__ import annotations

from typing import Any

import pytest

from appliance import bench
from appliance.bench import terminal
from appliance.bench.stats import percentile


def test_every_known_bench_names_a_module_and_a_function() -> None:
    for name, target in bench.KNOWN.items():
        module, sep, attr = target.partition(":")
        assert sep and module.startswith("appliance.bench.") and attr, name


def test_every_known_bench_resolves_to_a_function() -> None:
    found = bench.available()
    assert set(bench.KNOWN) <= set(found)
    assert all(callable(fn) for fn in found.values())


def test_the_terminal_benches_resolve() -> None:
    assert bench.resolve("sale") is terminal.bench_sale
    assert bench.resolve("drain") is terminal.bench_drain


def test_a_bench_whose_module_is_missing_is_an_error_not_a_skip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(bench.KNOWN, "ghost", "appliance.no_such_module:bench_ghost")
    with pytest.raises(ImportError, match="no_such_module"):
        bench.resolve("ghost")
    with pytest.raises(ImportError):
        bench.available()


def test_a_module_without_the_function_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.KNOWN, "half", "appliance.bench.terminal:bench_nothing")
    with pytest.raises(AttributeError, match="bench_nothing"):
        bench.resolve("half")


def test_a_registered_bench_is_listed_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "_extra", {})

    def bench_fake(n: int = 1) -> dict[str, Any]:
        return {"n": n, "ok": True}

    bench.register("fake", bench_fake)
    assert bench.names()[-1] == "fake"
    assert bench.resolve("fake")(n=3) == {"n": 3, "ok": True}


def test_percentiles_are_nearest_rank() -> None:
    xs = [float(x) for x in range(1, 101)]
    assert percentile(xs, 50) == 50.0
    assert percentile(xs, 99) == 99.0
    assert percentile(list(reversed(xs)), 1) == 1.0
    assert percentile([7.0], 99) == 7.0


def test_a_percentile_of_nothing_or_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)
