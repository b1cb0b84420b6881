"""The portfolio over time, from the daily score snapshots: totals per day, the day to compare
with, tier migration between two days, and breakdowns of one day's scores.

Pure: frames in, frames out, no clock, no database. Money is major units of the reporting
currency, summed in whole minor units (`scoring.kpis.money_sum`), so totals are exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from arsync.money import exponent
from scoring.currency import CurrencyTable
from scoring.health import TIERS, at_risk
from scoring.kpis import money_sum

# Per snapshot day and risk tier: what `StateStore.history.tier_totals` returns and
# `tier_totals` computes from per-account rows.
TIER_TOTAL_COLUMNS: tuple[str, ...] = (
    "snapshot_date",
    "risk_tier",
    "accounts",
    "open_balance",
    "overdue_balance",
    "accounts_with_overdue",
)
# Per snapshot day: the portfolio.
DAILY_COLUMNS: tuple[str, ...] = (
    "snapshot_date",
    "accounts",
    "open_balance",
    "overdue_balance",
    "money_at_risk",
    "accounts_with_overdue",
    "overdue_share",
)
BREAKDOWN_COLUMNS: tuple[str, ...] = (
    "accounts",
    "accounts_with_overdue",
    "open_balance",
    "overdue_balance",
    "money_at_risk",
)
NO_OWNER = "(none)"  # the breakdown's group of rows without a key
CURRENCY_COLUMNS: tuple[str, ...] = (
    "currency",
    "accounts",
    "open_invoices",
    "open_balance_document",
    "open_balance",
    "share_of_open",
)


def tier_totals(snapshots: pd.DataFrame, places: int) -> pd.DataFrame:
    """Per-account snapshot rows summed per day and tier (`TIER_TOTAL_COLUMNS`)."""
    frame = snapshots.assign(
        accounts=1, accounts_with_overdue=(snapshots["overdue_balance"] > 0).astype("int64")
    )
    grouped = frame.groupby(["snapshot_date", "risk_tier"], sort=True)
    result = grouped[["accounts", "accounts_with_overdue"]].sum()
    for name in ("open_balance", "overdue_balance"):
        result[name] = grouped[name].agg(lambda values: money_sum(values, places))
    return result.reset_index()[list(TIER_TOTAL_COLUMNS)]


def daily_totals(totals: pd.DataFrame, places: int) -> pd.DataFrame:
    """The portfolio per snapshot day, oldest first (`DAILY_COLUMNS`).

    Money at risk is the open balance of the high and critical tiers (as in
    `scoring.kpis.money_at_risk`); the overdue share is NaN on a day with nothing open.
    """
    if totals.empty:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in DAILY_COLUMNS})
    frame = totals.assign(
        at_risk_balance=totals["open_balance"].where(at_risk(totals["risk_tier"]), 0.0)
    )
    grouped = frame.groupby("snapshot_date", sort=True)
    result = pd.DataFrame(
        {
            "accounts": grouped["accounts"].sum().astype("int64"),
            "open_balance": grouped["open_balance"].agg(lambda v: money_sum(v, places)),
            "overdue_balance": grouped["overdue_balance"].agg(lambda v: money_sum(v, places)),
            "money_at_risk": grouped["at_risk_balance"].agg(lambda v: money_sum(v, places)),
            "accounts_with_overdue": grouped["accounts_with_overdue"].sum().astype("int64"),
        }
    )
    result["overdue_share"] = result["overdue_balance"] / result["open_balance"].where(
        result["open_balance"] > 0
    )
    return result.reset_index()[list(DAILY_COLUMNS)]


def nearest_day(days: Iterable[dt.date], target: dt.date, *, before: dt.date) -> dt.date | None:
    """The day nearest to `target` among those strictly before `before` (the earlier of two
    equally near); None when there is none."""
    candidates = sorted({day for day in days if day < before})
    if not candidates:
        return None
    return min(candidates, key=lambda day: (abs((day - target).days), day))


def thin_days(days: Sequence[dt.date], limit: int, keep: Iterable[dt.date] = ()) -> list[dt.date]:
    """At most about `limit` of `days` (sorted), evenly spread, always with the first, the last
    and every day of `keep` that is among them: the points of a trend worth computing."""
    if limit < 2:
        raise ValueError(f"limit must be at least 2, not {limit}")
    ordered = sorted(set(days))
    if len(ordered) <= limit:
        return ordered
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, limit)).astype("int64"))
    chosen = {ordered[int(i)] for i in picks} | (set(keep) & set(ordered))
    return sorted(chosen)


def tier_migration(
    then: pd.DataFrame, now: pd.DataFrame, tiers: Sequence[str] = TIERS
) -> pd.DataFrame:
    """Accounts per (tier then, tier now): rows the tier then, columns the tier now.

    `then` and `now` have `customer_id` and `risk_tier`; only the accounts in both count.
    Every tier of `tiers` is a row and a column (zeros kept), any other tier follows them.
    """
    both = then[["customer_id", "risk_tier"]].merge(
        now[["customer_id", "risk_tier"]],
        on="customer_id",
        suffixes=("_then", "_now"),
        validate="one_to_one",
    )
    seen = set(both["risk_tier_then"]) | set(both["risk_tier_now"])
    order = [*tiers, *sorted(str(t) for t in seen if t not in tiers)]
    matrix = pd.crosstab(both["risk_tier_then"], both["risk_tier_now"])
    matrix = matrix.reindex(index=order, columns=order, fill_value=0).astype("int64")
    matrix.index.name, matrix.columns.name = "from_tier", "to_tier"
    return matrix


def breakdown(scores: pd.DataFrame, key: pd.Series, places: int, *, name: str) -> pd.DataFrame:
    """One day's scores per value of `key` (aligned with `scores`; empty or missing values are
    grouped as "(none)"), largest open balance first, then by name (`BREAKDOWN_COLUMNS`)."""
    text = key.astype("string").str.strip()
    labels = text.where(text.str.len() > 0).fillna(NO_OWNER)
    frame = pd.DataFrame(
        {
            name: labels.to_numpy(),
            "accounts": 1,
            "accounts_with_overdue": (scores["overdue_balance"] > 0).to_numpy(dtype="int64"),
            "open_balance": scores["open_balance"].to_numpy(),
            "overdue_balance": scores["overdue_balance"].to_numpy(),
            "money_at_risk": scores["open_balance"]
            .where(at_risk(scores["risk_tier"]), 0.0)
            .to_numpy(),
        }
    )
    grouped = frame.groupby(name, sort=True)
    result = grouped[["accounts", "accounts_with_overdue"]].sum()
    for column in ("open_balance", "overdue_balance", "money_at_risk"):
        result[column] = grouped[column].agg(lambda v: money_sum(v, places))
    result = result.reset_index().sort_values(
        ["open_balance", name], ascending=[False, True], ignore_index=True
    )
    return result[[name, *BREAKDOWN_COLUMNS]]


def currency_breakdown(ledger_open: pd.DataFrame, currencies: CurrencyTable) -> pd.DataFrame:
    """Open invoices per document currency: in that currency and in the reporting one
    (`CURRENCY_COLUMNS`), largest reporting amount first.

    `ledger_open` is `scoring.aging.open_invoices(ledger, as_of)`.
    """
    reporting = currencies.to_reporting(ledger_open["open_minor"], ledger_open["currency"])
    frame = pd.DataFrame(
        {
            "currency": ledger_open["currency"].astype(str).to_numpy(),
            "customer_id": ledger_open["customer_id"].astype(str).to_numpy(),
            "minor": ledger_open["open_minor"].to_numpy(dtype="int64"),
            "reporting_minor": reporting.to_numpy(dtype="int64"),
        }
    )
    grouped = frame.groupby("currency", sort=True)
    result = pd.DataFrame(
        {
            "accounts": grouped["customer_id"].nunique().astype("int64"),
            "open_invoices": grouped.size().astype("int64"),
            "minor": grouped["minor"].sum(),
            "reporting_minor": grouped["reporting_minor"].sum(),
        }
    ).reset_index()
    result["open_balance_document"] = [
        round(int(m) / 10 ** exponent(c), exponent(c))
        for c, m in zip(result["currency"], result["minor"], strict=True)
    ]
    result["open_balance"] = currencies.to_major(result["reporting_minor"].astype("int64"))
    total = int(result["reporting_minor"].sum())
    result["share_of_open"] = result["reporting_minor"] / total if total else np.nan
    result = result.sort_values(
        ["reporting_minor", "currency"], ascending=[False, True], ignore_index=True
    )
    return result[list(CURRENCY_COLUMNS)]


PROMISE_STATUSES: tuple[str, ...] = ("pending", "kept", "broken")
PROMISE_COLUMNS: tuple[str, ...] = ("promise_status", "accounts", "promised")


def promise_summary(scores: pd.DataFrame, places: int) -> pd.DataFrame:
    """Accounts and money promised per promise status (pending, kept, broken; zeros kept),
    from what scoring judged of the CRM's promises (`promise_status`, `promise_amount`): a
    day's snapshot rows or a run's scores. A promise without an amount counts, for nothing."""
    status = scores["promise_status"].astype("string")
    amounts = pd.to_numeric(scores["promise_amount"], errors="coerce")
    rows = []
    for name in PROMISE_STATUSES:
        chosen = (status == name).fillna(False).to_numpy(dtype=bool)
        rows.append(
            {
                "promise_status": name,
                "accounts": int(chosen.sum()),
                "promised": money_sum(amounts[chosen], places),
            }
        )
    return pd.DataFrame(rows, columns=list(PROMISE_COLUMNS))


def owner_labels(rows: pd.DataFrame) -> pd.Series:
    """Each row's Account owner as the breakdown groups it: the name; the Id when the name
    could not be read (User hidden from the run's user); empty without an owner."""
    names = rows["owner_name"].astype("string").str.strip()
    ids = rows["owner_id"].astype("string").str.strip()
    labels = names.where(names.str.len() > 0).fillna(ids.where(ids.str.len() > 0))
    return labels.fillna("").astype(object)
