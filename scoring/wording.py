"""Day counts in the words reps read on the Account: "1 day", "3 days early", "on time".

Reasons and flags are text that lands in Salesforce as it is, so a signed or rounded-to-zero
count ("-3 days beyond terms", "-0 days", "1 days") is said in words where it is made.
"""

from __future__ import annotations

import math


def days(count: float) -> str:
    """`1 day`, `3 days`, `1,200 days`: a count of days, rounded to whole days."""
    whole = _whole(count)
    return f"{whole:,} day" if abs(whole) == 1 else f"{whole:,} days"


def beyond_terms(count: float) -> str:
    """Days paid after the due date: `3 days beyond terms`, `on time`, `3 days early`."""
    whole = _whole(count)
    if whole == 0:
        return "on time"
    return f"{days(abs(whole))} beyond terms" if whole > 0 else f"{days(-whole)} early"


def later_than_before(count: float) -> str:
    """A change in lateness: `4 days later than before`, `as promptly as before`."""
    whole = _whole(count)
    if whole == 0:
        return "as promptly as before"
    return f"{days(abs(whole))} {'later' if whole > 0 else 'earlier'} than before"


def _whole(count: float) -> int:
    """Rounded half away from zero, so -0.5 is -1 day and -0.4 is none (never "-0")."""
    if math.isnan(count):
        return 0
    return int(math.copysign(math.floor(abs(count) + 0.5), count)) or 0
