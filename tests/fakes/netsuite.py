"""A stand-in for NetSuite's SuiteQL endpoint, answering on a `responses` mock.

It holds rows per table and answers `POST /services/rest/query/v1/suiteql?limit=&offset=` in the
documented shape (`links`, `count`, `hasMore`, `items`, `offset`, `totalResults`; each item with
its own `links`, NULL columns left out). It understands just enough of the queries arsync sends
to answer them as NetSuite would: which table, `lastmodifieddate > TO_TIMESTAMP(...)` filters,
`t.type = '...'`, `t.foreignamountunpaid <> 0`, `t.id IN (...)`, `key >= n` windows, ORDER BY
the key, and the 100,000-row cap (configurable). Like its other columns, a customer row carries
what a join would add: `render(records, modified, balances)` gives each its `balancesearch`
(the one `balances` gives it, in the customer's currency), `consolbalancesearch` (with its
sub-customers') and its currency's `isbasecurrency` (the company's base currency is USD);
without `balances`, none of them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from arsync.records import (
    CanonicalRecord,
    CreditMemo,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)

ROOT = "https://1234567-sb1.suitetalk.api.netsuite.com"
BASE_CURRENCY = "USD"  # the company's, of a non-OneWorld account
SUITEQL = ROOT + "/services/rest/query/v1/suiteql"
METHOD_NAMES = {
    PaymentMethod.CHECK: "Check",
    PaymentMethod.ACH: "ACH",
    PaymentMethod.WIRE: "Wire Transfer",
    PaymentMethod.CARD: "Visa",
    PaymentMethod.OTHER: "Cash",
}
_SINCE = re.compile(r"(\w+)\.lastmodifieddate > TO_TIMESTAMP\('([^']+)'")
_WINDOW = re.compile(r"(\w+)\.(\w+) >= '?([^' )]+)'?")
_TYPE = re.compile(r"t\.type = '(\w+)'")
_UNPAID = "t.foreignamountunpaid <> 0"
_IDS = re.compile(r"t\.id IN \(([^)]*)\)")


def _money(value: Decimal) -> str:
    return format(value, "f")


@dataclass
class FakeNetSuite:
    """Tables of rows, as SuiteQL would return them; `queries` records each query received."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    max_rows: int = 100_000
    queries: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)

    def register(self, mock: responses.RequestsMock, url: str = SUITEQL) -> None:
        mock.add_callback(responses.POST, url, callback=self._answer)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request)
        query = json.loads(request.body)["q"]
        self.queries.append(query)
        params = parse_qs(urlsplit(request.url).query)
        limit, offset = int(params["limit"][0]), int(params["offset"][0])
        rows = self._select(query)
        if offset + limit > self.max_rows:
            return 400, {}, json.dumps(_error("Offset and limit exceed the 100,000 result cap"))
        page = rows[offset : offset + limit]
        body = {
            "links": [{"rel": "self", "href": request.url}],
            "count": len(page),
            "hasMore": offset + len(page) < len(rows),
            "items": [{"links": [], **row} for row in page],
            "offset": offset,
            "totalResults": len(rows),
        }
        return 200, {}, json.dumps(body)

    def _select(self, query: str) -> list[dict[str, Any]]:
        if "FROM customer c" in query:
            rows, key = self.customers, "id"
        elif "FROM transaction t" in query:
            rows, key = self.transactions, "id"
        elif "FROM NextTransactionLineLink l" in query:
            rows, key = self._links_for(query), "nextdoc"
        else:
            raise AssertionError(f"unexpected query: {query}")
        since = _SINCE.search(query)
        if since and since.group(1) in {"c", "t"}:
            moment = since.group(2)
            rows = [r for r in rows if r.get("lastmodified", "") > moment]
        kind = _TYPE.search(query)
        if kind:
            rows = [r for r in rows if r.get("type") == kind.group(1)]
        if _UNPAID in query:
            rows = [r for r in rows if Decimal(r.get("foreignamountunpaid", "0")) != 0]
        ids = _IDS.search(query)
        if ids:
            wanted = {part.strip() for part in ids.group(1).split(",")}
            rows = [r for r in rows if r[key] in wanted]
        window = _WINDOW.search(query)
        if window:
            rows = [r for r in rows if _key(r[key]) >= _key(window.group(3))]
        return sorted(rows, key=lambda r: _key(r[key]))

    def _links_for(self, query: str) -> list[dict[str, Any]]:
        """With a cursor, only links of payments and credit memos changed since then."""
        since = _SINCE.search(query)
        if not since:
            return self.links
        changed = {
            t["id"]
            for t in self.transactions
            if t["type"] in {"CustPymt", "CustCred"} and t.get("lastmodified", "") > since.group(2)
        }
        return [link for link in self.links if {link["nextdoc"], link["previousdoc"]} & changed]


def _key(value: str) -> tuple[int, str]:
    return (0, f"{int(value):020d}") if value.isdigit() else (1, value)


def _error(detail: str) -> dict[str, Any]:
    return {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [{"detail": detail, "o:errorCode": "INVALID_PARAMETER"}],
    }


# --------------------------------------------------------------------------- canonical -> rows


def render(
    records: list[CanonicalRecord],
    modified: dt.datetime,
    balances: Mapping[str, Decimal] | None = None,
) -> FakeNetSuite:
    """The NetSuite rows holding exactly these canonical records, each customer's balance the
    one `balances` gives it (customer id -> amount in the customer's currency)."""
    fake = FakeNetSuite()
    stamp = modified.strftime("%Y-%m-%dT%H:%M:%S")
    parents = {r.id: r.parent_id for r in records if isinstance(r, Customer)}
    consolidated = None if balances is None else _with_subcustomers(balances, parents)
    for record in records:
        if isinstance(record, Customer):
            row = customer_row(record, stamp)
            if balances is not None and consolidated is not None:
                row["balancesearch"] = _money(balances[record.id])
                row["consolbalancesearch"] = _money(consolidated[record.id])
                row["isbasecurrency"] = "T" if record.currency == BASE_CURRENCY else "F"
            fake.customers.append(row)
        elif isinstance(record, Invoice):
            fake.transactions.append(invoice_row(record))
        elif isinstance(record, Payment | CreditMemo):
            fake.transactions.append(document_row(record, stamp))
            fake.links.extend(link_rows(record))
    return fake


def _with_subcustomers(
    own: Mapping[str, Decimal], parents: Mapping[str, str | None]
) -> dict[str, Decimal]:
    """`consolbalancesearch`: the customer's balance and its sub-customers', at every depth."""
    total = dict(own)
    for customer_id, amount in own.items():
        parent = parents.get(customer_id)
        while parent is not None:
            total[parent] += amount
            parent = parents.get(parent)
    return total


def _without_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if value is not None}


def customer_row(customer: Customer, stamp: str) -> dict[str, Any]:
    return _without_nulls(
        {
            "id": customer.id,
            "entityid": f"{customer.id} {customer.name}",
            "companyname": customer.name,
            "currency": customer.currency,
            "creditlimit": None if customer.credit_limit is None else _money(customer.credit_limit),
            "daysuntilnetdue": str(customer.payment_terms_days),
            "parent": customer.parent_id,
            "lastmodified": stamp,
        }
    )


def invoice_row(invoice: Invoice) -> dict[str, Any]:
    letter = {InvoiceStatus.OPEN: "A", InvoiceStatus.PAID: "B", InvoiceStatus.VOID: "V"}
    return _without_nulls(
        {
            "id": invoice.id,
            "type": "CustInvc",
            "tranid": invoice.number,
            "entity": invoice.customer_id,
            "trandate": invoice.issue_date.isoformat(),
            "duedate": invoice.due_date.isoformat(),
            "currency": invoice.currency,
            "foreigntotal": _money(invoice.total),
            "foreignamountunpaid": _money(invoice.open_balance),
            "status": f"CustInvc:{letter[invoice.status]}",
            "voided": "T" if invoice.status is InvoiceStatus.VOID else "F",
            "lastmodified": None
            if invoice.last_modified is None
            else invoice.last_modified.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )


def document_row(document: Payment | CreditMemo, stamp: str) -> dict[str, Any]:
    """Payments carry a positive total; credit memos a negative one (the credit side)."""
    if isinstance(document, Payment):
        status = "CustPymt:C"
        extra = {
            "type": "CustPymt",
            "trandate": document.received_date.isoformat(),
            "foreigntotal": _money(document.amount),
            "paymentmethod": None if document.method is None else METHOD_NAMES[document.method],
        }
    else:
        status = "CustCred:A" if document.unapplied else "CustCred:B"
        extra = {
            "type": "CustCred",
            "trandate": document.date.isoformat(),
            "foreigntotal": _money(-document.amount),
            "memo": document.reason,
        }
    return _without_nulls(
        {
            "id": document.id,
            "tranid": document.id,
            "entity": document.customer_id,
            "currency": document.currency,
            "status": status,
            "voided": "F",
            "lastmodified": stamp,
            **extra,
        }
    )


def link_rows(document: Payment | CreditMemo) -> list[dict[str, Any]]:
    kind = "CustPymt" if isinstance(document, Payment) else "CustCred"
    return [
        {
            "previousdoc": application.invoice_id,
            "previoustype": "CustInvc",
            "nextdoc": document.id,
            "nexttype": kind,
            "linktype": "Payment",
            "foreignamount": _money(application.amount),
        }
        for application in document.applications
    ]
