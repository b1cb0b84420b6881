"""Xero Accounting API objects (JSON) to canonical records.

Pure functions: no HTTP. Each raises `UnmappableError` or pydantic's `ValidationError` for an
object it cannot turn into a record (the source quarantines it), or `NotReceivableError` for
one that is rightly not part of the receivables ledger (the source skips it with a log line).

How Xero records what arsync needs:
- Dates are `/Date(1551744000000+0000)/`: milliseconds since 1970 UTC, and an offset.
- An invoice is a receivable once approved: DRAFT and SUBMITTED (awaiting approval) are not
  posted yet; VOIDED and DELETED are void. `AmountDue` is the open balance.
- A payment settles exactly one invoice. Money received but not (or not yet) set against an
  invoice is a prepayment or an overpayment, whose `Allocations` set it against invoices
  later: arsync reads both as payments with their allocations as applications, so unapplied
  cash is their `RemainingCredit`.
- A credit note's `Allocations` are its applications to invoices.
- A contact is a customer whatever its `ContactStatus`: an ARCHIVED contact keeps its
  outstanding invoices, and a GDPRREQUEST one (archived for good, personal data redacted
  where the law allows) still owes what it owed. The canonical customer has no status field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from arsync.records import Application, CreditMemo, Customer, Invoice, InvoiceStatus, Payment
from connector.erp.validation import UnmappableError, money

Json = dict[str, Any]
ZERO = Decimal(0)
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
NOT_APPROVED = frozenset({"DRAFT", "SUBMITTED"})
VOID = frozenset({"VOIDED", "DELETED"})
GDPR_REQUEST = "GDPRREQUEST"
SOURCE_FIELDS = {
    "id": "ID",
    "name": "Name",
    "currency": "CurrencyCode",
    "payment_terms_days": "PaymentTerms",
    "number": "InvoiceNumber",
    "customer_id": "Contact.ContactID",
    "issue_date": "Date",
    "received_date": "Date",
    "date": "Date",
    "due_date": "DueDate",
    "total": "Total",
    "amount": "Total",
    "open_balance": "AmountDue",
    "status": "Status",
    "applications": "Allocations",
}


class NotReceivableError(Exception):
    """An object that is rightly left out (a draft, a void credit note); says which and why."""


@dataclass(frozen=True)
class Context:
    """What records fall back on, read from the organisation only when first needed."""

    base_currency: Callable[[], str]
    default_terms_days: Callable[[], int | None]


# --------------------------------------------------------------------------- values


def moment(value: object) -> dt.datetime | None:
    """`/Date(ms+zzzz)/` (or ISO 8601, as `DateString` is) as an aware time; None if empty."""
    if not value:
        return None
    text = str(value)
    match = _MS_DATE.match(text)
    if match is None:
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise UnmappableError(f"{text!r} is not a Xero date") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    milliseconds, offset = int(match.group(1)), match.group(2) or "+0000"
    sign = -1 if offset[0] == "-" else 1
    zone = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
    return dt.datetime.fromtimestamp(milliseconds / 1000, tz=dt.UTC).astimezone(zone)


def day(entity: Json, key: str) -> dt.date:
    """A calendar date field, from `Key` or else `KeyString`."""
    parsed = moment(entity.get(key) or entity.get(f"{key}String"))
    if parsed is None:
        raise UnmappableError(f"{key} is empty")
    return parsed.date()


def updated(entity: Json) -> dt.datetime | None:
    """`UpdatedDateUTC` in UTC."""
    parsed = moment(entity.get("UpdatedDateUTC"))
    return None if parsed is None else parsed.astimezone(dt.UTC)


def currency(entity: Json, key: str, context: Context) -> str:
    """A currency code field, upper-case; the organisation's base currency when empty."""
    return str(entity.get(key) or context.base_currency()).strip().upper()


def contact_id(entity: Json) -> str:
    return str((entity.get("Contact") or {}).get("ContactID") or "")


# --------------------------------------------------------------------------- objects


def terms_days(sales: Json) -> int | None:
    """`PaymentTerms.Sales`: only "days after the invoice date" is a number of days; the
    others (days after the end of the invoice month, a day of this or next month) are not."""
    if sales.get("Type") == "DAYSAFTERBILLDATE" and sales.get("Day") is not None:
        return int(sales["Day"])
    return None


def customer(contact: Json, context: Context) -> Customer:
    """A contact as a customer; a GDPRREQUEST contact whose name Xero redacted is named by
    its id, so its invoices stay in the ledger instead of losing their customer."""
    name = contact.get("Name")
    if not name and contact.get("ContactStatus") == GDPR_REQUEST:
        name = contact.get("ContactID")
    values: Json = {
        "id": contact.get("ContactID"),
        "name": name,
        "currency": currency(contact, "DefaultCurrency", context),
    }
    sales = (contact.get("PaymentTerms") or {}).get("Sales")
    days = terms_days(sales) if sales else context.default_terms_days()
    if days is not None:
        values["payment_terms_days"] = days
    return Customer.model_validate(values)


def invoice(entity: Json, context: Context) -> Invoice:
    status = str(entity.get("Status"))
    if status in NOT_APPROVED:
        raise NotReceivableError(f"status {status}: not approved, so not yet a receivable")
    if entity.get("Type", "ACCREC") != "ACCREC":
        raise NotReceivableError(f"type {entity.get('Type')}: not a sales invoice")
    if not (entity.get("DueDate") or entity.get("DueDateString")):
        raise UnmappableError("DueDate is empty: an invoice without a due date cannot be aged")
    total = money(entity.get("Total"), "Total")
    due = money(entity.get("AmountDue"), "AmountDue")
    if status in VOID:
        state, due = InvoiceStatus.VOID, ZERO
    else:
        state = InvoiceStatus.PAID if status == "PAID" or due == ZERO else InvoiceStatus.OPEN
    return Invoice(
        id=str(entity.get("InvoiceID")),
        number=entity.get("InvoiceNumber") or None,
        customer_id=contact_id(entity),
        issue_date=day(entity, "Date"),
        due_date=day(entity, "DueDate"),
        currency=currency(entity, "CurrencyCode", context),
        total=total,
        open_balance=due,
        status=state,
        last_modified=updated(entity),
    )


def payment(entity: Json, context: Context) -> Payment:
    """A payment on one sales invoice (PaymentType ACCRECPAYMENT)."""
    if entity.get("PaymentType") != "ACCRECPAYMENT":
        raise NotReceivableError(
            f"payment type {entity.get('PaymentType')}: not on a sales invoice"
        )
    if entity.get("Status") == "DELETED":
        raise NotReceivableError("status DELETED")
    target = entity.get("Invoice") or {}
    if not target.get("InvoiceID"):
        raise UnmappableError("Invoice.InvoiceID is empty: the payment settles no invoice")
    amount = money(entity.get("Amount"), "Amount")
    received = day(entity, "Date")
    return Payment(
        id=str(entity.get("PaymentID")),
        customer_id=contact_id(target),
        currency=currency(target, "CurrencyCode", context),
        amount=amount,
        received_date=received,
        applications=(
            Application(invoice_id=str(target["InvoiceID"]), amount=amount, applied_date=received),
        ),
    )


def prepayment(entity: Json, context: Context, kind: str) -> Payment:
    """A prepayment or overpayment received (RECEIVE-PREPAYMENT, RECEIVE-OVERPAYMENT)."""
    if entity.get("Type") != f"RECEIVE-{kind.upper()}":
        raise NotReceivableError(f"type {entity.get('Type')}: not money received")
    if entity.get("Status") in VOID:
        raise NotReceivableError(f"status {entity.get('Status')}")
    return Payment(
        id=str(entity.get(f"{kind}ID")),
        customer_id=contact_id(entity),
        currency=currency(entity, "CurrencyCode", context),
        amount=money(entity.get("Total"), "Total"),
        received_date=day(entity, "Date"),
        applications=allocations(entity.get("Allocations") or []),
    )


def credit_note(entity: Json, context: Context) -> CreditMemo:
    """A sales credit note (ACCRECCREDIT), approved and not void."""
    status = str(entity.get("Status"))
    if entity.get("Type") != "ACCRECCREDIT":
        raise NotReceivableError(f"type {entity.get('Type')}: not a sales credit note")
    if status in NOT_APPROVED or status in VOID:
        raise NotReceivableError(f"status {status}")
    return CreditMemo(
        id=str(entity.get("CreditNoteID")),
        customer_id=contact_id(entity),
        currency=currency(entity, "CurrencyCode", context),
        amount=money(entity.get("Total"), "Total"),
        date=day(entity, "Date"),
        applications=allocations(entity.get("Allocations") or []),
    )


def allocations(items: Iterable[Json]) -> tuple[Application, ...]:
    """`Allocations[]`: each sets part of the credit against one invoice on a date."""
    applications = []
    for item in items:
        if item.get("IsDeleted"):
            continue
        target = item.get("Invoice") or {}
        if not target.get("InvoiceID"):
            raise UnmappableError("an allocation names no Invoice.InvoiceID")
        applications.append(
            Application(
                invoice_id=str(target["InvoiceID"]),
                amount=money(item.get("Amount"), "Allocations.Amount"),
                applied_date=day(item, "Date"),
            )
        )
    return tuple(applications)
