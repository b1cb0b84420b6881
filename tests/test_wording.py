"""Day counts as reps read them on the Account: no "-3 days beyond terms", "-0" or "1 days"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.wording import beyond_terms, days, later_than_before


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (1, "1 day"),
        (1.4, "1 day"),
        (2, "2 days"),
        (0, "0 days"),
        (1200, "1,200 days"),
        (float("nan"), "0 days"),
        (2.5, "3 days"),
    ],
)
def test_days(count: float, said: str) -> None:
    assert days(count) == said


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (3, "3 days beyond terms"),
        (1, "1 day beyond terms"),
        (0.4, "on time"),
        (-0.4, "on time"),
        (-0.5, "1 day early"),
        (-3.2, "3 days early"),
    ],
)
def test_beyond_terms(count: float, said: str) -> None:
    assert beyond_terms(count) == said


def test_later_than_before() -> None:
    assert later_than_before(4) == "4 days later than before"
    assert later_than_before(-1) == "1 day earlier than before"
    assert later_than_before(0.2) == "as promptly as before"


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_no_count_is_ever_signed_or_minus_zero(count: float) -> None:
    for text in (beyond_terms(count), later_than_before(count), days(abs(count))):
        assert "-" not in text
        assert not text.startswith("1 days")
