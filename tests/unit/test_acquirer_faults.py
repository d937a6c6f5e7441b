"""Acquirer fault switching: counts, seeded probabilities, parameter checking."""

from __future__ import annotations

import pytest

from appliance.errors import ConfigError
from appliance.sim.acquirer.faults import FaultSet


def test_probability_faults_are_repeatable_with_a_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        faults = FaultSet()
        faults.set("garbage", probability=0.5, seed=seed)
        return [faults.hit("garbage") is not None for _ in range(64)]

    assert pattern(1) == pattern(1) != pattern(2)
    assert 10 < sum(pattern(1)) < 54


def test_count_limited_faults_switch_themselves_off() -> None:
    faults = FaultSet()
    faults.set("delay", seconds=1, count=2)
    assert [faults.hit("delay") is not None for _ in range(3)] == [True, True, False]
    assert not faults.active("delay")


def test_unknown_faults_and_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown fault"):
        FaultSet().set("explode")
    with pytest.raises(ConfigError, match="no parameter"):
        FaultSet().set("reset", seconds=3)
    with pytest.raises(ConfigError, match="not a number"):
        FaultSet().set("delay", seconds="soon")
