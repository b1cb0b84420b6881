"""NetSuite as an ERP source: customers, invoices, payments and credit memos by SuiteQL.

Three queries a pull: `customer`, then `transaction` (types CustInvc, CustPymt, CustCred), then
the `NextTransactionLineLink` rows that apply payments and credit memos to invoices. Invoices
are yielded as they arrive; payments and credit memos wait for their applications, which are
read after them so that a document changed between the two queries is never yielded with
stale applications under a cursor that has already passed it.

The progress bar's total is the `totalResults` of the customer and transaction queries' first
pages (the same filter as the pull, at no extra request); applications are not records.

An incremental pull re-verifies the open invoices (`foreignamountunpaid <> 0`, windowed and
paged like the rest, one query more): Oracle does not document that applying a payment moves
the invoice's `lastmodifieddate`. An invoice paid off is no longer open; the payment or credit
memo that paid it is changed, so every invoice its applications name that was not read yet is
read by `t.id IN (...)`, 500 ids a query. The freshest copy of an invoice wins (the later
`lastmodified`; on a tie, the later read) and each is yielded once.

After the pull, `control_balances()` reads NetSuite's own balance of every customer
(`customer.balancesearch`, one query more), for the reconciliation.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import ClassVar

import structlog

from arsync.control import ControlBalance, ControlBalances
from arsync.errors import FatalError
from connector.erp.base import ApiSource, Paging, PulledItem, Stream, parse_cursor
from connector.erp.netsuite import mapping
from connector.erp.netsuite.suiteql import Query, Row, SuiteQL
from connector.erp.paging import Offset, Page
from connector.erp.validation import text

log = structlog.get_logger(__name__)
STAMP = "lastmodifieddate"  # the change stamp of customers and transactions, to the second
WINDOWS = Paging.KEY_WINDOW  # every query is paged by offset, continued in key windows
STREAMS = (
    Stream("customers", "customer", "id", STAMP, WINDOWS, lambda row, _: mapping.customer(row)),
    # Invoices, payments and credit memos, each type mapped its own way (`_transactions`).
    Stream("transactions", "transaction", "id", STAMP, WINDOWS),
)
CUSTOMERS, TRANSACTIONS = STREAMS
IDS_PER_QUERY = 500  # `t.id IN (...)` lists, under SuiteQL's 1,000 expressions in a list
CONTROL_FIGURE = "NetSuite customer.balancesearch"


class NetSuiteSource(ApiSource):
    """Pulls one NetSuite account; incremental by `lastmodifieddate` per stream, each cursor
    ISO 8601 in the account's time zone, to the second. The data is as of the moment the pull
    began: the API answers with the ledger as it is then."""

    name: ClassVar[str] = "netsuite"
    declared: ClassVar[tuple[Stream, ...]] = STREAMS
    fields: ClassVar[Mapping[str, str]] = mapping.COLUMNS

    def __init__(self, suiteql: SuiteQL, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._suiteql = suiteql
        self._clock = clock

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        self._as_of = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        yield from self._customers(since.get(CUSTOMERS.name))
        yield from self._transactions(since.get(TRANSACTIONS.name))

    def control_balances(self) -> ControlBalances:
        """Each customer's `balancesearch`: its accounts receivable balance, open invoices
        less unapplied payments and credit memos (customer deposits are not receivables, and
        arsync does not read them either); the customer's own, not its sub-customers'
        (`consolbalancesearch`), as arsync keeps a sub-customer as a customer of its own.

        A customer whose currency is not a base currency is left out (`mapping.control_balance`
        says why), as is a row without a balance or currency, each with a debug line: a
        customer left out is not at 0. So the list speaks only for the customers in it
        (`every_customer` False), and every customer is read, zero balances too, so that
        "NetSuite says 0, arsync does not" is caught. A list that speaks for its customers
        only also keeps a customer with documents in a second currency (Multi-Currency
        Customers), whose one balance sums them converted, `not_comparable` rather than
        unreconciled.
        """
        calls = self._suiteql.http.calls
        balances: list[ControlBalance] = []
        skipped = 0
        for row in self._rows("control_balances", mapping.control_balances_query()):
            balance = mapping.control_balance(row)
            if isinstance(balance, ControlBalance):
                balances.append(balance)
                continue
            skipped += 1
            self._control_skipped(f"customer/{text(row, 'id')}", balance)
        return self._control_list(
            CONTROL_FIGURE, balances, calls=self._suiteql.http.calls - calls, skipped=skipped
        )

    def _counted(self, stream: str, query: Query) -> Iterator[Row]:
        """The stream's rows, each counted and moving its cursor (`_tracked_read`); until
        they are read, its total is the first page's `totalResults` on top of the stream's
        earlier reads in this pull."""
        yield from self._tracked_read(stream, self._rows(stream, query, counted=True), self._stamp)

    def _rows(self, stream: str, query: Query, *, counted: bool = False) -> Iterator[Row]:
        """Every row of the query, in key order, across as many windows as it takes: a window
        is the query paged by offset up to the row cap (`SuiteQL.max_rows`), the next starts at
        the last key seen (`key >= last`) with the rows sharing it held back and read again in
        full, so a key's rows are never split between two windows. `counted`: the first
        page's `totalResults` is the total of the whole query (later windows count only
        theirs)."""
        declared = Stream(stream, "", query.key_field, STAMP, WINDOWS)
        lower: object | None = None
        while True:
            pending: list[Row] = []  # the rows sharing the latest key: not yielded yet
            paging = self._paginator(declared, None)
            window = _Window(query.sql(lower), counted and lower is None)
            for row in self._items(declared, window, paging):
                if pending and row.get(query.key_field) != pending[-1].get(query.key_field):
                    yield from pending
                    pending = []
                pending.append(row)
            if not (isinstance(paging, Offset) and paging.capped):
                yield from pending
                return
            last = pending[-1].get(query.key_field) if pending else None
            if last is None or last == lower:
                raise FatalError(
                    f"NetSuite query for {stream} cannot go on: more than "
                    f"{self._suiteql.max_rows} rows share {query.key} = {last!r}"
                )
            log.info("erp.window_continued", source="netsuite", stream=stream, key=str(last))
            lower = last

    def _fetch(self, stream: Stream, request: _Window, position: int) -> Page[Row]:
        return self._suiteql.page(request.sql, position)

    def _page_size(self) -> int:
        return self._suiteql.page_size

    def _row_cap(self) -> int:
        return self._suiteql.max_rows

    def _page_total(self, stream: Stream, request: _Window, page: Page[Row]) -> int | None:
        total = page.body.get("totalResults")
        return total if request.counted and isinstance(total, int) else None

    def _change_stamp(self, entity: Row) -> dt.datetime | None:
        return mapping.stamp(entity)

    def _record_id(self, stream: Stream, entity: Row) -> object:
        return text(entity, stream.key)

    def _location(self, stream: Stream, entity: Row) -> str:
        kind = "customer" if stream is CUSTOMERS else text(entity, "type")
        return f"netsuite:{kind}/{text(entity, 'id')}"

    def _customers(self, since: str | None) -> Iterator[PulledItem]:
        yield from self._records(
            CUSTOMERS, self._counted("customers", mapping.customers_query(since))
        )

    def _transactions(self, since: str | None) -> Iterator[PulledItem]:
        documents: list[Row] = []
        changed: list[Row] = []  # an incremental pull's invoices, folded with the open ones
        for row in self._counted("transactions", mapping.transactions_query(since)):
            if text(row, "type") != mapping.INVOICE:
                if mapping.document_skipped(row):
                    self._skipped(TRANSACTIONS, row, mapping.Skip.NOT_RECEIVABLE)
                else:
                    documents.append(row)
            elif since is None:
                yield from self._invoice(row)
            else:
                changed.append(row)
        invoices: dict[str, Row] = {}
        if since is not None:
            opened = self._counted("transactions", mapping.open_invoices_query())
            invoices = self._freshest(TRANSACTIONS, changed, opened)
            for row in invoices.values():
                yield from self._invoice(row)
        links = self._links(documents, since)
        yield from self._documents(documents, links)
        if since is not None:
            yield from self._paid_invoices(links, set(invoices))

    def _links(self, documents: list[Row], since: str | None) -> list[Row]:
        if not documents:
            return []
        return list(self._rows("applications", mapping.applications_query(since)))

    def _documents(self, documents: list[Row], links: list[Row]) -> Iterator[PulledItem]:
        """Each payment and credit memo with its applications, on its own: a link row that
        cannot be read refuses its own document only."""
        amounts, refused = mapping.link_amounts(links)
        for row in documents:
            doc_id = text(row, "id")
            own: dict[str, Decimal] = amounts.get(doc_id or "", {})
            build = partial(mapping.document, row, own, refused.get(doc_id or ""))
            where = self._location(TRANSACTIONS, row)
            yield self._caught(mapping.record_type(row), doc_id, where, build)

    def _paid_invoices(self, links: list[Row], read: set[str]) -> Iterator[PulledItem]:
        """The invoices the changed documents apply to that this pull has not read: one paid
        off is no longer open, and its stamp may not have moved."""
        named = {
            text(link, side + "doc") or ""
            for link in links
            for side in ("previous", "next")
            if text(link, side + "type") == mapping.INVOICE
        }
        wanted = sorted(named - read - {""})
        for start in range(0, len(wanted), IDS_PER_QUERY):
            query = mapping.invoices_query(wanted[start : start + IDS_PER_QUERY])
            for row in self._counted("transactions", query):
                yield from self._invoice(row)

    def _invoice(self, row: Row) -> Iterator[PulledItem]:
        item = self._record(TRANSACTIONS, row, lambda row, _: mapping.invoice(row), "invoice")
        if item is not None:
            yield item

    def _cursor_time(self, stream: str, cursor: str) -> dt.datetime:
        """A cursor as the naive account-time stamp the rows carry (an offset is dropped)."""
        return parse_cursor(stream, cursor).replace(tzinfo=None)

    def _format_cursor(self, moment: dt.datetime) -> str:
        return moment.isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class _Window:
    """One key window of a query as SuiteQL text, and whether its first page counts."""

    sql: str
    counted: bool
