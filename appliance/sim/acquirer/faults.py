"""Fault injection for the reference acquirer: what a bad network or a bad host does.

A fault is switched on by name with parameters, for every request, for the next ``count``
requests only, or with a ``probability`` drawn from a seeded RNG (repeatable runs).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from appliance.errors import ConfigError

FAULTS: dict[str, str] = {
    "refuse": "refuse connections (the listening socket is closed)",
    "drop_request": "read the request and do nothing: no decision, no reply",
    "drop_response": "decide and commit, then send no reply",
    "delay": "decide and commit, then reply after `seconds` (default 30)",
    "reset": "decide and commit, then send half the reply and reset the connection",
    "garbage": "decide and commit, then reply with a frame of random bytes",
    "bad_mac": "decide and commit, then reply with a corrupted MAC",
    "latency": "add `ms` milliseconds (default 200) before every reply",
}

_PARAMS: dict[str, dict[str, type]] = {
    "delay": {"seconds": float},
    "latency": {"ms": float},
}
_COMMON = {"count": int, "probability": float, "seed": int}


@dataclass
class Fault:
    """One active fault: its parameters and how many more requests it may hit."""

    name: str
    params: dict[str, float] = field(default_factory=dict)
    remaining: int | None = None
    probability: float | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(0))


def parse_params(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Typed parameters for fault ``name``; ConfigError for an unknown fault or parameter."""
    if name not in FAULTS:
        raise ConfigError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
    allowed = {**_COMMON, **_PARAMS.get(name, {})}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(f"fault {name} takes no parameter {key!r}")
        try:
            out[key] = allowed[key](value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"fault {name}: {key}={value!r} is not a number") from exc
    return out


class FaultSet:
    """The faults currently active; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}

    def set(self, name: str, **params: Any) -> None:
        """Switch fault ``name`` on (replacing its previous parameters)."""
        p = parse_params(name, params)
        count = p.pop("count", None)
        probability = p.pop("probability", None)
        seed = p.pop("seed", 0)
        with self._lock:
            self._faults[name] = Fault(name, p, count, probability, random.Random(seed))

    def clear(self, name: str | None = None) -> None:
        """Switch one fault, or all, off."""
        with self._lock:
            if name is None:
                self._faults.clear()
            else:
                self._faults.pop(name, None)

    def active(self, name: str) -> bool:
        """True when ``name`` is switched on (without consuming a count)."""
        with self._lock:
            return name in self._faults

    def hit(self, name: str) -> Fault | None:
        """The fault if it applies to this request (consumes one of ``count``), else None."""
        if name not in self._faults:
            # Unlocked look (a dict read is atomic): the usual case, asked several times per
            # request. A fault switched on meanwhile applies from the next request, as it
            # would had it been switched on a moment later.
            return None
        with self._lock:
            f = self._faults.get(name)
            if f is None:
                return None
            if f.probability is not None and f.rng.random() >= f.probability:
                return None
            if f.remaining is not None:
                f.remaining -= 1
                if f.remaining <= 0:
                    del self._faults[name]
            return f

    def describe(self) -> dict[str, dict[str, Any]]:
        """The active faults and their parameters (for the control channel)."""
        with self._lock:
            return {
                n: {**f.params, "remaining": f.remaining, "probability": f.probability}
                for n, f in self._faults.items()
            }
