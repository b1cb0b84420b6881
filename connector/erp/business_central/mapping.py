"""Business Central API v2.0 entities to canonical records.

Field names are those of the v2.0 resources `customer`, `salesInvoice`, `salesCreditMemo`,
`customerPayment`, `paymentTerm`, `paymentMethod`, `currencyExchangeRate` and
`generalLedgerSetup`. An empty `currencyCode` means the company's local currency (LCY); an empty
date is `0001-01-01`; an empty GUID is all zeros.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

import structlog

from arsync.records import CreditMemo, Customer, Invoice, InvoiceStatus, Payment, PaymentMethod
from connector.erp.base import Pulled
from connector.erp.validation import UnmappableError, money_of, optional_money_of, text

log = structlog.get_logger(__name__)
Entity = dict[str, Any]
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01"
CENT = Decimal("0.01")
_DAYS = re.compile(r"^\s*<?\s*(\d+)\s*([DW])\s*>?\s*$", re.IGNORECASE)


class Skip(Enum):
    """A document that is not receivables: a draft, or one cancelled by a corrective one."""

    NOT_POSTED = "not posted"
    CANCELLED_PAIR = "cancelled by, or cancelling, another document"
    APPLIED_ELSEWHERE = "fully applied through the ledger to documents the API does not name"
    APPLIED_OUTSIDE = "applied to an invoice entry that is not a posted sales invoice"


# --------------------------------------------------------------------------- values


def guid(entity: Entity, name: str) -> str | None:
    value = text(entity, name)
    return None if value is None or value == EMPTY_GUID else value


def day(entity: Entity, name: str) -> str | None:
    value = text(entity, name)
    return None if value is None or value == EMPTY_DATE else value


def stamp(entity: Entity) -> dt.datetime | None:
    value = text(entity, "lastModifiedDateTime")
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def terms_days(formula: str | None) -> int | None:
    """A due-date formula as days: `30D` is 30, `2W` is 14; month-based ones (`1M`, `CM`) have
    no fixed number of days and give None."""
    match = _DAYS.match(formula or "")
    if match is None:
        return None
    count = int(match.group(1))
    return count * 7 if match.group(2).upper() == "W" else count


@dataclass
class Lookups:
    """The company's small reference tables, read once a pull."""

    local_currency: str
    terms: dict[str, int | None] = field(default_factory=dict)  # paymentTermsId -> days
    methods: dict[str, PaymentMethod | None] = field(default_factory=dict)
    rates: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # per currency

    def add_rates(self, entities: Iterable[Entity]) -> None:
        """The latest rate of each currency quoted against LCY (`relationalCurrencyCode` empty):
        `exchangeRateAmount` units of the currency are `relationalExchangeRateAmount` LCY."""
        latest: dict[str, str] = {}
        for entity in entities:
            code = (text(entity, "currencyCode") or "").upper()
            try:
                amount = optional_money_of(entity, "exchangeRateAmount")
                relational = optional_money_of(entity, "relationalExchangeRateAmount")
            except UnmappableError as error:  # a rate arsync cannot read is not used
                log.warning(
                    "erp.exchange_rate_skipped",
                    source="business_central",
                    record=f"currencyExchangeRates/{text(entity, 'id')}",
                    reason=error.reason,
                )
                continue
            starting = day(entity, "startingDate") or ""
            if not code or text(entity, "relationalCurrencyCode") or not amount or not relational:
                continue
            if starting >= latest.get(code, ""):
                latest[code] = starting
                self.rates[code] = (amount, relational)

    def currency(self, entity: Entity) -> str:
        return (text(entity, "currencyCode") or self.local_currency).upper()

    def from_local(self, amount: Decimal, currency: str) -> Decimal | None:
        """An LCY amount in `currency`, to the cent; None without a rate to convert by."""
        if currency == self.local_currency:
            return amount
        rate = self.rates.get(currency)
        if rate is None:
            return None
        units, local = rate
        return (amount * units / local).quantize(CENT)


# --------------------------------------------------------------------------- records


def customer(entity: Entity, lookups: Lookups) -> Customer:
    """`creditLimit` is kept in LCY by Business Central: converted to the customer's currency
    by the latest exchange rate; 0 (or none) means no limit."""
    currency = lookups.currency(entity)
    limit = optional_money_of(entity, "creditLimit")
    if limit is not None and limit > 0:
        converted = lookups.from_local(limit, currency)
        if converted is None:
            log.warning(
                "erp.credit_limit_dropped",
                source="business_central",
                customer=text(entity, "id"),
                reason=f"no exchange rate from {lookups.local_currency} to {currency}",
            )
        limit = converted
    else:
        limit = None
    data: dict[str, Any] = {
        "id": text(entity, "id"),
        "name": text(entity, "displayName"),
        "currency": currency,
        "credit_limit": limit,
        "payment_method": lookups.methods.get(guid(entity, "paymentMethodId") or ""),
    }
    days = lookups.terms.get(guid(entity, "paymentTermsId") or "")
    if days is not None:
        data["payment_terms_days"] = days
    return Customer.model_validate(data)


_INVOICE_STATUS = {
    "Open": InvoiceStatus.OPEN,
    "Paid": InvoiceStatus.PAID,
    "Canceled": InvoiceStatus.VOID,  # cancelled by a corrective credit memo
    "Corrective": InvoiceStatus.VOID,  # itself cancels a credit memo
}
_NOT_POSTED = {"", "Draft", "In Review"}


def invoice(entity: Entity, lookups: Lookups) -> Invoice | Skip:
    """Owed by the bill-to customer: the one Business Central posts the receivable to. A
    cancelled invoice is owed nothing, whatever `remainingAmount` says."""
    status_text = text(entity, "status") or ""
    if status_text in _NOT_POSTED:
        return Skip.NOT_POSTED
    status = _INVOICE_STATUS.get(status_text)
    if status is None:
        why = f"status {status_text!r} is not a sales invoice status arsync knows"
        raise UnmappableError(why, rule="unknown_status")
    void = status is InvoiceStatus.VOID
    open_balance = Decimal(0) if void else money_of(entity, "remainingAmount")
    data = {
        "id": text(entity, "id"),
        "number": text(entity, "number"),
        "customer_id": bill_to(entity),
        "issue_date": day(entity, "invoiceDate"),
        "due_date": day(entity, "dueDate"),
        "currency": lookups.currency(entity),
        "total": money_of(entity, "totalAmountIncludingTax"),
        "open_balance": open_balance,
        "status": status,
        "last_modified": stamp(entity),
    }
    return Invoice.model_validate(data)


def credit_memo(entity: Entity, lookups: Lookups) -> Pulled | Skip:
    """A posted memo: `Paid` means fully applied, and with an `invoiceId` it went to that
    invoice; an `Open` memo's applied part is not in the API, so it is all unapplied credit."""
    status = text(entity, "status") or ""
    if status in _NOT_POSTED:
        return Skip.NOT_POSTED
    if status in {"Canceled", "Corrective"}:
        return Skip.CANCELLED_PAIR
    target = guid(entity, "invoiceId")
    if status == "Paid" and target is None:
        return Skip.APPLIED_ELSEWHERE
    where = location("salesCreditMemos", entity)
    if status not in {"Open", "Paid"}:
        why = f"status {status!r} is not a sales credit memo status arsync knows"
        raise UnmappableError(why, rule="unknown_status")
    amount = money_of(entity, "totalAmountIncludingTax")
    date = day(entity, "creditMemoDate") or day(entity, "postingDate")
    applications = []
    if status == "Paid":
        applications.append({"invoice_id": target, "amount": amount, "applied_date": date})
    data = {
        "id": text(entity, "id"),
        "customer_id": bill_to(entity),
        "currency": lookups.currency(entity),
        "amount": amount,
        "date": date,
        "applications": tuple(applications),
    }
    return Pulled(CreditMemo.model_validate(data), where, (where,) if applications else ())


def payment_documents(lines: Iterable[Entity]) -> list[list[Entity]]:
    """Payment journal lines grouped into payments by journal and document number, each
    group made into a payment by `payment`.

    Each line with `appliesToInvoiceId` applies its amount to that invoice; a line without is
    cash not applied yet. `amount` is the journal line's signed `Amount` (positive a debit):
    cash received credits the customer, so it is negative, and its size is what was paid. A
    positive line debits the customer (a reversal or a refund): it is not cash received, and
    the canonical payment (positive amounts only) cannot carry it, so its document is
    quarantined as `payment_reversal`; once posted, its effect is in the invoices'
    `remainingAmount`. The journal line has no currency in the API: the payment's is the
    currency of an invoice it applies to, else its customer's. A line naming an invoice number
    but no invoice id is left out (`applied_outside_the_api`).
    """
    groups: dict[tuple[str, str], list[Entity]] = {}
    for line in lines:
        if applied_outside_the_api(line):
            log.info(
                "erp.record_skipped",
                source="business_central",
                record=f"customerPayments/{text(line, 'id')}",
                invoice_number=text(line, "appliesToInvoiceNumber"),
                reason=Skip.APPLIED_OUTSIDE.value,
            )
            continue
        key = (text(line, "journalId") or "", text(line, "documentNumber") or "")
        groups.setdefault(key, []).append(line)
    return list(groups.values())


def applied_outside_the_api(line: Entity) -> bool:
    """Whether a journal line applies to an invoice entry that is no posted sales invoice.

    Business Central fills `Applies-to Invoice Id` only from the `Sales Invoice Header` of that
    number; an invoice entry posted from a journal (opening balances, migrated invoices) has
    none, so the line shows `appliesToInvoiceNumber` with an empty id. That invoice is not in
    `salesInvoices` either: counting the line as unapplied cash would lower the customer's
    balance by the payment of a debt arsync never saw, so the line is left out.
    """
    number = text(line, "appliesToInvoiceNumber")
    return guid(line, "appliesToInvoiceId") is None and number is not None


def payment(
    group: list[Entity], currency_of: Callable[[str | None, str | None], str | None]
) -> Pulled:
    """One payment document (a group of `payment_documents`), at its first line. A line
    that cannot be read, or that debits the customer, is named in the reason, at its own
    location: the document is one record, and without that line its amount is not known."""
    first = group[0]
    where = location("customerPayments", first)
    doc_id = text(first, "documentNumber")
    customers = {guid(line, "customerId") for line in group}
    if len(customers) > 1:
        why = f"document {doc_id} has lines for {len(customers)} different customers"
        raise UnmappableError(why, rule="mixed_customers")
    signed = [_line_amount(line, doc_id) for line in group]
    for line, amount in zip(group, signed, strict=True):
        if amount > 0:
            why = (
                f"line {text(line, 'id')} of document {doc_id} has amount +{amount}: a debit "
                "to the customer (a reversal or refund), not cash received"
            )
            reversal = location("customerPayments", line)
            raise UnmappableError(why, rule="payment_reversal", location=reversal)
    applied: dict[str, tuple[Decimal, str | None, str]] = {}
    total = Decimal(0)
    for line, line_amount in zip(group, signed, strict=True):
        amount = -line_amount
        total += amount
        target = guid(line, "appliesToInvoiceId")
        if target is None or not amount:
            continue
        before = applied.get(target)
        so_far = before[0] if before else Decimal(0)
        applied[target] = (
            so_far + amount,
            day(line, "postingDate"),
            before[2] if before else location("customerPayments", line),
        )
    (customer_id,) = customers
    data = {
        "id": doc_id,
        "customer_id": customer_id,
        "currency": currency_of(next(iter(sorted(applied)), None), customer_id),
        "amount": total,
        "received_date": _earliest(day(line, "postingDate") for line in group),
        "applications": tuple(
            {"invoice_id": target, "amount": amount, "applied_date": applied_date}
            for target, (amount, applied_date, _) in sorted(applied.items())
        ),
    }
    parts = tuple(part for _, (_, _, part) in sorted(applied.items()))
    return Pulled(Payment.model_validate(data), where, parts)


def _line_amount(line: Entity, doc_id: str | None) -> Decimal:
    """A journal line's signed `amount`; one that cannot be read refuses its document, at the
    line's own location."""
    try:
        return money_of(line, "amount")
    except UnmappableError as error:
        why = f"line {text(line, 'id')} of document {doc_id}: {error.reason}"
        raise UnmappableError(why, location=location("customerPayments", line)) from None


def _earliest(dates: Iterable[str | None]) -> str | None:
    """The first posting date of a payment's lines; None if any line has none."""
    known = list(dates)
    return None if not known or None in known else min(d for d in known if d is not None)


def bill_to(entity: Entity) -> str | None:
    return guid(entity, "billToCustomerId") or guid(entity, "customerId")


def location(collection: str, entity: Entity) -> str:
    return f"business_central:{collection}/{text(entity, 'id')}"


# --------------------------------------------------------------------------- validation

FIELDS = {  # canonical field -> the API field it came from, for quarantine reasons
    "name": "displayName",
    "currency": "currencyCode",
    "credit_limit": "creditLimit",
    "number": "number",
    "customer_id": "billToCustomerId",
    "issue_date": "invoiceDate",
    "due_date": "dueDate",
    "total": "totalAmountIncludingTax",
    "open_balance": "remainingAmount",
    "date": "creditMemoDate",
    "received_date": "postingDate",
    "id": "id",
}
