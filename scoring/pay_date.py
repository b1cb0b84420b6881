"""When each open invoice will be paid: quantiles of its days beyond due, and their backtest.

The *target* of a snapshot example is the number of days from its invoice's due date to the
day it was paid (negative when early), as `scoring.behaviour.paid_invoices` shows the ledger on
a `known_by` date. An invoice not paid by then is *censored*: its pay date is not known yet,
only that it is later than `known_by`.

The model is one gradient-boosted quantile regression per quantile (`QUANTILES`, p10/p50/p90)
on `PAY_DATE_FEATURES`: `scoring.late_payment.FEATURES` and the customer's usual days beyond
due, the baseline's own figure (missing values handled by the trees); the point prediction
is the median, and [p10, p90] the interval. Nothing in it is random (no subsampling, no early
stopping), and rows are sorted by snapshot and invoice before the fit, so the same ledger gives
the same quantiles in any row order. The three quantiles are sorted per row, so that the
interval never crosses itself.

Training censoring: at an origin `t` the model learns from the snapshots whose invoices all
fell due `SETTLE_DAYS` (90) or more before `t`, with their pay dates as the ledger shows them
on `t`. The few still unpaid then keep their place with the target *capped* at `t - due
date`, a lower bound of the truth: dropping them would teach the model that customers pay
earlier than they do, and so would the more recent snapshots, whose slow payers are all still
open on `t` (taking those in, capped, biased the median about 4 days early on the generated
sample ledger). In the backtest's scored examples nothing is capped: an invoice unpaid by the
ledger's end is left out of the error and coverage, and counted (`censored`).

Pure: frames in, results out, no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from arsync.ledger import Ledger
from scoring.behaviour import paid_invoices
from scoring.late_payment import FEATURES, snapshot_dates, snapshots, stable_order
from scoring.threads import one_thread

PAY_DATE_FEATURES: tuple[str, ...] = (*FEATURES, "usual_days_beyond_due")
"""The late-payment FEATURES and the baseline's own figure (`usual_days`): the model sees what
the baseline sees, and learns when to trust it."""
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS: tuple[str, ...] = ("p10", "p50", "p90")
SETTLE_DAYS = 90  # a training snapshot's invoices fell due this long before the origin
BASELINE_WINDOW_DAYS = 365  # the customer's average days to pay over its last year's payments
_MIN_TRAINING = 50  # training examples below which no model is trained
_NS_PER_DAY = 86_400 * 10**9
# Small trees, a slow rate and large leaves, chosen for the few hundred examples of a small
# tenant before looking at any backtest; not tuned to one.
_BOOSTING = {"max_iter": 200, "learning_rate": 0.05, "max_depth": 3, "min_samples_leaf": 20}


@dataclass(frozen=True)
class PayDateBacktest:
    """The pooled out-of-time pay-date predictions of every origin, and how they scored."""

    origins: tuple[dt.date, ...]
    # invoice_id, customer_id, as_of, due_date, actual (NaN when censored), p10, p50, p90,
    # baseline: all in days beyond the due date
    predictions: pd.DataFrame
    model_mae: float  # mean absolute error of the median, in days, over the uncensored ones
    baseline_mae: float  # the same for the customer's own average days to pay
    coverage: float  # share of the uncensored actual pay dates inside [p10, p90]
    censored: int  # scored examples still unpaid at the ledger's end: in no figure
    training_capped: int  # training examples (summed over origins) with a capped target

    @property
    def examples(self) -> int:
        """The scored examples whose pay date is known: those the figures are over."""
        return len(self.predictions) - self.censored


class PayDateModel:
    """Fitted quantile regressions: `quantiles` of days beyond due for the rows of a snapshot."""

    def __init__(self, training: pd.DataFrame, target: pd.Series) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: PLC0415 - model runs only

        order = stable_order(training)
        features = training.loc[order, list(PAY_DATE_FEATURES)].to_numpy(dtype="float64")
        values = target.loc[order].to_numpy(dtype="float64")
        with one_thread():
            self._models = [
                HistGradientBoostingRegressor(
                    loss="quantile", quantile=q, random_state=0, early_stopping=False, **_BOOSTING
                ).fit(features, values)
                for q in QUANTILES
            ]

    def quantiles(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Per row, p10, p50 and p90 of its invoice's days beyond due, sorted per row."""
        if rows.empty:
            return pd.DataFrame(columns=list(QUANTILE_COLUMNS), index=rows.index, dtype="float64")
        features = rows[list(PAY_DATE_FEATURES)].to_numpy(dtype="float64")
        with one_thread():
            predicted = [model.predict(features) for model in self._models]
        stacked = np.sort(np.column_stack(predicted), axis=1)
        return pd.DataFrame(stacked, columns=list(QUANTILE_COLUMNS), index=rows.index)

    def pay_dates(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Per row, its predicted pay date at each quantile (the due date plus whole days)."""
        days = self.quantiles(rows)
        due = rows["due_date"].to_numpy(dtype="datetime64[ns]")
        return pd.DataFrame(
            {
                f"pay_date_{name}": due + np.rint(days[name].to_numpy()).astype("timedelta64[D]")
                for name in QUANTILE_COLUMNS
            },
            index=rows.index,
        )


def targets(ledger: Ledger, examples: pd.DataFrame, known_by: dt.date) -> pd.Series:
    """Per example, the days from its due date to its pay date as the ledger shows it on
    `known_by`; NaN when the invoice is not paid by then (censored)."""
    paid = paid_invoices(ledger, known_by)
    when = paid.set_index(paid["invoice_id"].astype("string"))["paid_date"]
    settled = when.reindex(pd.Index(examples["invoice_id"].to_numpy(), dtype="string"))
    days = _days(settled.to_numpy()) - _days(examples["due_date"].to_numpy())
    return pd.Series(np.where(pd.isna(settled.to_numpy()), np.nan, days), index=examples.index)


def training_examples(
    ledger: Ledger,
    origin: dt.date,
    snapshots: pd.DataFrame,
    *,
    horizon_days: int = 30,
    settle_days: int = 0,
) -> pd.DataFrame:
    """The examples of the snapshots whose invoices all fell due `settle_days` or more before
    `origin`, each with its `target` as known on `origin`, capped at `origin - due date` when
    still unpaid then (`capped` says which)."""
    latest = pd.Timestamp(origin) - pd.Timedelta(days=horizon_days + settle_days)
    earlier = snapshots[snapshots["as_of"] <= latest].reset_index(drop=True)
    known = targets(ledger, earlier, origin)
    bound = _days_of(pd.Timestamp(origin)) - _days(earlier["due_date"].to_numpy())
    return earlier.assign(
        target=known.fillna(pd.Series(bound, index=earlier.index)).to_numpy(dtype="float64"),
        capped=known.isna().to_numpy(),
    )


def usual_days(ledger: Ledger, examples: pd.DataFrame) -> np.ndarray:
    """Per example, the days beyond due its customer's habit foretells: the customer's average
    days to pay (issue to pay) over its payments of the year before the snapshot, counted from
    the invoice's issue date; NaN for a customer with none."""
    result = np.full(len(examples), np.nan)
    stamps = examples["as_of"].to_numpy(dtype="datetime64[ns]")
    for as_of in np.unique(stamps):
        day = pd.Timestamp(as_of).date()
        paid = paid_invoices(ledger, day, paid_after=day - dt.timedelta(days=BASELINE_WINDOW_DAYS))
        average = paid.groupby(paid["customer_id"].astype("string"))["days_to_pay"].mean()
        mine = stamps == as_of
        rows = examples[mine]
        customers = pd.Index(rows["customer_id"].to_numpy(), dtype="string")
        days_to_pay = average.reindex(customers).to_numpy(dtype="float64")
        result[mine] = days_to_pay - rows["terms_days"].to_numpy(dtype="float64")
    return result


def with_usual_days(ledger: Ledger, examples: pd.DataFrame) -> pd.DataFrame:
    """The examples with `usual_days_beyond_due` (`usual_days`), the model's last feature."""
    return examples.assign(usual_days_beyond_due=usual_days(ledger, examples))


def pay_date_backtest(
    ledger: Ledger,
    end: dt.date,
    *,
    origins: int = 6,
    horizon_days: int = 30,
    grace_days: int = 3,
    taken: pd.DataFrame | None = None,
) -> PayDateBacktest:
    """Rolling-origin backtest of the pay-date model on the ledger as it stands on `end`.

    The snapshot dates and origins are `scoring.late_model.backtest`'s; at each origin the
    model is trained on the earlier snapshots with their targets as known on the origin
    (capped when still unpaid), and predicts the origin's snapshot, whose targets are read on
    `end`. `taken`: the `snapshots` already built for these settings."""
    dates = snapshot_dates(ledger, end, horizon_days, grace_days)
    if taken is None:
        taken = snapshots(ledger, end, horizon_days=horizon_days, grace_days=grace_days)
    pool = with_usual_days(ledger, taken)
    scored: list[pd.DataFrame] = []
    used: list[dt.date] = []
    capped = 0
    for origin in dates[-origins:]:
        training = training_examples(
            ledger, origin, pool, horizon_days=horizon_days, settle_days=SETTLE_DAYS
        )
        test = pool[pool["as_of"] == pd.Timestamp(origin)].reset_index(drop=True)
        if len(training) < _MIN_TRAINING or test.empty:
            continue
        model = PayDateModel(training, training["target"])
        paid_training = training[~training["capped"]]
        days_to_pay = paid_training["target"] + paid_training["terms_days"]
        fallback = float(days_to_pay.mean()) if len(days_to_pay) else float("nan")
        quantiles = model.quantiles(test)
        scored.append(
            test[["invoice_id", "customer_id", "as_of", "due_date"]].assign(
                actual=targets(ledger, test, end).to_numpy(),
                **{name: quantiles[name].to_numpy() for name in QUANTILE_COLUMNS},
                baseline=test["usual_days_beyond_due"]
                .fillna(fallback - test["terms_days"])
                .to_numpy(dtype="float64"),
            )
        )
        used.append(origin)
        capped += int(training["capped"].sum())
    columns = ["invoice_id", "customer_id", "as_of", "due_date", "actual", *QUANTILE_COLUMNS]
    predictions = (
        pd.concat(scored, ignore_index=True)
        if scored
        else pd.DataFrame(columns=[*columns, "baseline"])
    )
    known = predictions[predictions["actual"].notna()]
    actual = known["actual"].to_numpy(dtype="float64")
    return PayDateBacktest(
        origins=tuple(used),
        predictions=predictions,
        model_mae=mean_absolute_error(actual, known["p50"].to_numpy(dtype="float64")),
        baseline_mae=mean_absolute_error(actual, known["baseline"].to_numpy(dtype="float64")),
        coverage=coverage(
            actual, known["p10"].to_numpy(dtype="float64"), known["p90"].to_numpy(dtype="float64")
        ),
        censored=len(predictions) - len(known),
        training_capped=capped,
    )


def mean_absolute_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    """The mean of |predicted - actual|, in days; NaN when there is nothing to score."""
    return float(np.mean(np.abs(predicted - actual))) if len(actual) else float("nan")


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """The share of `actual` inside [low, high], both ends included; NaN when empty."""
    return float(np.mean((actual >= low) & (actual <= high))) if len(actual) else float("nan")


def _days(dates: np.ndarray) -> np.ndarray:
    """Whole days since the epoch, as float64 (NaN for NaT)."""
    values = np.asarray(dates, dtype="datetime64[ns]")
    days = values.astype("int64") // _NS_PER_DAY
    return np.where(np.isnat(values), np.nan, days.astype("float64"))


def _days_of(moment: pd.Timestamp) -> float:
    return float(moment.value // _NS_PER_DAY)
