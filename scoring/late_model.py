"""The per-tenant late-payment model and its rolling-origin backtest.

The model is a strongly regularised logistic regression on `scoring.late_payment.FEATURES`
(missing values imputed by the training median, with an indicator per feature that can be
missing, then standardised), calibrated by isotonic regression on held-out folds: linear, so
each customer's reasons can later be read off its terms, and calibrated, which the backtest
checks (ECE). Nothing in it is random (lbfgs, unshuffled folds): the same ledger gives the same
model and the same probabilities, in any row order of the training frame (rows are sorted by
snapshot and invoice first).

The backtest is rolling-origin: for each origin `t` (monthly, the last one as late as the
ledger still tells the outcomes of its snapshot), the model is trained only on the snapshots
whose outcomes were known by `t`, and scores the snapshot at `t`. The predictions of every
origin are pooled and compared with what happened, beside the baseline the issue names: the
customer's own past late rate.

Pure: frames in, results out, no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from arsync.ledger import Ledger
from scoring.late_payment import FEATURES, outcomes, snapshots, stable_order
from scoring.settings import ModelSettings
from scoring.threads import one_thread

DEFAULT_BANDS: tuple[float, ...] = (0.05, 0.55, 0.7)
"""Probability bands of the tiers low / medium / high / critical: the upper edge of each but
the last. Low: late one time in twenty at most; critical: late more than seven times in ten."""
TIERS: tuple[str, ...] = ("low", "medium", "high", "critical")
REGULARISATION = 0.003  # the logistic regression's C: strong, for a few hundred examples
CALIBRATION_FOLDS = 10
MAX_TRAINING_ROWS = 100_000
"""Examples a fit trains on at most (`model.max_training_rows`): a 14-feature linear model has
learnt what it can long before, while its time and memory grow with every row (at 50,000
customers a fit would see 600,000)."""
_MIN_TRAINING = 50  # labelled examples below which no model is trained
_ECE_BINS = 10


@dataclass(frozen=True)
class Metrics:
    """How well one set of probabilities foretold late payment."""

    auc: float  # ranking: 0.5 is chance
    brier: float  # mean squared error of the probability
    ece: float  # expected calibration error, 10 equal-width bins


@dataclass(frozen=True)
class Backtest:
    """The pooled out-of-time predictions of every origin, and how they scored."""

    origins: tuple[dt.date, ...]
    predictions: pd.DataFrame  # invoice_id, customer_id, as_of, late, probability, baseline
    model: Metrics
    baseline: Metrics
    tiers: pd.DataFrame  # tier, examples, share, mean probability, late share (invoices)
    # The same per customer and origin, as the Account shows it: the customer's riskiest
    # invoice due in the horizon, late when any of them was.
    customer_tiers: pd.DataFrame

    @property
    def examples(self) -> int:
        return len(self.predictions)


class LateModel:
    """A fitted model: `probability` of late payment for the rows of a snapshot."""

    def __init__(
        self,
        training: pd.DataFrame,
        labels: pd.Series,
        max_rows: int = MAX_TRAINING_ROWS,
        hashes: pd.Series | None = None,  # `sampled`'s, when already taken
    ) -> None:
        from sklearn.calibration import CalibratedClassifierCV  # noqa: PLC0415 - model runs only
        from sklearn.impute import SimpleImputer  # noqa: PLC0415
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
        from sklearn.pipeline import make_pipeline  # noqa: PLC0415
        from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

        order = stable_order(training.loc[sampled(training, max_rows, hashes)])
        linear = make_pipeline(
            SimpleImputer(strategy=_median, add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=REGULARISATION, max_iter=5000),
        )
        # Strong shrinkage ranks best on a few hundred examples but pulls every probability
        # towards the mean; isotonic calibration on held-out folds (unshuffled: deterministic)
        # gives them back their meaning.
        self._pipeline = CalibratedClassifierCV(linear, method="isotonic", cv=CALIBRATION_FOLDS)
        features = training.loc[order, list(FEATURES)].to_numpy(dtype="float64")
        with one_thread():
            self._pipeline.fit(features, labels.loc[order].to_numpy(dtype="int64"))

    def contributions(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Per row and feature, the feature's term in the linear model's log-odds (its
        standardised value times its weight, a missing value's indicator added to it),
        averaged over the calibration folds: positive terms push towards late."""
        features = rows[list(FEATURES)].to_numpy(dtype="float64")
        total = np.zeros((len(rows), len(FEATURES)))
        folds = self._pipeline.calibrated_classifiers_
        for fold in folds:
            imputer, scaler, linear = (step for _, step in fold.estimator.steps)
            terms = scaler.transform(imputer.transform(features)) * linear.coef_[0]
            total += terms[:, : len(FEATURES)]
            if imputer.indicator_ is not None:
                missing = np.asarray(imputer.indicator_.features_, dtype="int64")
                np.add.at(total.T, missing, terms[:, len(FEATURES) :].T)
        return pd.DataFrame(total / len(folds), columns=list(FEATURES), index=rows.index)

    def probability(self, rows: pd.DataFrame) -> np.ndarray:
        """The probability that each row's invoice is paid late."""
        if rows.empty:
            return np.zeros(0)
        features = rows[list(FEATURES)].to_numpy(dtype="float64")
        with one_thread():
            return np.asarray(self._pipeline.predict_proba(features)[:, 1], dtype="float64")


def _median(values: np.ndarray) -> float:
    """The imputer's statistic: the median of a column's present values, 0 when none is
    (`keep_empty_features`). The same figure as `strategy="median"`, whose masked-array sort
    of the whole matrix took 40% of a backtest (0.2 s a fold at 90,000 rows), where
    `np.median` partitions one column at a time."""
    return float(np.median(values)) if len(values) else 0.0


def sampled(training: pd.DataFrame, max_rows: int, hashes: pd.Series | None = None) -> pd.Index:
    """The rows a fit trains on: all of them up to `max_rows`, else the `max_rows` whose
    snapshot and invoice hash lowest. Every snapshot keeps its share, and the choice depends
    on the rows' content alone, so any row order gives the same model. `hashes`: the
    `row_hashes` of a frame whose rows `training` takes (by index), hashed once for all."""
    if len(training) <= max_rows:
        return training.index
    hashes = row_hashes(training) if hashes is None else hashes.loc[training.index]
    return hashes.sort_values(kind="stable").index[:max_rows]


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """Each row's hash of its snapshot and invoice, by which `sampled` chooses: a row's own,
    whatever other rows are with it."""
    keys = frame[["as_of", "invoice_id"]].astype({"invoice_id": "string"})
    return pd.util.hash_pandas_object(keys, index=False)


def backtest(
    ledger: Ledger,
    end: dt.date,
    *,
    origins: int = 6,
    horizon_days: int = 30,
    grace_days: int = 3,
    bands: tuple[float, ...] = DEFAULT_BANDS,
    taken: pd.DataFrame | None = None,
    max_rows: int = MAX_TRAINING_ROWS,
    pool: pd.DataFrame | None = None,
    hashes: pd.Series | None = None,
) -> Backtest:
    """Rolling-origin backtest of the model on the ledger as it stands on `end`.

    Snapshots are taken every `horizon_days` back from the last origin, so that each invoice
    is in one snapshot at most; an origin is scored when at least `_MIN_TRAINING` labelled
    examples were known by it. `taken`: the `snapshots` already built for these settings;
    `pool`: their `labelled` examples, already built (then `taken` is not read), and
    `hashes` its `row_hashes`."""
    if pool is None:
        pool = labelled(ledger, end, horizon_days=horizon_days, grace_days=grace_days, taken=taken)
    dates = sorted(pd.Timestamp(stamp).date() for stamp in pool["as_of"].unique())
    if hashes is None and len(pool) > max_rows:
        # Each origin samples from the rows known by then: hashed once, not once an origin.
        hashes = row_hashes(pool)
    scored: list[pd.DataFrame] = []
    used: list[dt.date] = []
    for origin in dates[-origins:]:
        known = pool["as_of"] + pd.Timedelta(days=horizon_days + grace_days) < pd.Timestamp(origin)
        keys = pool.loc[known, ["as_of", "invoice_id"]]
        training = pool.loc[sampled(keys, max_rows, hashes)]  # copies only the rows a fit sees
        if len(training) < _MIN_TRAINING or training["late"].nunique() < 2:
            continue
        test = pool[pool["as_of"] == pd.Timestamp(origin)]
        if test.empty:
            continue
        model = LateModel(training, training["late"], max_rows)
        prior = float(training["late"].mean())
        scored.append(
            test.assign(
                probability=model.probability(test),
                baseline=test["late_rate_365d"].fillna(prior).to_numpy(),
            )
        )
        used.append(origin)
    columns = ["invoice_id", "customer_id", "as_of", "late", "probability", "baseline"]
    predictions = (
        pd.concat(scored, ignore_index=True)[columns] if scored else pd.DataFrame(columns=columns)
    )
    late = predictions["late"].to_numpy(dtype="float64")
    return Backtest(
        origins=tuple(used),
        predictions=predictions,
        model=metrics(late, predictions["probability"].to_numpy(dtype="float64")),
        baseline=metrics(late, predictions["baseline"].to_numpy(dtype="float64")),
        tiers=tier_table(late, predictions["probability"].to_numpy(dtype="float64"), bands),
        customer_tiers=_customer_tiers(predictions, bands),
    )


@dataclass(frozen=True)
class Gate:
    """Whether the model may stand in for the rule score, and why, in words for the Account
    and the report (`basis`: "model" or "rule")."""

    basis: str
    reason: str


def gate(result: Backtest, settings: ModelSettings) -> Gate:
    """The model passes when it was tried on at least `min_examples` out-of-time invoices,
    ranks better than the customer's past late rate by `auc_margin` and is calibrated within
    `max_ece`; otherwise the rule score stays, and the reason names the first test failed."""
    model, baseline = result.model, result.baseline
    if result.examples < settings.min_examples:
        return Gate(
            "rule",
            f"too little history: {result.examples:,} invoices could be tested out of time, "
            f"{settings.min_examples:,} are needed",
        )
    if math.isnan(model.auc) or not model.auc >= baseline.auc + settings.auc_margin:
        return Gate(
            "rule",
            f"the model ranks no better than the past late rate: AUC {model.auc:.3f} against "
            f"{baseline.auc:.3f}, a margin of {settings.auc_margin:.3f} is needed",
        )
    if not model.ece <= settings.max_ece:
        return Gate(
            "rule",
            f"the model's probabilities are not calibrated: ECE {model.ece:.3f}, at most "
            f"{settings.max_ece:.3f}",
        )
    return Gate(
        "model",
        f"AUC {model.auc:.3f} against the past late rate's {baseline.auc:.3f}, ECE "
        f"{model.ece:.3f}, on {result.examples:,} invoices",
    )


REASON_CODES: dict[str, str | None] = {
    "paid_365d": None,  # how much history there is: NEW_CUSTOMER when there is none
    "relationship_days": None,
    "late_rate_365d": "MISSED_DUE_DATES",
    "late_rate_90d": "MISSED_DUE_DATES",
    "late_log_odds_all": "MISSED_DUE_DATES",
    "late_trend": "PAYING_LATER",
    "days_late_mean_365d": "LATE_PAYER",
    "days_late_p75_365d": "LATE_PAYER",
    "overdue_share_now": "OVERDUE_BALANCE",
    "disputed_share": "DISPUTES",
    "amount_ratio": None,  # the invoice's own size, terms and season say nothing of the
    "terms_days": None,  # customer a rep could act on: they move the probability but are
    "due_month_sin": None,  # not given as reasons
    "due_month_cos": None,
}
"""Each feature's reason code: the codes the Account's health reasons already use."""
NEW_CUSTOMER = "NEW_CUSTOMER"


def fit_latest(
    ledger: Ledger,
    end: dt.date,
    *,
    horizon_days: int = 30,
    grace_days: int = 3,
    taken: pd.DataFrame | None = None,
    max_rows: int = MAX_TRAINING_ROWS,
    pool: pd.DataFrame | None = None,
    hashes: pd.Series | None = None,
) -> LateModel | None:
    """The model trained on every snapshot whose outcomes are known on `end`, to score the
    invoices open on `end`; None when there are too few to train on. `taken`: the
    `snapshots` already built for these settings; `pool`: their `labelled` examples, and
    `hashes` its `row_hashes`."""
    if pool is None:
        pool = labelled(ledger, end, horizon_days=horizon_days, grace_days=grace_days, taken=taken)
    if len(pool) < _MIN_TRAINING or pool["late"].nunique() < 2:
        return None
    return LateModel(pool, pool["late"], max_rows, hashes)


def customer_risk(
    model: LateModel, rows: pd.DataFrame, bands: tuple[float, ...] = DEFAULT_BANDS
) -> pd.DataFrame:
    """Per customer with an invoice in the snapshot `rows`: the probability that an invoice
    of it due in the horizon is paid late, its tier, and the model's top three reasons.

    The customer's probability is its riskiest invoice's: a customer's invoices are paid
    late together far more often than independently, so the product rule would overstate it.
    Its reasons are those of that invoice: the reason codes whose terms push it towards late
    the most, after NEW_CUSTOMER for a customer with nothing paid in the last year (as the
    health score's reasons say it first)."""
    columns = ["customer_id", "late_probability", "tier", "reason_1", "reason_2", "reason_3"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    scored = rows[["customer_id", "invoice_id"]].assign(probability=model.probability(rows))
    order = scored.sort_values(
        ["customer_id", "probability", "invoice_id"], ascending=[True, False, True], kind="stable"
    )
    riskiest = order.drop_duplicates("customer_id")
    terms = model.contributions(rows.loc[riskiest.index])
    by_code = terms.T.groupby(pd.Series(REASON_CODES)).sum().T
    new = rows.loc[riskiest.index, "paid_365d"].isna().to_numpy()
    reasons = [
        ([NEW_CUSTOMER] if is_new else []) + pushing
        for is_new, pushing in zip(new, _pushing(by_code), strict=True)
    ]
    probability = riskiest["probability"].to_numpy()
    tiers = np.asarray(TIERS)[np.searchsorted(np.asarray(bands), probability, side="right")]
    return pd.DataFrame(
        {
            "customer_id": riskiest["customer_id"].to_numpy(),
            "late_probability": probability,
            "tier": tiers,
            **{
                f"reason_{n}": [row[n - 1] if len(row) >= n else "" for row in reasons]
                for n in (1, 2, 3)
            },
        }
    ).reset_index(drop=True)


def _pushing(by_code: pd.DataFrame) -> list[list[str]]:
    """Per row, the codes whose terms are positive, the largest first, equal ones in column
    order (as a Series sorted descending keeps them): one stable sort of the matrix instead
    of a Series sorted per customer, which took 8 s at 50,000 customers."""
    codes = np.asarray(by_code.columns, dtype=object)
    values = by_code.to_numpy(dtype="float64")
    order = np.argsort(-values, axis=1, kind="stable")
    ranked = np.take_along_axis(values, order, axis=1)
    return [
        [str(code) for code, value in zip(codes[row], held, strict=True) if value > 0]
        for row, held in zip(order, ranked, strict=True)
    ]


def metrics(late: np.ndarray, probability: np.ndarray) -> Metrics:
    """AUC, Brier score and ECE of `probability` against the outcomes `late` (0 or 1); NaN
    where they are undefined (no example, or one class only for the AUC)."""
    if len(late) == 0:
        return Metrics(float("nan"), float("nan"), float("nan"))
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - only a model run loads it

    auc = float(roc_auc_score(late, probability)) if len(np.unique(late)) == 2 else float("nan")
    brier = float(np.mean((probability - late) ** 2))
    return Metrics(auc, brier, calibration_error(late, probability))


def calibration_error(late: np.ndarray, probability: np.ndarray, bins: int = _ECE_BINS) -> float:
    """Expected calibration error: per equal-width probability bin, the gap between the mean
    probability and the share late, weighted by the bin's examples."""
    which = np.minimum((probability * bins).astype("int64"), bins - 1)
    total = 0.0
    for index in np.unique(which):
        mine = which == index
        total += abs(float(probability[mine].mean()) - float(late[mine].mean())) * mine.sum()
    return float(total / len(late))


def tier_table(late: np.ndarray, probability: np.ndarray, bands: tuple[float, ...]) -> pd.DataFrame:
    """Per tier (a band of the probability), its examples, their share, the mean
    probability and the share that was paid late."""
    names = TIERS[: len(bands) + 1]
    tier = np.searchsorted(np.asarray(bands), probability, side="right")
    rows = []
    for index, name in enumerate(names):
        mine = tier == index
        count = int(mine.sum())
        rows.append(
            {
                "tier": name,
                "examples": count,
                "share": count / len(late) if len(late) else float("nan"),
                "probability": float(probability[mine].mean()) if count else float("nan"),
                "late_share": float(late[mine].mean()) if count else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _customer_tiers(predictions: pd.DataFrame, bands: tuple[float, ...]) -> pd.DataFrame:
    """`tier_table` per customer and origin: its riskiest invoice's probability (as
    `customer_risk` gives the Account), late when any of its invoices was paid late."""
    per_customer = predictions.groupby(["as_of", "customer_id"], sort=True).agg(
        probability=("probability", "max"), late=("late", "max")
    )
    return tier_table(
        per_customer["late"].to_numpy(dtype="float64"),
        per_customer["probability"].to_numpy(dtype="float64"),
        bands,
    )


def labelled(
    ledger: Ledger,
    end: dt.date,
    *,
    horizon_days: int = 30,
    grace_days: int = 3,
    taken: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every snapshot (`taken`, else built: `snapshots`) with its examples' outcomes as
    known on `end` (`late`); unknown ones left out. What `backtest` and `fit_latest` learn
    from: a run builds it once for both."""
    if taken is None:
        taken = snapshots(ledger, end, horizon_days=horizon_days, grace_days=grace_days)
    late = outcomes(ledger, taken, end, grace_days).to_numpy()
    known = ~pd.isna(late)
    return taken[known].assign(late=late[known]).reset_index(drop=True)
