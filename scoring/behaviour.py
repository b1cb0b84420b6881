"""Payment behaviour: how late each customer pays, measured on the invoices it has paid.

An invoice is *paid by the as-of date* when, rebuilt as of that date (applications dated later
are added back, as in `scoring.aging.open_invoices`), nothing of it is open, it is not void, it
was issued by then, and at least one payment or credit memo was applied to it by then. Its paid
date is the date of the last such application: a half-paid invoice is not paid, and an invoice
settled by a credit memo is paid on the memo's application date.

The windows run back from the as-of date by paid date (`BehaviourSettings`): *long* is
(as_of - long_window_days, as_of], *short* is (as_of - short_window_days, as_of], and *prior* is
the long window without the short one. The column suffixes `_12m` and `_90d` name the default
lengths; the settings may change them. Formulas, windows and NaN: `docs/kpis.md`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from arsync.codes import equals_text, positions
from arsync.ledger import Ledger
from scoring.currency import CurrencyTable
from scoring.settings import ScoringSettings

# The result's columns, in order. Counts are int64, dates datetime64[ns], the rest float64.
BEHAVIOUR_COLUMNS: tuple[str, ...] = (
    "paid_invoices_12m",
    "paid_invoices_90d",
    "avg_days_to_pay_12m",
    "weighted_days_to_pay_12m",
    "avg_days_beyond_terms_12m",
    "weighted_days_beyond_terms_12m",
    "on_time_share_12m",
    "days_late_p75_12m",
    "disputed_share_12m",
    "avg_days_beyond_terms_90d",
    "on_time_share_90d",
    "avg_days_beyond_terms_prior",
    "on_time_share_prior",
    "days_beyond_terms_trend",
    "last_payment_date",
)

_NAT = np.iinfo(np.int64).min  # NaT as an int64 nanosecond count; below every real date
_NS_PER_DAY = 86_400 * 10**9


def paid_invoices(
    ledger: Ledger, as_of: dt.date, paid_after: dt.date | None = None
) -> pd.DataFrame:
    """Invoices paid by `as_of` (and after `paid_after`, if given), one row each.

    Columns: invoice_id, customer_id, currency, total_minor, issue_date, due_date, paid_date,
    days_to_pay (paid - issued) and days_beyond_terms (paid - due; negative when early).
    """
    rows, last_paid = paid_rows(ledger, as_of, paid_after)
    invoices = ledger.invoices
    columns = ["invoice_id", "customer_id", "currency", "total_minor", "issue_date", "due_date"]
    result = invoices[columns].iloc[rows].reset_index(drop=True)
    paid_date = last_paid.view("datetime64[ns]")
    paid_day = _days(paid_date)
    result["paid_date"] = paid_date
    result["days_to_pay"] = paid_day - _days(result["issue_date"].to_numpy())
    result["days_beyond_terms"] = paid_day - _days(result["due_date"].to_numpy())
    return result


def paid_rows(
    ledger: Ledger, as_of: dt.date, paid_after: dt.date | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`paid_invoices` as arrays: the rows of `ledger.invoices` paid by `as_of` (and after
    `paid_after`), in ledger order, and each one's paid date in int64 nanoseconds. For a
    caller that asks on many dates and needs no frame of text columns each time."""
    cutoff = pd.Timestamp(as_of)
    invoices = ledger.invoices
    # Rebuilt balance = open_minor + later applications >= open_minor: only an invoice with
    # nothing open today can have had nothing open on the as-of date.
    settled = (
        (invoices["open_minor"].to_numpy() == 0)
        & ~equals_text(invoices["status"], "void")
        & (_nanoseconds(invoices["issue_date"]) <= cutoff.value)
    )
    rows = np.flatnonzero(settled)

    applications = ledger.applications
    applied = _nanoseconds(applications["applied_date"])
    # Earlier applications cannot move a paid date that falls after `paid_after`.
    floor = _NAT if paid_after is None else pd.Timestamp(paid_after).value
    invoice_rows = ledger.application_invoice_rows()
    amount = applications["amount_minor"].to_numpy()
    relevant = applied > floor
    if not relevant.all():  # copies of two million applications only when some are left out
        applied, invoice_rows, amount = applied[relevant], invoice_rows[relevant], amount[relevant]
    among = np.full(len(invoices) + 1, -1, dtype=np.int64)  # the last slot: no invoice
    among[rows] = np.arange(len(rows), dtype=np.int64)
    position = among[invoice_rows]
    known = position >= 0
    later = known & (applied > cutoff.value)
    reopened = np.zeros(len(rows), dtype=bool)
    reopened[position[later & (amount != 0)]] = True
    last = np.full(len(rows), _NAT, dtype=np.int64)
    by_then = known & ~later
    np.maximum.at(last, position[by_then], applied[by_then])
    paid = (last > floor) & ~reopened
    return rows[paid], last[paid]


def payment_behaviour(
    ledger: Ledger, as_of: dt.date, settings: ScoringSettings, currencies: CurrencyTable
) -> pd.DataFrame:
    """Per customer, how long its invoices took to pay and how far past terms, by window.

    One row for every customer of the ledger, indexed by customer_id (sorted); columns are
    `BEHAVIOUR_COLUMNS`. Counts are 0 and averages NaN where a window holds no paid invoice;
    last_payment_date is NaT for a customer with no payment received by `as_of`.
    """
    windows = settings.behaviour
    customers = _customer_index(ledger)
    size = len(customers)
    today = pd.Timestamp(as_of).value // _NS_PER_DAY
    long_start = today - windows.long_window_days
    short_start = today - windows.short_window_days

    paid = paid_invoices(ledger, as_of, paid_after=_date(long_start))
    code = positions(customers, paid["customer_id"])
    paid_day = _days(paid["paid_date"].to_numpy())
    days_to_pay = paid["days_to_pay"].to_numpy()
    beyond = paid["days_beyond_terms"].to_numpy()
    on_time = (beyond <= windows.on_time_grace_days).astype(np.int64)
    currency_codes, currency_names = pd.factorize(paid["currency"])
    weight = currencies.to_reporting(
        pd.Series(paid["total_minor"].to_numpy()),
        pd.Series(pd.Categorical.from_codes(currency_codes, currency_names)),
    ).to_numpy()

    long = code >= 0  # every row is paid after long_start already
    short = long & (paid_day > short_start)
    prior = long & ~short

    def total(mask: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        summed = np.zeros(size, dtype=np.int64)
        np.add.at(summed, code[mask], 1 if values is None else values[mask])
        return summed

    count_long, count_short, count_prior = total(long), total(short), total(prior)
    weight_long = total(long, weight)
    beyond_short = _mean(total(short, beyond), count_short)
    beyond_prior = _mean(total(prior, beyond), count_prior)
    return pd.DataFrame(
        {
            "paid_invoices_12m": count_long,
            "paid_invoices_90d": count_short,
            "avg_days_to_pay_12m": _mean(total(long, days_to_pay), count_long),
            "weighted_days_to_pay_12m": _mean(total(long, weight * days_to_pay), weight_long),
            "avg_days_beyond_terms_12m": _mean(total(long, beyond), count_long),
            "weighted_days_beyond_terms_12m": _mean(total(long, weight * beyond), weight_long),
            "on_time_share_12m": _mean(total(long, on_time), count_long),
            "days_late_p75_12m": _late_percentile(code[long], beyond[long], size, 0.75),
            "disputed_share_12m": _disputed_share(ledger, customers, long_start, today),
            "avg_days_beyond_terms_90d": beyond_short,
            "on_time_share_90d": _mean(total(short, on_time), count_short),
            "avg_days_beyond_terms_prior": beyond_prior,
            "on_time_share_prior": _mean(total(prior, on_time), count_prior),
            "days_beyond_terms_trend": beyond_short - beyond_prior,
            "last_payment_date": _last_payment(ledger, as_of, customers),
        },
        index=customers,
    )


def _late_percentile(code: np.ndarray, beyond: np.ndarray, size: int, q: float) -> np.ndarray:
    """Per customer, the `q` quantile of its days paid late, an early payment counted as 0
    days late: one early payment cannot net out the late ones as it does in a mean. NaN for a
    customer with no paid invoice."""
    late = pd.Series(np.maximum(beyond, 0).astype("float64"))
    quantile = late.groupby(code).quantile(q)
    result = np.full(size, np.nan)
    result[quantile.index.to_numpy(dtype="int64")] = quantile.to_numpy()
    return result


def _disputed_share(ledger: Ledger, customers: pd.Index, start: int, today: int) -> np.ndarray:
    """Per customer, of its invoices issued in the long window (open or paid, not void), the
    share flagged disputed: a dispute settled last month still says something of the next
    invoice. NaN for a customer with no such invoice."""
    invoices = ledger.invoices
    issued = _days(invoices["issue_date"].to_numpy())
    kept = (issued > start) & (issued <= today) & ~equals_text(invoices["status"], "void")
    code = positions(customers, invoices["customer_id"][kept])
    known = code >= 0
    disputed = invoices["disputed"].to_numpy(dtype=bool)[kept][known].astype(np.int64)
    counts = np.bincount(code[known], minlength=len(customers))
    flagged = np.bincount(code[known], weights=disputed, minlength=len(customers))
    return _mean(flagged, counts)


def _last_payment(ledger: Ledger, as_of: dt.date, customers: pd.Index) -> np.ndarray:
    """Per customer, the latest received_date of a payment received by `as_of` (else NaT)."""
    payments = ledger.payments
    received = _nanoseconds(payments["received_date"])
    rows = np.flatnonzero(received <= pd.Timestamp(as_of).value)
    code = positions(customers, payments["customer_id"].iloc[rows])
    latest = np.full(len(customers), _NAT, dtype=np.int64)
    known = code >= 0
    np.maximum.at(latest, code[known], received[rows][known])
    return latest.view("datetime64[ns]")


def _customer_index(ledger: Ledger) -> pd.Index:
    """The ledger's customer ids, sorted: the rows of the result."""
    customers: pd.Index = pd.Index(ledger.customers["customer_id"], name="customer_id")
    return customers.sort_values()


def _nanoseconds(dates: pd.Series) -> np.ndarray:
    """Datetimes as int64 nanoseconds since the epoch (NaT as the smallest int64)."""
    return dates.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _days(dates: np.ndarray) -> np.ndarray:
    """Whole days since 1970-01-01 of datetime64 values (the ledger's dates are midnights)."""
    return dates.astype("datetime64[D]").astype(np.int64)


def _date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def _mean(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator as floats, NaN where the denominator is 0."""
    result = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result
