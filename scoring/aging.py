"""Aging: open money by days past due, as of a date, in the reporting currency.

Balances are rebuilt as of the date: an application dated after it had not happened yet, so
its amount is still open (and a payment received later is not yet cash on the account). Aging
counts from the due date, never the invoice date, and a partial payment ages only what is left.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from arsync.ledger import Ledger
from scoring.currency import CurrencyTable
from scoring.settings import ScoringSettings


def open_invoices(ledger: Ledger, as_of: dt.date) -> pd.DataFrame:
    """Invoices issued by `as_of` with money open on that date, and their days past due."""
    cutoff = pd.Timestamp(as_of)
    invoices = ledger.invoices
    issued = invoices[(invoices["issue_date"] <= cutoff) & (invoices["status"] != "void")]
    later = ledger.applications[ledger.applications["applied_date"] > cutoff]
    applied_later = later.groupby("invoice_id")["amount_minor"].sum()
    open_minor = issued["open_minor"] + issued["invoice_id"].map(applied_later).fillna(0).astype(
        "int64"
    )
    result = issued.assign(open_minor=open_minor)
    result = result[result["open_minor"] > 0]
    days = (cutoff - result["due_date"]).dt.days.astype("int64")
    return result.assign(days_overdue=days)


def unapplied_credit(ledger: Ledger, as_of: dt.date, currencies: CurrencyTable) -> pd.Series:
    """Per customer, reporting minor units of cash and credit not yet applied on `as_of`."""
    cutoff = pd.Timestamp(as_of)
    later = ledger.applications[ledger.applications["applied_date"] > cutoff]
    later_by_document = later.groupby(["document_type", "document_id"])["amount_minor"].sum()
    parts = []
    for kind, frame, id_column, date_column in (
        ("payment", ledger.payments, "payment_id", "received_date"),
        ("credit_memo", ledger.credit_memos, "credit_memo_id", "date"),
    ):
        received = frame[frame[date_column] <= cutoff]
        keys = pd.MultiIndex.from_arrays(
            [np.full(len(received), kind), received[id_column].to_numpy()]
        )
        back = later_by_document.reindex(keys).fillna(0).to_numpy(dtype="int64")
        amount = received["unapplied_minor"].to_numpy(dtype="int64") + back
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": received["customer_id"].to_numpy(),
                    "minor": currencies.to_reporting(
                        pd.Series(amount), received["currency"].reset_index(drop=True)
                    ).to_numpy(),
                }
            )
        )
    credit = pd.concat(parts, ignore_index=True)
    return credit.groupby("customer_id")["minor"].sum()


def bucket_index(days_overdue: pd.Series, settings: ScoringSettings) -> np.ndarray:
    """Position of each amount's aging bucket in `settings.aging_buckets`."""
    bounds = [b.max_days_overdue for b in settings.aging_buckets[:-1]]
    return np.searchsorted(np.asarray(bounds, dtype="int64"), days_overdue.to_numpy(), "left")


def aging_by_customer(
    open_items: pd.DataFrame, settings: ScoringSettings, currencies: CurrencyTable
) -> pd.DataFrame:
    """One row per customer with open money; a minor-unit column per aging bucket."""
    keys = [b.key for b in settings.aging_buckets]
    reporting = currencies.to_reporting(open_items["open_minor"], open_items["currency"])
    positions = bucket_index(open_items["days_overdue"], settings)
    frame = pd.DataFrame(
        {
            "customer_id": open_items["customer_id"].to_numpy(),
            "bucket": pd.Categorical.from_codes(positions, categories=pd.Index(keys)),
            "position": positions,
            "minor": reporting.to_numpy(),
            "days_overdue": open_items["days_overdue"].to_numpy(),
        }
    )
    table = frame.pivot_table(
        index="customer_id",
        columns="bucket",
        values="minor",
        aggfunc="sum",
        fill_value=0,
        observed=False,
    )
    table = table.reindex(columns=keys, fill_value=0).astype("int64")
    table.columns = [f"aging_{k}" for k in keys]
    overdue = frame[frame["days_overdue"] > 0]
    grouped = frame.groupby("customer_id")
    table["open_minor"] = grouped["minor"].sum()
    table["open_invoice_count"] = grouped.size()
    table["overdue_minor"] = overdue.groupby("customer_id")["minor"].sum()
    table["overdue_invoice_count"] = overdue.groupby("customer_id").size()
    table["max_days_overdue"] = overdue.groupby("customer_id")["days_overdue"].max()
    table["oldest_bucket_position"] = grouped["position"].max()
    return table
