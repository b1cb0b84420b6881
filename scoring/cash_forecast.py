"""When the open invoices are expected to be paid, and what is expected to be overdue.

Each open invoice gets an expected pay date from its customer's own habit, the baseline the
pay-date backtest measures (`scoring.pay_date`): its issue date plus the customer's average
days to pay over the long window; without paid history, its due date. An invoice already past
that date is expected one more of the customer's usual delays beyond terms from the as-of
date, a week at least: it is late, and a forecast must not book all late money for tomorrow.
A disputed invoice is expected in no window (it is paid when the dispute is settled, which no
history tells). The learned pay-date model does not stand in for this yet: out of time it does
not beat the customer's own average ([scoring.md](../docs/scoring.md)).

Per customer: the expected receipts within 30, 60 and 90 days (cumulative), and the
probability-weighted overdue amount in 30 days: what is overdue now, plus what falls due in the
next 30 days disputed (it will not be paid by then), plus the rest of what falls due times the
chance that it is paid late (the model's, where it scores the customer; else the customer's
own past late share; unknown for a customer without history). For the portfolio: expected
receipts per week, for the report's chart.

Pure: frames in, frames out.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from arsync.codes import positions

WINDOWS = (30, 60, 90)
"""Days ahead of the expected-receipts columns."""
OVERDUE_HORIZON = 30
MIN_DELAY_DAYS = 7  # an invoice past its expected date: expected a week from now at the soonest


def expected_pay_dates(items: pd.DataFrame, features: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Per open invoice (`items`: customer_id, issue_date, due_date), its expected pay date,
    from its customer's habit (`features`, indexed by customer id: avg_days_to_pay_12m,
    avg_days_beyond_terms_12m)."""
    rows = positions(features.index, items["customer_id"])
    to_pay = _at(features["avg_days_to_pay_12m"], rows)
    late = _at(features["avg_days_beyond_terms_12m"], rows)
    issue = items["issue_date"].to_numpy(dtype="datetime64[D]")
    due = items["due_date"].to_numpy(dtype="datetime64[D]")
    habit = issue + np.rint(np.nan_to_num(to_pay)).astype("int64").astype("timedelta64[D]")
    expected = np.where(np.isnan(to_pay), due, habit)
    today = np.datetime64(as_of, "D")
    delay = np.maximum(np.rint(np.nan_to_num(late)), MIN_DELAY_DAYS).astype("int64")
    again = today + delay.astype("timedelta64[D]")
    expected = np.where(expected <= today, again, expected)
    return pd.Series(expected, index=items.index, name="expected_pay_date")


def customer_forecast(
    items: pd.DataFrame,
    features: pd.DataFrame,
    as_of: dt.date,
    chance: pd.Series,
) -> pd.DataFrame:
    """Per customer of `features`: `expected_receipts_<n>d` for each window (reporting minor
    units of `items["minor"]`, not disputed, expected within n days) and
    `expected_overdue_30d_minor` (overdue now, plus disputed and due in 30 days, plus the rest
    due in 30 days times `chance`, the late probability per customer, NaN where unknown)."""
    dates = expected_pay_dates(items, features, as_of).to_numpy(dtype="datetime64[D]")
    today = np.datetime64(as_of, "D")
    days_ahead = (dates - today).astype("int64")
    minor = items["minor"].to_numpy(dtype="int64")
    counted = ~items["disputed"].fillna(False).to_numpy(dtype=bool)
    result = pd.DataFrame(index=features.index)
    # Each invoice's customer found once, by code: six groupbys hashed and sorted the ids.
    rows = positions(result.index, items["customer_id"])
    for window in WINDOWS:
        within = np.where(counted & (days_ahead <= window), minor, 0)
        result[f"expected_receipts_{window}d_minor"] = _by_customer(rows, within, len(result))
    days_overdue = items["days_overdue"].to_numpy(dtype="int64")
    due_soon = (days_overdue <= 0) & (days_overdue >= -OVERDUE_HORIZON)
    overdue = _by_customer(rows, np.where(days_overdue > 0, minor, 0), len(result))
    coming = _by_customer(rows, np.where(due_soon & counted, minor, 0), len(result))
    disputed = _by_customer(rows, np.where(due_soon & ~counted, minor, 0), len(result))
    probability = chance.reindex(result.index).to_numpy(dtype="float64")
    weighted = overdue + disputed + np.where(coming > 0, coming * probability, 0.0)
    result["expected_overdue_30d_minor"] = np.rint(weighted)
    return result


def weekly_receipts(
    items: pd.DataFrame, features: pd.DataFrame, as_of: dt.date, weeks: int = 13
) -> pd.DataFrame:
    """The portfolio's expected receipts per week from the as-of date (week 1: the next seven
    days), disputed invoices left out: `week_start`, `minor`."""
    dates = expected_pay_dates(items, features, as_of).to_numpy(dtype="datetime64[D]")
    today = np.datetime64(as_of, "D")
    week = ((dates - today).astype("int64") - 1) // 7
    counted = ~items["disputed"].fillna(False).to_numpy(dtype=bool) & (week < weeks)
    sums = np.bincount(
        week[counted], items["minor"].to_numpy(dtype="int64")[counted], minlength=weeks
    )
    starts = [as_of + dt.timedelta(days=1 + 7 * n) for n in range(weeks)]
    return pd.DataFrame({"week_start": starts, "minor": np.rint(sums[:weeks]).astype("int64")})


def _at(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """`values` (float) at `rows`, NaN where a row is -1 (a customer `values` lacks)."""
    floats = values.to_numpy(dtype="float64")
    return np.where(rows >= 0, floats[np.maximum(rows, 0)] if len(floats) else np.nan, np.nan)


def _by_customer(rows: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """`values` summed per customer row (`rows`, -1: none of them), `size` customers in all
    (0 for one with none); integers summed as integers, as a groupby sums them."""
    known = rows >= 0
    sums = np.zeros(size, dtype=values.dtype)
    np.add.at(sums, rows[known], values[known])
    return sums.astype("float64")
