"""The validated ledger: canonical records as typed DataFrames, money in integer minor units.

`LedgerBuilder` is the one place where the rules that need the whole ledger are applied
(duplicate ids, unknown customers or invoices, unknown currencies), whatever the source.
Every record it leaves out lands in the quarantine with its location and reason.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from arsync.money import to_minor
from arsync.quarantine import Action, Quarantine, QuarantineEntry
from arsync.records import Application, CanonicalRecord, CreditMemo, Customer, Invoice, Payment

CUSTOMER_COLUMNS = {
    "customer_id": "string",
    "name": "string",
    "currency": "string",
    "credit_limit_minor": "Int64",
    "payment_terms_days": "int64",
    "industry": "string",
    "invoice_delivery": "string",
    "payment_method": "string",
    "parent_id": "string",
    "crm_account_id": "string",
}
INVOICE_COLUMNS = {
    "invoice_id": "string",
    "number": "string",
    "customer_id": "string",
    "issue_date": "datetime64[ns]",
    "due_date": "datetime64[ns]",
    "currency": "string",
    "total_minor": "int64",
    "open_minor": "int64",
    "status": "string",
    "disputed": "bool",
    "dispute_reason": "string",
}
PAYMENT_COLUMNS = {
    "payment_id": "string",
    "customer_id": "string",
    "received_date": "datetime64[ns]",
    "currency": "string",
    "amount_minor": "int64",
    "unapplied_minor": "int64",
    "method": "string",
}
CREDIT_MEMO_COLUMNS = {
    "credit_memo_id": "string",
    "customer_id": "string",
    "date": "datetime64[ns]",
    "currency": "string",
    "amount_minor": "int64",
    "unapplied_minor": "int64",
}
APPLICATION_COLUMNS = {
    "document_type": "string",  # "payment" or "credit_memo"
    "document_id": "string",
    "customer_id": "string",
    "invoice_id": "string",
    "amount_minor": "int64",
    "applied_date": "datetime64[ns]",
}


def typed_frame(rows: Iterable[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    """A frame with exactly these columns and dtypes, also when there are no rows."""
    frame = pd.DataFrame(list(rows), columns=list(columns))
    return frame.astype(columns)


@dataclass(frozen=True, eq=False)  # DataFrames have no single truth value to compare by
class Ledger:
    """Everything scoring needs, already validated; amounts in each document's own currency."""

    customers: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame
    credit_memos: pd.DataFrame
    applications: pd.DataFrame

    @classmethod
    def empty(cls) -> Ledger:
        return LedgerBuilder().build()

    def counts(self) -> dict[str, int]:
        return {
            "customers": len(self.customers),
            "invoices": len(self.invoices),
            "payments": len(self.payments),
            "credit_memos": len(self.credit_memos),
            "applications": len(self.applications),
        }


_RECORD_TYPES: dict[type[CanonicalRecord], str] = {
    Customer: "customer",
    Invoice: "invoice",
    Payment: "payment",
    CreditMemo: "credit_memo",
}


@dataclass
class _Located:
    record: CanonicalRecord
    location: str
    part_locations: tuple[str, ...] = ()

    def part_location(self, index: int) -> str:
        """Where one application came from: its own row if known, else its document's."""
        parts = self.part_locations
        return parts[index] if index < len(parts) else self.location


@dataclass
class LedgerBuilder:
    """Collects records from a source, then applies the ledger-wide rules in `build`.

    `currencies` are the ones the run can convert (the reporting currency and those with an
    FX rate); None accepts any, for tests and tools that never convert.
    """

    currencies: Collection[str] | None = None
    quarantine: Quarantine = field(default_factory=Quarantine)
    _records: dict[str, list[_Located]] = field(
        default_factory=lambda: {name: [] for name in _RECORD_TYPES.values()}
    )

    def add(
        self, record: CanonicalRecord, location: str, part_locations: tuple[str, ...] = ()
    ) -> None:
        """Keep a record; `part_locations` are where its applications came from, if apart."""
        located = _Located(record, location, part_locations)
        self._records[_RECORD_TYPES[type(record)]].append(located)

    def reject(self, entry: QuarantineEntry) -> None:
        self.quarantine.add(entry)

    def build(self) -> Ledger:
        customers = self._unique("customer")
        customers = [c for c in customers if self._currency_known(c)]
        customer_ids = {c.record.id for c in customers}
        customer_rows = [self._customer_row(c, customer_ids) for c in customers]

        invoices = [
            i
            for i in self._unique("invoice")
            if self._currency_known(i) and self._customer_known(i, customer_ids)
        ]
        invoice_customer = {
            i.record.id: (i.record.customer_id, i.record.currency)
            for i in invoices
            if isinstance(i.record, Invoice)
        }
        documents = [
            d
            for kind in ("payment", "credit_memo")
            for d in self._unique(kind)
            if self._currency_known(d) and self._customer_known(d, customer_ids)
        ]
        applications = [
            row for d in documents for row in self._application_rows(d, invoice_customer)
        ]
        payments = [d.record for d in documents if isinstance(d.record, Payment)]
        memos = [d.record for d in documents if isinstance(d.record, CreditMemo)]
        return Ledger(
            customers=typed_frame(customer_rows, CUSTOMER_COLUMNS),
            invoices=typed_frame(
                (_invoice_row(i.record) for i in invoices if isinstance(i.record, Invoice)),
                INVOICE_COLUMNS,
            ),
            payments=typed_frame(map(_payment_row, payments), PAYMENT_COLUMNS),
            credit_memos=typed_frame(map(_credit_memo_row, memos), CREDIT_MEMO_COLUMNS),
            applications=typed_frame(applications, APPLICATION_COLUMNS),
        )

    def _entry(
        self, located: _Located, rule: str, reason: str, action: Action = Action.REJECTED
    ) -> None:
        self.quarantine.add(
            QuarantineEntry(
                record_type=_RECORD_TYPES[type(located.record)],
                record_id=located.record.id,
                location=located.location,
                rule=rule,
                reason=reason,
                action=action,
            )
        )

    def _unique(self, kind: str) -> list[_Located]:
        """Identical copies collapse to one; copies that disagree are all rejected."""
        by_id: dict[str, list[_Located]] = {}
        for located in self._records[kind]:
            by_id.setdefault(located.record.id, []).append(located)
        kept: list[_Located] = []
        for copies in by_id.values():
            first, rest = copies[0], copies[1:]
            if all(c.record == first.record for c in rest):
                kept.append(first)
                for copy in rest:
                    self._entry(
                        copy,
                        "duplicate_id",
                        f"identical copy of the record at {first.location}; kept that one",
                    )
                continue
            where = ", ".join(c.location for c in copies)
            for copy in copies:
                self._entry(
                    copy,
                    "conflicting_duplicate_id",
                    f"id {copy.record.id!r} appears {len(copies)} times with different "
                    f"values ({where}); none is scored",
                )
        return kept

    def _currency_known(self, located: _Located) -> bool:
        currency = getattr(located.record, "currency", None)
        if self.currencies is None or currency in self.currencies:
            return True
        known = ", ".join(sorted(self.currencies))
        self._entry(
            located,
            "unknown_currency",
            f"currency {currency} has no FX rate in the settings (known: {known})",
        )
        return False

    def _customer_known(self, located: _Located, customer_ids: set[str]) -> bool:
        customer_id: str = getattr(located.record, "customer_id", "")
        if customer_id in customer_ids:
            return True
        rejected = self.quarantine.rejected_ids("customer")
        why = "was quarantined" if customer_id in rejected else "is not in the customer data"
        self._entry(located, "unknown_customer", f"customer {customer_id!r} {why}")
        return False

    def _customer_row(self, located: _Located, customer_ids: set[str]) -> dict[str, Any]:
        customer = located.record
        assert isinstance(customer, Customer)  # noqa: S101 - _unique("customer") holds customers
        parent = customer.parent_id
        if parent is not None and parent not in customer_ids:
            self._entry(
                located,
                "unknown_parent",
                f"parent customer {parent!r} is not in the customer data; kept without a parent",
                Action.CORRECTED,
            )
            parent = None
        return {
            "customer_id": customer.id,
            "name": customer.name,
            "currency": customer.currency,
            "credit_limit_minor": (
                None
                if customer.credit_limit is None
                else to_minor(customer.credit_limit, customer.currency)
            ),
            "payment_terms_days": customer.payment_terms_days,
            "industry": customer.industry,
            "invoice_delivery": customer.invoice_delivery,
            "payment_method": customer.payment_method,
            "parent_id": parent,
            "crm_account_id": customer.crm_account_id,
        }

    def _application_rows(
        self, located: _Located, invoice_customer: dict[str, tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """Rows for the applications that point at a known invoice of the same customer.

        A bad application is quarantined on its own; the document's unapplied amount is still
        computed from everything it declares, so rejecting an application never turns applied
        cash into unapplied cash.
        """
        document = located.record
        assert isinstance(document, Payment | CreditMemo)  # noqa: S101 - callers pass documents
        kind = _RECORD_TYPES[type(document)]
        document_date = document.received_date if isinstance(document, Payment) else document.date
        rows = []
        for index, application in enumerate(document.applications):
            problem = _application_problem(document, application, invoice_customer)
            if problem is not None:
                self.quarantine.add(
                    QuarantineEntry(
                        record_type=f"{kind}_application",
                        record_id=f"{document.id}->{application.invoice_id}",
                        location=located.part_location(index),
                        rule=problem[0],
                        reason=problem[1],
                    )
                )
                continue
            rows.append(
                {
                    "document_type": kind,
                    "document_id": document.id,
                    "customer_id": document.customer_id,
                    "invoice_id": application.invoice_id,
                    "amount_minor": to_minor(application.amount, document.currency),
                    "applied_date": application.applied_date or document_date,
                }
            )
        return rows


def _application_problem(
    document: Payment | CreditMemo,
    application: Application,
    invoice_customer: dict[str, tuple[str, str]],
) -> tuple[str, str] | None:
    target = invoice_customer.get(application.invoice_id)
    if target is None:
        return "unknown_invoice", (
            f"applied to invoice {application.invoice_id!r}, which is not in the invoice data "
            "or was quarantined"
        )
    customer_id, currency = target
    if customer_id != document.customer_id:
        return "foreign_invoice", (
            f"applied to invoice {application.invoice_id!r} of customer {customer_id!r}, "
            f"not of {document.customer_id!r}"
        )
    if currency != document.currency:
        return "currency_mismatch", (
            f"{document.currency} applied to invoice {application.invoice_id!r} in {currency}"
        )
    return None


def _invoice_row(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "customer_id": invoice.customer_id,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "currency": invoice.currency,
        "total_minor": to_minor(invoice.total, invoice.currency),
        "open_minor": to_minor(invoice.open_balance, invoice.currency),
        "status": invoice.status.value,
        "disputed": invoice.disputed,
        "dispute_reason": invoice.dispute_reason,
    }


def _payment_row(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "customer_id": payment.customer_id,
        "received_date": payment.received_date,
        "currency": payment.currency,
        "amount_minor": to_minor(payment.amount, payment.currency),
        "unapplied_minor": to_minor(payment.unapplied, payment.currency),
        "method": payment.method,
    }


def _credit_memo_row(memo: CreditMemo) -> dict[str, Any]:
    return {
        "credit_memo_id": memo.id,
        "customer_id": memo.customer_id,
        "date": memo.date,
        "currency": memo.currency,
        "amount_minor": to_minor(memo.amount, memo.currency),
        "unapplied_minor": to_minor(memo.unapplied, memo.currency),
    }
