"""The bench registry: ``countertop bench NAME`` runs a function that returns a dict of figures.

Every bench lives in this package (``appliance.bench.<area>``); this module only knows their
import paths (``module:function``). A bench that cannot be imported is an error, never a skip:
a regression must not pass as "not available". Each bench takes keyword arguments only (all
optional) and returns a JSON-serialisable dict, with a ``target`` and ``ok`` where the project
states one. Percentiles everywhere come from :mod:`appliance.bench.stats` (one definition).

Speed goes here, never into tests: tests assert behaviour, benches report figures.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

BenchFn = Callable[..., dict[str, Any]]

# name → "module:function". Order is the order of ``countertop bench all``.
KNOWN: dict[str, str] = {
    "sale": "appliance.bench.terminal:bench_sale",
    "drain": "appliance.bench.terminal:bench_drain",
    "card": "appliance.bench.emv:bench_card",
    "receipt": "appliance.bench.receipts:bench_receipt",
    "ui": "appliance.bench.ui:bench_ui",
    "settle": "appliance.bench.settlement:bench_settle",
    "reprint": "appliance.bench.reprint:bench_reprint",
    "fleet": "appliance.bench.fleet:bench_fleet",
    "print": "appliance.bench.printing:bench_print",
    "qr": "appliance.bench.qr:bench_qr",
}

_extra: dict[str, BenchFn] = {}


def register(name: str, fn: BenchFn) -> None:
    """Add (or replace) a bench at run time, e.g. from a plug-in or a test."""
    _extra[name] = fn


def names() -> list[str]:
    """Every bench name, known ones first."""
    return [*KNOWN, *(n for n in _extra if n not in KNOWN)]


def resolve(name: str) -> BenchFn:
    """The bench function for ``name``.

    Raises KeyError for a name nobody registered. An import error of a bench module propagates:
    every known bench ships with the product, so a failure to import it is a bug to see.
    """
    if name in _extra:
        return _extra[name]
    module, _, attr = KNOWN[name].partition(":")
    fn = getattr(importlib.import_module(module), attr)
    if not callable(fn):
        raise TypeError(f"bench {name}: {module}.{attr} is not callable")
    return fn  # type: ignore[no-any-return]


def available() -> dict[str, BenchFn]:
    """Name → function for every bench (known and registered)."""
    return {name: resolve(name) for name in names()}
