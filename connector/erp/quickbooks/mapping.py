"""QuickBooks Online entities (JSON, as the query endpoint returns them) to canonical records.

Pure functions: no HTTP. Each raises `UnmappableError` or pydantic's `ValidationError` for an
entity it cannot turn into a record; the source quarantines it with that reason.

How QuickBooks records what arsync needs:
- A voided invoice keeps its id and number, but its amounts are zeroed and "Voided" is put in
  front of its PrivateNote; there is no status field. Balance 0 otherwise means paid.
- A payment's `Line[]` each carry an `Amount` and one `LinkedTxn`: lines linked to an Invoice
  are what the payment settles; lines linked to a CreditMemo are credit used in the same
  receipt. `TotalAmt` is the cash: invoice lines - credit lines + `UnappliedAmt`. Applying a
  credit memo alone is a payment of 0 with one Invoice line and one CreditMemo line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from arsync.records import (
    Application,
    CreditMemo,
    Customer,
    DeliveryMode,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)
from connector.erp.payment_methods import method_named
from connector.erp.validation import UnmappableError, money

Json = dict[str, Any]
ZERO = Decimal(0)
VOID_NOTE = "Voided"
DELIVERY = {"Print": DeliveryMode.PAPER, "Email": DeliveryMode.EMAIL}
# Canonical field -> the QuickBooks attribute it comes from, to word quarantine reasons.
SOURCE_FIELDS = {
    "id": "Id",
    "name": "DisplayName",
    "currency": "CurrencyRef",
    "parent_id": "ParentRef",
    "payment_terms_days": "SalesTermRef",
    "number": "DocNumber",
    "customer_id": "CustomerRef",
    "issue_date": "TxnDate",
    "received_date": "TxnDate",
    "date": "TxnDate",
    "due_date": "DueDate",
    "total": "TotalAmt",
    "amount": "TotalAmt",
    "open_balance": "Balance",
    "status": "Balance",
    "applications": "Line",
}


@dataclass(frozen=True)
class Lookups:
    """Name lists the records refer to by id, read once per pull."""

    terms: Mapping[str, int | None]  # Term Id -> DueDays (None: a date-driven term)
    methods: Mapping[str, PaymentMethod]  # PaymentMethod Id -> canonical method
    home_currency: Callable[[], str]  # the company's currency, for records without CurrencyRef


@dataclass(frozen=True)
class SplitPayment:
    """One QuickBooks payment: the cash part, and the credit memos it applied."""

    payment: Payment | None  # None when no cash changed hands (a credit applied alone)
    credits: tuple[tuple[str, Application], ...] = ()  # (credit memo id, its application)
    ignored_links: tuple[tuple[str, str, Decimal], ...] = ()  # (TxnType, TxnId, amount)


@dataclass
class _Line:
    txn_id: str
    amount: Decimal
    left: Decimal = field(init=False)

    def __post_init__(self) -> None:
        self.left = self.amount


# --------------------------------------------------------------------------- values


def day(value: object, name: str) -> dt.date:
    if not value:
        raise UnmappableError(f"{name} is empty")
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise UnmappableError(f"{name} is not a date (got {value!r})") from None


def stamp(value: object) -> dt.datetime | None:
    """`MetaData.LastUpdatedTime` (ISO 8601 with an offset) in UTC; None when absent."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise UnmappableError(f"{value!r} is not an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def last_updated(entity: Json) -> dt.datetime | None:
    return stamp((entity.get("MetaData") or {}).get("LastUpdatedTime"))


def ref(entity: Json, key: str) -> str | None:
    """`{"value": "42", "name": ...}` references: the id, or None."""
    value = (entity.get(key) or {}).get("value")
    return None if value in (None, "") else str(value)


def currency(entity: Json, lookups: Lookups) -> str:
    """`CurrencyRef.value`, upper-case; the company's home currency when there is none."""
    return (ref(entity, "CurrencyRef") or lookups.home_currency()).strip().upper()


# --------------------------------------------------------------------------- entities


def payment_method(entity: Json, names: Mapping[str, PaymentMethod]) -> PaymentMethod:
    """A PaymentMethod entity as a canonical method: the operator's table first, then the
    type (credit cards) and the usual names."""
    name = str(entity.get("Name") or "").strip()
    chosen = {key.casefold(): value for key, value in names.items()}.get(name.casefold())
    if chosen is not None:
        return chosen
    if entity.get("Type") == "CREDIT_CARD":
        return PaymentMethod.CARD
    return method_named(name)


def customer(entity: Json, lookups: Lookups) -> Customer:
    term = ref(entity, "SalesTermRef")
    method = ref(entity, "PaymentMethodRef")
    values: Json = {
        "id": entity.get("Id"),
        "name": entity.get("DisplayName") or entity.get("CompanyName"),
        "currency": currency(entity, lookups),
        "parent_id": ref(entity, "ParentRef"),
        "invoice_delivery": DELIVERY.get(str(entity.get("PreferredDeliveryMethod"))),
        "payment_method": lookups.methods.get(method) if method else None,
    }
    days = lookups.terms.get(term) if term else None
    if days is not None:
        values["payment_terms_days"] = days
    return Customer.model_validate(values)


def invoice(entity: Json, lookups: Lookups) -> Invoice:
    total = money(entity.get("TotalAmt"), "TotalAmt")
    balance = money(entity.get("Balance"), "Balance")
    if not entity.get("DueDate"):
        raise UnmappableError("DueDate is empty: an invoice without a due date cannot be aged")
    return Invoice(
        id=str(entity.get("Id")),
        number=entity.get("DocNumber") or None,
        customer_id=ref(entity, "CustomerRef") or "",
        issue_date=day(entity.get("TxnDate"), "TxnDate"),
        due_date=day(entity.get("DueDate"), "DueDate"),
        currency=currency(entity, lookups),
        total=total,
        open_balance=balance,
        status=_status(entity, total, balance),
        last_modified=last_updated(entity),
    )


def _status(entity: Json, total: Decimal, balance: Decimal) -> InvoiceStatus:
    """Void when QuickBooks zeroed it and marked the note; otherwise the balance decides."""
    note = str(entity.get("PrivateNote") or "")
    if total == ZERO and balance == ZERO and note.startswith(VOID_NOTE):
        return InvoiceStatus.VOID
    return InvoiceStatus.PAID if balance == ZERO else InvoiceStatus.OPEN


def credit_memo(
    entity: Json, applications: Iterable[Application], lookups: Lookups
) -> CreditMemo | None:
    """The credit memo with the applications found on payments; None for a zero credit."""
    amount = money(entity.get("TotalAmt"), "TotalAmt")
    if amount == ZERO:
        return None
    return CreditMemo(
        id=str(entity.get("Id")),
        customer_id=ref(entity, "CustomerRef") or "",
        currency=currency(entity, lookups),
        amount=amount,
        date=day(entity.get("TxnDate"), "TxnDate"),
        applications=tuple(applications),
    )


def split_payment(entity: Json, lookups: Lookups) -> SplitPayment:
    """The cash part of a payment and the credit memos it applied.

    QuickBooks does not say which credit went to which invoice when one receipt settles
    several invoices with several credits: credits are set against the invoice lines in line
    order, and what each invoice line has left is paid in cash. Per customer the sums are
    exact either way; only that split between invoices is arsync's choice.
    """
    received = day(entity.get("TxnDate"), "TxnDate")
    cash = money(entity.get("TotalAmt"), "TotalAmt")
    invoices, credits, ignored = _lines(entity.get("Line") or [])
    credit_applications = _apply_credits(invoices, credits, received)
    cash_applications = tuple(
        Application(invoice_id=line.txn_id, amount=line.left, applied_date=received)
        for line in invoices
        if line.left > ZERO
    )
    if cash == ZERO and not cash_applications:
        return SplitPayment(None, credit_applications, ignored)
    method = ref(entity, "PaymentMethodRef")
    payment = Payment(
        id=str(entity.get("Id")),
        customer_id=ref(entity, "CustomerRef") or "",
        currency=currency(entity, lookups),
        amount=cash,
        received_date=received,
        method=lookups.methods.get(method) if method else None,
        applications=_merged(cash_applications),
    )
    return SplitPayment(payment, credit_applications, ignored)


def _lines(
    lines: Iterable[Json],
) -> tuple[list[_Line], list[_Line], tuple[tuple[str, str, Decimal], ...]]:
    invoices: list[_Line] = []
    credits: list[_Line] = []
    ignored: list[tuple[str, str, Decimal]] = []
    for line in lines:
        amount = money(line.get("Amount"), "Line.Amount")
        links = line.get("LinkedTxn") or []
        if amount == ZERO or not links:
            continue
        if len(links) != 1:
            kinds = ", ".join(f"{link.get('TxnType')} {link.get('TxnId')}" for link in links)
            raise UnmappableError(f"a Line of {amount} is linked to several transactions ({kinds})")
        kind, txn_id = str(links[0].get("TxnType")), str(links[0].get("TxnId"))
        if kind == "Invoice":
            invoices.append(_Line(txn_id, amount))
        elif kind == "CreditMemo":
            credits.append(_Line(txn_id, amount))
        else:
            ignored.append((kind, txn_id, amount))
    return invoices, credits, tuple(ignored)


def _apply_credits(
    invoices: list[_Line], credits: list[_Line], received: dt.date
) -> tuple[tuple[str, Application], ...]:
    applied: list[tuple[str, Application]] = []
    for credit in credits:
        for line in invoices:
            if credit.left == ZERO:
                break
            share = min(credit.left, line.left)
            if share > ZERO:
                application = Application(
                    invoice_id=line.txn_id, amount=share, applied_date=received
                )
                applied.append((credit.txn_id, application))
                credit.left -= share
                line.left -= share
        if credit.left > ZERO:
            raise UnmappableError(
                f"CreditMemo {credit.txn_id} is used for {credit.amount} but the invoice lines "
                f"of this payment leave only {credit.amount - credit.left} to set it against"
            )
    return tuple(applied)


def _merged(applications: Iterable[Application]) -> tuple[Application, ...]:
    """One application per invoice: a receipt may list the same invoice on two lines."""
    totals: dict[str, Application] = {}
    for application in applications:
        previous = totals.get(application.invoice_id)
        totals[application.invoice_id] = (
            application
            if previous is None
            else previous.model_copy(update={"amount": previous.amount + application.amount})
        )
    return tuple(totals.values())
