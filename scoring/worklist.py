"""What a collector does next: collections stage, segment, next action and its date, priority."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from scoring.health import at_risk as at_risk_tier
from scoring.promises import pending_promise_share
from scoring.rules import first_match
from scoring.settings import Action, ScoringSettings

NO_STAGE = "none"  # nothing open
ACTION_LABELS = {
    Action.NONE: "No action needed",
    Action.PRE_DUE_REMINDER: "Send a reminder before the due date",
    Action.DUNNING_1: "Send a first overdue reminder",
    Action.DUNNING_2: "Send a second overdue reminder",
    Action.DUNNING_3: "Send a final overdue notice",
    Action.CALL_AP_CONTACT: "Call the customer's accounts-payable contact",
    Action.ESCALATE_TO_OWNER: "Escalate to the account owner",
    Action.CREDIT_HOLD: "Put the account on credit hold",
    Action.PAYMENT_PLAN: "Offer a payment plan",
    Action.RESOLVE_DISPUTE: "Resolve the open dispute first",
    Action.AWAIT_PROMISE: "Wait for the promised payment, then check that it arrived",
}


def collection_stage(features: pd.DataFrame, settings: ScoringSettings) -> pd.Series:
    """The stage of the oldest open invoice; "none" when nothing is open."""
    stages = settings.stages
    bounds = np.asarray([s.max_days_overdue for s in stages[:-1]], dtype="int64")
    days = features["max_days_overdue"].fillna(0).to_numpy(dtype="int64")
    names = np.asarray([s.name for s in stages], dtype=object)[np.searchsorted(bounds, days)]
    nothing_open = features["open_invoice_count"].to_numpy() == 0
    return pd.Series(np.where(nothing_open, NO_STAGE, names), index=features.index)


def segment(features: pd.DataFrame, settings: ScoringSettings) -> pd.Series:
    rules = settings.segments
    chosen = first_match(features, [r.when for r in rules])
    names = np.asarray([r.segment for r in rules], dtype=object)
    return pd.Series(names[chosen], index=features.index)


def next_action(features: pd.DataFrame, as_of: dt.date, settings: ScoringSettings) -> pd.DataFrame:
    """The playbook's first matching rule per customer, and the date the action is due.

    A pre-due reminder goes out the lead time before the next due date (longer for paper
    invoices and check payers), never before the as-of date.
    """
    rules = settings.playbook
    chosen = first_match(features, [r.when for r in rules])
    actions = np.asarray([Action(r.action).value for r in rules], dtype=object)[chosen]
    days = np.asarray([r.days for r in rules], dtype="int64")[chosen]
    from_due = np.asarray([r.from_ == "next_due" for r in rules])[chosen]

    lead = settings.reminder_lead_days
    lead_days = np.full(len(features), lead.default, dtype="int64")
    paper = features["invoice_delivery"].eq("paper").fillna(False).to_numpy(dtype=bool)
    lead_days = np.where(paper, np.maximum(lead_days, lead.paper_invoice), lead_days)
    checks = features["is_check_payer"].to_numpy(dtype=bool)
    lead_days = np.where(checks, np.maximum(lead_days, lead.check_payer), lead_days)

    start = pd.Timestamp(as_of)
    next_due = pd.to_datetime(features["next_due_date"]).fillna(start).reset_index(drop=True)
    reminder = next_due - pd.to_timedelta(lead_days, unit="D")
    anchor = reminder.where(pd.Series(from_due), start)
    due = anchor + pd.to_timedelta(days, unit="D")
    due = due.where(due >= start, start)
    none = actions == Action.NONE.value
    return pd.DataFrame(
        {
            "next_action": actions,
            "next_action_label": [ACTION_LABELS[Action(a)] for a in actions],
            "next_action_date": np.where(none, None, due.dt.date.to_numpy()),
        },
        index=features.index,
    )


def priority(features: pd.DataFrame, settings: ScoringSettings) -> pd.DataFrame:
    """The worklist's priority weight (overdue money weighted by lateness and risk, less what
    a pending promise to pay covers: a ranking figure, which can exceed what is open), the
    rank it gives, and the money at risk (the open balance of a high or critical account)."""
    weights = settings.priority.bucket_weights
    weighted = sum(
        (features[f"aging_{key}"] * weight for key, weight in weights.items()),
        start=pd.Series(0.0, index=features.index),
    )
    # As floats: a map over an empty text column keeps the text dtype, which cannot multiply.
    tiers = features["risk_tier"].map(settings.priority.tier_multipliers)
    multiplier = tiers.astype("float64").fillna(1.0)
    promised = pending_promise_share(features) if "promise_status" in features else 0.0
    at_risk = (weighted * multiplier * (1 - promised)).round(2)
    # Ties go to the customer id, so the rank never depends on row order.
    order = pd.DataFrame({"risk": at_risk.to_numpy(), "customer": features.index.to_numpy()})
    order = order[order["risk"] > 0].sort_values(["risk", "customer"], ascending=[False, True])
    rank = pd.Series(np.arange(1, len(order) + 1), index=order["customer"].to_numpy())
    open_at_risk = features["open_balance"].where(at_risk_tier(features["risk_tier"]), 0.0)
    return pd.DataFrame(
        {
            "priority_weight": at_risk,
            "priority_rank": rank.reindex(features.index).astype("Int64"),
            "money_at_risk": open_at_risk.round(2),
        },
        index=features.index,
    )
