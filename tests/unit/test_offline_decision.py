"""The offline decision: each limit enforced exactly at its edge, each refusal explained."""

from datetime import UTC, datetime, timedelta

import pytest

from appliance.domain.money import CURRENCIES
from appliance.domain.offline import OfflineLimits, StoredSummary, decide_offline

CNY = CURRENCIES["CNY"]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LIMITS = OfflineLimits(
    enabled=True,
    max_amount=50_000,
    max_total=100_000,
    max_count=3,
    max_age=timedelta(hours=24),
    online_only_schemes=frozenset({"AMEX"}),
)
EMPTY = StoredSummary(0, 0, None)


def decide(
    amount: int, stored: StoredSummary = EMPTY, scheme: str = "VISA", limits: OfflineLimits = LIMITS
):
    return decide_offline(amount, scheme, stored, limits, NOW, CNY)


def test_within_every_limit_is_allowed() -> None:
    assert decide(50_000).allowed


def test_one_cent_over_the_per_payment_limit_is_refused_and_says_by_how_much() -> None:
    d = decide(50_001)
    assert not d.allowed and d.limit == "offline_max_amount" and d.excess == 1
    assert "0.01 CNY over" in d.message


def test_total_limit_edge() -> None:
    assert decide(40_000, StoredSummary(2, 60_000, NOW)).allowed
    d = decide(40_001, StoredSummary(2, 60_000, NOW))
    assert (d.allowed, d.limit, d.excess) == (False, "offline_max_total", 1)


def test_count_limit_edge() -> None:
    assert decide(100, StoredSummary(2, 200, NOW)).allowed
    d = decide(100, StoredSummary(3, 300, NOW))
    assert (d.allowed, d.limit) == (False, "offline_max_count")


def test_age_limit_edge() -> None:
    just_in = NOW - timedelta(hours=24) + timedelta(seconds=1)
    assert decide(100, StoredSummary(1, 100, just_in)).allowed
    d = decide(100, StoredSummary(1, 100, NOW - timedelta(hours=24)))
    assert (d.allowed, d.limit) == (False, "offline_max_age_hours")
    assert "forward" in d.message


def test_online_only_scheme_is_refused() -> None:
    d = decide(100, scheme="amex")
    assert (d.allowed, d.limit) == (False, "online_only_schemes")


def test_offline_disabled_refuses_everything() -> None:
    off = OfflineLimits(False, 10**9, 10**9, 10**6, timedelta(days=30), frozenset())
    assert decide(1, limits=off).limit == "offline_enabled"


@pytest.mark.parametrize("amount", [1, 49_999, 50_000])
def test_amounts_at_or_below_the_limit_pass(amount: int) -> None:
    assert decide(amount).allowed
