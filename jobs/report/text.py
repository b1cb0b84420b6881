"""Words and numbers on the report's page: figures with separators (a dash when missing),
signed changes, and reasons reworded so that an early payer reads "3 days early", never
"-3 days beyond terms" or "-0 days". Counts in words are `jobs.wording.plural`.

Formatting only: the figures themselves are the scores' and the CSV files keep them as they are.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd

from scoring.wording import beyond_terms, later_than_before

DASH = "\N{EN DASH}"  # shown for a figure that cannot be computed (NaN)

_BEYOND_TERMS = re.compile(r"(?<![\w.])(-?\d+) days beyond terms")
_LATER_THAN_BEFORE = re.compile(r"(?<![\w.])(-?\d+) days later than before")
_NOW_DAYS = re.compile(r"(days beyond terms|days early|on time), now (-?\d+)(?=\b)")
_ONE_DAYS = re.compile(r"(?<![\w.,])(-?1) days\b")


def signed(value: float, places: int, unit: str = "") -> str:
    """A change with its sign: '+1,234.50', '-12.3 days', '0.00'; a change that rounds to zero
    has no sign (no '-0')."""
    text = f"{abs(value):,.{places}f}"
    zero = float(text.replace(",", "")) == 0
    sign = "" if zero else "+" if value > 0 else "-"
    return f"{sign}{text}{' ' + unit if unit else ''}"


def reword(reason: str) -> str:
    """A score reason or flag, with negative and zero day counts said in words."""
    text = _NOW_DAYS.sub(lambda m: f"{m.group(1)}, now {beyond_terms(int(m.group(2)))}", reason)
    text = _BEYOND_TERMS.sub(lambda m: beyond_terms(int(m.group(1))), text)
    text = _LATER_THAN_BEFORE.sub(_later, text)
    return _ONE_DAYS.sub(lambda m: f"{m.group(1).lstrip('-')} day", text)


def _later(match: re.Match[str]) -> str:
    return later_than_before(int(match.group(1)))


def missing(value: object) -> bool:
    """None, pd.NA or NaN: a figure that is not there (shown as a dash, or empty)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def format_money(value: object, places: int = 2) -> str:
    """1234567.8 -> '1,234,567.80'; NaN or empty -> a dash."""
    return DASH if missing(value) else f"{float(str(value)):,.{places}f}"


def format_number(value: object, places: int = 1) -> str:
    """12.345 -> '12.3'; NaN or empty -> a dash."""
    return DASH if missing(value) else f"{float(str(value)):,.{places}f}"


def format_share(value: object) -> str:
    """A share in [0, 1] as a percentage: 0.4 -> '40.0%'."""
    return DASH if missing(value) else f"{float(str(value)) * 100:.1f}%"


def timestamp(value: dt.datetime | None) -> str | None:
    """2026-11-20 23:00 UTC; None stays None."""
    if value is None:
        return None
    zone = value.tzname() or ""
    return f"{value:%Y-%m-%d %H:%M} {zone}".rstrip()


def format_text(value: object) -> str:
    """Empty, None or NaN -> ''; a date -> its ISO form; anything else as str."""
    if missing(value):
        return ""
    if isinstance(value, dt.date | pd.Timestamp):
        return value.isoformat()[:10]
    return str(value)
