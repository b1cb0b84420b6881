"""The decimal places an SQL pull keeps money to, from its money columns' declared types.

A `numeric(18,2)` column holds amounts of 16 digits before the point, which the 4 places the
files and the APIs keep (`arsync.money`) cannot: 4 places leave 14. The database declares
how many places its columns hold, so the pull keeps no more than those, and as many digits
before the point as the rest of int64's 18 allow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from arsync.money import DEFAULT_MONEY_PLACES, MAX_MONEY_PLACES


def declared_places(types: Iterable[TypeEngine[Any] | None]) -> int:
    """The most places any of the money columns declares (an integer column: none), at most
    4; 4 when any column's type promises no exact places: unknown (a query's column), a
    float, text, or a numeric without a scale. SQLite does not hold a column to its declared
    scale: a value with more places than its column declares is quarantined there."""
    places: int | None = None
    for declared in types:
        if isinstance(declared, sa.Integer):
            scale = 0
        elif isinstance(declared, sa.Numeric) and not isinstance(declared, sa.Float):
            if declared.scale is None:
                return DEFAULT_MONEY_PLACES
            scale = max(int(declared.scale), 0)
        else:
            return DEFAULT_MONEY_PLACES
        places = scale if places is None else max(places, scale)
    return DEFAULT_MONEY_PLACES if places is None else min(places, MAX_MONEY_PLACES)
