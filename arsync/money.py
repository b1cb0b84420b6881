"""Exact money at the edges: Decimal amounts become integer minor units (cents) for pandas."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MONEY_DIGITS = len(str(2**63 - 1)) - 1
"""Digits an amount may have in all, before and after the point: 18. Record frames hold money
as int64 in units of 10**-places (`money places`, one value per pull), and int64 holds every
number of 18 digits (its maximum, 9.2e18, has 19). So `places` decimals leave 18 - places
digits before the point; larger amounts are quarantined (a clear reason), never wrapped."""
MAX_MONEY_PLACES = 4
"""Decimal places canonical money keeps at most."""
DEFAULT_MONEY_PLACES = MAX_MONEY_PLACES
"""The places of a pull whose source cannot know fewer (files, the APIs): 4, so 14 digits
before the point. The SQL source takes fewer from its money columns' declared scale
(`numeric(18,2)`: 2 places, 16 digits before the point)."""
MONEY_UNITS_LIMIT = 10**MONEY_DIGITS
"""The first amount too large, in a frame's units, whatever its places."""


def whole_digits(places: int) -> int:
    """Digits before the point that amounts kept to `places` decimals may have."""
    return MONEY_DIGITS - places


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

MAX_MINOR_PLACES = max(_EXPONENTS.values())
"""The most places any currency's minor unit has (3: the dinars, the rial Omani)."""


def exponent(currency: str) -> int:
    """Decimal places of one currency's minor unit (2 unless ISO 4217 says otherwise)."""
    return _EXPONENTS.get(currency, 2)


def to_minor(amount: Decimal, currency: str) -> int:
    """Round half up to the currency's minor unit, the way ledgers round."""
    scaled = amount.scaleb(exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))
