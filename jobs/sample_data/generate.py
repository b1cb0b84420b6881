"""`generate_ledger`: the plans of the other modules turned into the ledger's typed frames."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from arsync.ledger import (
    APPLICATION_COLUMNS,
    CREDIT_MEMO_COLUMNS,
    CUSTOMER_COLUMNS,
    INVOICE_COLUMNS,
    PAYMENT_COLUMNS,
    Ledger,
)
from jobs.sample_data.archetypes import Archetype
from jobs.sample_data.common import (
    IntArray,
    ObjArray,
    constant_codes,
    day_number,
    digit_codes,
    format_ids,
    group_starts,
    id_width,
    join_codes,
    labels,
    months_before,
)
from jobs.sample_data.customers import DELIVERY, INDUSTRIES, METHODS, CustomerPlan, plan_customers
from jobs.sample_data.invoices import DISPUTE_REASONS, PROFILES, InvoicePlan, plan_invoices
from jobs.sample_data.settlement import Documents, Settlement, settle

DEFAULT_INVOICES_PER_CUSTOMER = 40.0
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_STATUS = ("open", "paid", "void")


@dataclass(frozen=True, eq=False)
class SampleLedger(Ledger):
    """A generated ledger plus its provenance: the seed, and each customer's archetype.

    The archetypes are the ground truth a scoring test can check its findings against.
    """

    seed: int
    archetypes: pd.Series  # customer_id -> archetype label


@dataclass(frozen=True)
class _Ids:
    """The id strings, built once; every frame that refers to a record shares its str objects."""

    customer: ObjArray
    invoice: ObjArray
    payment: ObjArray
    credit_memo: ObjArray
    currency: ObjArray  # per customer


def generate_ledger(
    customers: int,
    seed: int,
    end_date: dt.date,
    months: int = 24,
    currencies: tuple[str, ...] = ("USD", "EUR"),
    *,
    invoices_per_customer: float = DEFAULT_INVOICES_PER_CUSTOMER,
    profile: str = "default",
) -> SampleLedger:
    """A realistic B2B receivables ledger; the same arguments always give the same ledger.

    `invoices_per_customer` is the mean over the whole `months` window. Nothing is dated after
    `end_date` except the due dates of invoices that are not yet due. `profile` is how late
    customers pay (`PROFILES`): "noisy" gives most customers a few short delays, as a real
    ledger has, where "default" keeps each archetype's habit clear-cut.
    """
    _check_arguments(customers, months, currencies, invoices_per_customer)
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, not {profile!r}")
    end = dt.date(end_date.year, end_date.month, end_date.day)
    start_day, end_day = day_number(months_before(end, months)), day_number(end)
    rng = np.random.Generator(np.random.PCG64(seed))
    plan = plan_customers(
        rng,
        count=customers,
        currencies=currencies,
        window_days=end_day - start_day,
        end_day=end_day,
        invoices_per_customer=invoices_per_customer,
    )
    invoices = plan_invoices(rng, plan, start_day, end_day, profile)
    settlement = settle(rng, plan, invoices, start_day, end_day)
    ids = _ids(plan, invoices, settlement, currencies)
    return SampleLedger(
        customers=_customer_frame(plan, ids),
        invoices=_invoice_frame(invoices, settlement, ids),
        payments=_document_frame(
            settlement.payments,
            ids,
            PAYMENT_COLUMNS,
            id_column="payment_id",
            document_ids=ids.payment,
            date_column="received_date",
        ),
        credit_memos=_document_frame(
            settlement.credit_memos,
            ids,
            CREDIT_MEMO_COLUMNS,
            id_column="credit_memo_id",
            document_ids=ids.credit_memo,
            date_column="date",
        ),
        applications=_application_frame(settlement, ids),
        seed=seed,
        archetypes=pd.Series(
            labels([kind.label for kind in Archetype], plan.archetype),
            index=pd.Index(ids.customer, dtype="string", name="customer_id"),
            dtype="string",
            name="archetype",
        ),
    )


def _check_arguments(
    customers: int, months: int, currencies: tuple[str, ...], invoices_per_customer: float
) -> None:
    if customers < 0:
        raise ValueError(f"customers must be 0 or more, not {customers}")
    if months < 1:
        raise ValueError(f"months must be 1 or more, not {months}")
    if not currencies or len(set(currencies)) != len(currencies):
        raise ValueError(f"currencies must be distinct and at least one, not {currencies}")
    bad = [code for code in currencies if not _CURRENCY.match(code)]
    if bad:
        raise ValueError(f"currencies must be ISO 4217 codes like 'USD', not {bad}")
    if not invoices_per_customer > 0:
        raise ValueError(f"invoices_per_customer must be positive, not {invoices_per_customer}")


def _ids(
    plan: CustomerPlan, invoices: InvoicePlan, settlement: Settlement, currencies: tuple[str, ...]
) -> _Ids:
    def numbered(prefix: str, count: int, minimum: int) -> ObjArray:
        return format_ids(prefix, np.arange(1, count + 1, dtype=np.int64), id_width(count, minimum))

    return _Ids(
        customer=numbered("C", plan.size, 5),
        invoice=numbered("INV-", invoices.size, 6),
        payment=numbered("PMT-", settlement.payments.size, 6),
        credit_memo=numbered("CM-", settlement.credit_memos.size, 6),
        currency=labels(currencies, plan.currency),
    )


def _dates(days: IntArray) -> np.ndarray[Any, np.dtype[np.datetime64]]:
    """Day numbers as the ledger's datetime64[ns]."""
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def _typed(columns: dict[str, str], data: dict[str, Any]) -> pd.DataFrame:
    """A frame with exactly the ledger's columns, in its order, with its dtypes."""
    return pd.DataFrame({name: data[name] for name in columns}).astype(columns)


def _optional(values: ObjArray, index: IntArray) -> ObjArray:
    """values[index], None where index is -1."""
    picked = np.full(len(index), None, dtype=object)
    present = index >= 0
    picked[present] = values[index[present]]
    return picked


def _customer_frame(plan: CustomerPlan, ids: _Ids) -> pd.DataFrame:
    limit = plan.credit_limit_minor
    return _typed(
        CUSTOMER_COLUMNS,
        {
            "customer_id": ids.customer,
            "name": plan.name,
            "currency": ids.currency,
            "credit_limit_minor": pd.arrays.IntegerArray(np.maximum(limit, 0), limit < 0),
            "payment_terms_days": plan.terms,
            "industry": labels(INDUSTRIES, plan.industry),
            "invoice_delivery": labels(DELIVERY, plan.delivery),
            "payment_method": labels(METHODS, plan.method),
            "parent_id": _optional(ids.customer, plan.parent),
            "crm_account_id": plan.crm_account_id,
        },
    )


def _invoice_numbers(days: IntArray) -> ObjArray:
    """Numbers like 2024-000123: counted per calendar year, in issue order, unlike the ids."""
    year = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    starts = group_starts(year)
    position = np.arange(len(days), dtype=np.int64)
    sequence = position - np.maximum.accumulate(np.where(starts, position, 0)) + 1
    width = id_width(int(sequence.max(initial=0)), 6)
    return join_codes(
        [digit_codes(year, 4), constant_codes("-", len(days)), digit_codes(sequence, width)]
    )


def _invoice_frame(invoices: InvoicePlan, settlement: Settlement, ids: _Ids) -> pd.DataFrame:
    open_minor = settlement.open_minor
    status = np.where(invoices.void, 2, np.where(open_minor == 0, 1, 0))
    return _typed(
        INVOICE_COLUMNS,
        {
            "invoice_id": ids.invoice,
            "number": _invoice_numbers(invoices.issue),
            "customer_id": ids.customer[invoices.customer],
            "issue_date": _dates(invoices.issue),
            "due_date": _dates(invoices.due),
            "currency": ids.currency[invoices.customer],
            "total_minor": invoices.total,
            "open_minor": open_minor,
            "status": labels(_STATUS, status),
            "disputed": invoices.disputed,
            "dispute_reason": _optional(np.array(DISPUTE_REASONS, dtype=object), invoices.reason),
        },
    )


def _document_frame(
    documents: Documents,
    ids: _Ids,
    columns: dict[str, str],
    *,
    id_column: str,
    document_ids: ObjArray,
    date_column: str,
) -> pd.DataFrame:
    """Payments and credit memos share a shape; only the id and date column names differ."""
    return _typed(
        columns,
        {
            id_column: document_ids,
            "customer_id": ids.customer[documents.customer],
            date_column: _dates(documents.day),
            "currency": ids.currency[documents.customer],
            "amount_minor": documents.amount,
            "unapplied_minor": documents.amount - documents.applied(),
            "method": labels(METHODS, documents.method),
        },
    )


def _application_frame(settlement: Settlement, ids: _Ids) -> pd.DataFrame:
    """Payment applications first, then credit-memo ones, each grouped by document."""
    kinds = (
        ("payment", settlement.payments, ids.payment),
        ("credit_memo", settlement.credit_memos, ids.credit_memo),
    )
    parts: dict[str, list[Any]] = {name: [] for name in APPLICATION_COLUMNS}
    for kind, documents, document_ids in kinds:
        owner = documents.app_document
        parts["document_type"].append(np.full(len(owner), kind, dtype=object))
        parts["document_id"].append(document_ids[owner])
        parts["customer_id"].append(ids.customer[documents.customer[owner]])
        parts["invoice_id"].append(ids.invoice[documents.app_invoice])
        parts["amount_minor"].append(documents.app_amount)
        parts["applied_date"].append(_dates(documents.day[owner]))
    return _typed(APPLICATION_COLUMNS, {name: np.concatenate(part) for name, part in parts.items()})
