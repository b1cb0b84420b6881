"""Aging: open money by days past due, as of a date, in the reporting currency.

Balances are rebuilt as of the date: an application dated after it had not happened yet, so
its amount is still open (and a payment received later is not yet cash on the account). Aging
counts from the due date, never the invoice date, and a partial payment ages only what is left.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from arsync.codes import as_str, positions
from arsync.ledger import Ledger
from scoring.currency import CurrencyTable
from scoring.settings import ScoringSettings


def open_invoices(ledger: Ledger, as_of: dt.date) -> pd.DataFrame:
    """Invoices issued by `as_of` with money open on that date, and their days past due."""
    cutoff = pd.Timestamp(as_of)
    invoices = ledger.invoices
    issued = (invoices["issue_date"] <= cutoff) & (invoices["status"] != "void")
    later = applied_after(ledger, cutoff, "invoice_id")
    open_minor = invoices["open_minor"] + _lookup(later, invoices["invoice_id"])
    kept = issued & (open_minor > 0)  # one copy of the rows kept, not two
    result = invoices[kept].assign(open_minor=open_minor[kept])
    days = (cutoff - result["due_date"]).dt.days.astype("int64")
    return result.assign(days_overdue=days)


def unapplied_credit(ledger: Ledger, as_of: dt.date, currencies: CurrencyTable) -> pd.Series:
    """Per customer, reporting minor units of cash and credit not yet applied on `as_of`."""
    cutoff = pd.Timestamp(as_of)
    parts = []
    for kind, frame, id_column, date_column in (
        ("payment", ledger.payments, "payment_id", "received_date"),
        ("credit_memo", ledger.credit_memos, "credit_memo_id", "date"),
    ):
        received = frame[frame[date_column] <= cutoff]
        later = applied_after(ledger, cutoff, "document_id", document_type=kind)
        amount = received["unapplied_minor"] + _lookup(later, received[id_column])
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": as_str(received["customer_id"]),
                    "minor": currencies.to_reporting(amount, received["currency"]).to_numpy(),
                }
            )
        )
    credit = pd.concat(parts, ignore_index=True)
    return credit.groupby("customer_id")["minor"].sum()


def applied_after(
    ledger: Ledger, cutoff: pd.Timestamp, key: str, document_type: str | None = None
) -> pd.Series:
    """Minor units applied after `cutoff`, summed by `key`: money that was still open then."""
    applications = ledger.applications
    later = applications[applications["applied_date"] > cutoff]
    if document_type is not None:
        later = later[later["document_type"] == document_type]
    return later.groupby(key)["amount_minor"].sum()


def _lookup(amounts: pd.Series, keys: pd.Series) -> pd.Series:
    """`amounts` for each key (0 where absent), aligned with `keys`; cheap when none apply."""
    if amounts.empty:
        return pd.Series(0, index=keys.index, dtype="int64")
    found = positions(amounts.index, keys)
    values = np.where(found >= 0, amounts.to_numpy(dtype="int64")[found], 0)
    return pd.Series(values, index=keys.index, dtype="int64")


def bucket_index(days_overdue: pd.Series, settings: ScoringSettings) -> np.ndarray:
    """Position of each amount's aging bucket in `settings.aging_buckets`."""
    bounds = [b.max_days_overdue for b in settings.aging_buckets[:-1]]
    return np.searchsorted(np.asarray(bounds, dtype="int64"), days_overdue.to_numpy(), "left")


def aging_by_customer(open_items: pd.DataFrame, settings: ScoringSettings) -> pd.DataFrame:
    """One row per customer with open money; a minor-unit column per aging bucket.

    `open_items` must carry `minor`, the open amount in the reporting currency.
    """
    keys = [b.key for b in settings.aging_buckets]
    buckets = bucket_index(open_items["days_overdue"], settings)
    frame = pd.DataFrame(
        {
            "customer_id": as_str(open_items["customer_id"]),
            "bucket": pd.Categorical.from_codes(buckets, categories=pd.Index(keys)),
            "position": buckets,
            "minor": open_items["minor"].to_numpy(),
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


def exposure_by_customer(open_items: pd.DataFrame, aged_days: int) -> pd.DataFrame:
    """Per customer: disputed and aged money (reporting minor units) and the next due date.

    `open_items` must carry `minor`, the open amount in the reporting currency.
    """
    grouped = open_items.groupby("customer_id")
    disputed = open_items[open_items["disputed"]].groupby("customer_id")["minor"]
    aged = open_items[open_items["days_overdue"] > aged_days].groupby("customer_id")["minor"]
    upcoming = open_items[open_items["days_overdue"] <= 0].groupby("customer_id")["due_date"]
    return pd.DataFrame(
        {
            "disputed_minor": disputed.sum(),
            "disputed_invoice_count": disputed.size(),
            "aged_minor": aged.sum(),
            "aged_invoice_count": aged.size(),
            "next_due_date": upcoming.min(),
        },
        index=grouped.size().index,
    )
