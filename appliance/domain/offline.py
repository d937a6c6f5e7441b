"""Whether a payment that could not reach the host may be stored for forwarding (pure).

Only a request that was NEVER SENT may be stored; one sent without an answer is a reversal
case, and the caller must not ask. Every refusal names the limit and by how much it is exceeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.domain.money import Currency, format_amount


@dataclass(frozen=True)
class OfflineLimits:
    """Offline limits from config (amounts in minor units)."""

    enabled: bool
    max_amount: int
    max_total: int
    max_count: int
    max_age: timedelta
    online_only_schemes: frozenset[str]


@dataclass(frozen=True)
class StoredSummary:
    """What is stored now, awaiting forwarding."""

    count: int
    total: int
    oldest: datetime | None


@dataclass(frozen=True)
class OfflineDecision:
    """The verdict: allowed, or refused by ``limit`` with a message and the excess."""

    allowed: bool
    limit: str = ""
    message: str = ""
    excess: int = 0


def decide_offline(
    amount: int,
    scheme: str,
    stored: StoredSummary,
    limits: OfflineLimits,
    now: datetime,
    cur: Currency,
) -> OfflineDecision:
    """Apply every offline limit, in the order a merchant can act on them."""

    def money(v: int) -> str:
        return f"{format_amount(v, cur)} {cur.alpha}"

    if not limits.enabled:
        return OfflineDecision(False, "offline_enabled", "offline payments are switched off")
    if scheme.upper() in limits.online_only_schemes:
        return OfflineDecision(
            False, "online_only_schemes", f"{scheme} cards are accepted online only"
        )
    if amount > limits.max_amount:
        over = amount - limits.max_amount
        return OfflineDecision(
            False,
            "offline_max_amount",
            f"offline limit per payment is {money(limits.max_amount)}: {money(over)} over",
            over,
        )
    if stored.count + 1 > limits.max_count:
        return OfflineDecision(
            False,
            "offline_max_count",
            f"{stored.count} payments already stored (limit {limits.max_count}): forward first",
            1,
        )
    if stored.total + amount > limits.max_total:
        over = stored.total + amount - limits.max_total
        return OfflineDecision(
            False,
            "offline_max_total",
            f"stored total would be {money(stored.total + amount)}, limit "
            f"{money(limits.max_total)}: {money(over)} over",
            over,
        )
    if stored.oldest is not None and now - stored.oldest >= limits.max_age:
        age = now - stored.oldest
        over = int((age - limits.max_age).total_seconds())
        hours = limits.max_age.total_seconds() / 3600
        return OfflineDecision(
            False,
            "offline_max_age_hours",
            f"oldest stored payment is {age.total_seconds() / 3600:.1f} h old (limit {hours:g} h): "
            f"forward before selling offline",
            over,
        )
    return OfflineDecision(True)
