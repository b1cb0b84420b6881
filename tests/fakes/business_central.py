"""A stand-in for one Business Central company's API v2.0 and its Entra ID token endpoint.

Collections answer `{"@odata.context", "value", "@odata.nextLink"}` pages of `page_size`
entities (with `"@odata.count"` when asked `$count=true`), honour `$filter=lastModifiedDateTime
gt <stamp>` and `$filter=status eq '<status>'`, and single entities answer
`GET <collection>(<id>)`; unknown ids get Business Central's 404 error body. A customer's
`customerFinancialDetail` is sent only when asked `$expand=customerFinancialDetail`.
`render(records, balances)` gives each customer that detail: its `balance` the one `balances`
gives it (in the customer's currency), converted to LCY as Business Central keeps it, and its
`balanceDue` in the customer's currency (without `balances`, no detail and `balanceDue` 0).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
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
)

TENANT = "contoso.onmicrosoft.com"
COMPANY = "5d1c6e30-a4e6-ef11-9344-6045bde9c8a1"
ROOT = f"https://api.businesscentral.dynamics.com/v2.0/{TENANT}/Production/api/v2.0"
COMPANY_ROOT = f"{ROOT}/companies({COMPANY})"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
_PATH = re.compile(r"^/(?P<collection>\w+)(\((?P<key>[^)]+)\))?(/(?P<child>\w+))?$")
_SINCE = re.compile(r"^lastModifiedDateTime gt (\S+)$")
_STATUS = re.compile(r"^status eq '(\w+)'$")


def _number(value: Decimal) -> str:
    """A decimal marked to be rendered as a bare JSON number with exactly its digits: Business
    Central sends decimals as numbers, and a float would not carry them exactly."""
    return f"__number__{format(value, 'f')}"


def _dumps(body: Any) -> str:
    return re.sub(r'"__number__(-?[0-9.]+)"', r"\1", json.dumps(body))


@dataclass
class FakeBusinessCentral:
    """Entities per collection; journal lines per payment journal id."""

    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    journal_lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 20_000
    refuses_count: bool = False  # an environment whose API answers `$count` with 400
    tokens_issued: int = 0
    gets: list[str] = field(default_factory=list)

    def register(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, TOKEN_URL, callback=self._token)
        mock.add_callback(
            responses.GET, re.compile(re.escape(COMPANY_ROOT) + r"/.*"), callback=self._get
        )

    def gets_of(self, collection: str) -> list[str]:
        """The GETs of one collection (a journal's lines by their child name)."""
        return [url for url in self.gets if urlsplit(url).path.endswith(f"/{collection}")]

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.tokens_issued += 1
        body = {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": f"token-{self.tokens_issued}",
        }
        return 200, {}, json.dumps(body)

    def _get(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.gets.append(request.url)
        url = urlsplit(request.url)
        match = _PATH.match(url.path.removeprefix(urlsplit(COMPANY_ROOT).path))
        if match is None:
            return _not_found(request.url)
        collection, key, child = match.group("collection", "key", "child")
        if child is not None:
            rows = self.journal_lines.get(key or "", [])
            collection = child
        elif key is not None:
            found = [e for e in self.collections.get(collection, []) if e["id"] == key]
            return (200, {}, _dumps(found[0])) if found else _not_found(request.url)
        else:
            rows = self.collections.get(collection, [])
        query = parse_qs(url.query)
        since = _SINCE.match(query.get("$filter", [""])[0])
        status = _STATUS.match(query.get("$filter", [""])[0])
        if since:
            moment = _parse(since.group(1))
            rows = [r for r in rows if _parse(r["lastModifiedDateTime"]) > moment]
        elif status:
            rows = [r for r in rows if r.get("status") == status.group(1)]
        elif "$filter" in query:
            error = {"code": "BadRequest", "message": f"unsupported filter {query['$filter']}"}
            return 400, {}, json.dumps({"error": error})
        skip = int(query.get("$skiptoken", ["0"])[0])
        page = rows[skip : skip + self.page_size]
        page = _expanded(page, query.get("$expand", [""])[0])
        counting = query.get("$count") == ["true"]
        if counting and self.refuses_count:
            error = {
                "code": "BadRequest",
                "message": "The query parameter '$count' is not supported.",
            }
            return 400, {}, json.dumps({"error": error})
        body: dict[str, Any] = {
            "@odata.context": f"{ROOT}/$metadata#companies({COMPANY})/{collection}",
            "value": page,
        }
        if counting:  # OData 4.01 11.2.5.5: the count of the whole filtered collection
            body["@odata.count"] = len(rows)
        if skip + self.page_size < len(rows):
            body["@odata.nextLink"] = _next_link(request.url, query, skip + self.page_size)
        return 200, {}, _dumps(body)


def _expanded(page: list[dict[str, Any]], expand: str) -> list[dict[str, Any]]:
    """A customer's `customerFinancialDetail` is a navigation property: sent when expanded."""
    if expand == "customerFinancialDetail":
        return page
    return [{k: v for k, v in r.items() if k != "customerFinancialDetail"} for r in page]


def _next_link(url: str, query: dict[str, list[str]], skip: int) -> str:
    """The next page's full URL: the skip token and the rest of the query."""
    link = f"{url.split('?', maxsplit=1)[0]}?$skiptoken={skip}"
    for name in ("$filter", "$count", "$expand"):
        if name in query:
            link += f"&{name}=" + query[name][0].replace(" ", "%20")
    return link


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _not_found(url: str) -> tuple[int, dict[str, str], str]:
    body = {
        "error": {
            "code": "BadRequest_NotFound",
            "message": "The resource you are looking for is not found.  CorrelationId:  "
            "4a0dd9f2-7e1c-4a5b-9a0c-2d1b9d6b8f11.",
        }
    }
    return 404, {}, json.dumps(body)


# --------------------------------------------------------------------------- canonical -> API

LOCAL = "USD"
RATES = {"EUR": (Decimal(100), Decimal(108))}  # 100 EUR are 108 USD
STAMP = "2026-06-30T12:00:00.000Z"


def render(
    records: list[CanonicalRecord], balances: Mapping[str, Decimal] | None = None
) -> FakeBusinessCentral:
    """The company holding exactly these canonical records (LCY USD), each customer's balance
    the one `balances` gives it (customer id -> amount in the customer's currency)."""
    fake = FakeBusinessCentral()
    c = fake.collections
    c["generalLedgerSetup"] = [{"id": "gl-setup", "localCurrencyCode": LOCAL}]
    c["paymentMethods"] = []
    c["currencyExchangeRates"] = [
        {
            "id": f"rate-{code}",
            "currencyCode": code,
            "startingDate": "2026-01-01",
            "exchangeRateAmount": _number(units),
            "relationalCurrencyCode": "",
            "relationalExchangeRateAmount": _number(local),
            "lastModifiedDateTime": STAMP,
        }
        for code, (units, local) in RATES.items()
    ]
    terms: dict[int, dict[str, Any]] = {}
    fake.collections["customerPaymentJournals"] = [
        {
            "id": "journal-1",
            "code": "CASH",
            "displayName": "Cash receipts",
            "lastModifiedDateTime": STAMP,
            "balancingAccountId": EMPTY_GUID,
            "balancingAccountNumber": "",
        }
    ]
    for record in records:
        if isinstance(record, Customer):
            term = terms.setdefault(record.payment_terms_days, payment_term(record))
            entity = customer(record, term["id"])
            if balances is not None:
                entity["balanceDue"] = _number(balances[record.id])
                entity["customerFinancialDetail"] = financial_detail(
                    record, balances[record.id], records
                )
            c.setdefault("customers", []).append(entity)
        elif isinstance(record, Invoice):
            c.setdefault("salesInvoices", []).append(invoice(record))
        elif isinstance(record, CreditMemo):
            c.setdefault("salesCreditMemos", []).append(credit_memo(record))
        elif isinstance(record, Payment):
            fake.journal_lines.setdefault("journal-1", []).extend(payment_lines(record))
    c["paymentTerms"] = list(terms.values())
    return fake


def _lcy(code: str) -> str:
    return "" if code == LOCAL else code


def in_lcy(amount: Decimal, code: str) -> Decimal:
    """An amount in LCY at the fake's one rate, to the cent, as Business Central's `(LCY)`
    fields hold it."""
    if code == LOCAL:
        return amount
    units, local = RATES[code]
    return (amount * local / units).quantize(Decimal("0.01"), ROUND_HALF_UP)


def financial_detail(
    record: Customer, balance: Decimal, records: list[CanonicalRecord]
) -> dict[str, Any]:
    """The customer's `customerFinancialDetail`, every figure in LCY: `balance` its
    `Balance (LCY)`; sales the invoices not canceled; overdue what they still ask past due."""
    work_date = dt.date.fromisoformat(STAMP[:10])
    invoices = [
        r
        for r in records
        if isinstance(r, Invoice) and r.customer_id == record.id and r.status != InvoiceStatus.VOID
    ]
    sales = sum((r.total for r in invoices), Decimal(0))
    overdue = sum((r.open_balance for r in invoices if r.due_date < work_date), Decimal(0))
    return {
        "id": record.id,
        "number": record.id,
        "balance": _number(in_lcy(balance, record.currency)),
        "totalSalesExcludingTax": _number(in_lcy(sales, record.currency)),
        "overdueAmount": _number(in_lcy(overdue, record.currency)),
        "lastModifiedDateTime": STAMP,
    }


def payment_term(record: Customer) -> dict[str, Any]:
    days = record.payment_terms_days
    return {
        "id": f"term-{days}",
        "code": f"{days} DAYS",
        "displayName": f"Net {days} days",
        "dueDateCalculation": f"{days}D",
        "discountDateCalculation": "",
        "discountPercent": 0,
        "calculateDiscountOnCreditMemos": False,
        "lastModifiedDateTime": STAMP,
    }


def customer(record: Customer, term_id: str) -> dict[str, Any]:
    """Business Central keeps the credit limit in LCY: the fake converts it there."""
    limit = Decimal(0)
    if record.credit_limit is not None:
        limit = record.credit_limit
        if record.currency != LOCAL:
            units, local = RATES[record.currency]
            limit = record.credit_limit * local / units
    return {
        "id": record.id,
        "number": record.id,
        "displayName": record.name,
        "type": "Company",
        "email": "",
        "balanceDue": 0,
        "creditLimit": _number(limit),
        "currencyId": EMPTY_GUID,
        "currencyCode": _lcy(record.currency),
        "paymentTermsId": term_id,
        "shipmentMethodId": EMPTY_GUID,
        "paymentMethodId": EMPTY_GUID,
        "blocked": " ",
        "lastModifiedDateTime": STAMP,
    }


def invoice(record: Invoice) -> dict[str, Any]:
    status = {
        InvoiceStatus.OPEN: "Open",
        InvoiceStatus.PAID: "Paid",
        InvoiceStatus.VOID: "Canceled",
    }
    entity = {
        "id": record.id,
        "number": record.number or "",
        "externalDocumentNumber": "",
        "invoiceDate": record.issue_date.isoformat(),
        "postingDate": record.issue_date.isoformat(),
        "dueDate": record.due_date.isoformat(),
        "customerId": record.customer_id,
        "customerNumber": record.customer_id,
        "billToCustomerId": record.customer_id,
        "billToCustomerNumber": record.customer_id,
        "currencyId": EMPTY_GUID,
        "currencyCode": _lcy(record.currency),
        "pricesIncludeTax": False,
        "remainingAmount": _number(record.open_balance),
        "totalAmountExcludingTax": _number(record.total),
        "totalTaxAmount": 0,
        "totalAmountIncludingTax": _number(record.total),
        "status": status[record.status],
    }
    if record.last_modified is not None:
        entity["lastModifiedDateTime"] = record.last_modified.isoformat().replace("+00:00", "Z")
    return entity


def credit_memo(record: CreditMemo) -> dict[str, Any]:
    """Open while any credit is left; the invoice it applies to, if any."""
    target = record.applications[0].invoice_id if record.applications else EMPTY_GUID
    return {
        "id": record.id,
        "number": record.id,
        "creditMemoDate": record.date.isoformat(),
        "postingDate": record.date.isoformat(),
        "dueDate": record.date.isoformat(),
        "customerId": record.customer_id,
        "billToCustomerId": record.customer_id,
        "currencyCode": _lcy(record.currency),
        "totalAmountExcludingTax": _number(record.amount),
        "totalTaxAmount": 0,
        "totalAmountIncludingTax": _number(record.amount),
        "status": "Open" if record.unapplied else "Paid",
        "invoiceId": target,
        "invoiceNumber": "",
        "lastModifiedDateTime": STAMP,
    }


def payment_lines(record: Payment) -> list[dict[str, Any]]:
    """One journal line per application, one more for what is not applied: all credits."""
    parts = [(a.invoice_id, a.amount) for a in record.applications]
    if record.unapplied:
        parts.append((None, record.unapplied))
    return [
        {
            "id": f"{record.id}-line-{number}",
            "journalId": "journal-1",
            "journalDisplayName": "CASH",
            "lineNumber": number * 10000,
            "customerId": record.customer_id,
            "customerNumber": record.customer_id,
            "postingDate": record.received_date.isoformat(),
            "documentNumber": record.id,
            "externalDocumentNumber": "",
            "amount": _number(-amount),
            "appliesToInvoiceId": invoice_id or EMPTY_GUID,
            "appliesToInvoiceNumber": "",
            "description": "",
            "comment": "",
            "lastModifiedDateTime": STAMP,
        }
        for number, (invoice_id, amount) in enumerate(parts, start=1)
    ]
