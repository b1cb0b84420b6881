"""How a cell of a run's DataFrame becomes a column value: pandas' missing values to NULL,
money to the cent, dates to dates. Runs give their outcomes and snapshots as
`df.to_dict("records")`, so NaN and numpy numbers arrive here."""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

_CENT = Decimal("0.01")


def missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA: how a DataFrame says 'no value' (the common types first: this
    runs for every cell of 50,000 rows)."""
    if value is None:
        return True
    if isinstance(value, str | int):
        return False
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: a value
        return False


def text(value: Any) -> str | None:
    return None if missing(value) else str(value)


def day(value: Any) -> dt.date | None:
    if missing(value):
        return None
    if isinstance(value, dt.datetime):  # pd.Timestamp too
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def flag(value: Any) -> bool | None:
    return None if missing(value) else bool(value)


def money(value: Any) -> Decimal | None:
    """To the cent, rounded half away from zero like the rest of arsync's money."""
    if missing(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a balance must be a finite number, not {value}")
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return number.quantize(_CENT, rounding=ROUND_HALF_UP)
