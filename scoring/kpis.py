"""Receivables KPIs: DSO, best possible DSO, ADD, countback DSO and CEI, as of a date.

Per customer (`customer_kpis`) and for the whole portfolio (`portfolio_kpis`, sums before
ratios). Open AR is the sum of open invoice balances rebuilt as of the date (applications dated
later are added back, as in `scoring.aging.open_invoices`), with no netting of unapplied cash
or credit; it is *current* while the due date has not passed (due date >= as-of date), as in
the aging. Credit sales are the totals of the non-void invoices issued in a period. Every
amount is converted to the reporting currency once per document, as the aging does, and summed
in integer minor units, so the sums are exact and independent of row order.

Formulas, windows, what NaN means, a worked example and the sources: `docs/kpis.md`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from arsync.codes import equals_text, positions
from arsync.ledger import Ledger
from scoring.currency import CurrencyTable
from scoring.health import at_risk
from scoring.settings import ScoringSettings

# The columns of `customer_kpis`, in order: money in reporting major units, the rest in days
# (dso, best_possible_dso, add, dso_countback) or percent (cei); all float64.
KPI_COLUMNS: tuple[str, ...] = (
    "credit_sales_period",
    "dso",
    "best_possible_dso",
    "add",
    "dso_countback",
    "cei",
)
# The columns of `portfolio_kpis`: the KPIs over every customer together, then the totals.
PORTFOLIO_COLUMNS: tuple[str, ...] = (
    *KPI_COLUMNS,
    "open_balance",
    "overdue_balance",
    "overdue_share",
    "customers",
    "customers_with_overdue",
)

_NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class Receivables:
    """The amounts the KPIs are ratios of: reporting minor units, one row per customer.

    `monthly_sales[:, k - 1]` holds the credit sales of countback period k, which covers
    (as_of - k months, as_of - (k - 1) months]; `month_days[k - 1]` is its length in days.
    """

    open_ar: np.ndarray  # open at the as-of date
    current_ar: np.ndarray  # of that, not yet past its due date
    opening_ar: np.ndarray  # open at the start of the CEI period (as_of - cei_period_days)
    dso_sales: np.ndarray  # issued in (as_of - dso_period_days, as_of]
    cei_sales: np.ndarray  # issued in (as_of - cei_period_days, as_of]
    monthly_sales: np.ndarray  # shape (rows, countback_months)
    month_days: np.ndarray  # shape (countback_months,)

    def total(self) -> Receivables:
        """One row: every amount summed over the rows (the portfolio)."""
        return Receivables(
            open_ar=self.open_ar.sum(keepdims=True),
            current_ar=self.current_ar.sum(keepdims=True),
            opening_ar=self.opening_ar.sum(keepdims=True),
            dso_sales=self.dso_sales.sum(keepdims=True),
            cei_sales=self.cei_sales.sum(keepdims=True),
            monthly_sales=self.monthly_sales.sum(axis=0, keepdims=True),
            month_days=self.month_days,
        )


def customer_kpis(
    ledger: Ledger, as_of: dt.date, settings: ScoringSettings, currencies: CurrencyTable
) -> pd.DataFrame:
    """One row for every customer of the ledger, indexed by customer_id (sorted); `KPI_COLUMNS`."""
    customers = _customer_index(ledger)
    amounts = receivables(ledger, as_of, settings, currencies, customers)
    return _kpi_frame(amounts, settings, currencies, customers)


def portfolio_kpis(
    ledger: Ledger, as_of: dt.date, settings: ScoringSettings, currencies: CurrencyTable
) -> pd.DataFrame:
    """One row: the KPIs of all customers together (amounts summed first), and the totals.

    open_balance and overdue_balance are reporting major units, overdue_share their ratio
    (NaN when nothing is open), customers counts the ledger's customers and
    customers_with_overdue those with money past due.
    """
    customers = _customer_index(ledger)
    amounts = receivables(ledger, as_of, settings, currencies, customers)
    overdue = amounts.open_ar - amounts.current_ar
    total = amounts.total()
    frame = _kpi_frame(total, settings, currencies, pd.RangeIndex(1))
    frame["open_balance"] = _major(total.open_ar, currencies)
    frame["overdue_balance"] = _major(overdue.sum(keepdims=True), currencies)
    frame["overdue_share"] = _ratio(overdue.sum(keepdims=True), total.open_ar)
    frame["customers"] = np.int64(len(customers))
    frame["customers_with_overdue"] = np.int64(np.count_nonzero(overdue > 0))
    return frame[list(PORTFOLIO_COLUMNS)]


def receivables(
    ledger: Ledger,
    as_of: dt.date,
    settings: ScoringSettings,
    currencies: CurrencyTable,
    customers: pd.Index,
) -> Receivables:
    """The open AR and credit sales of each of `customers`, in their order."""
    kpis = settings.kpis
    today = _day(as_of)
    opening_day = today - kpis.cei_period_days
    month_end_days = np.array(
        [
            _day(pd.Timestamp(as_of) - pd.DateOffset(months=k))
            for k in range(kpis.countback_months + 1)
        ],
        dtype=np.int64,
    )  # period k runs from month_end_days[k] (excluded) to month_end_days[k - 1]

    invoices = ledger.invoices
    issue = _days(invoices["issue_date"])
    booked = np.flatnonzero(~equals_text(invoices["status"], "void") & (issue <= today))
    issue = issue[booked]
    code = positions(customers, invoices["customer_id"].iloc[booked])
    currency_code, currency_names = pd.factorize(invoices["currency"].iloc[booked])

    def reporting(minor: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Minor units of the invoices at `rows` (positions in `booked`), converted."""
        currency = pd.Categorical.from_codes(currency_code[rows], currency_names)
        converted = currencies.to_reporting(pd.Series(minor), pd.Series(currency))
        return converted.to_numpy(dtype=np.int64)

    def per_customer(rows: np.ndarray, minor: np.ndarray) -> np.ndarray:
        summed = np.zeros(len(customers), dtype=np.int64)
        known = code[rows] >= 0
        np.add.at(summed, code[rows][known], minor[known])
        return summed

    open_minor = invoices["open_minor"].to_numpy()[booked]
    later, later_than_opening = _applied_after(ledger, booked, today, opening_day)
    open_now = open_minor + later
    rows = np.flatnonzero(open_now > 0)
    open_reporting = reporting(open_now[rows], rows)
    current = _days(invoices["due_date"]).take(booked)[rows] >= today
    open_then = open_minor + later_than_opening
    rows_then = np.flatnonzero((open_then > 0) & (issue <= opening_day))

    first_sales_day = min(today - kpis.dso_period_days, opening_day, int(month_end_days[-1]))
    sold = np.flatnonzero(issue > first_sales_day)
    sales = reporting(invoices["total_minor"].to_numpy()[booked][sold], sold)
    sold_issue = issue[sold]
    # searchsorted over the ascending month ends: position i means period N - i + 1.
    position = np.searchsorted(month_end_days[::-1], sold_issue, side="left")
    months = kpis.countback_months
    in_countback = (position >= 1) & (code[sold] >= 0)
    cell = code[sold][in_countback] * months + (months - position[in_countback])
    monthly = np.zeros(len(customers) * months, dtype=np.int64)
    np.add.at(monthly, cell, sales[in_countback])

    dso_window = sold_issue > today - kpis.dso_period_days
    cei_window = sold_issue > opening_day
    return Receivables(
        open_ar=per_customer(rows, open_reporting),
        current_ar=per_customer(rows[current], open_reporting[current]),
        opening_ar=per_customer(rows_then, reporting(open_then[rows_then], rows_then)),
        dso_sales=per_customer(sold[dso_window], sales[dso_window]),
        cei_sales=per_customer(sold[cei_window], sales[cei_window]),
        monthly_sales=monthly.reshape(len(customers), months),
        month_days=month_end_days[:-1] - month_end_days[1:],
    )


def dso_countback(
    open_ar: np.ndarray, monthly_sales: np.ndarray, month_days: np.ndarray
) -> np.ndarray:
    """Days of sales, walking back month by month, that the open AR amounts to.

    Each month's sales are taken off the AR until it is used up: the full months' days plus
    the used-up share of the last month's days. When all the months' sales do not cover the
    AR, the result is capped at all the months' days; with nothing open it is 0.
    """
    covered = np.cumsum(monthly_sales, axis=1)
    enough = covered >= open_ar[:, np.newaxis]
    found = enough.any(axis=1)
    last = enough.argmax(axis=1)  # the first month whose sales finish off the AR
    rows = np.arange(len(open_ar))
    before = np.where(last > 0, covered[rows, np.maximum(last - 1, 0)], 0)
    full_days = np.concatenate(([0], np.cumsum(month_days)))
    month_sales = monthly_sales[rows, last]
    share = _ratio(open_ar - before, month_sales)
    days = full_days[last] + share * month_days[last]
    days = np.where(found, days, full_days[-1])
    result: np.ndarray = np.where(open_ar == 0, 0.0, days)
    return result


def _kpi_frame(
    amounts: Receivables, settings: ScoringSettings, currencies: CurrencyTable, index: pd.Index
) -> pd.DataFrame:
    period = settings.kpis.dso_period_days
    dso = _ratio(amounts.open_ar, amounts.dso_sales) * period
    best = _ratio(amounts.current_ar, amounts.dso_sales) * period
    collected = amounts.opening_ar + amounts.cei_sales - amounts.open_ar
    collectible = amounts.opening_ar + amounts.cei_sales - amounts.current_ar
    return pd.DataFrame(
        {
            "credit_sales_period": _major(amounts.dso_sales, currencies),
            "dso": dso,
            "best_possible_dso": best,
            "add": dso - best,
            "dso_countback": dso_countback(
                amounts.open_ar, amounts.monthly_sales, amounts.month_days
            ),
            "cei": _ratio(collected, collectible) * 100,
        },
        index=index,
    )


def _applied_after(
    ledger: Ledger, booked: np.ndarray, today: int, opening_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per invoice of the rows `booked`, minor units applied after today, and after
    opening_day (applications found by the ledger's invoice rows: no id is hashed here)."""
    applications = ledger.applications
    applied = _days(applications["applied_date"])
    rows = np.flatnonzero(applied > opening_day)
    invoice = ledger.application_invoice_rows()[rows]
    known = invoice >= 0
    invoice, amount = invoice[known], applications["amount_minor"].to_numpy()[rows][known]
    later = applied[rows][known] > today
    after_opening = np.zeros(len(ledger.invoices), dtype=np.int64)
    np.add.at(after_opening, invoice, amount)
    after_today = np.zeros(len(ledger.invoices), dtype=np.int64)
    np.add.at(after_today, invoice[later], amount[later])
    return after_today[booked], after_opening[booked]


def _customer_index(ledger: Ledger) -> pd.Index:
    """The ledger's customer ids, sorted: the rows of the result."""
    customers: pd.Index = pd.Index(ledger.customers["customer_id"], name="customer_id")
    return customers.sort_values()


def _day(date: dt.date | pd.Timestamp) -> int:
    """Whole days since 1970-01-01."""
    return int(pd.Timestamp(date).value // _NS_PER_DAY)


def _days(dates: pd.Series) -> np.ndarray:
    """Whole days since 1970-01-01 of a datetime column (the ledger's dates are midnights)."""
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def _major(minor: np.ndarray, currencies: CurrencyTable) -> np.ndarray:
    return currencies.to_major(pd.Series(minor, dtype="int64")).to_numpy(dtype=np.float64)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator as floats, NaN where the denominator is 0."""
    result = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


# --- money at risk ---------------------------------------------------------------------------


def money_sum(values: pd.Series, places: int) -> float:
    """Major-unit amounts summed in whole minor units, so the total is exact and does not
    depend on the order of the rows; missing amounts count as 0."""
    factor = float(10**places)
    minor = np.round(values.fillna(0).to_numpy(dtype="float64") * factor).astype("int64")
    return round(int(minor.sum()) / factor, places)


def money_at_risk(open_balance: pd.Series, risk_tier: pd.Series, places: int) -> float:
    """The open balance of the accounts in a high or critical risk tier.

    A share of what is open, so it never exceeds the open balance: the worklist's priority
    weight (overdue money times age and tier multipliers) can, so it is not money.
    """
    return money_sum(open_balance.where(at_risk(risk_tier), 0.0), places)
