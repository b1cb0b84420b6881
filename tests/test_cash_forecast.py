"""Expected pay dates, expected receipts and the probability-weighted overdue (issue 14, item 4)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from scoring.cash_forecast import customer_forecast, expected_pay_dates, weekly_receipts

AS_OF = dt.date(2026, 6, 30)


def items() -> pd.DataFrame:
    """A's invoices: one due tomorrow, one 30 days overdue, one disputed; B's, due in 77 days."""
    return pd.DataFrame(
        {
            "invoice_id": ["I1", "I2", "I3", "I4"],
            "customer_id": ["A", "A", "A", "B"],
            "issue_date": pd.to_datetime(["2026-06-01", "2026-05-01", "2026-06-10", "2026-08-16"]),
            "due_date": pd.to_datetime(["2026-07-01", "2026-05-31", "2026-07-10", "2026-09-15"]),
            "days_overdue": [-1, 30, -10, -77],
            "disputed": [False, False, True, False],
            "minor": [20_000, 10_000, 5_000, 40_000],
        }
    )


def habits() -> pd.DataFrame:
    return pd.DataFrame(
        {"avg_days_to_pay_12m": [40.0, np.nan], "avg_days_beyond_terms_12m": [10.0, np.nan]},
        index=pd.Index(["A", "B"], name="customer_id"),
    )


def test_an_invoice_is_expected_by_its_customers_habit_or_after_one_more_delay() -> None:
    dates = expected_pay_dates(items(), habits(), AS_OF).dt.date.tolist()

    assert dates == [
        dt.date(2026, 7, 11),  # issued 06-01 + 40 days
        dt.date(2026, 7, 10),  # 06-10 is past: as of + 10 days' usual delay
        dt.date(2026, 7, 20),  # (disputed: dated, but counted in no window)
        dt.date(2026, 9, 15),  # no history: its due date
    ]


def test_a_short_delay_still_waits_a_week() -> None:
    prompt = habits().assign(avg_days_beyond_terms_12m=[1.0, np.nan])

    assert expected_pay_dates(items(), prompt, AS_OF).dt.date.tolist()[1] == dt.date(2026, 7, 7)


def test_receipts_by_window_and_the_overdue_weighted_by_the_late_chance() -> None:
    chance = pd.Series({"A": 0.25, "B": np.nan})

    result = customer_forecast(items(), habits(), AS_OF, chance)

    # overdue 10,000, disputed and due 5,000, due 20,000 at a quarter
    assert result.loc["A"].tolist() == [30_000, 30_000, 30_000, 10_000 + 5_000 + 0.25 * 20_000]
    assert result.loc["B"].tolist() == [0, 0, 40_000, 0]  # nothing due in 30 days: none overdue


def test_without_a_late_chance_the_weighted_overdue_is_unknown_when_something_falls_due() -> None:
    result = customer_forecast(items(), habits(), AS_OF, pd.Series({"A": np.nan, "B": np.nan}))

    assert np.isnan(result.loc["A", "expected_overdue_30d_minor"])


def test_the_weekly_receipts_start_the_day_after_the_as_of_date() -> None:
    weeks = weekly_receipts(items(), habits(), AS_OF)

    assert weeks["week_start"].iloc[0] == dt.date(2026, 7, 1)
    assert weeks.loc[weeks["week_start"] == dt.date(2026, 7, 8), "minor"].item() == 30_000
    assert weeks.loc[weeks["week_start"] == dt.date(2026, 9, 9), "minor"].item() == 40_000
    assert weeks["minor"].sum() == 70_000  # the disputed invoice in no week
    assert len(weeks) == 13


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # customer
            st.integers(-200, 0),  # issued, days from the as-of date
            st.integers(0, 120),  # terms
            st.integers(1, 10**9),  # amount
            st.booleans(),  # disputed
        ),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.one_of(st.none(), st.floats(0, 200)), min_size=4, max_size=4),
)
def test_windows_nest_money_is_never_invented_and_every_date_is_ahead(
    rows: list[tuple[int, int, int, int, bool]], to_pay: list[float | None]
) -> None:
    issue = [pd.Timestamp(AS_OF) + pd.Timedelta(days=r[1]) for r in rows]
    due = [i + pd.Timedelta(days=r[2]) for i, r in zip(issue, rows, strict=True)]
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{r[0]}" for r in rows],
            "issue_date": issue,
            "due_date": due,
            "days_overdue": [(pd.Timestamp(AS_OF) - d).days for d in due],
            "disputed": [r[4] for r in rows],
            "minor": [r[3] for r in rows],
        }
    )
    days = [np.nan if v is None else v for v in to_pay]
    customers = pd.DataFrame(
        {"avg_days_to_pay_12m": days, "avg_days_beyond_terms_12m": days},
        index=pd.Index([f"C{n}" for n in range(4)], name="customer_id"),
    )

    dates = expected_pay_dates(frame, customers, AS_OF)
    result = customer_forecast(frame, customers, AS_OF, pd.Series(0.5, index=customers.index))

    assert (dates.dt.date > AS_OF).all()
    r30, r60, r90 = (result[f"expected_receipts_{n}d_minor"] for n in (30, 60, 90))
    assert (r30 <= r60).all()
    assert (r60 <= r90).all()
    undisputed = frame[~frame["disputed"]].groupby("customer_id")["minor"].sum()
    assert (r90 <= undisputed.reindex(result.index).fillna(0)).all()
    assert weekly_receipts(frame, customers, AS_OF)["minor"].sum() <= undisputed.sum()
