"""The report's wording: plurals, signed changes, and day counts in words."""

from __future__ import annotations

import pytest

from jobs.report.text import beyond_terms, reword, signed
from jobs.wording import plural


def test_plural_counts_with_separators() -> None:
    assert plural(1, "account") == "1 account"
    assert plural(0, "account") == "0 accounts"
    assert plural(1234, "record") == "1,234 records"
    assert plural(2, "day", "days") == "2 days"


@pytest.mark.parametrize(
    ("value", "places", "unit", "text"),
    [
        (1234.5, 2, "", "+1,234.50"),
        (-12.34, 1, "days", "-12.3 days"),
        (-0.004, 2, "", "0.00"),  # rounds to zero: no "-0.00"
        (0.0, 1, "points", "0.0 points"),
    ],
)
def test_signed_changes(value: float, places: int, unit: str, text: str) -> None:
    assert signed(value, places, unit) == text


def test_days_beyond_terms_in_words() -> None:
    assert beyond_terms(3) == "3 days beyond terms"
    assert beyond_terms(1) == "1 day beyond terms"
    assert beyond_terms(0) == "on time"
    assert beyond_terms(-3) == "3 days early"
    assert beyond_terms(-1) == "1 day early"


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (
            "LATE_PAYER: -3 days beyond terms on average (12 months, by amount)",
            "LATE_PAYER: 3 days early on average (12 months, by amount)",
        ),
        ("LATE_PAYER: -0 days beyond terms on average", "LATE_PAYER: on time on average"),
        ("LATE_PAYER: 1 days beyond terms on average", "LATE_PAYER: 1 day beyond terms on average"),
        (
            "was paying -2 days beyond terms, now 17 (last 90 days)",
            "was paying 2 days early, now 17 days beyond terms (last 90 days)",
        ),
        (
            "PAYING_LATER: paying -4 days later than before (last 90 days)",
            "PAYING_LATER: paying 4 days earlier than before (last 90 days)",
        ),
        ("OVERDUE_BALANCE: 100% of the open balance is overdue (1,000.00)", None),
    ],
)
def test_reasons_say_early_payers_are_early(reason: str, text: str | None) -> None:
    assert reword(reason) == (text or reason)
