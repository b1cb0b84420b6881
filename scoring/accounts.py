"""The scoring entry point: a validated ledger and an as-of date in, one row per customer out.

The steps build on each other in this order: balances and aging, payment behaviour, KPIs,
flags, health score and tier, collections stage, segment, next action, priority, and the
parent/child roll-up. Each step is a pure function of the frame the previous ones built.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from arsync.codes import as_str
from arsync.ledger import Ledger
from scoring.aging import aging_by_customer, exposure_by_customer, open_invoices, unapplied_credit
from scoring.behaviour import payment_behaviour
from scoring.cash_forecast import customer_forecast
from scoring.columns import output_columns
from scoring.currency import CurrencyTable
from scoring.flags import customer_flags
from scoring.health import health
from scoring.kpis import customer_kpis
from scoring.model_scores import apply_late_risk
from scoring.promises import (
    crm_inputs,
    hold_for_promises,
    judge_promises,
    penalise_broken_promises,
)
from scoring.rollup import rollup
from scoring.settings import ScoringSettings
from scoring.worklist import collection_stage, next_action, priority, segment

_MINOR_TOTALS = ("open", "overdue", "disputed", "aged")


def score_accounts(
    ledger: Ledger,
    as_of: dt.date,
    settings: ScoringSettings,
    currencies: CurrencyTable,
    *,
    data_as_of: dt.datetime | None = None,
    crm: pd.DataFrame | None = None,
    late_risk: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every customer of the ledger, with its balances, behaviour and health as of `as_of`.

    Customers with nothing open still get a row (zeros, "Current"), so a paid-up account is
    written back as paid up instead of keeping yesterday's figures. `data_as_of` is when the
    ERP data was current (the source says): it is only carried, as the `data_as_of` column.
    `crm` holds what people recorded in the CRM per customer (promises to pay, disputes;
    see `scoring.promises.crm_inputs`). `late_risk` is the late-payment model's
    `customer_risk`, given only when the model passed its gate: the customers it scored take
    its score, tier and reasons (`scoring.model_scores`).
    """
    features = _attributes(ledger, currencies)
    items = open_invoices(ledger, as_of)
    items = items.assign(
        minor=currencies.to_reporting(items["open_minor"], items["currency"]),
        total_reporting=currencies.to_major(
            currencies.to_reporting(items["total_minor"], items["currency"])
        ),
    )
    features = features.join(_balances(ledger, items, as_of, settings, currencies))
    limit = features["credit_limit"].where(features["credit_limit"] > 0)
    features["credit_utilisation"] = (features["open_balance"] / limit).round(4)
    features = features.join(payment_behaviour(ledger, as_of, settings, currencies))
    features = features.join(customer_kpis(ledger, as_of, settings, currencies))
    features["is_check_payer"] = _check_payers(ledger, features, as_of, settings)

    flags = customer_flags(
        features, items, _history(ledger, as_of, settings, currencies), settings.flags
    )
    features = features.join(flags)
    features = features.join(health(features, settings.health))
    modelled = apply_late_risk(features, late_risk, settings.model.bands)
    features = features.drop(columns=[c for c in modelled.columns if c in features]).join(modelled)
    features = features.join(crm_inputs(features.index, crm))
    features = features.join(
        judge_promises(features, _payments(ledger, currencies), as_of, settings.promises)
    )
    penalised = penalise_broken_promises(
        features, settings.health, settings.promises, settings.model.bands
    )
    features[penalised.columns] = penalised
    features["collection_stage"] = collection_stage(features, settings)
    features["segment"] = segment(features, settings)
    actions = next_action(features, as_of, settings)
    features = features.join(hold_for_promises(features, actions, settings.promises))
    features = features.join(priority(features, settings))
    features = features.join(_forecast(items, features, as_of, currencies))
    features["reporting_currency"] = currencies.reporting
    features["as_of_date"] = as_of
    features["data_as_of"] = _utc(data_as_of)
    features = rollup(features, settings)

    result = features.reset_index()
    return result[list(output_columns(settings))].sort_values("customer_id", ignore_index=True)


def _forecast(
    items: pd.DataFrame, features: pd.DataFrame, as_of: dt.date, currencies: CurrencyTable
) -> pd.DataFrame:
    """Expected receipts and the probability-weighted overdue (`scoring.cash_forecast`), in
    the reporting currency: the late chance is the model's where it scored the customer, else
    the customer's own past late share."""
    chance = (features["late_payment_chance"] / 100).fillna(1 - features["on_time_share_12m"])
    minor = customer_forecast(items.reset_index(drop=True), features, as_of, chance)
    return pd.DataFrame(
        {name.removesuffix("_minor"): currencies.to_major(minor[name]) for name in minor.columns},
        index=features.index,
    )


def _utc(moment: dt.datetime | None) -> pd.Timestamp | None:
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _payments(ledger: Ledger, currencies: CurrencyTable) -> pd.DataFrame:
    """Payments with their amount in the reporting currency (major units)."""
    payments = ledger.payments
    minor = currencies.to_reporting(payments["amount_minor"], payments["currency"])
    return pd.DataFrame(
        {
            "customer_id": as_str(payments["customer_id"]),
            "received_date": payments["received_date"].to_numpy(),
            "amount": currencies.to_major(minor).to_numpy(),
        }
    )


def _attributes(ledger: Ledger, currencies: CurrencyTable) -> pd.DataFrame:
    customers = ledger.customers.set_index("customer_id").sort_index()
    limit = customers["credit_limit_minor"]
    has_limit = limit.notna()
    converted = currencies.to_reporting(
        limit[has_limit].astype("int64"), customers.loc[has_limit, "currency"]
    )
    return pd.DataFrame(
        {
            "customer_name": customers["name"],
            "crm_account_id": customers["crm_account_id"],
            "parent_id": customers["parent_id"],
            "customer_currency": customers["currency"],
            "payment_terms_days": customers["payment_terms_days"],
            "industry": customers["industry"],
            "invoice_delivery": customers["invoice_delivery"],
            "payment_method": customers["payment_method"],
            "credit_limit": currencies.to_major(converted).reindex(customers.index),
        },
        index=customers.index,
    )


def _balances(
    ledger: Ledger,
    items: pd.DataFrame,
    as_of: dt.date,
    settings: ScoringSettings,
    currencies: CurrencyTable,
) -> pd.DataFrame:
    """Aging, balances and counts in the reporting currency; zeros for customers with none."""
    customers = ledger.customers["customer_id"].sort_values()
    aging = aging_by_customer(items, settings)
    exposure = exposure_by_customer(items, settings.health.aged_days_overdue)
    frame = aging.join(exposure).reindex(customers)
    counts = [
        "open_invoice_count",
        "overdue_invoice_count",
        "disputed_invoice_count",
        "aged_invoice_count",
        "max_days_overdue",
        "oldest_bucket_position",
    ]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    minor_columns = [c for c in frame.columns if c.startswith("aging_")]
    minor_columns += [f"{name}_minor" for name in _MINOR_TOTALS]
    frame[minor_columns] = frame[minor_columns].fillna(0).astype("int64")
    credit = unapplied_credit(ledger, as_of, currencies).reindex(customers).fillna(0)

    result = pd.DataFrame(index=frame.index)
    for name in _MINOR_TOTALS:
        result[f"{name}_balance"] = currencies.to_major(frame[f"{name}_minor"])
    result["unapplied_credit"] = currencies.to_major(credit.astype("int64"))
    result["net_balance"] = currencies.to_major(frame["open_minor"] - credit.astype("int64"))
    for column in (c for c in frame.columns if c.startswith("aging_")):
        result[column] = currencies.to_major(frame[column])
    for column in counts[:-1]:
        result[column] = frame[column]
    labels = [b.label for b in settings.aging_buckets]
    result["overdue_status"] = [labels[p] for p in frame["oldest_bucket_position"]]
    result["next_due_date"] = frame["next_due_date"]
    return result


def _check_payers(
    ledger: Ledger, features: pd.DataFrame, as_of: dt.date, settings: ScoringSettings
) -> pd.Series:
    """Usual method is check, or most payments of the long window came by check."""
    cutoff = pd.Timestamp(as_of)
    start = cutoff - pd.Timedelta(days=settings.behaviour.long_window_days)
    payments = ledger.payments
    recent = payments[(payments["received_date"] > start) & (payments["received_date"] <= cutoff)]
    by_check = recent["method"].eq("check").fillna(False).astype(bool)  # unknown is not check
    check_share = by_check.groupby(recent["customer_id"]).mean()
    by_history = check_share.reindex(features.index).fillna(0) > 0.5
    declared = features["payment_method"].eq("check").fillna(False).astype(bool)
    return declared | by_history


def _history(
    ledger: Ledger, as_of: dt.date, settings: ScoringSettings, currencies: CurrencyTable
) -> pd.DataFrame:
    """Invoices issued in the long window, with their totals in the reporting currency."""
    cutoff = pd.Timestamp(as_of)
    start = cutoff - pd.Timedelta(days=settings.behaviour.long_window_days)
    invoices = ledger.invoices
    within = (
        (invoices["issue_date"] > start)
        & (invoices["issue_date"] <= cutoff)
        & (invoices["status"] != "void")
    )
    issued = invoices.loc[within, ["customer_id", "total_minor", "currency"]]
    totals = currencies.to_reporting(issued["total_minor"], issued["currency"])
    return pd.DataFrame(
        {
            "customer_id": as_str(issued["customer_id"]),
            "total_reporting": currencies.to_major(totals).to_numpy(),
        }
    )
