"""A stand-in for QuickBooks Online's query and OAuth token endpoints, on a `responses` mock.

It holds entities per name, in the documented JSON shapes, and answers
`GET /v3/company/{realm}/query?query=...&minorversion=..` with `{"QueryResponse": {"<Entity>":
[...], "startPosition": n, "maxResults": m}, "time": ...}` (an empty `QueryResponse` when
nothing matches); `SELECT COUNT(*) FROM <Entity> [WHERE ...]` with `{"QueryResponse":
{"totalCount": n}, "time": ...}`.
It understands just enough of the statements arsync sends: the entity,
`MetaData.LastUpdatedTime >= '...'`, `Balance > '0'`, `Balance < '0'`, `Id IN (...)`,
`Active IN (true, false)` (without it, an entity held with `Active: false` is left out, as
QuickBooks leaves inactive name-list entries out), STARTPOSITION and MAXRESULTS. `render(records)`
writes canonical records as QuickBooks keeps them: a voided invoice zeroed with "Voided" in
its note, and each credit memo application as a payment of 0 with an Invoice line and a
CreditMemo line; `render(records, balances)` gives each customer its own `Balance` and, with
its sub-customers', its `BalanceWithJobs` (without `balances`, both 0).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from arsync.records import (
    CanonicalRecord,
    CreditMemo,
    Customer,
    DeliveryMode,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)
from fakes.jsonmoney import dumps, number

ROOT = "https://quickbooks.api.intuit.com"
REALM = "9130350000000000"
QUERY_URL = f"{ROOT}/v3/company/{REALM}/query"
PREFERENCES_URL = f"{ROOT}/v3/company/{REALM}/preferences"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
SERVER_TIME = "2026-06-30T16:00:00.000-07:00"
STAMP = "2026-06-30T09:00:00-07:00"  # MetaData.LastUpdatedTime of what the ledger leaves open
METHODS = {
    PaymentMethod.CHECK: ("1", "Check", "NON_CREDIT_CARD"),
    PaymentMethod.CARD: ("2", "Visa", "CREDIT_CARD"),
    PaymentMethod.ACH: ("3", "ACH", "NON_CREDIT_CARD"),
    PaymentMethod.WIRE: ("4", "Wire", "NON_CREDIT_CARD"),
    PaymentMethod.OTHER: ("5", "Cash", "NON_CREDIT_CARD"),
}
DELIVERY = {DeliveryMode.PAPER: "Print", DeliveryMode.EMAIL: "Email"}
_STATEMENT = re.compile(
    r"^SELECT \* FROM (?P<entity>\w+)(?: WHERE (?P<where>.*?))?"
    r" STARTPOSITION (?P<start>\d+) MAXRESULTS (?P<size>\d+)$"
)
_COUNT = re.compile(r"^SELECT COUNT\(\*\) FROM (?P<entity>\w+)(?: WHERE (?P<where>.*))?$")
_SINCE = re.compile(r"MetaData\.LastUpdatedTime >= '([^']+)'")
_IDS = re.compile(r"Id IN \(([^)]*)\)")
_OWED = re.compile(r"Balance ([<>]) '([^']+)'")


@dataclass
class FakeQuickBooks:
    """Entities by name (`Customer`, `Invoice`, ...); `statements` records each query."""

    entities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    home_currency: str = "USD"
    refresh_token: str = "rt-1"
    rotate_to: str | None = None  # the refresh token the token endpoint hands out
    statements: list[str] = field(default_factory=list)

    def register(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.GET, QUERY_URL, callback=self._query)
        mock.add_callback(responses.GET, PREFERENCES_URL, callback=self._preferences)
        mock.add_callback(responses.POST, TOKEN_URL, callback=self._token)

    def add(self, entity: str, *items: dict[str, Any]) -> None:
        self.entities.setdefault(entity, []).extend(items)

    # ------------------------------------------------------------------ answers

    def _query(self, request: Any) -> tuple[int, dict[str, str], str]:
        params = parse_qs(urlsplit(request.url).query)
        assert params["minorversion"] == ["75"], params
        statement = params["query"][0]
        self.statements.append(statement)
        counting = _COUNT.match(statement)
        if counting is not None:  # documented: `{"QueryResponse": {"totalCount": n}, ...}`
            found = self._found(counting["entity"], counting["where"])
            body = {"QueryResponse": {"totalCount": len(found)}, "time": SERVER_TIME}
            return 200, {}, dumps(body)
        match = _STATEMENT.match(statement)
        assert match is not None, statement
        found = self._found(match["entity"], match["where"])
        start, size = int(match["start"]), int(match["size"])
        page = found[start - 1 : start - 1 + size]
        answer: dict[str, Any] = {}
        if page:
            answer = {match["entity"]: page, "startPosition": start, "maxResults": len(page)}
        return 200, {}, dumps({"QueryResponse": answer, "time": SERVER_TIME})

    def _found(self, entity: str, where: str | None) -> list[dict[str, Any]]:
        return [e for e in self.entities.get(entity, []) if _matches(e, where)]

    def _preferences(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = {
            "Preferences": {
                "CurrencyPrefs": {
                    "MultiCurrencyEnabled": False,
                    "HomeCurrency": {"value": self.home_currency},
                },
                "Id": "1",
                "SyncToken": "0",
            },
            "time": SERVER_TIME,
        }
        return 200, {}, json.dumps(body)

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body)
        if form.get("refresh_token") != [self.refresh_token]:
            body = {"error": "invalid_grant", "error_description": "Token invalid"}
            return 400, {}, json.dumps(body)
        token = self.rotate_to or self.refresh_token
        self.refresh_token = token
        body = {
            "token_type": "bearer",
            "access_token": f"at-{len(self.statements)}",
            "expires_in": 3600,
            "refresh_token": token,
            "x_refresh_token_expires_in": 8726400,
        }
        return 200, {}, json.dumps(body)


def _matches(entity: dict[str, Any], where: str | None) -> bool:
    if entity.get("Active") is False and "Active IN (true, false)" not in (where or ""):
        return False
    if not where:
        return True
    since = _SINCE.search(where)
    if since:
        stamp = dt.datetime.fromisoformat(entity["MetaData"]["LastUpdatedTime"])
        if stamp < dt.datetime.fromisoformat(since.group(1)):
            return False
    owed = _OWED.search(where)
    if owed:
        balance, bound = _amount(entity.get("Balance", 0)), Decimal(owed.group(2))
        if (balance <= bound) if owed.group(1) == ">" else (balance >= bound):
            return False
    ids = _IDS.search(where)
    if ids:
        wanted = {part.strip().strip("'") for part in ids.group(1).split(",")}
        return str(entity["Id"]) in wanted
    return True


def _amount(value: object) -> Decimal:
    """A held amount, written with `number()` or as a plain number."""
    return Decimal(str(value).removeprefix("#number:").removesuffix("#"))


# --------------------------------------------------------------------------- rendering


def render(
    records: Iterable[CanonicalRecord], balances: Mapping[str, Decimal] | None = None
) -> FakeQuickBooks:
    """A company holding exactly these records, as QuickBooks Online would keep them, each
    customer's `Balance` the one `balances` gives it (customer id -> amount in its currency)."""
    fake = FakeQuickBooks()
    records = list(records)
    customers = [r for r in records if isinstance(r, Customer)]
    own = {c.id: Decimal(0) for c in customers} | dict(balances or {})
    with_jobs = _with_jobs(own, {c.id: c.parent_id for c in customers})
    fake.add("PaymentMethod", *_methods())
    fake.add("Term", *_terms(customers))
    for record in records:
        if isinstance(record, Customer):
            fake.add("Customer", customer(record, own[record.id], with_jobs[record.id]))
        elif isinstance(record, Invoice):
            fake.add("Invoice", invoice(record))
        elif isinstance(record, Payment):
            fake.add("Payment", payment(record))
        elif isinstance(record, CreditMemo):
            fake.add("CreditMemo", credit_memo(record))
            fake.add("Payment", *credit_applications(record))
    return fake


def _with_jobs(own: Mapping[str, Decimal], parents: Mapping[str, str | None]) -> dict[str, Decimal]:
    """`BalanceWithJobs`: a customer's own balance and those of its sub-customers and jobs, at
    every depth (the figure arsync must not take for the customer's own)."""
    total = dict(own)
    for customer_id, amount in own.items():
        parent = parents.get(customer_id)
        while parent is not None:
            total[parent] += amount
            parent = parents.get(parent)
    return total


def meta(updated: dt.datetime | None = None) -> dict[str, str]:
    stamp = STAMP if updated is None else updated.isoformat()
    return {"CreateTime": "2026-01-02T08:00:00-08:00", "LastUpdatedTime": stamp}


def ref(value: str, name: str | None = None) -> dict[str, str]:
    return {"value": value} if name is None else {"value": value, "name": name}


def _methods() -> list[dict[str, Any]]:
    return [
        {
            "Id": key,
            "Name": name,
            "Type": kind,
            "Active": True,
            "SyncToken": "0",
            "MetaData": meta(),
        }
        for key, name, kind in METHODS.values()
    ]


def _terms(customers: Iterable[Customer]) -> list[dict[str, Any]]:
    days = sorted({c.payment_terms_days for c in customers})
    return [
        {
            "Id": f"T{d}",
            "Name": f"Net {d}",
            "Type": "STANDARD",
            "DueDays": d,
            "Active": True,
            "SyncToken": "0",
            "MetaData": meta(),
        }
        for d in days
    ]


def customer(
    record: Customer, balance: Decimal = Decimal(0), with_jobs: Decimal | None = None
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "Id": record.id,
        "SyncToken": "0",
        "DisplayName": record.name,
        "FullyQualifiedName": record.name,
        "CurrencyRef": ref(record.currency),
        "SalesTermRef": ref(f"T{record.payment_terms_days}"),
        "Active": True,
        "Job": record.parent_id is not None,
        "BillWithParent": False,
        "Balance": number(balance),
        "BalanceWithJobs": number(balance if with_jobs is None else with_jobs),
        "domain": "QBO",
        "sparse": False,
        "MetaData": meta(),
    }
    if record.parent_id is not None:
        entity["ParentRef"] = ref(record.parent_id)
    if record.invoice_delivery in DELIVERY:
        entity["PreferredDeliveryMethod"] = DELIVERY[record.invoice_delivery]
    if record.payment_method is not None:
        entity["PaymentMethodRef"] = ref(METHODS[record.payment_method][0])
    return entity


def invoice(record: Invoice) -> dict[str, Any]:
    void = record.status is InvoiceStatus.VOID
    entity: dict[str, Any] = {
        "Id": record.id,
        "SyncToken": "0",
        "TxnDate": record.issue_date.isoformat(),
        "DueDate": record.due_date.isoformat(),
        "CustomerRef": ref(record.customer_id),
        "CurrencyRef": ref(record.currency),
        "TotalAmt": number(0 if void else record.total),
        "Balance": number(0 if void else record.open_balance),
        "Line": [
            {
                "Id": "1",
                "LineNum": 1,
                "Amount": number(0 if void else record.total),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": ref("1", "Services")},
            }
        ],
        "LinkedTxn": [],
        "domain": "QBO",
        "sparse": False,
        "MetaData": meta(record.last_modified),
    }
    if record.number is not None:
        entity["DocNumber"] = record.number
    if void:
        entity["PrivateNote"] = "Voided"
    return entity


def payment(record: Payment) -> dict[str, Any]:
    for application in record.applications:
        assert application.applied_date in (None, record.received_date), (
            "QuickBooks applies a payment on its own date"
        )
    entity: dict[str, Any] = {
        "Id": record.id,
        "SyncToken": "0",
        "TxnDate": record.received_date.isoformat(),
        "CustomerRef": ref(record.customer_id),
        "CurrencyRef": ref(record.currency),
        "TotalAmt": number(record.amount),
        "UnappliedAmt": number(record.unapplied),
        "ProcessPayment": False,
        "Line": [
            {
                "Amount": number(a.amount),
                "LinkedTxn": [{"TxnId": a.invoice_id, "TxnType": "Invoice"}],
            }
            for a in record.applications
        ],
        "domain": "QBO",
        "sparse": False,
        "MetaData": meta(),
    }
    if record.method is not None:
        entity["PaymentMethodRef"] = ref(METHODS[record.method][0])
    return entity


def credit_memo(record: CreditMemo) -> dict[str, Any]:
    return {
        "Id": record.id,
        "SyncToken": "0",
        "TxnDate": record.date.isoformat(),
        "CustomerRef": ref(record.customer_id),
        "CurrencyRef": ref(record.currency),
        "TotalAmt": number(record.amount),
        "Balance": number(record.unapplied),
        "RemainingCredit": number(record.unapplied),
        "Line": [
            {
                "Id": "1",
                "LineNum": 1,
                "Amount": number(record.amount),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": ref("1", "Services")},
            }
        ],
        "domain": "QBO",
        "sparse": False,
        "MetaData": meta(),
    }


def credit_applications(record: CreditMemo) -> list[dict[str, Any]]:
    """Each application as QuickBooks records it: a payment of 0 that sets the credit
    against the invoice."""
    return [
        {
            "Id": f"{record.id}-apply-{n}",
            "SyncToken": "0",
            "TxnDate": (application.applied_date or record.date).isoformat(),
            "CustomerRef": ref(record.customer_id),
            "CurrencyRef": ref(record.currency),
            "TotalAmt": number(0),
            "UnappliedAmt": number(0),
            "ProcessPayment": False,
            "Line": [
                {
                    "Amount": number(application.amount),
                    "LinkedTxn": [{"TxnId": application.invoice_id, "TxnType": "Invoice"}],
                },
                {
                    "Amount": number(application.amount),
                    "LinkedTxn": [{"TxnId": record.id, "TxnType": "CreditMemo"}],
                },
            ],
            "domain": "QBO",
            "sparse": False,
            "MetaData": meta(),
        }
        for n, application in enumerate(record.applications, start=1)
    ]
