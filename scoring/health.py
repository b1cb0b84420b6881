"""Health score 0-100 from weighted, bounded components, with the reasons that moved it.

Each component is a penalty between 0 and 1; it costs its weight's share of 100 points at 1.
The reasons are the components that cost the most points, so the score explains itself.
Customers with too little payment history get a neutral penalty on the history components and
say so, instead of a confident score built on two invoices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.settings import HealthSettings
from scoring.wording import beyond_terms, days, later_than_before

TIERS = ("low", "medium", "high", "critical")
AT_RISK_TIERS: tuple[str, ...] = ("high", "critical")
"""The risk tiers whose whole open balance counts as money at risk."""


def at_risk(risk_tier: pd.Series) -> pd.Series:
    """Whether each account's tier puts its open balance at risk (high or critical)."""
    return risk_tier.isin(AT_RISK_TIERS)


@dataclass(frozen=True)
class Component:
    name: str
    code: str
    history: bool  # needs payment history: neutral for new customers
    penalty: Callable[[pd.DataFrame, HealthSettings], pd.Series]
    reason: Callable[[pd.DataFrame], list[str]]


def _slipping(features: pd.DataFrame) -> pd.Series:
    """Days of lateness gained lately; paying less early is not slipping, paying late is."""
    recent = features["avg_days_beyond_terms_90d"].clip(lower=0)
    before = features["avg_days_beyond_terms_prior"].clip(lower=0)
    return recent - before


def _disputes(features: pd.DataFrame, *, past: bool) -> pd.Series:
    """The larger of the open balance's disputed share and (with `past`) the share of the
    last year's invoices that were disputed: a customer that disputes often is a risk also
    between two disputes, not only while one is open."""
    open_share = _ratio(features["disputed_balance"], features["open_balance"])
    if not past:
        return open_share
    return open_share.combine(features["disputed_share_12m"].fillna(0.0), max)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    safe = denominator.where(denominator > 0)
    return (numerator / safe).fillna(0.0)


COMPONENTS = (
    Component(
        "lateness",
        "LATE_PAYER",
        True,
        lambda f, s: f["weighted_days_beyond_terms_12m"] / s.lateness_full_days,
        lambda f: [
            f"{beyond_terms(late)} on average (12 months, by amount)"
            for late in f["weighted_days_beyond_terms_12m"]
        ],
    ),
    Component(
        "overdue",
        "OVERDUE_BALANCE",
        False,
        lambda f, s: _ratio(f["overdue_balance"], f["open_balance"]),
        lambda f: [
            f"{share:.0%} of the open balance is overdue ({overdue:,.2f})"
            for share, overdue in zip(
                _ratio(f["overdue_balance"], f["open_balance"]), f["overdue_balance"], strict=True
            )
        ],
    ),
    Component(
        "aged_debt",
        "AGED_DEBT",
        False,
        lambda f, s: _ratio(f["aged_balance"], f["open_balance"]),
        lambda f: [
            f"{count:.0f} invoice{'s' if count != 1 else ''} over {days(past_due)} past due "
            f"({amount:,.2f})"
            for count, past_due, amount in zip(
                f["aged_invoice_count"], f["aged_days"], f["aged_balance"], strict=True
            )
        ],
    ),
    Component(
        "trend",
        "PAYING_LATER",
        True,
        lambda f, s: _slipping(f) / s.trend_full_days,
        lambda f: [f"paying {later_than_before(change)} (last 90 days)" for change in _slipping(f)],
    ),
    Component(
        "missed_due_dates",
        "MISSED_DUE_DATES",
        True,
        lambda f, s: 1 - f["on_time_share_12m"],
        lambda f: [
            f"{1 - share:.0%} of invoices paid late (12 months)" for share in f["on_time_share_12m"]
        ],
    ),
    Component(
        "credit",
        "CREDIT_LIMIT",
        False,
        lambda f, s: (
            (f["credit_utilisation"] - s.credit_warning_share)
            / max(1 - s.credit_warning_share, 1e-9)
        ),
        lambda f: [f"{share:.0%} of the credit limit used" for share in f["credit_utilisation"]],
    ),
    Component(
        "disputes",
        "DISPUTES",
        False,
        lambda f, s: _disputes(f, past=s.past_disputes),
        lambda f: [
            f"{amount:,.2f} of the open balance is disputed"
            if amount > 0
            else f"{share:.0%} of its invoices were disputed (12 months)"
            for amount, share in zip(
                f["disputed_balance"], f["disputed_share_12m"].fillna(0.0), strict=True
            )
        ],
    ),
)
NEW_CUSTOMER = "NEW_CUSTOMER"


def health(features: pd.DataFrame, settings: HealthSettings) -> pd.DataFrame:
    """Score, tier, basis, points lost per component and the top three reasons."""
    weights = settings.weights.model_dump()
    total_weight = sum(weights.values())
    is_new = features["paid_invoices_12m"].fillna(0) < settings.min_paid_invoices
    points = pd.DataFrame(index=features.index)
    for component in COMPONENTS:
        penalty = component.penalty(features, settings).fillna(0.0).clip(0.0, 1.0)
        if component.history:
            penalty = penalty.mask(is_new, settings.neutral_penalty)
        points[component.name] = penalty * weights[component.name] / total_weight * 100
    # Half up, as people round: 74.5 is 75 (low risk), not numpy's half-to-even 74.
    score = np.floor(100 - points.sum(axis=1) + 0.5).clip(0, 100).astype("int64")

    result = pd.DataFrame(index=features.index)
    result["health_score"] = score
    result["risk_tier"] = risk_tier(score, settings)
    result["is_new"] = is_new.to_numpy(dtype=bool)
    result["score_basis"] = np.where(is_new, "provisional", "history")
    for component in COMPONENTS:
        result[f"points_{component.name}"] = points[component.name].round(1)
    return result.join(_reasons(features, points, is_new, settings))


def risk_tier(score: pd.Series, settings: HealthSettings) -> pd.Series:
    tiers = settings.tiers
    thresholds = [tiers.low, tiers.medium, tiers.high]
    position = np.select([score >= t for t in thresholds], [0, 1, 2], default=3)
    return pd.Series(np.asarray(TIERS)[position], index=score.index)


def _reasons(
    features: pd.DataFrame, points: pd.DataFrame, is_new: pd.Series, settings: HealthSettings
) -> pd.DataFrame:
    """reason_1..3 as "CODE: text", most points lost first; a new customer's first says so.

    Components that cost less than half a point are not reasons; a new customer's history
    components are neutral by construction, so they are not its reasons either.
    """
    context = features.assign(aged_days=settings.aged_days_overdue)
    new = is_new.to_numpy(dtype=bool)
    codes = np.array([c.code for c in COMPONENTS], dtype=object)
    rank = points.to_numpy(dtype="float64").copy()
    history = np.array([c.history for c in COMPONENTS])
    rank[np.outer(new, history)] = -1.0
    order = np.argsort(-rank, axis=1, kind="stable")
    kept = np.take_along_axis(rank, order, axis=1)[:, :3] >= 0.5
    # A component's text is written only for the customers it is a reason of: most of the
    # seven texts per customer would be formatted for nothing.
    texts = np.full(rank.shape, None, dtype=object)
    for position, component in enumerate(COMPONENTS):
        rows = np.flatnonzero(((order[:, :3] == position) & kept).any(axis=1))
        if len(rows):
            reasons = component.reason(context.iloc[rows])
            texts[rows, position] = [f"{component.code}: {text}" for text in reasons]
    top_texts = np.take_along_axis(texts, order, axis=1)[:, :3]
    top_texts[~kept] = None
    top_codes = codes[order[:, :3]]
    top_codes[~kept] = None

    paid = features["paid_invoices_12m"].fillna(0).astype("int64").to_numpy()
    # Written only for the new customers: the others' first reason is their top one.
    new_texts = np.full(len(new), None, dtype=object)
    new_texts[new] = [
        f"{NEW_CUSTOMER}: only {n} paid invoice{'s' if n != 1 else ''} in 12 months: "
        "the score is provisional"
        for n in paid[new].tolist()
    ]
    first = np.where(new, new_texts, top_texts[:, 0])
    second = np.where(new, top_texts[:, 0], top_texts[:, 1])
    third = np.where(new, top_texts[:, 1], top_texts[:, 2])
    code_rows = [
        [NEW_CUSTOMER, *row[:2]] if is_new_row else list(row)
        for is_new_row, row in zip(new, top_codes, strict=True)
    ]
    return pd.DataFrame(
        {
            "reason_1": first,
            "reason_2": second,
            "reason_3": third,
            "reason_codes": [",".join(c for c in row if c) for row in code_rows],
        },
        index=features.index,
    )
