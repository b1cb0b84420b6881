"""SuiteQL rows to canonical records: the queries, the column meanings, the status codes.

Column names come from NetSuite's analytics data source (the Records Catalog): `transaction`
(`type`, `tranid`, `entity`, `trandate`, `duedate`, `currency`, `foreigntotal`,
`foreignamountunpaid`, `status`, `voided`, `paymentmethod`, `memo`, `lastmodifieddate`),
`customer`, `currency.symbol` (the ISO code) and `term.daysuntilnetdue`. Dates are rendered by
the query itself (`TO_CHAR`), so the user's date-format preference never reaches the parser.
SuiteQL leaves NULL columns out of a row, so every column is optional here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from arsync.control import ControlBalance
from arsync.records import (
    CreditMemo,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
)
from connector.erp.base import Pulled
from connector.erp.netsuite.suiteql import Query, Row, modified_after
from connector.erp.payment_methods import optional_method
from connector.erp.validation import UnmappableError, money_of, optional_money_of, text

INVOICE, PAYMENT, CREDIT_MEMO = "CustInvc", "CustPymt", "CustCred"


class Skip(Enum):
    """A transaction that is not receivables (pending approval, voided payment): left out."""

    NOT_RECEIVABLE = "not receivable"


def customers_query(since: str | None) -> Query:
    select = (
        "SELECT c.id, c.entityid, c.companyname, c.firstname, c.lastname, "
        "cur.symbol AS currency, c.creditlimit, pt.daysuntilnetdue, c.parent, "
        "TO_CHAR(c.lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS lastmodified "
        "FROM customer c "
        "LEFT JOIN currency cur ON cur.id = c.currency "
        "LEFT JOIN term pt ON pt.id = c.terms"
    )
    where = () if since is None else (modified_after("c.lastmodifieddate", since),)
    return Query(select, key="c.id", key_field="id", where=where)


TRANSACTIONS = (
    "SELECT t.id, t.type, t.tranid, t.entity, "
    "TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, "
    "TO_CHAR(t.duedate, 'YYYY-MM-DD') AS duedate, "
    "cur.symbol AS currency, t.foreigntotal, t.foreignamountunpaid, t.status, t.voided, "
    "BUILTIN.DF(t.paymentmethod) AS paymentmethod, t.memo, "
    "TO_CHAR(t.lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS lastmodified "
    "FROM transaction t "
    "LEFT JOIN currency cur ON cur.id = t.currency"
)


def transactions_query(since: str | None) -> Query:
    where = [f"t.type IN ('{INVOICE}', '{PAYMENT}', '{CREDIT_MEMO}')"]
    if since is not None:
        where.append(modified_after("t.lastmodifieddate", since))
    return Query(TRANSACTIONS, key="t.id", key_field="id", where=tuple(where))


def open_invoices_query() -> Query:
    """Every invoice with an amount still unpaid, whatever its stamp says."""
    where = (f"t.type = '{INVOICE}'", "t.foreignamountunpaid <> 0")
    return Query(TRANSACTIONS, key="t.id", key_field="id", where=where)


def invoices_query(ids: Iterable[str]) -> Query:
    """These invoices, by internal id (numbers only reach the query text)."""
    listed = ", ".join(sorted({i for i in ids if i.isdigit()}, key=int))
    where = (f"t.type = '{INVOICE}'", f"t.id IN ({listed})")
    return Query(TRANSACTIONS, key="t.id", key_field="id", where=where)


def applications_query(since: str | None) -> Query:
    """Payment and credit memo applications: `NextTransactionLineLink` rows of link type
    `Payment` between an invoice and a payment or credit memo, in either orientation.

    With a cursor, only the links of documents changed since then: all of each such document's
    links, since a document is yielded whole.
    """
    documents = f"('{PAYMENT}', '{CREDIT_MEMO}')"
    where = [
        "l.linktype = 'Payment'",
        f"((l.previoustype = '{INVOICE}' AND l.nexttype IN {documents}) "
        f"OR (l.nexttype = '{INVOICE}' AND l.previoustype IN {documents}))",
    ]
    if since is not None:
        recent = modified_after("d.lastmodifieddate", since)
        # S608: the text holds constants and a timestamp re-rendered by modified_after only.
        changed = f"SELECT d.id FROM transaction d WHERE d.type IN {documents} AND {recent}"  # noqa: S608
        where.append(f"(l.nextdoc IN ({changed}) OR l.previousdoc IN ({changed}))")
    select = (
        "SELECT l.previousdoc, l.previoustype, l.nextdoc, l.nexttype, l.foreignamount "
        "FROM NextTransactionLineLink l"
    )
    return Query(
        select,
        key="l.nextdoc",
        key_field="nextdoc",
        where=tuple(where),
        tiebreak=("l.previousdoc", "l.nextline", "l.previousline"),
    )


def control_balances_query() -> Query:
    """Every customer's balance (`balancesearch`, SuiteQL's name for the customer's Balance),
    its currency, and whether that is a base currency (the company's, or in OneWorld a
    subsidiary's). Zero balances and inactive customers too: "NetSuite says 0" is a figure."""
    select = (
        "SELECT c.id, c.balancesearch, cur.symbol AS currency, cur.isbasecurrency "
        "FROM customer c "
        "LEFT JOIN currency cur ON cur.id = c.currency"
    )
    return Query(select, key="c.id", key_field="id")


def control_balance(row: Row) -> ControlBalance | str:
    """A row of `control_balances_query` as the customer's balance, or why it cannot be one.

    Oracle's pages disagree on the currency of an entity's balance (the company's base
    currency in the Help, the customer's own in the record's field help); they agree when the
    customer's currency is a base currency, so only those customers are compared.
    """
    customer_id = text(row, "id")
    try:
        amount = optional_money_of(row, "balancesearch")
    except UnmappableError as error:  # never taken as 0
        return error.reason
    code = currency(row)
    if customer_id is None:
        return "no id"
    if amount is None:
        return "no balancesearch"
    if code is None:
        return "no currency"
    if (text(row, "isbasecurrency") or "").upper() not in {"T", "TRUE"}:
        return f"the customer's currency {code} is not a base currency"
    return ControlBalance(customer_id, code, amount)


# --------------------------------------------------------------------------- values


def currency(row: Row) -> str | None:
    """`currency.symbol`, the ISO 4217 code, upper-case."""
    value = text(row, "currency")
    return None if value is None else value.upper()


def magnitude(row: Row, column: str) -> Decimal:
    """Payments and credit memos carry signed totals (credit side): their size is the amount."""
    return abs(money_of(row, column))


def day(row: Row, column: str) -> str | None:
    return text(row, column)


def stamp(row: Row) -> dt.datetime | None:
    """`lastmodified` as rendered by the query (account time zone, no offset)."""
    value = text(row, "lastmodified")
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def status_letter(row: Row) -> str:
    """`status` is `CustInvc:B` or just `B` depending on how it is selected: the letter."""
    return (text(row, "status") or "").rsplit(":", 1)[-1].upper()


# --------------------------------------------------------------------------- records


def customer(row: Row) -> Customer:
    name = text(row, "companyname") or " ".join(
        part for part in (text(row, "firstname"), text(row, "lastname")) if part
    )
    data: dict[str, Any] = {
        "id": text(row, "id"),
        "name": name or text(row, "entityid"),
        "currency": currency(row),
        "credit_limit": optional_money_of(row, "creditlimit"),
        "parent_id": text(row, "parent"),
    }
    terms = optional_money_of(row, "daysuntilnetdue")
    if terms is not None:
        data["payment_terms_days"] = int(terms)
    return Customer.model_validate(data)


def invoice(row: Row) -> Invoice | Skip:
    """A voided invoice is owed nothing, whatever it still shows; a paid one may leave
    `foreignamountunpaid` NULL, which is 0; any other must say what is unpaid."""
    status = _invoice_status(row)
    if isinstance(status, Skip):
        return status
    if status is None:
        why = f"status {text(row, 'status')!r} is not an invoice status arsync knows"
        raise UnmappableError(why, rule="unknown_status")
    if status is InvoiceStatus.VOID:
        open_balance = Decimal(0)
    elif status is InvoiceStatus.PAID:
        open_balance = optional_money_of(row, "foreignamountunpaid") or Decimal(0)
    else:
        open_balance = money_of(row, "foreignamountunpaid")
    data = {
        "id": text(row, "id"),
        "number": text(row, "tranid"),
        "customer_id": text(row, "entity"),
        "issue_date": day(row, "trandate"),
        "due_date": day(row, "duedate"),
        "currency": currency(row),
        "total": money_of(row, "foreigntotal"),
        "open_balance": open_balance,
        "status": status,
        "last_modified": stamp(row),
    }
    return Invoice.model_validate(data)


def _invoice_status(row: Row) -> InvoiceStatus | Skip | None:
    """A Open, B Paid In Full, V Voided; D Pending Approval and E Rejected are not posted."""
    if text(row, "voided") == "T":
        return InvoiceStatus.VOID
    letter = status_letter(row)
    known = {"A": InvoiceStatus.OPEN, "B": InvoiceStatus.PAID, "V": InvoiceStatus.VOID}
    if letter in known:
        return known[letter]
    return Skip.NOT_RECEIVABLE if letter in {"D", "E"} else None


def document_skipped(row: Row) -> bool:
    """Voided payments and credit memos, and payments not yet approved, hold no money."""
    letter = status_letter(row)
    if text(row, "voided") == "T" or letter == "V":
        return True
    return text(row, "type") == PAYMENT and letter == "A"


def record_type(row: Row) -> str:
    """The record type of a payment or credit memo row."""
    return "payment" if text(row, "type") == PAYMENT else "credit_memo"


def document(
    row: Row, applications: Mapping[str, Decimal], refused: UnmappableError | None = None
) -> Pulled:
    """A payment or credit memo, with what it applied to each invoice (dated its own date:
    the link rows carry no application date). `refused`: one of its link rows could not be
    read (`link_amounts`), so what it applied is not known: the document is refused with
    that link row's reason, at the link row."""
    if refused is not None:
        raise refused
    kind = text(row, "type")
    doc_id = text(row, "id")
    location = f"netsuite:{kind}/{doc_id}"
    parts = tuple(
        {"invoice_id": invoice_id, "amount": amount, "applied_date": day(row, "trandate")}
        for invoice_id, amount in sorted(applications.items())
    )
    part_locations = tuple(link_location(doc_id, invoice_id) for invoice_id in sorted(applications))
    data: dict[str, Any] = {
        "id": doc_id,
        "customer_id": text(row, "entity"),
        "currency": currency(row),
        "amount": magnitude(row, "foreigntotal"),
        "applications": parts,
    }
    record: Payment | CreditMemo
    if kind == PAYMENT:
        data["received_date"] = day(row, "trandate")
        data["method"] = optional_method(text(row, "paymentmethod"))
        record = Payment.model_validate(data)
    else:
        data["date"] = day(row, "trandate")
        data["reason"] = text(row, "memo")
        record = CreditMemo.model_validate(data)
    return Pulled(record, location, part_locations)


def link_location(doc_id: str | None, invoice_id: str | None) -> str:
    return f"netsuite:NextTransactionLineLink/{doc_id}->{invoice_id}"


def link_amounts(
    links: Iterable[Row],
) -> tuple[dict[str, dict[str, Decimal]], dict[str, UnmappableError]]:
    """Per payment or credit memo, the amount applied to each invoice; and per document, the
    first of its link rows that could not be read (its amount), for `document` to refuse it
    with. Each row is read on its own: a bad one takes no other document's links with it.

    Line links of one application are summed. Should an account hold the same application in
    both orientations, the invoice-to-document one is kept, so nothing is counted twice.
    """
    forward: dict[str, dict[str, Decimal]] = {}
    backward: dict[str, dict[str, Decimal]] = {}
    refused: dict[str, UnmappableError] = {}
    for link in links:
        if text(link, "previoustype") == INVOICE:
            doc, target, into = text(link, "nextdoc"), text(link, "previousdoc"), forward
        else:
            doc, target, into = text(link, "previousdoc"), text(link, "nextdoc"), backward
        if doc is None or target is None:
            continue
        try:
            amount = magnitude(link, "foreignamount")
        except UnmappableError as error:
            where = link_location(doc, target)
            why = f"NextTransactionLineLink {doc}->{target}: {error.reason}"
            refused.setdefault(doc, UnmappableError(why, location=where))
            continue
        if not amount:
            continue
        per_invoice = into.setdefault(doc, {})
        per_invoice[target] = per_invoice.get(target, Decimal(0)) + amount
    for doc, per_invoice in backward.items():
        merged = forward.setdefault(doc, {})
        for target, amount in per_invoice.items():
            merged.setdefault(target, amount)
    return forward, refused


# --------------------------------------------------------------------------- validation

COLUMNS = {  # canonical field -> the NetSuite column it came from, for quarantine reasons
    "id": "id",
    "name": "companyname",
    "currency": "currency.symbol",
    "credit_limit": "creditlimit",
    "payment_terms_days": "term.daysuntilnetdue",
    "parent_id": "parent",
    "number": "tranid",
    "customer_id": "entity",
    "issue_date": "trandate",
    "due_date": "duedate",
    "total": "foreigntotal",
    "open_balance": "foreignamountunpaid",
    "amount": "foreigntotal",
    "received_date": "trandate",
    "date": "trandate",
    "applications": "NextTransactionLineLink",
}
