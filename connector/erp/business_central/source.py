"""Business Central as an ERP source: API v2.0 under one company.

A pull reads the company's reference tables (local currency, payment terms, payment methods,
exchange rates), then `customers`, `salesInvoices` and `salesCreditMemos` filtered by
`lastModifiedDateTime gt <cursor>` (and, besides, every open invoice again: a posted payment
changes an invoice's balance without moving its stamp), then the lines of every customer
payment journal.

Payments come from `customerPaymentJournals({id})/customerPayments`, the only payment resource
of API v2.0: the unposted lines of the default cash receipt journal template whose document
type is Payment, account type Customer and applies-to document type Invoice (the page's own
filters: unapplied lines typed in the client are not among them). Posting
moves a payment into the customer ledger, which API v2.0 does not expose; by then the invoices'
`remainingAmount` carries it. Journal lines are read whole on every pull (a payment is made of
several lines, and a journal holds only what awaits posting) and a payment is yielded when one
of its lines changed after the cursor.

The progress bar's total is each collection's `@odata.count` (`$count=true` on its first page,
with the pull's filter: no extra request), in records read: journal lines, not payments.

After the pull, `control_balances()` reads Business Central's own balance of each customer,
`customerFinancialDetail.balance` (`customers?$expand=customerFinancialDetail`), for the
reconciliation.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import ClassVar

import structlog

from arsync.control import ControlBalance, ControlBalances
from arsync.errors import FatalError
from connector.erp.base import ApiSource, Paging, Pulled, PulledItem, Stream
from connector.erp.business_central import mapping
from connector.erp.business_central.mapping import Entity, Lookups
from connector.erp.business_central.odata import OData, modified_after, parse_cursor
from connector.erp.http import ApiError
from connector.erp.paging import Page
from connector.erp.payment_methods import optional_method
from connector.erp.validation import UnmappableError, optional_money_of, text

log = structlog.get_logger(__name__)
STAMP = "lastModifiedDateTime"  # every collection's change stamp, filtered on with `gt`
LINKS = Paging.NEXT_LINK  # every collection is paged by `@odata.nextLink`
STREAMS = (
    Stream("customers", "customer", "id", STAMP, LINKS, mapping.customer),
    Stream("salesInvoices", "invoice", "id", STAMP, LINKS, mapping.invoice),
    Stream("salesCreditMemos", "credit_memo", "id", STAMP, LINKS, mapping.credit_memo),
    # A payment is its journal lines, mapped as a group (`_payments`).
    Stream("customerPayments", "payment", "documentNumber", STAMP, LINKS),
)
CUSTOMERS, INVOICES, CREDIT_MEMOS, PAYMENTS = STREAMS
CONTROL_FIGURE = "Business Central customerFinancialDetail.balance (LCY)"
Request = tuple[str, dict[str, str] | None]  # a collection's path under the company, its query


class BusinessCentralSource(ApiSource):
    """Pulls one company; incremental by `lastModifiedDateTime` per stream, each cursor as
    Business Central wrote it (ISO 8601, UTC). The data is as of the moment the pull began:
    the API answers with the ledger as it is then."""

    name: ClassVar[str] = "business_central"
    declared: ClassVar[tuple[Stream, ...]] = STREAMS
    fields: ClassVar[Mapping[str, str]] = mapping.FIELDS

    def __init__(
        self,
        odata: OData,
        local_currency: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self._odata = odata
        self._local_currency = local_currency
        self._clock = clock
        self._customer_currency: dict[str, str] = {}
        self._lcy: str | None = local_currency  # known once a pull has read its reference tables
        self._invoice_currency: dict[str, str] = {}

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        """Customers, invoices and credit memos changed after their cursors (the invoices
        also when open, `_changed_and_open_invoices`), then the payments."""
        self._as_of = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        self._lookups = self._read_lookups()
        self._lcy = self._lookups.local_currency
        for stream in (CUSTOMERS, INVOICES, CREDIT_MEMOS):
            cursor = since.get(stream.name)
            if cursor is not None and stream is INVOICES:
                entities = self._changed_and_open_invoices(cursor)
            else:
                changed = None if cursor is None else {"$filter": modified_after(cursor)}
                entities = self._counted(stream, changed)
            for item in self._records(stream, entities):
                if isinstance(item, Pulled):
                    self._remember(stream.name, item)
                yield item
        yield from self._payments(since.get(PAYMENTS.name))

    def control_balances(self) -> ControlBalances:
        """Each LCY customer's `customerFinancialDetail.balance`: the customer's `Balance (LCY)`,
        every posted detailed ledger entry summed (invoices, credit memos, payments applied or
        not, refunds, journal postings), in the company's local currency.

        The figure is in LCY only, and arsync holds a customer's documents in their own
        currency, so only customers whose `currencyCode` is empty (or the LCY code: the
        company's currency) are listed; a foreign-currency customer is left out, with a debug
        line, for no exchange rate may stand between the two sides. Hence `every_customer` is
        False: the list does not speak for the customers left out. An LCY customer whose
        ledger also holds another currency is then `not_comparable` (its LCY balance sums
        those entries converted). One whose answer carries no balance is left out too, never
        taken as 0. Every listed customer is listed with 0 as well, so "Business Central says
        0, arsync does not" is caught.
        """
        calls = self._odata.http.calls
        local = self._lcy or self._read_local_currency()
        self._lcy = local
        params = {"$expand": "customerFinancialDetail"}
        entities = self._collection("customerFinancialDetails", "customers", params)
        balances = [self._control_balance(entity, local) for entity in entities]
        return self._control_list(
            CONTROL_FIGURE,
            [balance for balance in balances if balance is not None],
            calls=self._odata.http.calls - calls,
        )

    # ----------------------------------------------------------------------- streams

    def _counted(
        self, stream: Stream, params: dict[str, str] | None = None, path: str | None = None
    ) -> Iterator[Entity]:
        """One read of a collection of `stream` (its own by default), each entity counted
        and moving the cursor; asked with `$count=true`, the first page's `@odata.count`
        is the read's total."""
        query = {**(params or {}), "$count": "true"}
        return self._read_stream(stream, (path or stream.name, query))

    def _changed_and_open_invoices(self, cursor: str) -> Iterator[Entity]:
        """The invoices changed after the cursor, and every open one, each once.

        `lastModifiedDateTime` is the invoice aggregate's SystemModifiedAt: Business Central
        rewrites the aggregate when an invoice's status changes, not when a posted payment
        lowers its `remainingAmount` (a value the API page computes on read, which is why it
        cannot be filtered on). So the open invoices are read again on every incremental
        pull, by `status eq 'Open'`, and a partial payment is seen. An invoice kept as open
        that has closed since is seen either way: its status moved to Paid (the aggregate was
        rewritten, so it is among the changed ones) or the aggregate still says Open (so it is
        among the open ones, with its remaining amount read now). Of two copies the later
        stamp wins; on a tie, the later read.
        """
        filters = (modified_after(cursor), "status eq 'Open'")
        reads = (self._counted(INVOICES, {"$filter": f}) for f in filters)
        yield from self._freshest(INVOICES, *reads).values()

    def _payments(self, cursor: str | None) -> Iterator[PulledItem]:
        after = None if cursor is None else parse_cursor(cursor)
        lines: list[Entity] = []
        for journal in self._collection("customerPaymentJournals", "customerPaymentJournals"):
            path = f"customerPaymentJournals({text(journal, 'id')})/customerPayments"
            lines.extend(self._counted(PAYMENTS, path=path))
        self._totals[PAYMENTS.name] = self._read[PAYMENTS.name]
        changed: set[tuple[str | None, str | None]] = set()
        for line in lines:
            moment = mapping.stamp(line)
            if after is None or (moment is not None and moment > after):
                changed.add((text(line, "journalId"), text(line, "documentNumber")))
        wanted = [
            line
            for line in lines
            if (text(line, "journalId"), text(line, "documentNumber")) in changed
        ]
        currency_of = partial(self._payment_currency, lookups=self._lookups)
        for group in mapping.payment_documents(wanted):
            where = mapping.location("customerPayments", group[0])
            doc_id = text(group[0], PAYMENTS.key)
            build = partial(mapping.payment, group, currency_of)
            yield self._caught(PAYMENTS, doc_id, where, build)

    def _collection(
        self, name: str, path: str, params: dict[str, str] | None = None
    ) -> Iterator[Entity]:
        """Every entity of a collection read uncounted (reference tables, the balances)."""
        return self._items(Stream(name, "", "id", STAMP, LINKS), (path, params))

    def _fetch(self, stream: Stream, request: Request, position: str) -> Page[Entity]:
        path, query = request
        return self._odata.page(path, position, query, first=position == self._odata.url(path))

    def _first_link(self, stream: Stream, request: Request) -> str:
        return self._odata.url(request[0])

    def _page_total(self, stream: Stream, request: Request, page: Page[Entity]) -> int | None:
        count = page.body.get("@odata.count")
        return count if "$count" in (request[1] or {}) and isinstance(count, int) else None

    def _change_stamp(self, entity: Entity) -> dt.datetime | None:
        return mapping.stamp(entity)

    def _stamp_text(self, entity: Entity) -> str | None:
        """`lastModifiedDateTime` as Business Central spells it, the cursor's text."""
        return text(entity, STAMP)

    def _record_id(self, stream: Stream, entity: Entity) -> object:
        return text(entity, stream.key)

    def _location(self, stream: Stream, entity: Entity) -> str:
        return mapping.location(stream.name, entity)

    # ----------------------------------------------------------------------- lookups

    def _read_lookups(self) -> Lookups:
        lookups = Lookups(self._local_currency or self._read_local_currency())
        for term in self._collection("paymentTerms", "paymentTerms"):
            days = mapping.terms_days(text(term, "dueDateCalculation"))
            lookups.terms[text(term, "id") or ""] = days
        for method in self._collection("paymentMethods", "paymentMethods"):
            name = text(method, "displayName") or text(method, "code")
            lookups.methods[text(method, "id") or ""] = optional_method(name)
        lookups.add_rates(self._collection("currencyExchangeRates", "currencyExchangeRates"))
        return lookups

    def _read_local_currency(self) -> str:
        """`localCurrencyCode` of the company's general ledger setup."""
        setups = list(self._collection("generalLedgerSetup", "generalLedgerSetup"))
        code = text(setups[0], "localCurrencyCode") if setups else None
        if code is None:
            raise FatalError(
                "Business Central's generalLedgerSetup names no local currency: "
                "set `local_currency` in the source settings"
            )
        return code.upper()

    def _payment_currency(
        self, invoice_id: str | None, customer_id: str | None, lookups: Lookups
    ) -> str | None:
        """An applied invoice's currency, else the customer's (read on demand when this pull
        did not bring them: an incremental pull may not)."""
        if invoice_id is not None:
            return self._currency_of(self._invoice_currency, "salesInvoices", invoice_id, lookups)
        if customer_id is None:
            return None
        return self._currency_of(self._customer_currency, "customers", customer_id, lookups)

    def _currency_of(
        self, known: dict[str, str], collection: str, entity_id: str, lookups: Lookups
    ) -> str | None:
        if entity_id not in known:
            try:
                found = self._odata.entity(f"{collection}({entity_id})")
            except ApiError as error:
                if error.status != 404:
                    raise
                log.warning(
                    "erp.reference_missing",
                    source="business_central",
                    record=f"{collection}/{entity_id}",
                )
                return None
            known[entity_id] = lookups.currency(found)
        return known[entity_id]

    def _remember(self, stream: str, item: Pulled) -> None:
        record = item.record
        if stream == "customers":
            self._customer_currency[record.id] = record.currency
        elif stream == "salesInvoices":
            self._invoice_currency[record.id] = record.currency

    def _cursor_time(self, stream: str, cursor: str) -> dt.datetime:
        return parse_cursor(cursor)

    def _control_balance(self, entity: Entity, local: str) -> ControlBalance | None:
        """A customer's LCY balance, or None (with the reason in a debug line) when it has none
        or its documents are in another currency."""
        customer_id = text(entity, "id")
        detail = entity.get("customerFinancialDetail")
        unreadable = None
        try:
            balance = optional_money_of(detail, "balance") if isinstance(detail, dict) else None
        except UnmappableError as error:  # never taken as 0
            balance, unreadable = None, f"customerFinancialDetail.{error.reason}"
        currency = (text(entity, "currencyCode") or local).upper()
        if customer_id is not None and balance is not None and currency == local:
            return ControlBalance(customer_id, local, balance)
        if customer_id is None:
            reason = "no id"
        elif unreadable is not None:
            reason = unreadable
        elif balance is None:
            reason = "no customerFinancialDetail.balance"
        else:
            reason = f"the balance is in {local}, the customer's documents in {currency}"
        return self._control_skipped(f"customers/{customer_id}", reason)
