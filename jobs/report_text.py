"""Words and numbers on the report's page: plurals, signed changes, and reasons reworded so
that an early payer reads "3 days early", never "-3 days beyond terms" or "-0 days".

Formatting only: the figures themselves are the scores' and the CSV files keep them as they are.
"""

from __future__ import annotations

import math
import re

from scoring.wording import beyond_terms, later_than_before

DASH = "\N{EN DASH}"  # shown for a figure that cannot be computed (NaN)

_BEYOND_TERMS = re.compile(r"(?<![\w.])(-?\d+) days beyond terms")
_LATER_THAN_BEFORE = re.compile(r"(?<![\w.])(-?\d+) days later than before")
_NOW_DAYS = re.compile(r"(days beyond terms|days early|on time), now (-?\d+)(?=\b)")
_ONE_DAYS = re.compile(r"(?<![\w.,])(-?1) days\b")


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 account', '3 accounts', '0 accounts', with thousands separators."""
    form = word if abs(count) == 1 else (many or f"{word}s")
    return f"{count:,} {form}"


def missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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
