"""The one percentile definition every bench uses, so p50/p99 figures are comparable."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of ``values`` by the nearest-rank method.

    Nearest rank returns an observed value (never an interpolation), the smallest one with at
    least ``p`` percent of the samples at or below it. Raises ValueError for no values or a
    ``p`` outside 0-100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0-100")
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]
