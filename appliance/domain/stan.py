"""System trace audit number (ISO 8583 field 11): 000001–999999, cyclic, never 000000."""

STAN_MAX = 999_999


def next_stan(current: int) -> int:
    """The STAN after ``current`` (0 means none issued yet)."""
    return 1 if current >= STAN_MAX else current + 1
