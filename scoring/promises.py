"""Promises to pay and disputes that people record in the CRM, weighed into the score.

A promise is kept once the payments received since it was given reach `kept_share` of the
promised amount, or once nothing is overdue any more; it is pending until its date plus a
few days of grace for the cash to post, and broken after that. A broken promise costs points
and at least one risk tier, and says so as the first reason. A pending promise holds the
collector's action until its date: chasing a customer who has just promised to pay spoils
the conversation, and the money it covers is not at risk yet.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from scoring.health import TIERS
from scoring.late_model import DEFAULT_BANDS
from scoring.model_scores import tier_by_score
from scoring.settings import HealthSettings, PromiseSettings

NO_PROMISE, PENDING, KEPT, BROKEN = "none", "pending", "kept", "broken"
BROKEN_PROMISE = "BROKEN_PROMISE"


def crm_inputs(customers: pd.Index, crm: pd.DataFrame | None) -> pd.DataFrame:
    """The CRM's promise and dispute per customer; none of either without a CRM or a row.

    `crm` has `customer_id` and any of `arsync.mapping.CRM_INPUT_COLUMNS`; the amount is in the
    reporting currency.
    """
    frame = pd.DataFrame(index=customers)
    given = crm.set_index("customer_id") if crm is not None and len(crm) else None

    def column(name: str) -> pd.Series:
        if given is None or name not in given.columns:
            return pd.Series(None, index=customers, dtype=object)
        return given[name].reindex(customers)

    frame["promise_amount"] = pd.to_numeric(column("promise_amount"), errors="coerce").astype(
        "float64"
    )
    frame["promise_date"] = _dates(column("promise_date"))
    frame["promise_made_on"] = _dates(column("promise_made_on"))
    frame["crm_dispute_open"] = column("crm_dispute_open").fillna(False).astype(bool)
    return frame


def judge_promises(
    features: pd.DataFrame,
    payments: pd.DataFrame,
    as_of: dt.date,
    settings: PromiseSettings,
) -> pd.DataFrame:
    """`promise_status` and `promise_paid` (money received towards it) per customer.

    `features` holds the CRM inputs and `overdue_balance`; `payments` has `customer_id`,
    `received_date` and `amount` in the reporting currency.
    """
    date = pd.to_datetime(features["promise_date"])
    has_promise = date.notna() & ~(features["promise_amount"] <= 0)
    start = pd.to_datetime(features["promise_made_on"]).fillna(
        date - pd.Timedelta(days=settings.lookback_days)
    )
    cutoff = pd.Timestamp(as_of)
    due = date + pd.Timedelta(days=settings.grace_days)
    end = due.where(due <= cutoff, cutoff)
    paid = _paid_between(payments, start[has_promise], end[has_promise]).reindex(
        features.index, fill_value=0.0
    )

    amount = features["promise_amount"]
    enough = paid >= (amount * settings.kept_share).fillna(np.inf)
    nothing_overdue = features["overdue_balance"] <= 0
    kept = enough | nothing_overdue
    status = np.select(
        [~has_promise, kept, due >= cutoff], [NO_PROMISE, KEPT, PENDING], default=BROKEN
    )
    return pd.DataFrame(
        {"promise_status": status, "promise_paid": paid.where(has_promise, 0.0).round(2)},
        index=features.index,
    )


def penalise_broken_promises(
    features: pd.DataFrame,
    health: HealthSettings,
    settings: PromiseSettings,
    bands: tuple[float, ...] = DEFAULT_BANDS,
) -> pd.DataFrame:
    """Score, tier and reasons after a broken promise: points off, tier up, reason first. The
    tier of the lowered score is read on the score's own basis (`tier_by_score`: a model
    score by the probability `bands`)."""
    broken = (features["promise_status"] == BROKEN).to_numpy()
    result = features[
        ["health_score", "risk_tier", "reason_1", "reason_2", "reason_3", "reason_codes"]
    ].copy()
    if not broken.any():
        return result
    score = features["health_score"] - np.where(broken, settings.broken_points, 0)
    score = np.floor(score + 0.5).clip(0, 100).astype("int64")
    position = {tier: i for i, tier in enumerate(TIERS)}
    by_score = tier_by_score(score, features["score_basis"], health, bands).map(position)
    raised = features["risk_tier"].map(position) + settings.broken_tier_steps
    tier = np.where(broken, np.maximum(by_score, raised.clip(upper=len(TIERS) - 1)), by_score)
    result["health_score"] = score
    result["risk_tier"] = np.asarray(TIERS)[tier.astype("int64")]

    rows = features[broken]
    text = [
        f"{BROKEN_PROMISE}: promised {amount:,.2f} by {day:%Y-%m-%d}; {paid:,.2f} received"
        if not np.isnan(amount)
        else f"{BROKEN_PROMISE}: promised to pay by {day:%Y-%m-%d}; still overdue"
        for amount, day, paid in zip(
            rows["promise_amount"],
            pd.to_datetime(rows["promise_date"]),
            rows["promise_paid"],
            strict=True,
        )
    ]
    reasons = features[["reason_1", "reason_2"]].to_numpy(dtype=object)
    result.loc[broken, "reason_1"] = np.asarray(text, dtype=object)
    result.loc[broken, "reason_2"] = reasons[broken, 0]
    result.loc[broken, "reason_3"] = reasons[broken, 1]
    codes = features["reason_codes"].fillna("")
    result.loc[broken, "reason_codes"] = [
        ",".join([BROKEN_PROMISE, *[c for c in existing.split(",") if c][:2]])
        for existing in codes[broken]
    ]
    return result


def hold_for_promises(
    features: pd.DataFrame, actions: pd.DataFrame, settings: PromiseSettings
) -> pd.DataFrame:
    """The next action of a customer with a pending promise: wait, then check it was kept.

    The action becomes `await_promise`, due the day after the promised date plus grace.
    Nothing changes for a customer whose playbook says no action is needed.
    """
    if not settings.hold_action:
        return actions
    pending = (features["promise_status"] == PENDING) & (actions["next_action"] != "none")
    if not pending.any():
        return actions
    result = actions.copy()
    check_on = pd.to_datetime(features["promise_date"]) + pd.Timedelta(days=settings.grace_days + 1)
    result.loc[pending, "next_action"] = "await_promise"
    result.loc[pending, "next_action_label"] = [
        f"Payment promised by {day:%Y-%m-%d}: check that it arrived"
        for day in pd.to_datetime(features["promise_date"])[pending]
    ]
    result.loc[pending, "next_action_date"] = check_on[pending].dt.date
    return result


def pending_promise_share(features: pd.DataFrame) -> pd.Series:
    """Share of the overdue balance a pending promise covers (0 to 1): not at risk yet."""
    pending = features["promise_status"] == PENDING
    overdue = features["overdue_balance"].where(features["overdue_balance"] > 0)
    covered = (features["promise_amount"] / overdue).clip(0, 1).fillna(1.0)
    return covered.where(pending, 0.0)


def _paid_between(payments: pd.DataFrame, start: pd.Series, end: pd.Series) -> pd.Series:
    """Per customer, the payments received from `start` to `end` (both inclusive)."""
    if start.empty or payments.empty:
        return pd.Series(dtype="float64")
    window = pd.DataFrame({"start": start, "end": end})
    joined = payments.join(window, on="customer_id", how="inner")
    inside = joined[
        (joined["received_date"] >= joined["start"]) & (joined["received_date"] <= joined["end"])
    ]
    paid: pd.Series = inside.groupby("customer_id")["amount"].sum()
    return paid


def _dates(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values, errors="coerce")
    return parsed.dt.date.astype(object).where(parsed.notna(), None)
