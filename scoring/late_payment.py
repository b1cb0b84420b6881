"""What the late-payment model learns from: per open invoice, features of its customer's past
as of a snapshot date, and whether the invoice was then paid late.

A *snapshot* at date `s` holds the invoices open on `s` that fall due in the next `horizon`
days, (s, s + horizon]: the invoices a collector looks at that day. Every feature is computed
from the ledger as it stood on `s` (`scoring.behaviour.paid_invoices` and
`scoring.aging.open_invoices`, both rebuilt as of `s`), so no later payment, invoice or
application leaks into it; `tests/test_late_payment.py` rebuilds them from a ledger cut at `s`
and gets the same values.

An invoice is *paid late* when it was not paid by its due date plus `grace_days`: paid after
that day, or still open on it. The outcome is known once that day has passed, so a snapshot's
labels are known `horizon + grace_days` after it; one whose day has not passed by the ledger's
end has no label (`late` is missing) and is only scored.

Pure: frames in, frames out, no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from arsync.ledger import Ledger
from scoring.aging import open_invoices
from scoring.behaviour import paid_invoices

FEATURES: tuple[str, ...] = (
    "paid_365d",  # invoices the customer paid in the last 365 days (log1p)
    "late_rate_365d",  # of those, the share paid later than terms plus grace
    "late_rate_90d",
    "late_trend",  # late_rate_90d - late_rate_365d: getting worse is positive
    "late_log_odds_all",  # log-odds of the share paid late over all paid history, smoothed
    "days_late_mean_365d",  # mean days beyond terms, early payments counted as 0
    "days_late_p75_365d",
    "overdue_share_now",  # of the customer's open invoices on the snapshot, the share overdue
    "disputed_share",  # of the customer's invoices issued so far, the share disputed
    "amount_ratio",  # log of this invoice's total over the customer's median invoice
    "terms_days",
    "relationship_days",  # since the customer's first invoice (log1p)
    "due_month_sin",  # seasonality of the due date
    "due_month_cos",
)
_NS_PER_DAY = 86_400 * 10**9


def snapshot(
    ledger: Ledger, as_of: dt.date, *, horizon_days: int = 30, grace_days: int = 3
) -> pd.DataFrame:
    """The invoices open on `as_of` that fall due within `horizon_days` after it, each with
    its FEATURES (NaN where the customer has no history yet) and the snapshot's date.

    Columns: invoice_id, customer_id, due_date, as_of, then FEATURES."""
    cutoff = pd.Timestamp(as_of)
    open_now = open_invoices(ledger, as_of)
    due = open_now["due_date"]
    wanted = open_now[(due > cutoff) & (due <= cutoff + pd.Timedelta(days=horizon_days))]
    history = _customer_history(ledger, as_of, open_now, grace_days)
    result = pd.DataFrame(
        {
            "invoice_id": wanted["invoice_id"].astype("string").to_numpy(),
            "customer_id": wanted["customer_id"].astype("string").to_numpy(),
            "due_date": wanted["due_date"].to_numpy(),
            "as_of": np.full(len(wanted), cutoff.to_datetime64()),
        }
    )
    joined = history.reindex(pd.Index(result["customer_id"].to_numpy(), dtype="string"))
    for column in history.columns:
        result[column] = joined[column].to_numpy(dtype="float64")
    median = joined["median_total"].to_numpy(dtype="float64")
    total = wanted["total_minor"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(np.where(median > 0, total / median, np.nan))
    result["amount_ratio"] = np.where(np.isfinite(ratio), ratio, np.nan)
    result["terms_days"] = _days(wanted["due_date"]) - _days(wanted["issue_date"])
    first = joined["first_issue_day"].to_numpy(dtype="float64")
    result["relationship_days"] = np.log1p(np.maximum(_days_of(cutoff) - first, 0))
    month = wanted["due_date"].dt.month.to_numpy(dtype="float64")
    result["due_month_sin"] = np.sin(2 * np.pi * month / 12)
    result["due_month_cos"] = np.cos(2 * np.pi * month / 12)
    return result[["invoice_id", "customer_id", "due_date", "as_of", *FEATURES]]


def outcomes(
    ledger: Ledger, examples: pd.DataFrame, known_by: dt.date, grace_days: int = 3
) -> pd.Series:
    """For each example, whether its invoice was paid late (1.0) or not (0.0), as the ledger
    shows it on `known_by`; missing when its due date plus grace has not passed by then."""
    paid = paid_invoices(ledger, known_by)
    paid_date = paid.set_index(paid["invoice_id"].astype("string"))["paid_date"]
    when = paid_date.reindex(pd.Index(examples["invoice_id"].to_numpy(), dtype="string"))
    deadline = examples["due_date"].to_numpy() + np.timedelta64(grace_days, "D")
    known = deadline < np.datetime64(pd.Timestamp(known_by))
    settled = when.to_numpy()
    on_time = ~pd.isna(settled) & (settled <= deadline)
    late = np.where(on_time, 0.0, 1.0)
    return pd.Series(np.where(known, late, np.nan), index=examples.index, name="late")


def snapshot_dates(
    ledger: Ledger, end: dt.date, horizon_days: int, grace_days: int
) -> list[dt.date]:
    """The snapshot days of a backtest, oldest first: every `horizon_days` (so that an invoice
    is in one snapshot at most) back from the last whose late outcomes `end` tells, to 90 days
    after the first invoice (some history before the first); none without an invoice."""
    issued = ledger.invoices["issue_date"]
    if issued.isna().all():
        return []
    start = issued.min().date() + dt.timedelta(days=90)
    day = end - dt.timedelta(days=horizon_days + grace_days + 1)
    dates = []
    while day >= start:
        dates.append(day)
        day -= dt.timedelta(days=horizon_days)
    return dates[::-1]


def snapshots(
    ledger: Ledger, end: dt.date, *, horizon_days: int = 30, grace_days: int = 3
) -> pd.DataFrame:
    """Every snapshot of a backtest (`snapshot_dates`) in one frame: built once, for the
    late-payment model, its backtest and the pay-date backtest alike."""
    frames = [
        snapshot(ledger, day, horizon_days=horizon_days, grace_days=grace_days)
        for day in snapshot_dates(ledger, end, horizon_days, grace_days)
    ]
    if not frames:
        return snapshot(ledger, end, horizon_days=horizon_days, grace_days=grace_days)
    return pd.concat(frames, ignore_index=True)


def stable_order(frame: pd.DataFrame) -> pd.Index:
    """The rows sorted by snapshot and invoice: a fit independent of the frame's row order."""
    keys = frame[["as_of", "invoice_id"]].astype({"invoice_id": "string"})
    return keys.sort_values(["as_of", "invoice_id"], kind="stable").index


def _customer_history(
    ledger: Ledger, as_of: dt.date, open_now: pd.DataFrame, grace_days: int
) -> pd.DataFrame:
    """Per customer, what its past says on `as_of`: the FEATURES that are the customer's, and
    the helpers `median_total` and `first_issue_day`."""
    cutoff = pd.Timestamp(as_of)
    every_paid = paid_invoices(ledger, as_of)
    paid = every_paid[every_paid["paid_date"] > cutoff - pd.Timedelta(days=365)]
    recent = paid["paid_date"] > cutoff - pd.Timedelta(days=90)
    beyond = paid["days_beyond_terms"].astype("float64")
    frame = pd.DataFrame(
        {
            "customer_id": paid["customer_id"].astype("string").to_numpy(),
            "late": (beyond > grace_days).astype("float64").to_numpy(),
            "late_90": np.where(recent, (beyond > grace_days).astype("float64"), np.nan),
            "days_late": np.maximum(beyond.to_numpy(), 0.0),
        }
    )
    grouped = frame.groupby("customer_id", sort=True)
    history = pd.DataFrame(
        {
            "paid_365d": np.log1p(grouped.size().astype("float64")),
            "late_rate_365d": grouped["late"].mean(),
            "late_rate_90d": grouped["late_90"].mean(),
            "days_late_mean_365d": grouped["days_late"].mean(),
            "days_late_p75_365d": grouped["days_late"].quantile(0.75),
        }
    )
    history["late_trend"] = history["late_rate_90d"] - history["late_rate_365d"]
    lifetime = _lifetime_log_odds(every_paid, grace_days)
    history = history.reindex(lifetime.index)
    history["late_log_odds_all"] = lifetime
    invoices = ledger.invoices
    issued = invoices[(invoices["issue_date"] <= cutoff) & (invoices["status"] != "void")]
    by_customer = issued.groupby(issued["customer_id"].astype("string"), sort=True)
    issued_stats = pd.DataFrame(
        {
            "disputed_share": by_customer["disputed"].mean().astype("float64"),
            "median_total": by_customer["total_minor"].median().astype("float64"),
            "first_issue_day": _days_series(by_customer["issue_date"].min()),
        }
    )
    overdue = open_now["days_overdue"] > grace_days
    overdue_share = overdue.groupby(open_now["customer_id"].astype("string")).mean()
    issued_stats["overdue_share_now"] = overdue_share.reindex(issued_stats.index).fillna(0.0)
    combined = issued_stats.join(history, how="left")
    combined.index = combined.index.astype("string")
    return combined


def _lifetime_log_odds(paid: pd.DataFrame, grace_days: int) -> pd.Series:
    """Per customer with anything paid, the log-odds of its share paid late over its whole
    history, smoothed by Laplace's rule ((late + 1) / (paid + 2)). Where lateness is a habit, more
    history tells it better than the last year alone, and the smoothing keeps a customer with
    two invoices from reading as always or never late."""
    late = (paid["days_beyond_terms"].astype("float64") > grace_days).astype("float64")
    grouped = late.groupby(paid["customer_id"].astype("string").to_numpy(), sort=True)
    share = (grouped.sum() + 1.0) / (grouped.size().astype("float64") + 2.0)
    return pd.Series(np.log(share / (1.0 - share)), index=share.index)


def _days(dates: pd.Series) -> np.ndarray:
    return dates.to_numpy(dtype="datetime64[ns]").astype("int64") // _NS_PER_DAY


def _days_series(dates: pd.Series) -> pd.Series:
    return pd.Series(_days(dates).astype("float64"), index=dates.index)


def _days_of(moment: pd.Timestamp) -> float:
    return float(moment.value // _NS_PER_DAY)
