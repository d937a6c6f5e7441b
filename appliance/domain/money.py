"""Money as integers in minor units with an ISO 4217 currency. Never floats."""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.errors import AmountError

MAX_DIGITS = 12  # ISO 8583 field 4 is n 12: the largest amount the host can carry.


@dataclass(frozen=True)
class Currency:
    """An ISO 4217 currency: alphabetic code, numeric code and minor-unit exponent."""

    alpha: str
    numeric: str
    exponent: int
    symbol: str = ""

    def __str__(self) -> str:
        return self.alpha


CURRENCIES: dict[str, Currency] = {
    c.alpha: c
    for c in (
        Currency("CNY", "156", 2, "¥"),
        Currency("HKD", "344", 2, "HK$"),
        Currency("USD", "840", 2, "$"),
        Currency("EUR", "978", 2, "€"),
        Currency("GBP", "826", 2, "£"),
        Currency("SGD", "702", 2, "S$"),
        Currency("JPY", "392", 0, "¥"),
        Currency("KRW", "410", 0, "₩"),
        Currency("TWD", "901", 2, "NT$"),
        Currency("MOP", "446", 2, "MOP$"),
    )
}


def currency(alpha: str) -> Currency:
    """Look up a supported currency by its alphabetic code; raise AmountError if unknown."""
    try:
        return CURRENCIES[alpha.upper()]
    except KeyError:
        known = ", ".join(sorted(CURRENCIES))
        raise AmountError(f"unknown currency {alpha!r}: expected one of {known}") from None


def currency_by_numeric(numeric: str) -> Currency:
    """Look up a supported currency by its ISO 4217 numeric code."""
    for c in CURRENCIES.values():
        if c.numeric == numeric:
            return c
    raise AmountError(f"unknown ISO 4217 numeric currency code {numeric!r}")


def parse_amount(text: str, cur: Currency) -> int:
    """Parse an operator-typed amount ("12.50") into minor units (1250).

    Refuses signs, exponents, more decimals than the currency has, empty input, zero and
    anything over 12 digits of minor units, each with a message that says what to type.
    """
    raw = text.strip()
    if not raw:
        raise AmountError("amount is empty: type an amount such as 12.50")
    if cur.exponent:
        pattern = rf"([0-9]+)(?:\.([0-9]{{1,{cur.exponent}}}))?"
        example = "12." + "5" + "0" * (cur.exponent - 1)
    else:
        pattern = r"([0-9]+)"
        example = "1250"
    m = re.fullmatch(pattern, raw)
    if not m:
        if re.fullmatch(r"[0-9]+\.[0-9]+", raw):
            raise AmountError(
                f"amount {raw!r} has more than {cur.exponent} decimal places for {cur.alpha}"
            )
        raise AmountError(f"amount {raw!r} is not a plain positive number: type e.g. {example}")
    whole, frac = m.group(1), (m.group(2) if cur.exponent else None) or ""
    minor: int = int(whole) * 10**cur.exponent + (int(frac.ljust(cur.exponent, "0")) if frac else 0)
    if minor == 0:
        raise AmountError("amount must be greater than zero")
    if len(str(minor)) > MAX_DIGITS:
        raise AmountError(
            f"amount {raw!r} is too large: at most {MAX_DIGITS} digits in minor units"
        )
    return minor


def format_amount(minor: int, cur: Currency, *, symbol: bool = False) -> str:
    """Format minor units for display: 1250 CNY → "12.50" (or "¥12.50" with ``symbol``)."""
    sign = "-" if minor < 0 else ""
    value = abs(minor)
    if cur.exponent:
        text = f"{value // 10**cur.exponent}.{value % 10**cur.exponent:0{cur.exponent}d}"
    else:
        text = str(value)
    return f"{sign}{cur.symbol if symbol else ''}{text}"


def fee(amount: int, rate_bp: int) -> int:
    """Merchant discount fee for ``amount`` at ``rate_bp`` basis points (1/100 %), rounded half up."""
    return (amount * rate_bp + 5000) // 10000
