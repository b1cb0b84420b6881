"""Exact money at the edges: Decimal amounts become integer minor units (cents) for pandas."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MONEY_PLACES = 4
"""Decimal places canonical money keeps (the record frames hold amounts in 1/10,000 units)."""
MONEY_WHOLE_DIGITS = len(str(2**63 - 1)) - 1 - MONEY_PLACES
"""Digits before the point: 14. The frames hold every amount as int64 1/10,000s, and int64 holds
every number of 18 digits (its maximum, 9.2e18, has 19), so 18 - 4 = 14: below 10**14 in major
units. A numeric(18,2) column's 16 whole digits do not fit the 1/10,000 units; such amounts are
quarantined (a clear reason), never wrapped around."""
MONEY_UNITS_LIMIT = 10 ** (MONEY_WHOLE_DIGITS + MONEY_PLACES)
"""The first amount too large, in the frames' 1/10,000 units."""

# ISO 4217 minor-unit exponents that differ from the usual two decimals.
_EXPONENTS: dict[str, int] = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}


def exponent(currency: str) -> int:
    """Decimal places of one currency's minor unit (2 unless ISO 4217 says otherwise)."""
    return _EXPONENTS.get(currency, 2)


def to_minor(amount: Decimal, currency: str) -> int:
    """Round half up to the currency's minor unit, the way ledgers round."""
    scaled = amount.scaleb(exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))
