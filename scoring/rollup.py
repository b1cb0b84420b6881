"""Parent/child roll-up: each customer's balances, aging and worst risk with its descendants'.

A customer with a `parent_id` rolls up into its parent, which rolls up into its own parent, and
so on: `rollup_*` of a customer covers itself and every descendant. A customer without children
gets its own figures. Customers on a parent cycle (A -> B -> A) are treated as roots, so bad
master data never hangs a run; their non-cycle descendants still roll up into them.

Money is summed in integer minor units of the reporting currency, so the roll-up is exact to
the cent. The work is level by level from the leaves up: O(customers x depth), vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from arsync.codes import positions
from arsync.money import exponent
from scoring.health import TIERS
from scoring.settings import ScoringSettings

_MONEY = ("open_balance", "overdue_balance", "unapplied_credit")


def rollup_money_columns(settings: ScoringSettings) -> list[str]:
    """The money columns that roll up, aging buckets included, in output order."""
    return [*_MONEY, *(f"aging_{b.key}" for b in settings.aging_buckets)]


def rollup(frame: pd.DataFrame, settings: ScoringSettings) -> pd.DataFrame:
    """`frame` (one row per customer, indexed by customer id, with `parent_id`, the money
    columns, `max_days_overdue`, `risk_tier` and `health_score`) with the `rollup_*` columns
    added. The input is not modified."""
    ids = frame.index.to_numpy(dtype=object)
    n = len(ids)
    parents = _parent_positions(frame)
    money = rollup_money_columns(settings)
    places = _exponent(frame)
    scale = 10**places

    # Everything that sums, as one int64 matrix: money in minor units, then the customer count.
    sums = np.empty((n, len(money) + 1), dtype=np.int64)
    for j, column in enumerate(money):
        values = frame[column].to_numpy(dtype="float64", na_value=0.0)
        sums[:, j] = np.rint(values * scale).astype(np.int64)
    sums[:, -1] = 1
    days = frame["max_days_overdue"].to_numpy(dtype="float64", na_value=0.0).astype(np.int64)
    order = _worst_first(frame)  # rows, the worst customer of the whole frame first
    worst = np.empty(n, dtype=np.int64)  # each row's place in that order, then its subtree's
    worst[order] = np.arange(n)

    # Peel leaves level by level: a node whose children are all done is final; push it up.
    pending = np.bincount(parents[parents >= 0], minlength=n)
    frontier = np.flatnonzero(pending == 0)
    while frontier.size:
        up = parents[frontier]
        has_parent = up >= 0
        source, target = frontier[has_parent], up[has_parent]
        np.add.at(sums, target, sums[source])
        np.maximum.at(days, target, days[source])
        np.minimum.at(worst, target, worst[source])
        np.subtract.at(pending, target, 1)
        touched = np.unique(target)
        frontier = touched[pending[touched] == 0]
    # What is left sits on a cycle: those customers are roots; their sums are already complete.

    worst_rows = order[worst]
    result = frame.copy()
    for j, column in enumerate(money):
        result[f"rollup_{column}"] = (sums[:, j] / scale).round(places)
    result["rollup_max_days_overdue"] = days
    result["rollup_risk_tier"] = frame["risk_tier"].to_numpy(dtype=object)[worst_rows]
    result["rollup_customer_count"] = sums[:, -1]
    result["rollup_worst_customer_id"] = ids[worst_rows]
    return result


def rollup_roots(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the customers that roll up into no one: no parent, or on a cycle."""
    parents = _parent_positions(frame)
    pending = np.bincount(parents[parents >= 0], minlength=len(parents))
    frontier = np.flatnonzero(pending == 0)
    done = np.zeros(len(parents), dtype=bool)
    while frontier.size:
        done[frontier] = True
        target = parents[frontier]
        target = target[target >= 0]
        np.subtract.at(pending, target, 1)
        touched = np.unique(target)
        frontier = touched[pending[touched] == 0]
    return (parents < 0) | ~done


def _parent_positions(frame: pd.DataFrame) -> np.ndarray:
    """Row position of each customer's parent; -1 without one (or an unknown one)."""
    parent = frame["parent_id"].astype(object)
    return positions(frame.index, parent.where(parent.notna(), None))


def _exponent(frame: pd.DataFrame) -> int:
    if "reporting_currency" in frame.columns and len(frame):
        return exponent(str(frame["reporting_currency"].iloc[0]))
    return 2


def _worst_first(frame: pd.DataFrame) -> np.ndarray:
    """Row positions, worst first: tier (critical first), then lowest health score, then id."""
    tier = frame["risk_tier"].map({t: i for i, t in enumerate(TIERS)})
    keys = pd.DataFrame(
        {
            "tier": -tier.fillna(-1).to_numpy(dtype="float64"),
            "score": frame["health_score"].to_numpy(dtype="float64", na_value=np.inf),
            "id": frame.index.astype(str),
        }
    )
    ordered = keys.sort_values(["tier", "score", "id"], kind="stable")
    return ordered.index.to_numpy(dtype=np.int64)
