"""Each customer's balance as arsync computes it, against the balance the ERP reports.

A customer whose two figures differ by more than the tolerance is not written: the number
would land on its Account although the ERP does not agree with it. The comparison is in each
customer's own currency and minor units, exact, with no exchange rate between the two sides.
Pure: frames in, frames out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import TypeVar

import numpy as np
import pandas as pd

from arsync.control import Basis, ControlBalances
from arsync.ledger import Ledger
from arsync.money import exponent, from_minor, to_minor

RECONCILED = "reconciled"
UNRECONCILED = "unreconciled"
NOT_COMPARABLE = "not_comparable"  # the ledger holds the customer in another currency too
MISSING = "missing"  # the ERP reports a balance for a customer the ledger does not hold
CUSTOMER_COLUMNS = (
    "customer_id",
    "currency",
    "arsync_balance",
    "erp_balance",
    "difference",
    "status",
)
PORTFOLIO_COLUMNS = (
    "currency",
    "arsync_balance",
    "erp_balance",
    "difference",
    "limit",
    "reconciled",
)
_KEY = ["customer_id", "currency"]
T = TypeVar("T")


@dataclass(frozen=True)
class Reconciliation:
    """The outcome of one comparison: a row per customer and currency checked, and per
    currency the portfolio's totals (major units, Decimal)."""

    figure: str
    basis: Basis
    customers: pd.DataFrame
    portfolio: pd.DataFrame
    unchecked: int  # customers in the ledger the ERP's figures do not cover

    def unreconciled_ids(self) -> frozenset[str]:
        """Customers with a figure out of tolerance: not to be written this run."""
        rows = self.customers[self.customers["status"] == UNRECONCILED]
        return frozenset(rows["customer_id"])

    def counts(self) -> dict[str, int]:
        statuses = self.customers.drop_duplicates("customer_id", keep="first")["status"]
        counted = {status: int(n) for status, n in statuses.value_counts().items()}
        return {
            RECONCILED: counted.get(RECONCILED, 0),
            UNRECONCILED: len(self.unreconciled_ids()),
            NOT_COMPARABLE: counted.get(NOT_COMPARABLE, 0),
            MISSING: counted.get(MISSING, 0),
            "unchecked": self.unchecked,
        }

    @property
    def portfolio_reconciled(self) -> bool:
        return bool(self.portfolio["reconciled"].all()) if len(self.portfolio) else True

    def portfolio_breaks(self) -> list[str]:
        """Per currency out of its limit, in words: what stops the run before any write."""
        wrong = self.portfolio[~self.portfolio["reconciled"].astype(bool)]
        return [
            f"{row.currency}: arsync {row.arsync_balance:,} against {self.figure} "
            f"{row.erp_balance:,} (difference {row.difference:,}, limit {row.limit:,})"
            for row in wrong.itertuples()
        ]


def computed_balances(ledger: Ledger, as_of: dt.date, basis: Basis) -> pd.DataFrame:
    """Per customer and currency, in minor units (`balance_minor`), the balance arsync shows
    on `as_of`: open invoices issued by then (void ones hold nothing), less, on the NET
    basis, the payments and credit memos received by then and not applied."""
    cutoff = pd.Timestamp(as_of)
    invoices = ledger.invoices
    issued = (invoices["issue_date"] <= cutoff) & (invoices["status"] != "void")
    # Only the three columns summed are filtered: not the ids and dates of two million rows.
    parts = [_summed(invoices[[*_KEY, "open_minor"]][issued], "open_minor", 1)]
    if basis is Basis.NET:
        for frame, date_column in (
            (ledger.payments, "received_date"),
            (ledger.credit_memos, "date"),
        ):
            kept = frame[[*_KEY, "unapplied_minor"]][frame[date_column] <= cutoff]
            parts.append(_summed(kept, "unapplied_minor", -1))
    both = pd.concat(parts, ignore_index=True)
    summed = both.groupby(_KEY, sort=True)[["balance_minor"]].sum().reset_index()
    return summed.astype({"customer_id": object, "currency": object, "balance_minor": "int64"})


def _summed(frame: pd.DataFrame, column: str, sign: int) -> pd.DataFrame:
    """Per customer and currency, the column summed: each text column factorised once (Arrow
    text is hashed by Arrow), the pairs grouped as one integer code, so that only the sums,
    not two million ids, become Python objects, and no pair of text keys is hashed."""
    customer_codes, customers = pd.factorize(frame["customer_id"])
    currency_codes, currencies = pd.factorize(frame["currency"])
    keyed = (customer_codes >= 0) & (currency_codes >= 0)  # as groupby, missing keys left out
    width = max(len(currencies), 1)
    pair = customer_codes[keyed].astype(np.int64) * width + currency_codes[keyed]
    sums = pd.Series(frame[column].to_numpy(dtype="int64")[keyed]).groupby(pair, sort=False).sum()
    pairs = sums.index.to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "customer_id": np.asarray(customers, dtype=object)[pairs // width],
            "currency": np.asarray(currencies, dtype=object)[pairs % width],
            "balance_minor": sums.to_numpy(dtype="int64") * sign,
        }
    )


def reconcile(
    ledger: Ledger,
    as_of: dt.date,
    control: ControlBalances,
    *,
    tolerance: Decimal,
    max_portfolio_share: float,
) -> Reconciliation:
    """Compare arsync's balance of every customer the ERP's figures cover with the ERP's.

    Within `tolerance` (major units of the customer's currency) a customer is reconciled. The
    portfolio, per currency, may differ by at most `max_portfolio_share` of the ERP's total
    (and never by less than `tolerance`): past that, the figures do not describe the same
    ledger (a stream not read, another company), and nothing should be written at all.
    """
    ours = computed_balances(ledger, as_of, control.basis)
    theirs = _control_frame(control)
    known = set(ledger.customers["customer_id"].astype(object))
    listed = set(theirs["customer_id"])
    # The customers the ERP figures speak for: listed ones, or all when the list is complete.
    covered = known | listed if control.every_customer else listed
    ours = ours[ours["customer_id"].isin(covered)]
    merged = theirs.merge(ours, on=_KEY, how="outer", suffixes=("", "_ours"))
    merged["erp_minor"] = merged["erp_minor"].fillna(0).astype("int64")
    merged["balance_minor"] = merged["balance_minor"].fillna(0).astype("int64")
    status = _statuses(merged, theirs, known, control.every_customer, tolerance)
    merged = merged.assign(status=status)
    # Nothing to say: a currency the ERP does not report for a customer it lists, at zero on
    # our side; and a customer the ledger lacks that the ERP says owes nothing.
    noise = (
        merged["erp_present"].isna()
        & (merged["balance_minor"] == 0)
        & merged["customer_id"].isin(listed)
    )
    noise |= ~merged["customer_id"].isin(known) & (merged["erp_minor"] == 0)
    merged = merged[~noise].sort_values(_KEY, kind="stable", ignore_index=True)
    customers = pd.DataFrame(
        {
            "customer_id": merged["customer_id"],
            "currency": merged["currency"],
            "arsync_balance": _major(merged["balance_minor"], merged["currency"]),
            "erp_balance": _major(merged["erp_minor"], merged["currency"]),
            "difference": _major(merged["balance_minor"] - merged["erp_minor"], merged["currency"]),
            "status": merged["status"],
        },
        columns=list(CUSTOMER_COLUMNS),
    )
    portfolio = _portfolio(merged, tolerance, max_portfolio_share)
    unchecked = 0 if control.every_customer else len(known - listed)
    return Reconciliation(control.figure, control.basis, customers, portfolio, unchecked)


def _control_frame(control: ControlBalances) -> pd.DataFrame:
    rows = [
        (balance.customer_id, balance.currency, to_minor(balance.amount, balance.currency))
        for balance in control.balances
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "currency", "erp_minor"])
    frame = frame.astype({"customer_id": object, "currency": object, "erp_minor": "int64"})
    # One figure per customer and currency: an ERP listing a customer twice sums its parts.
    frame = frame.groupby(_KEY, sort=False)[["erp_minor"]].sum().reset_index()
    return frame.assign(erp_present=True)


def _statuses(
    merged: pd.DataFrame,
    theirs: pd.DataFrame,
    known: set[str],
    every_customer: bool,
    tolerance: Decimal,
) -> np.ndarray:
    per_currency = _per_currency(lambda code: _limit_minor(tolerance, code), merged)
    limits = merged["currency"].map(per_currency).to_numpy(dtype="int64")
    within = (merged["balance_minor"] - merged["erp_minor"]).abs().to_numpy() <= limits
    status = np.where(within, RECONCILED, UNRECONCILED).astype(object)
    # A listed customer holding money in a currency the ERP's figure is not in: the figure
    # (one currency a customer) cannot speak for it, unless the ERP's list is complete.
    other_currency = (
        merged["erp_present"].isna().to_numpy()
        & (merged["balance_minor"] != 0).to_numpy()
        & merged["customer_id"].isin(set(theirs["customer_id"])).to_numpy()
    )
    if not every_customer:
        status[other_currency] = NOT_COMPARABLE
        listed_customers = merged.loc[other_currency, "customer_id"]
        status[merged["customer_id"].isin(set(listed_customers)).to_numpy()] = NOT_COMPARABLE
    missing = ~merged["customer_id"].isin(known).to_numpy()
    status[missing] = MISSING
    return status


def _portfolio(merged: pd.DataFrame, tolerance: Decimal, share: float) -> pd.DataFrame:
    counted = merged[merged["status"] != NOT_COMPARABLE]
    rows = []
    for currency, group in counted.groupby("currency", sort=True):
        code = str(currency)
        ours = int(group["balance_minor"].sum())
        theirs = int(group["erp_minor"].sum())
        limit = max(
            _limit_minor(tolerance, code),
            int((Decimal(abs(theirs)) * Decimal(str(share))).to_integral_value(ROUND_FLOOR)),
        )
        rows.append(
            (
                code,
                from_minor(ours, code),
                from_minor(theirs, code),
                from_minor(ours - theirs, code),
                from_minor(limit, code),
                abs(ours - theirs) <= limit,
            )
        )
    return pd.DataFrame(rows, columns=list(PORTFOLIO_COLUMNS))


def _limit_minor(tolerance: Decimal, currency: str) -> int:
    """The tolerance in the currency's minor units, rounded down (0.01 JPY: exact)."""
    return int(tolerance.scaleb(exponent(currency)).to_integral_value(ROUND_FLOOR))


def _per_currency(value: Callable[[str], T], frame: pd.DataFrame) -> dict[str, T]:
    """`value` of each currency in the frame, worked out once a currency, not once a row."""
    return {str(code): value(str(code)) for code in frame["currency"].unique()}


def _major(minor: pd.Series, currencies: pd.Series) -> pd.Series:
    places = {str(code): -exponent(str(code)) for code in currencies.unique()}
    values = [
        Decimal(int(m)).scaleb(places[str(c)]) for m, c in zip(minor, currencies, strict=True)
    ]
    return pd.Series(values, index=minor.index, dtype=object)
