"""The scoring entry point: a validated ledger and an as-of date in, one row per customer out."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from arsync.ledger import Ledger
from scoring.aging import aging_by_customer, open_invoices, unapplied_credit
from scoring.columns import output_columns
from scoring.currency import CurrencyTable
from scoring.settings import ScoringSettings


def score_accounts(
    ledger: Ledger, as_of: dt.date, settings: ScoringSettings, currencies: CurrencyTable
) -> pd.DataFrame:
    """Every customer of the ledger, with its balances and aging as of `as_of`.

    Customers with nothing open still get a row (zeros, "Current"), so a paid-up account is
    written back as paid up instead of keeping yesterday's figures.
    """
    customers = ledger.customers.set_index("customer_id")
    aging = aging_by_customer(open_invoices(ledger, as_of), settings, currencies)
    aging = aging.reindex(customers.index)
    minor_columns = [c for c in aging.columns if c.startswith("aging_")]
    minor_columns += ["open_minor", "overdue_minor", "open_invoice_count", "overdue_invoice_count"]
    aging[minor_columns] = aging[minor_columns].fillna(0).astype("int64")
    credit = unapplied_credit(ledger, as_of, currencies).reindex(customers.index).fillna(0)

    labels = [b.label for b in settings.aging_buckets]
    oldest = aging["oldest_bucket_position"].fillna(0).astype("int64")
    result = pd.DataFrame(
        {
            "customer_id": customers.index.to_numpy(),
            "customer_name": customers["name"].to_numpy(),
            "crm_account_id": customers["crm_account_id"].to_numpy(),
            "reporting_currency": currencies.reporting,
            "as_of_date": as_of,
            "open_balance": currencies.to_major(aging["open_minor"]).to_numpy(),
            "overdue_balance": currencies.to_major(aging["overdue_minor"]).to_numpy(),
            "unapplied_credit": currencies.to_major(credit.astype("int64")).to_numpy(),
            "net_balance": currencies.to_major(
                aging["open_minor"] - credit.astype("int64")
            ).to_numpy(),
            "open_invoice_count": aging["open_invoice_count"].to_numpy(),
            "overdue_invoice_count": aging["overdue_invoice_count"].to_numpy(),
            "max_days_overdue": aging["max_days_overdue"].fillna(0).astype("int64").to_numpy(),
            "overdue_status": [labels[p] for p in oldest],
        }
    )
    for bucket in settings.aging_buckets:
        column = f"aging_{bucket.key}"
        result[column] = currencies.to_major(aging[column]).to_numpy()
    expected = list(output_columns(settings))
    return result[expected].sort_values("customer_id", ignore_index=True)
