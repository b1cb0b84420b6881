"""A stand-in for the Xero Accounting API and Xero's token endpoint, on a `responses` mock.

It holds objects per endpoint (`Contacts`, `Invoices`, `Payments`, `Prepayments`,
`Overpayments`, `CreditNotes`), in the documented JSON shapes, and answers `GET
/api.xro/2.0/{Endpoint}?page=N&where=...` with `{"Id", "Status": "OK", "ProviderName",
"DateTimeUTC", "pagination": {page, pageSize, pageCount, itemCount}, "<Endpoint>": [...]}`,
100 a page. It understands the `where` filters arsync sends (`Type=="..."`,
`PaymentType=="..."`), `Statuses=` and `IDs=` on Invoices, and the `If-Modified-Since` header,
leaves out contacts whose `ContactStatus` is not ACTIVE unless asked `includeArchived=true` (as
Xero does), checks the `Xero-tenant-id` header, and sends the rate-limit headers. The token
endpoint rotates the refresh token on every use, as Xero's does. `render(records)` writes
canonical records as Xero keeps them; `render(records, balances)` gives each contact the
`Balances` of Xero's getContacts example, its `AccountsReceivable.Outstanding` the one
`balances` gives it (without `balances`, contacts carry no `Balances`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from arsync.records import (
    Application,
    CanonicalRecord,
    CreditMemo,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
)
from fakes.jsonmoney import dumps, number

API = "https://api.xero.com/api.xro/2.0"
TOKEN_URL = "https://identity.xero.com/connect/token"
TENANT = "70784a63-d24b-46a9-a4db-0e70a274b056"
ENDPOINTS = ("Contacts", "Invoices", "Payments", "Prepayments", "Overpayments", "CreditNotes")
SERVER_TIME = dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC)
UPDATED = dt.datetime(2026, 6, 30, 9, 0, tzinfo=dt.UTC)  # UpdatedDateUTC when none is given
_FILTER = re.compile(r'^(\w+)=="([^"]*)"$')
STATUS = {
    InvoiceStatus.OPEN: "AUTHORISED",
    InvoiceStatus.PAID: "PAID",
    InvoiceStatus.VOID: "VOIDED",
}


def ms_date(value: dt.date | dt.datetime) -> str:
    """`/Date(1551744000000+0000)/`: milliseconds since 1970 UTC."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return f"/Date({int(value.timestamp() * 1000)}+0000)/"


def date_string(value: dt.date) -> str:
    return f"{value.isoformat()}T00:00:00"


@dataclass
class FakeXero:
    """Objects by endpoint; `requests` keeps each API request (URL and headers)."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    organisation: dict[str, Any] = field(
        default_factory=lambda: {
            "Name": "Demo Company (US)",
            "BaseCurrency": "USD",
            "PaymentTerms": {"Sales": {"Day": 30, "Type": "DAYSAFTERBILLDATE"}},
        }
    )
    refresh_token: str = "rt-1"
    rotations: int = 0
    requests: list[Any] = field(default_factory=list)

    def register(self, mock: responses.RequestsMock) -> None:
        for endpoint in ENDPOINTS:
            mock.add_callback(responses.GET, f"{API}/{endpoint}", callback=self._list)
        mock.add_callback(responses.GET, f"{API}/Organisation", callback=self._organisation)
        mock.add_callback(responses.POST, TOKEN_URL, callback=self._token)

    def add(self, endpoint: str, *items: dict[str, Any]) -> None:
        self.objects.setdefault(endpoint, []).extend(items)

    # ------------------------------------------------------------------ answers

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request)
        assert request.headers["Xero-tenant-id"] == TENANT
        parts = urlsplit(request.url)
        endpoint = parts.path.rsplit("/", 1)[-1]
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        found = [o for o in self.objects.get(endpoint, []) if _kept(o, params, request.headers)]
        page, size = int(params.get("page", "1")), int(params.get("pageSize", "100"))
        items = found[(page - 1) * size : page * size]
        body = {
            "Id": "b3f1c1de-3f6b-4f0e-9a43-0d1f6e5d9c11",
            "Status": "OK",
            "ProviderName": "arsync tests",
            "DateTimeUTC": ms_date(SERVER_TIME).replace("+0000", ""),
            "pagination": {
                "page": page,
                "pageSize": size,
                "pageCount": max(1, -(-len(found) // size)),
                "itemCount": len(found),
            },
            endpoint: items,
        }
        return 200, _limits(), dumps(body)

    def _organisation(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request)
        body = {"Id": "x", "Status": "OK", "Organisations": [self.organisation]}
        return 200, _limits(), dumps(body)

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body)
        if form.get("refresh_token") != [self.refresh_token]:
            return 400, {}, dumps({"error": "invalid_grant"})
        self.rotations += 1
        self.refresh_token = f"rt-{self.rotations + 1}"
        body = {
            "id_token": "idt",
            "access_token": f"at-{self.rotations}",
            "expires_in": 1800,
            "token_type": "Bearer",
            "refresh_token": self.refresh_token,
            "scope": "offline_access accounting.transactions.read accounting.contacts.read",
        }
        return 200, {}, dumps(body)


def _limits() -> dict[str, str]:
    return {
        "X-MinLimit-Remaining": "59",
        "X-DayLimit-Remaining": "4990",
        "X-AppMinLimit-Remaining": "9999",
    }


def _kept(item: dict[str, Any], params: dict[str, str], headers: Any) -> bool:
    archived = item.get("ContactStatus", "ACTIVE") != "ACTIVE"
    if archived and params.get("includeArchived", "").lower() != "true":
        return False
    statuses = params.get("Statuses")
    if statuses and item.get("Status") not in statuses.split(","):
        return False
    ids = params.get("IDs")
    if ids and item.get("InvoiceID") not in ids.split(","):
        return False
    where = params.get("where")
    if where:
        match = _FILTER.match(where)
        assert match is not None, where
        if str(item.get(match.group(1))) != match.group(2):
            return False
    since = headers.get("If-Modified-Since")
    if since:
        threshold = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC)
        millis = int(re.findall(r"-?\d+", item["UpdatedDateUTC"])[0])
        if dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC) < threshold:
            return False
    return True


# --------------------------------------------------------------------------- rendering


def render(
    records: Iterable[CanonicalRecord], balances: Mapping[str, Decimal] | None = None
) -> FakeXero:
    """An organisation holding exactly these records, as Xero keeps them: a payment that
    settles one invoice in full is a Payment; any other money received is a prepayment with
    allocations. With `balances` (contact id -> amount in its currency), each contact's
    `Balances.AccountsReceivable.Outstanding`; its `Overdue` sums the AmountDue of its
    invoices due before the server's day, gross of credit, as in Xero's example."""
    fake = FakeXero()
    records = list(records)
    names = {r.id: r.name for r in records if isinstance(r, Customer)}
    overdue = _overdue(records)
    for record in records:
        if isinstance(record, Customer):
            figures = None
            if balances is not None:
                figures = receivable(balances[record.id], overdue.get(record.id, Decimal(0)))
            fake.add("Contacts", contact(record, figures))
        elif isinstance(record, Invoice):
            fake.add("Invoices", invoice(record, names))
        elif isinstance(record, Payment) and _one_full_application(record):
            fake.add("Payments", payment(record, names))
        elif isinstance(record, Payment):
            fake.add("Prepayments", prepayment(record, names))
        elif isinstance(record, CreditMemo):
            fake.add("CreditNotes", credit_note(record, names))
    return fake


def _overdue(records: list[CanonicalRecord]) -> dict[str, Decimal]:
    today = SERVER_TIME.date()
    late = [
        r
        for r in records
        if isinstance(r, Invoice) and r.status is InvoiceStatus.OPEN and r.due_date < today
    ]
    due: dict[str, Decimal] = {}
    for bill in late:
        due[bill.customer_id] = due.get(bill.customer_id, Decimal(0)) + bill.open_balance
    return due


def receivable(outstanding: Decimal, overdue: Decimal) -> dict[str, Any]:
    """A contact's `Balances`: what it owes the organisation, nothing the other way."""
    return {
        "AccountsReceivable": {"Outstanding": number(outstanding), "Overdue": number(overdue)},
        "AccountsPayable": {"Outstanding": number(0), "Overdue": number(0)},
    }


def _one_full_application(record: Payment) -> bool:
    return len(record.applications) == 1 and record.applications[0].amount == record.amount


def contact_ref(contact_id: str, names: dict[str, str]) -> dict[str, Any]:
    return {"ContactID": contact_id, "Name": names.get(contact_id, contact_id)}


def contact(record: Customer, balances: dict[str, Any] | None = None) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "ContactID": record.id,
        "ContactStatus": "ACTIVE",
        "Name": record.name,
        "EmailAddress": "",
        "Addresses": [],
        "Phones": [],
        "UpdatedDateUTC": ms_date(UPDATED),
        "ContactGroups": [],
        "IsSupplier": False,
        "IsCustomer": True,
        "DefaultCurrency": record.currency,
        "PaymentTerms": {"Sales": {"Day": record.payment_terms_days, "Type": "DAYSAFTERBILLDATE"}},
        "ContactPersons": [],
        "HasAttachments": False,
        "HasValidationErrors": False,
    }
    if balances is not None:
        entity["Balances"] = balances
    return entity


def invoice(record: Invoice, names: dict[str, str]) -> dict[str, Any]:
    paid = record.total - record.open_balance if record.status is not InvoiceStatus.VOID else 0
    entity: dict[str, Any] = {
        "Type": "ACCREC",
        "InvoiceID": record.id,
        "Contact": contact_ref(record.customer_id, names),
        "DateString": date_string(record.issue_date),
        "Date": ms_date(record.issue_date),
        "DueDateString": date_string(record.due_date),
        "DueDate": ms_date(record.due_date),
        "Status": STATUS[record.status],
        "LineAmountTypes": "Exclusive",
        "LineItems": [],
        "SubTotal": number(record.total),
        "TotalTax": number(0),
        "Total": number(record.total),
        "UpdatedDateUTC": ms_date(record.last_modified or UPDATED),
        "CurrencyCode": record.currency,
        "AmountDue": number(record.open_balance),
        "AmountPaid": number(paid),
        "AmountCredited": number(0),
        "Payments": [],
        "CreditNotes": [],
        "Prepayments": [],
        "Overpayments": [],
        "HasAttachments": False,
        "HasErrors": False,
        "IsDiscounted": False,
    }
    if record.number is not None:
        entity["InvoiceNumber"] = record.number
    return entity


def payment(record: Payment, names: dict[str, str]) -> dict[str, Any]:
    target = record.applications[0]
    return {
        "PaymentID": record.id,
        "Date": ms_date(target.applied_date or record.received_date),
        "BankAmount": number(record.amount),
        "Amount": number(record.amount),
        "Reference": "",
        "CurrencyRate": number(1),
        "PaymentType": "ACCRECPAYMENT",
        "Status": "AUTHORISED",
        "UpdatedDateUTC": ms_date(UPDATED),
        "HasAccount": True,
        "IsReconciled": False,
        "Account": {"AccountID": "5690f1e8-1d02-4893-90c2-ee1a69eff942", "Code": "090"},
        "Invoice": {
            "Type": "ACCREC",
            "InvoiceID": target.invoice_id,
            "Payments": [],
            "CreditNotes": [],
            "Prepayments": [],
            "Overpayments": [],
            "HasErrors": False,
            "IsDiscounted": False,
            "Contact": contact_ref(record.customer_id, names),
            "LineItems": [],
            "CurrencyCode": record.currency,
        },
        "HasValidationErrors": False,
    }


def allocation(application: Application, when: dt.date) -> dict[str, Any]:
    return {
        "Amount": number(application.amount),
        "Date": ms_date(application.applied_date or when),
        "Invoice": {
            "InvoiceID": application.invoice_id,
            "Payments": [],
            "CreditNotes": [],
            "Prepayments": [],
            "Overpayments": [],
            "HasErrors": False,
            "IsDiscounted": False,
            "LineItems": [],
        },
    }


def prepayment(record: Payment, names: dict[str, str]) -> dict[str, Any]:
    return {
        "PrepaymentID": record.id,
        "ID": record.id,
        "CurrencyRate": number(1),
        "Type": "RECEIVE-PREPAYMENT",
        "Reference": "",
        "RemainingCredit": number(record.unapplied),
        "Allocations": [allocation(a, record.received_date) for a in record.applications],
        "Payments": [],
        "HasAttachments": False,
        "Contact": contact_ref(record.customer_id, names),
        "DateString": date_string(record.received_date),
        "Date": ms_date(record.received_date),
        "Status": "AUTHORISED" if record.unapplied else "PAID",
        "LineAmountTypes": "NoTax",
        "LineItems": [],
        "SubTotal": number(record.amount),
        "TotalTax": number(0),
        "Total": number(record.amount),
        "UpdatedDateUTC": ms_date(UPDATED),
        "CurrencyCode": record.currency,
    }


def credit_note(record: CreditMemo, names: dict[str, str]) -> dict[str, Any]:
    return {
        "CreditNoteID": record.id,
        "CreditNoteNumber": f"CN-{record.id}",
        "Payments": [],
        "ID": record.id,
        "CurrencyRate": number(1),
        "Type": "ACCRECCREDIT",
        "Reference": "",
        "RemainingCredit": number(record.unapplied),
        "Allocations": [allocation(a, record.date) for a in record.applications],
        "HasAttachments": False,
        "Contact": contact_ref(record.customer_id, names),
        "DateString": date_string(record.date),
        "Date": ms_date(record.date),
        "Status": "AUTHORISED" if record.unapplied else "PAID",
        "LineAmountTypes": "Exclusive",
        "LineItems": [],
        "SubTotal": number(record.amount),
        "TotalTax": number(0),
        "Total": number(record.amount),
        "UpdatedDateUTC": ms_date(UPDATED),
        "CurrencyCode": record.currency,
    }
