"""`write_export`: a ledger as the generic ERP CSV export (mappings/erp/generic_csv.yaml).

Headers and value spellings here are the export's, not arsync's: the CSV source must read
these files back into the same ledger, so tests compare both against the mapping file.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from arsync.control import Basis
from arsync.ledger import Ledger
from arsync.money import exponent
from arsync.reconcile import computed_balances
from jobs.sample_data.common import IntArray, ObjArray
from jobs.sample_data.generate import SampleLedger


class ExportFile(NamedTuple):
    path: str
    headers: tuple[str, ...]


EXPORT_FILES: dict[str, ExportFile] = {
    "customers": ExportFile(
        "customers.csv",
        (
            "Customer No.",
            "Name",
            "Currency",
            "Credit Limit",
            "Payment Terms (days)",
            "Industry",
            "Invoice Delivery",
            "Payment Method",
            "Parent Customer No.",
            "Salesforce Account ID",
        ),
    ),
    "invoices": ExportFile(
        "invoices.csv",
        (
            "Invoice ID",
            "Invoice No.",
            "Customer No.",
            "Invoice Date",
            "Due Date",
            "Currency",
            "Amount",
            "Balance Due",
            "Status",
            "Disputed",
            "Dispute Reason",
            "Last Modified",
        ),
    ),
    "payments": ExportFile(
        "payments.csv",
        ("Payment ID", "Customer No.", "Date Received", "Currency", "Amount", "Method"),
    ),
    "payment_applications": ExportFile(
        "payment_applications.csv",
        ("Payment ID", "Invoice ID", "Amount Applied", "Date Applied"),
    ),
    "credit_memos": ExportFile(
        "credit_memos.csv",
        ("Credit Memo ID", "Customer No.", "Date", "Currency", "Amount", "Reason"),
    ),
    "credit_memo_applications": ExportFile(
        "credit_memo_applications.csv",
        ("Credit Memo ID", "Invoice ID", "Amount Applied", "Date Applied"),
    ),
}
"""Per file of the mapping (its key under `files:`): the file name and its column headers."""

MANIFEST = "export_manifest.json"
BALANCES = "customer_balances.csv"  # the ERP's own balance report: the export's control totals
BALANCE_HEADERS = ("Customer No.", "Currency", "Balance")
GENERATOR = "arsync sample-data"

DELIVERY_SPELLING = {"paper": "Paper", "email": "Email", "portal": "Portal", "edi": "EDI"}
METHOD_SPELLING = {
    "check": "Check",
    "ach": "ACH",
    "card": "Card",
    "wire": "Wire",
    "other": "Other",
}
STATUS_SPELLING = {"open": "Open", "paid": "Paid", "void": "Void"}
"""Canonical value -> the export's spelling (the inverse of the mapping's `values:`)."""

_YES_NO = np.array(["no", "yes"], dtype=object)
_MEMO_REASONS = np.array(
    ["Returned goods", "Pricing adjustment", "Damaged goods", "Service credit"], dtype=object
)
_UNAPPLIED_MEMO_REASON = "Volume rebate"
_WORKDAY_START = 9 * 3600
_WORKDAY_SECONDS = 8 * 3600
_STAMP_STRIDE = 7919  # a prime: spreads edit times over the working day


def write_export(ledger: Ledger, out_dir: Path, exported_at: dt.datetime) -> list[Path]:
    """Write the six CSV files, the ERP's balance report per customer (`BALANCES`, which the
    generic mapping's `control_totals:` reads) and the manifest; the same arguments give the
    same bytes.

    `exported_at` must be timezone-aware: it is the export's "as of" time, and no Last Modified
    stamp is later than it.
    """
    if exported_at.tzinfo is None or exported_at.utcoffset() is None:
        raise ValueError("exported_at must be timezone-aware")
    utc = exported_at.astimezone(dt.UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        _write_csv(out_dir / EXPORT_FILES[key].path, EXPORT_FILES[key].headers, columns)
        for key, columns in _tables(ledger, utc)
    ]
    balances = _write_csv(out_dir / BALANCES, BALANCE_HEADERS, _balance_columns(ledger, utc))
    return [*written, balances, _write_manifest(out_dir, ledger, utc)]


def _balance_columns(ledger: Ledger, exported_at: dt.datetime) -> list[ObjArray]:
    """What the generating ERP says each customer owes when the export is taken: its open
    invoices less the payments and credit memos it holds unapplied, per currency."""
    totals = computed_balances(ledger, exported_at.date(), Basis.NET)
    return [
        _text(totals["customer_id"]),
        _text(totals["currency"]),
        _amounts(totals["balance_minor"], totals["currency"]),
    ]


def _tables(ledger: Ledger, exported_at: dt.datetime) -> Iterator[tuple[str, list[ObjArray]]]:
    """Each file's formatted columns, built only when the file is written, to bound memory."""
    yield "customers", _customer_columns(ledger)
    yield "invoices", _invoice_columns(ledger, exported_at)
    yield "payments", _payment_columns(ledger)
    payments = ledger.payments
    yield (
        "payment_applications",
        _application_columns(ledger, "payment", payments["payment_id"], payments["currency"]),
    )
    yield "credit_memos", _credit_memo_columns(ledger)
    memos = ledger.credit_memos
    yield (
        "credit_memo_applications",
        _application_columns(ledger, "credit_memo", memos["credit_memo_id"], memos["currency"]),
    )


def _write_csv(path: Path, headers: tuple[str, ...], columns: list[ObjArray]) -> Path:
    """Minimal quoting and "\n" line ends on every platform, so the bytes never vary."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(zip(*columns, strict=True))
    return path


def _write_manifest(out_dir: Path, ledger: Ledger, exported_at: dt.datetime) -> Path:
    manifest = {
        "exported_at": exported_at.isoformat(),
        "generator": GENERATOR,
        "seed": ledger.seed if isinstance(ledger, SampleLedger) else None,
        "customers": len(ledger.customers),
    }
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8", newline="\n")
    return path


def _customer_columns(ledger: Ledger) -> list[ObjArray]:
    customers = ledger.customers
    return [
        _text(customers["customer_id"]),
        _text(customers["name"]),
        _text(customers["currency"]),
        _amounts(customers["credit_limit_minor"], customers["currency"]),
        customers["payment_terms_days"].astype(str).to_numpy(dtype=object),
        _text(customers["industry"]),
        _spelled(customers["invoice_delivery"], DELIVERY_SPELLING),
        _spelled(customers["payment_method"], METHOD_SPELLING),
        _text(customers["parent_id"]),
        _text(customers["crm_account_id"]),
    ]


def _invoice_columns(ledger: Ledger, exported_at: dt.datetime) -> list[ObjArray]:
    invoices = ledger.invoices
    return [
        _text(invoices["invoice_id"]),
        _text(invoices["number"]),
        _text(invoices["customer_id"]),
        _days(invoices["issue_date"]),
        _days(invoices["due_date"]),
        _text(invoices["currency"]),
        _amounts(invoices["total_minor"], invoices["currency"]),
        _amounts(invoices["open_minor"], invoices["currency"]),
        _spelled(invoices["status"], STATUS_SPELLING),
        _YES_NO[invoices["disputed"].to_numpy(dtype=np.int64)],
        _text(invoices["dispute_reason"]),
        _last_modified(ledger, exported_at),
    ]


def _payment_columns(ledger: Ledger) -> list[ObjArray]:
    payments = ledger.payments
    return [
        _text(payments["payment_id"]),
        _text(payments["customer_id"]),
        _days(payments["received_date"]),
        _text(payments["currency"]),
        _amounts(payments["amount_minor"], payments["currency"]),
        _spelled(payments["method"], METHOD_SPELLING),
    ]


def _credit_memo_columns(ledger: Ledger) -> list[ObjArray]:
    memos = ledger.credit_memos
    return [
        _text(memos["credit_memo_id"]),
        _text(memos["customer_id"]),
        _days(memos["date"]),
        _text(memos["currency"]),
        _amounts(memos["amount_minor"], memos["currency"]),
        _memo_reasons(ledger),
    ]


def _application_columns(
    ledger: Ledger, document_type: str, document_ids: pd.Series, currencies: pd.Series
) -> list[ObjArray]:
    """Amounts are written in the currency of the document they come from."""
    applications = ledger.applications
    rows = applications[applications["document_type"] == document_type]
    position = pd.Index(document_ids).get_indexer(rows["document_id"])
    if (position < 0).any():
        raise ValueError(f"an application refers to a {document_type} that is not in the ledger")
    currency = currencies.iloc[position].reset_index(drop=True)
    return [
        _text(rows["document_id"]),
        _text(rows["invoice_id"]),
        _amounts(rows["amount_minor"].reset_index(drop=True), currency),
        _days(rows["applied_date"]),
    ]


def _text(values: pd.Series) -> ObjArray:
    """Strings as written, missing values as the empty cell."""
    text: ObjArray = values.to_numpy(dtype=object, na_value="")
    return text


def _spelled(values: pd.Series, spelling: dict[str, str]) -> ObjArray:
    """Canonical values in the export's spelling; a value the mapping cannot read is an error."""
    codes, uniques = pd.factorize(_text(values))
    unknown = sorted({str(value) for value in uniques} - set(spelling) - {""})
    if unknown:
        raise ValueError(f"values {unknown} have no spelling in the generic CSV mapping")
    table = np.array([spelling.get(str(value), "") for value in uniques], dtype=object)
    spelled: ObjArray = table[codes] if len(table) else np.empty(0, dtype=object)
    return spelled


def _days(values: pd.Series) -> ObjArray:
    """%Y-%m-%d, empty where the date is missing."""
    stamps = values.to_numpy(dtype="datetime64[ns]")
    text = np.datetime_as_string(stamps.astype("datetime64[D]")).astype(object)
    text[np.isnat(stamps)] = ""
    return text


def _amounts(minor: pd.Series, currency: pd.Series) -> ObjArray:
    """Plain decimals with the currency's minor digits ("1234.50"), empty where missing."""
    missing = minor.isna().to_numpy()
    values = minor.to_numpy(dtype=np.int64, na_value=0)
    codes, uniques = pd.factorize(_text(currency))
    digits = np.array([exponent(str(code)) for code in uniques], dtype=np.int64)
    places = digits[codes] if len(digits) else np.zeros(0, dtype=np.int64)
    text = np.empty(len(values), dtype=object)
    for place in np.unique(places):
        rows = places == place
        text[rows] = _decimal_text(values[rows], int(place))
    text[missing] = ""
    return text


def _decimal_text(minor: IntArray, places: int) -> ObjArray:
    """Exact integer arithmetic (no float), so 2**53 cents still print right."""
    units, fraction = np.divmod(np.abs(minor), 10**places)
    text = np.strings.add(np.where(minor < 0, "-", ""), units.astype(np.str_))
    if places:
        decimals = np.strings.zfill(fraction.astype(np.str_), places)
        text = np.strings.add(np.strings.add(text, "."), decimals)
    result: ObjArray = text.astype(object)
    return result


def _last_modified(ledger: Ledger, exported_at: dt.datetime) -> ObjArray:
    """The day of the invoice's last event (issue or application) at a working-day time.

    The ledger keeps no edit stamp, so one is derived from what it does keep; it is capped at
    the export time, which is what an incremental reader's watermark relies on.
    """
    invoices, applications = ledger.invoices, ledger.applications
    issued = invoices["issue_date"].to_numpy(dtype="datetime64[ns]")
    day = issued.astype("datetime64[D]").astype(np.int64)
    position = pd.Index(invoices["invoice_id"]).get_indexer(applications["invoice_id"])
    applied = applications["applied_date"].to_numpy(dtype="datetime64[ns]")
    known = (position >= 0) & ~np.isnat(applied)
    applied_day = applied[known].astype("datetime64[D]").astype(np.int64)
    np.maximum.at(day, position[known], applied_day)
    row = np.arange(len(day), dtype=np.int64)
    second = day * 86_400 + _WORKDAY_START + (row * _STAMP_STRIDE) % _WORKDAY_SECONDS
    stamps = np.minimum(second, int(exported_at.timestamp())).astype("datetime64[s]")
    text = np.strings.add(np.datetime_as_string(stamps, unit="s"), "+0000").astype(object)
    text[np.isnat(issued)] = ""
    return text


def _memo_reasons(ledger: Ledger) -> ObjArray:
    """The ledger keeps no memo reason: applied memos get an adjustment reason, others a rebate."""
    memos, applications = ledger.credit_memos, ledger.applications
    applied_ids = applications.loc[applications["document_type"] == "credit_memo", "document_id"]
    applied = memos["credit_memo_id"].isin(applied_ids).to_numpy(dtype=np.bool_)
    cycle = _MEMO_REASONS[np.arange(len(memos)) % len(_MEMO_REASONS)]
    reasons: ObjArray = np.where(applied, cycle, _UNAPPLIED_MEMO_REASON)
    return reasons
