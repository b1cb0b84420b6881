"""Flags: facts about a customer worth a collector's attention, each with its reason text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from arsync.codes import positions
from scoring.settings import FlagSettings
from scoring.wording import beyond_terms
from scoring.wording import days as day_count

FLAGS = (
    "flag_deteriorating",
    "flag_unusual_invoice",
    "flag_lingering_invoice",
    "flag_over_credit_limit",
    "flag_open_dispute",
    "flag_check_payer",
    "flag_paper_invoicing",
)
# A MAD of a normal sample is 0.6745 sigma; 1.4826 = 1 / 0.6745 makes the robust z comparable.
_MAD_TO_SIGMA = 1.4826


def customer_flags(
    features: pd.DataFrame, open_items: pd.DataFrame, history: pd.DataFrame, settings: FlagSettings
) -> pd.DataFrame:
    """One boolean column per flag and a `flags` column joining the reasons of those raised.

    `features` is indexed by customer; `open_items` holds the open invoices with their
    reporting-currency amount (`open_reporting`, `total_reporting`) and days past due;
    `history` holds every invoice issued in the long window with `total_reporting`.
    """
    reasons: dict[str, pd.Series] = {
        "flag_deteriorating": _deteriorating(features, settings),
        "flag_unusual_invoice": _unusual_invoice(features.index, open_items, history, settings),
        "flag_lingering_invoice": _lingering(features.index, open_items, settings),
        "flag_over_credit_limit": _over_credit_limit(features),
        "flag_open_dispute": _open_dispute(features),
        "flag_check_payer": _when(
            features["is_check_payer"], "pays by check, which is slow to post"
        ),
        "flag_paper_invoicing": _when(
            features["invoice_delivery"].eq("paper").fillna(False).astype(bool),
            "invoices go out on paper",
        ),
    }
    result = pd.DataFrame(index=features.index)
    joined = [""] * len(features)
    for name in FLAGS:
        raised = reasons[name].notna()
        result[name] = raised
        # Joined as plain strings, only where raised: seven passes of pandas string
        # arithmetic over every customer cost a third of a second.
        texts = reasons[name].reindex(features.index).to_numpy(dtype=object)
        for row in np.flatnonzero(raised.reindex(features.index).to_numpy(dtype=bool)):
            joined[row] = f"{joined[row]}; {texts[row]}" if joined[row] else str(texts[row])
    result["flags"] = pd.Series(joined, index=features.index, dtype="object")
    return result


def _when(mask: pd.Series, text: str) -> pd.Series:
    texts = pd.Series(None, index=mask.index, dtype="object")
    texts[mask.to_numpy(dtype=bool)] = text
    return texts


def _deteriorating(features: pd.DataFrame, settings: FlagSettings) -> pd.Series:
    prior_count = features["paid_invoices_12m"].fillna(0) - features["paid_invoices_90d"].fillna(0)
    before = features["avg_days_beyond_terms_prior"]
    recent = features["avg_days_beyond_terms_90d"]
    mask = (
        (prior_count >= settings.deterioration_min_paid_invoices)
        & (features["paid_invoices_90d"].fillna(0) >= settings.deterioration_min_paid_invoices)
        & (before <= settings.deterioration_prior_max_days_late)
        & (recent >= settings.deterioration_recent_min_days_late)
    ).fillna(False)
    texts = [
        f"was paying {beyond_terms(b)}, now {beyond_terms(r)} (last 90 days)"
        for b, r in zip(before[mask], recent[mask], strict=True)
    ]
    return pd.Series(texts, index=features.index[mask.to_numpy(dtype=bool)]).reindex(features.index)


def _unusual_invoice(
    customers: pd.Index, open_items: pd.DataFrame, history: pd.DataFrame, settings: FlagSettings
) -> pd.Series:
    """The open invoice furthest from the customer's usual amount, if far enough (median/MAD)."""
    median, mad, counts = _robust_spread(history)
    items = open_items[["customer_id", "number", "invoice_id", "total_reporting"]].copy()
    items["median"] = _lookup(items["customer_id"], median)
    items["scale"] = _lookup(items["customer_id"], mad) * _MAD_TO_SIGMA
    items["history"] = _lookup(items["customer_id"], counts).fillna(0)
    items["z"] = (items["total_reporting"] - items["median"]).abs() / items["scale"]
    items = items[
        (items["history"] >= settings.anomaly_min_invoices)
        & (items["scale"] > 0)
        & (items["z"] > settings.anomaly_robust_z)
    ]
    if items.empty:
        return pd.Series(None, index=customers, dtype="object")
    worst = _first_per_customer(items, "z")
    texts = [
        f"invoice {_name(number, invoice_id)} for {total:,.2f} is {total / med:.1f}x "
        f"the usual {med:,.2f}"
        for number, invoice_id, total, med in zip(
            worst["number"],
            worst["invoice_id"],
            worst["total_reporting"],
            worst["median"],
            strict=True,
        )
    ]
    return pd.Series(texts, index=worst["customer_id"].to_numpy()).reindex(customers)


def _robust_spread(history: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per customer of `history`: the median invoice total, the median absolute deviation from
    it, and the number of invoices. The customer ids are hashed once, and the three are
    grouped by their integer codes: two million ids hashed three times cost a quarter second."""
    codes, customers = pd.factorize(history["customer_id"])
    totals = history["total_reporting"].to_numpy(dtype="float64")
    if (codes < 0).any():  # no customer: in no customer's figures, as groupby would drop it
        totals, codes = totals[codes >= 0], codes[codes >= 0]
    grouped = pd.Series(totals).groupby(codes)
    median = grouped.median()
    deviation = np.abs(totals - median.to_numpy()[codes])
    mad = pd.Series(deviation).groupby(codes).median()
    counts = grouped.size()
    named = pd.Index(customers, name="customer_id")
    median, mad, counts = (
        pd.Series(part.to_numpy(), index=named[part.index]) for part in (median, mad, counts)
    )
    return median, mad, counts


def _lingering(customers: pd.Index, open_items: pd.DataFrame, settings: FlagSettings) -> pd.Series:
    late = open_items[open_items["days_overdue"] >= settings.lingering_days_overdue]
    if late.empty:
        return pd.Series(None, index=customers, dtype="object")
    oldest = _first_per_customer(late, "days_overdue")
    counts = late.groupby("customer_id").size()
    # Looked up for all at once: one lookup a customer cost a pandas call each.
    per_customer = counts.reindex(oldest["customer_id"].to_numpy()).to_numpy().tolist()
    texts = []
    for number, invoice_id, days, count in zip(
        oldest["number"],
        oldest["invoice_id"],
        oldest["days_overdue"],
        per_customer,
        strict=True,
    ):
        others = int(count) - 1
        more = f" (and {others} more over {settings.lingering_days_overdue})" if others else ""
        texts.append(f"invoice {_name(number, invoice_id)} is {day_count(days)} past due{more}")
    return pd.Series(texts, index=oldest["customer_id"].to_numpy()).reindex(customers)


def _over_credit_limit(features: pd.DataFrame) -> pd.Series:
    mask = (features["credit_utilisation"] > 1).fillna(False).astype(bool)
    rows = features[mask]
    texts = [
        f"open balance {balance:,.2f} is {share:.0%} of the {limit:,.2f} credit limit"
        for balance, share, limit in zip(
            rows["open_balance"], rows["credit_utilisation"], rows["credit_limit"], strict=True
        )
    ]
    return pd.Series(texts, index=rows.index).reindex(features.index)


def _open_dispute(features: pd.DataFrame) -> pd.Series:
    rows = features[features["disputed_invoice_count"] > 0]
    texts = [
        f"{count} disputed invoice{'s' if count != 1 else ''}, {amount:,.2f} open"
        for count, amount in zip(
            rows["disputed_invoice_count"], rows["disputed_balance"], strict=True
        )
    ]
    return pd.Series(texts, index=rows.index).reindex(features.index)


def _first_per_customer(items: pd.DataFrame, by: str) -> pd.DataFrame:
    """Each customer's row with the largest `by`; ties go to the lowest invoice id, so the
    invoice a flag names never depends on row order."""
    ordered = items.sort_values(
        ["customer_id", by, "invoice_id"], ascending=[True, False, True], kind="stable"
    )
    return ordered.drop_duplicates("customer_id")


def _name(number: object, invoice_id: object) -> str:
    return str(number) if isinstance(number, str) and number else str(invoice_id)


def _lookup(ids: pd.Series, values: pd.Series) -> pd.Series:
    """Each id's number of `values` (indexed by unique id), as floats, NaN where it has none:
    `ids.map(values)`, found by codes rather than by hashing each Arrow string as a Python
    object (and always float, also for an empty column of Arrow strings)."""
    found = positions(values.index, ids)
    numbers = np.append(values.to_numpy(dtype="float64", na_value=np.nan), np.nan)
    return pd.Series(numbers[np.where(found >= 0, found, len(numbers) - 1)], index=ids.index)
