"""What the late-payment model learns from: per open invoice, features of its customer's past
as of a snapshot date, and whether the invoice was then paid late.

A *snapshot* at date `s` holds the invoices open on `s` that fall due in the next `horizon`
days, (s, s + horizon]: the invoices a collector looks at that day. Every feature is computed
from the ledger as it stood on `s` (the paid invoices of `scoring.behaviour.paid_rows` and the
open ones as `scoring.aging.open_invoices` rebuilds them, both as of `s`), so no later
payment, invoice or application leaks into it; `tests/test_late_payment.py` rebuilds them
from a ledger cut at `s` and gets the same values. The ledger's columns are taken as arrays
once for all the snapshots of a backtest (`_Columns`).

An invoice is *paid late* when it was not paid by its due date plus `grace_days`: paid after
that day, or still open on it. The outcome is known once that day has passed, so a snapshot's
labels are known `horizon + grace_days` after it; one whose day has not passed by the ledger's
end has no label (`late` is missing) and is only scored.

Pure: frames in, frames out, no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from arsync.codes import positions, shared_codes
from arsync.ledger import Ledger
from scoring.behaviour import paid_rows

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
    return _snapshot(ledger, _Columns.of(ledger), as_of, horizon_days, grace_days)


@dataclass(frozen=True)
class _Columns:
    """The ledger's columns every snapshot reads, as arrays taken once per ledger: a
    backtest takes some twenty snapshots, and each one grouping two million invoices by
    their text ids again took most of a run's model step at 50,000 customers."""

    issue: np.ndarray  # datetime64[ns]
    due: np.ndarray  # datetime64[ns]
    issue_day: np.ndarray  # whole days since the epoch
    due_day: np.ndarray
    not_void: np.ndarray  # bool
    open_minor: np.ndarray  # int64, today
    total: np.ndarray  # float64, total_minor
    disputed: np.ndarray  # float64, 1.0 when disputed
    customer: np.ndarray  # int64, the invoice's customer as a code: 0 .. customers - 1
    customers: int
    by_total: np.ndarray  # the invoices ordered by customer, then total
    customer_by_total: np.ndarray  # `customer` in that order
    total_by_total: np.ndarray  # `total` in that order
    applied_to: np.ndarray  # per application, its invoice's row (-1: none)
    applied: np.ndarray  # per application, datetime64[ns]
    amount: np.ndarray  # per application, int64 minor units

    @classmethod
    def of(cls, ledger: Ledger) -> _Columns:
        invoices, applications = ledger.invoices, ledger.applications
        customer = shared_codes(invoices["customer_id"])[0]
        total = invoices["total_minor"].to_numpy(dtype="float64")
        due = invoices["due_date"].to_numpy(dtype="datetime64[ns]")
        issue = invoices["issue_date"].to_numpy(dtype="datetime64[ns]")
        by_total = _by_customer_and_total(customer, invoices["total_minor"].to_numpy())
        return cls(
            issue=issue,
            due=due,
            issue_day=_days(invoices["issue_date"]),
            due_day=_days(invoices["due_date"]),
            not_void=np.asarray(invoices["status"] != "void", dtype=bool),
            open_minor=invoices["open_minor"].to_numpy(dtype="int64"),
            total=total,
            disputed=invoices["disputed"].to_numpy(dtype="float64"),
            customer=customer,
            customers=int(customer.max(initial=-1)) + 1,
            by_total=by_total,
            customer_by_total=customer[by_total],
            total_by_total=total[by_total],
            applied_to=ledger.application_invoice_rows(),
            applied=applications["applied_date"].to_numpy(dtype="datetime64[ns]"),
            amount=applications["amount_minor"].to_numpy(dtype="int64"),
        )


def _snapshot(
    ledger: Ledger, columns: _Columns, as_of: dt.date, horizon_days: int, grace_days: int
) -> pd.DataFrame:
    """`snapshot` on the arrays of `_Columns`: the open invoices as
    `scoring.aging.open_invoices` rebuilds them on `as_of`, the paid ones as
    `scoring.behaviour.paid_invoices` does, each customer's figures by its code."""
    cutoff = pd.Timestamp(as_of)
    moment = cutoff.to_datetime64()
    later = (columns.applied > moment) & (columns.applied_to >= 0)
    open_minor = columns.open_minor.copy()
    np.add.at(open_minor, columns.applied_to[later], columns.amount[later])
    issued = (columns.issue <= moment) & columns.not_void
    open_now = issued & (open_minor > 0)
    horizon = (cutoff + pd.Timedelta(days=horizon_days)).to_datetime64()
    rows = np.flatnonzero(open_now & (columns.due > moment) & (columns.due <= horizon))
    customer = columns.customer[rows]
    figures = _customer_figures(ledger, columns, cutoff, issued, open_now, grace_days=grace_days)
    invoices = ledger.invoices
    total = columns.total[rows]
    median = figures["median_total"][customer]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(np.where(median > 0, total / median, np.nan))
    month = pd.DatetimeIndex(columns.due[rows]).month.to_numpy(dtype="float64")
    first = figures["first_issue_day"][customer]
    features: dict[str, np.ndarray] = {
        name: figures[name][customer] for name in FEATURES if name in figures
    }
    features["amount_ratio"] = np.where(np.isfinite(ratio), ratio, np.nan)
    features["terms_days"] = columns.due_day[rows] - columns.issue_day[rows]
    features["relationship_days"] = np.log1p(np.maximum(_days_of(cutoff) - first, 0))
    features["due_month_sin"] = np.sin(2 * np.pi * month / 12)
    features["due_month_cos"] = np.cos(2 * np.pi * month / 12)
    return pd.DataFrame(
        {
            "invoice_id": invoices["invoice_id"].iloc[rows].astype("string").to_numpy(),
            "customer_id": invoices["customer_id"].iloc[rows].astype("string").to_numpy(),
            "due_date": columns.due[rows],
            "as_of": np.full(len(rows), moment),
            **{name: features[name] for name in FEATURES},
        }
    )


def outcomes(
    ledger: Ledger, examples: pd.DataFrame, known_by: dt.date, grace_days: int = 3
) -> pd.Series:
    """For each example, whether its invoice was paid late (1.0) or not (0.0), as the ledger
    shows it on `known_by`; missing when its due date plus grace has not passed by then."""
    rows, paid_at = paid_rows(ledger, known_by)
    paid_date = np.full(len(ledger.invoices), np.datetime64("NaT"), dtype="datetime64[ns]")
    paid_date[rows] = paid_at.view("datetime64[ns]")
    found = positions(ledger.invoices["invoice_id"], examples["invoice_id"])
    settled = np.where(found >= 0, paid_date[found], np.datetime64("NaT"))
    deadline = examples["due_date"].to_numpy() + np.timedelta64(grace_days, "D")
    known = deadline < np.datetime64(pd.Timestamp(known_by))
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
    columns = _Columns.of(ledger)
    frames = [
        _snapshot(ledger, columns, day, horizon_days, grace_days)
        for day in snapshot_dates(ledger, end, horizon_days, grace_days)
    ]
    if not frames:
        return _snapshot(ledger, columns, end, horizon_days, grace_days)
    return pd.concat(frames, ignore_index=True)


def stable_order(frame: pd.DataFrame) -> pd.Index:
    """The rows sorted by snapshot and invoice: a fit independent of the frame's row order."""
    keys = frame[["as_of", "invoice_id"]].astype({"invoice_id": "string"})
    return keys.sort_values(["as_of", "invoice_id"], kind="stable").index


def _customer_figures(
    ledger: Ledger,
    columns: _Columns,
    cutoff: pd.Timestamp,
    issued: np.ndarray,
    open_now: np.ndarray,
    *,
    grace_days: int,
) -> dict[str, np.ndarray]:
    """Per customer code, what its past says on `cutoff`: the FEATURES that are the
    customer's, and the helpers `median_total` and `first_issue_day` (NaN where it has none).

    The paid history is the customer's invoices paid by `cutoff`; the last 365 and 90 days
    go by paid date. Every figure is a count, a sum or an order statistic of whole numbers
    (days, 0 or 1, minor units), so it is the same to the bit however it is summed."""
    size = columns.customers
    paid, paid_at = paid_rows(ledger, cutoff.date())
    beyond = _whole_days(paid_at.view("datetime64[ns]")) - _whole_days(columns.due[paid])
    late = (beyond > grace_days).astype("float64")
    who = columns.customer[paid]
    # Over all paid history: the log-odds of the share paid late, smoothed by Laplace's rule
    # ((late + 1) / (paid + 2)). Where lateness is a habit, more history tells it better than
    # the last year alone, and the smoothing keeps a customer with two invoices from reading
    # as always or never late.
    ever = np.bincount(who, minlength=size).astype("float64")
    share = (np.bincount(who, late, minlength=size) + 1.0) / (ever + 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds = np.where(ever > 0, np.log(share / (1.0 - share)), np.nan)
    year = paid_at > (cutoff - pd.Timedelta(days=365)).value
    recent = paid_at[year] > (cutoff - pd.Timedelta(days=90)).value
    who, late = who[year], late[year]
    whole_days_late = np.maximum(beyond[year], 0)
    days_late = whole_days_late.astype("float64")
    count = np.bincount(who, minlength=size).astype("float64")
    count_90 = np.bincount(who[recent], minlength=size).astype("float64")
    rate_365 = _ratio(np.bincount(who, late, minlength=size), count)
    rate_90 = _ratio(np.bincount(who[recent], late[recent], minlength=size), count_90)
    mine = columns.customer[issued]
    invoices = np.bincount(mine, minlength=size).astype("float64")
    opened = columns.customer[open_now]
    days_overdue = (cutoff.value - columns.due[open_now].view("int64")) // _NS_PER_DAY
    open_count = np.bincount(opened, minlength=size).astype("float64")
    open_late = np.bincount(opened, (days_overdue > grace_days).astype("float64"), size)
    first = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, mine, columns.issue_day[issued])
    return {
        "paid_365d": np.where(count > 0, np.log1p(count), np.nan),
        "late_rate_365d": rate_365,
        "late_rate_90d": rate_90,
        "late_trend": rate_90 - rate_365,
        "late_log_odds_all": log_odds,
        "days_late_mean_365d": _ratio(np.bincount(who, days_late, minlength=size), count),
        "days_late_p75_365d": _quantile(who, whole_days_late, size, 0.75),
        "overdue_share_now": np.where(open_count > 0, _ratio(open_late, open_count), 0.0),
        "disputed_share": _ratio(np.bincount(mine, columns.disputed[issued], size), invoices),
        "median_total": _median_total(columns, issued),
        "first_issue_day": np.where(invoices > 0, first.astype("float64"), np.nan),
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0: a group's mean."""
    result = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=result, where=denominator > 0)
    return result


def _quantile(group: np.ndarray, days: np.ndarray, size: int, q: float) -> np.ndarray:
    """Per group 0 .. size - 1, the `q` quantile of its whole, non-negative `days`,
    interpolated linearly between the two nearest ranks as pandas' `quantile` does; NaN for
    a group without any. Group and days sort as one integer key: a plain sort, a third of
    the time of sorting rows by two keys."""
    span = int(days.max(initial=0)) + 1
    if size * span >= 2**62:  # the key would not fit: sort by both keys
        order = np.lexsort((days, group))
        return _ranked(group[order], days[order].astype("float64"), size, q)
    key = np.sort(group * span + days)
    return _ranked(key // span, (key % span).astype("float64"), size, q)


def _median_total(columns: _Columns, issued: np.ndarray) -> np.ndarray:
    """Per customer, the median total of its invoices issued so far (`issued`), through the
    invoices' order by customer and total taken once per ledger."""
    kept = issued[columns.by_total]
    return _ranked(
        columns.customer_by_total[kept], columns.total_by_total[kept], columns.customers, 0.5
    )


def _by_customer_and_total(customer: np.ndarray, total: np.ndarray) -> np.ndarray:
    """The rows ordered by customer code, then total (whole minor units): one integer key
    sorted where it fits in 62 bits, four times faster than sorting by two keys. Equal
    totals may come in any order: only the values they put at each rank are read."""
    span = int(total.max(initial=0)) + 1
    if total.min(initial=0) < 0 or (int(customer.max(initial=0)) + 1) * span >= 2**62:
        return np.lexsort((total, customer))
    return np.argsort(customer * span + total)


def _ranked(group: np.ndarray, values: np.ndarray, size: int, q: float) -> np.ndarray:
    """`_quantile` of values already sorted by group, then value."""
    count = np.bincount(group, minlength=size)
    start = np.cumsum(count) - count
    has = count > 0
    position = q * (count[has] - 1)
    low = np.floor(position).astype("int64")
    high = np.minimum(low + 1, count[has] - 1)
    below = values[start[has] + low]
    above = values[start[has] + high]
    result = np.full(size, np.nan)
    result[has] = below + (above - below) * (position - low)
    return result


def _days(dates: pd.Series) -> np.ndarray:
    return dates.to_numpy(dtype="datetime64[ns]").astype("int64") // _NS_PER_DAY


def _whole_days(values: np.ndarray) -> np.ndarray:
    """Days since the epoch as `scoring.behaviour` counts a paid invoice's days beyond terms."""
    return values.astype("datetime64[D]").astype(np.int64)


def _days_of(moment: pd.Timestamp) -> float:
    return float(moment.value // _NS_PER_DAY)
