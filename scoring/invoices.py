"""Invoice lines: every invoice as the CRM's invoice records show it, as of a date.

Open means money open on the as-of date, the same rule the Account's balances use, so the
invoice records in the CRM always add up to the open balance on the Account.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from arsync.ledger import Ledger
from arsync.money import exponent
from scoring.aging import open_invoices
from scoring.cash_forecast import expected_pay_dates

LINE_COLUMNS = [
    "invoice_id",
    "number",
    "customer_id",
    "issue_date",
    "due_date",
    "currency",
    "total",
    "open_amount",
    "days_overdue",
    "expected_pay_date",
    "disputed",
    "dispute_reason",
    "status",
]


def invoice_lines(
    ledger: Ledger, as_of: dt.date, habits: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One line per invoice issued by `as_of`: `open` with its open amount and days past due,
    else `paid` or `void` with nothing open. Amounts in the invoice's currency, major units.
    An open invoice not disputed has its `expected_pay_date` from its customer's habit
    (`habits`, the scores indexed by customer id; `scoring.cash_forecast`); without
    `habits`, none."""
    invoices = ledger.invoices[ledger.invoices["issue_date"] <= pd.Timestamp(as_of)]
    open_now = open_invoices(ledger, as_of)
    open_minor = open_now.set_index("invoice_id")["open_minor"]
    days = open_now.set_index("invoice_id")["days_overdue"]
    ids = invoices["invoice_id"]
    is_open = ids.isin(open_minor.index).to_numpy()
    places = invoices["currency"].map(exponent).astype("int64").to_numpy()
    scale = 10.0**places
    still_open = open_minor.reindex(ids).fillna(0).to_numpy(dtype="float64")
    expected = pd.Series(pd.NaT, index=ids.to_numpy(), dtype="datetime64[s]")
    if habits is not None and len(open_now):
        dates = expected_pay_dates(open_now, habits, as_of)
        waiting = ~open_now["disputed"].fillna(False).to_numpy(dtype=bool)
        expected.loc[open_now["invoice_id"].to_numpy()[waiting]] = dates.to_numpy()[waiting]
    status = np.where(
        is_open, "open", np.where(invoices["status"].to_numpy() == "void", "void", "paid")
    )
    return pd.DataFrame(
        {
            "invoice_id": ids.to_numpy(dtype=object),
            "number": invoices["number"].to_numpy(dtype=object),
            "customer_id": invoices["customer_id"].to_numpy(dtype=object),
            "issue_date": invoices["issue_date"].dt.date.to_numpy(),
            "due_date": invoices["due_date"].dt.date.to_numpy(),
            "currency": invoices["currency"].to_numpy(dtype=object),
            # minor / 10**places is already the double nearest the exact amount
            "total": invoices["total_minor"].to_numpy() / scale,
            "open_amount": still_open / scale,
            "days_overdue": days.reindex(ids).fillna(0).clip(lower=0).to_numpy(dtype="int64"),
            "expected_pay_date": [
                None if pd.isna(moment) else moment.date() for moment in expected.tolist()
            ],
            "disputed": invoices["disputed"].to_numpy(dtype=bool) & is_open,
            "dispute_reason": invoices["dispute_reason"]
            .where(pd.Series(is_open, index=invoices.index))
            .to_numpy(dtype=object),
            "status": status,
        },
        columns=LINE_COLUMNS,
    )
