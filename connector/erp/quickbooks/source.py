"""QuickBooks Online source: the query endpoint, paged, filtered by last change.

`GET {base}/v3/company/{realm}/query?query=SELECT * FROM Invoice WHERE ... STARTPOSITION n
MAXRESULTS m&minorversion=75`, one query per entity, through the shared `HttpClient` (OAuth 2.0
refresh-token grant, retries, Retry-After, 500 requests a minute per company).

A query's answers carry `startPosition` and `maxResults` but no total, so the progress bar's
total comes from the first page when it is the only one, else from one `SELECT COUNT(*)` with
the same WHERE (`QueryResponse.totalCount`): one request more per stream that has more than
one page, none for a small incremental run.

An incremental pull re-verifies the open invoices (`Balance > '0'`, paged like the rest, one
query more, two with its count when the first page is full): a balance can change without the
invoice's `MetaData.LastUpdatedTime` moving as far as Intuit documents it. An invoice paid off
is no longer open; its payment is new, so every invoice a changed payment links to and that
was not read yet is read by `Id IN (...)`, 50 ids a query.

After the pull, `control_balances()` reads QuickBooks' own `Customer.Balance` of every customer
that owes or is owed something (two queries, `Balance > '0'` and `Balance < '0'`, paged like
the rest), for the reconciliation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

import structlog

from arsync.control import ControlBalance, ControlBalances
from arsync.errors import FatalError
from arsync.quarantine import QuarantineEntry
from arsync.records import Application, CreditMemo, PaymentMethod
from connector.erp.base import ApiSource, Paging, Pulled, PulledItem, Source, Stream
from connector.erp.json_body import json_object
from connector.erp.paging import Page
from connector.erp.quickbooks import mapping
from connector.erp.quickbooks.mapping import SOURCE_FIELDS, Json, Lookups
from connector.erp.quickbooks.settings import QuickBooksSettings
from connector.erp.validation import UnmappableError, money_of

if TYPE_CHECKING:
    import requests

    from connector.erp.http import HttpClient

log = structlog.get_logger(__name__)
ERP = "QuickBooks Online"
REQUESTS_PER_MINUTE = 500  # Intuit's throttle per company (realm)
STAMP = "MetaData.LastUpdatedTime"  # every entity's change stamp, filtered on with `>=`
OFFSET = Paging.OFFSET  # STARTPOSITION, counted from 1
STREAMS = (
    Stream("Customer", "customer", "Id", STAMP, OFFSET, mapping.customer),
    Stream("Invoice", "invoice", "Id", STAMP, OFFSET, mapping.invoice),
    # Split into the payment and its credit memo applications (`_payments`).
    Stream("Payment", "payment", "Id", STAMP, OFFSET),
    # Yielded with the applications the payments carry (`_credit_memos`).
    Stream("CreditMemo", "credit_memo", "Id", STAMP, OFFSET),
)
CUSTOMERS, INVOICES, PAYMENTS, CREDIT_MEMOS = STREAMS
IDS_PER_QUERY = 50  # `Id IN (...)` lists, kept well under URL limits
ALL = "Active IN (true, false)"  # name lists answer active entries only unless asked
OPEN = "Balance > '0'"  # the invoices still owed, a documented query filter on Invoice
# A customer's own balance is owed to it or by it: Intuit's query language has no `!=` and no
# OR, so the non-zero balances are two queries.
NON_ZERO = ("Balance > '0'", "Balance < '0'")
CONTROL_FIGURE = "QuickBooks Online Customer.Balance"


class QuickBooksSource(ApiSource):
    """Customers, invoices, payments and credit memos of one QuickBooks Online company; the
    data is as of the server time of the pull's first answer."""

    name: ClassVar[str] = "quickbooks"
    declared: ClassVar[tuple[Stream, ...]] = STREAMS
    fields: ClassVar[Mapping[str, str]] = SOURCE_FIELDS
    first_offset: ClassVar[int] = 1

    def __init__(self, settings: QuickBooksSettings, client: HttpClient) -> None:
        super().__init__()
        self._settings = settings
        self._client = client
        self._url = f"{settings.base_url.rstrip('/')}/v3/company/{settings.realm_id}/query"
        self._home_currency: str | None = None
        self._lookups = Lookups({}, {}, self._company_currency)
        self._touched_memos: set[str] = set()
        self._read_payments: set[str] = set()
        self._read_invoices: set[str] = set()  # the invoices this pull has yielded
        self._paid_invoices: set[str] = set()  # the invoices changed payments link to

    def control_balances(self) -> ControlBalances:
        """Each customer's own `Customer.Balance`, in the customer's currency (`CurrencyRef`,
        else the home currency): open invoices less open credit memos and unapplied payments.

        `Balance`, not `BalanceWithJobs`: arsync keeps a sub-customer or job as a customer of
        its own (its documents' `CustomerRef` names it), so each is compared with its own
        balance. Inactive customers are asked for too (`Active IN (true, false)`): one made
        inactive may still be owed money. Only non-zero balances are read, so the list speaks
        for every customer (`every_customer`): one not in it owes nothing in QuickBooks.
        A customer answered without a readable `Balance` is left out, with a debug line, and
        the list then speaks only for the customers in it: arsync never stands in a 0.
        """
        calls = self._client.calls
        found: dict[str, ControlBalance] = {}
        complete = True
        for condition in NON_ZERO:
            for entity in self._query_all("Customer", f"{ALL} AND {condition}"):
                balance = self._control_balance(entity)
                if balance is None:
                    complete = False
                else:  # a balance that moved between the two reads counts once, as last read
                    found[balance.customer_id] = balance
        return self._control_list(
            CONTROL_FIGURE,
            found.values(),
            calls=self._client.calls - calls,
            every_customer=complete,
            complete=complete,
        )

    def _control_balance(self, entity: Json) -> ControlBalance | None:
        customer_id = entity.get("Id")
        try:
            if customer_id in (None, ""):
                raise UnmappableError("Id is empty")
            amount = money_of(entity, "Balance")
            currency = mapping.currency(entity, self._lookups)
        except UnmappableError as error:
            return self._control_skipped(_location("Customer", entity), str(error))
        return ControlBalance(str(customer_id), currency, amount)

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        """Every stream changed at or after its cursor (all of it without one).

        A credit memo's applications live on payments, so a credit memo is always yielded
        with all of them: when one is yielded incrementally, every payment is read again to
        find them (and only the changed payments are yielded).
        """
        self._lookups = self._read_lookups()
        yield from self._records(CUSTOMERS, self._changed("Customer", since, ALL))
        self._read_invoices = set()
        self._paid_invoices = set()
        if "Invoice" in since:
            yield from self._records(INVOICES, self._changed_and_open_invoices(since))
        else:
            yield from self._records(INVOICES, self._changed("Invoice", since))
        credits: dict[str, list[Application]] = defaultdict(list)
        yield from self._payments(since, credits)
        if "Invoice" in since:
            yield from self._records(INVOICES, self._linked_invoices())
        yield from self._credit_memos(since, credits)

    # ------------------------------------------------------------------ streams

    def _changed_and_open_invoices(self, since: Mapping[str, str]) -> Iterator[Json]:
        """The invoices changed at or after the cursor, and every open one, each once.

        Intuit does not document that a payment moves the invoice's `LastUpdatedTime`, so
        the open invoices are read again, by `Balance > '0'`, and a partial payment is seen
        whatever the stamp says. Of two copies the later stamp wins; on a tie, the later
        read.
        """
        opened = self._more("Invoice", self._query_all("Invoice", OPEN, counted=True))
        freshest = self._freshest(INVOICES, self._changed("Invoice", since), opened)
        self._read_invoices = set(freshest)
        yield from freshest.values()

    def _linked_invoices(self) -> Iterator[Json]:
        """The invoices changed payments link to that this pull has not read: one paid off
        is no longer open, and its stamp may not have moved."""
        wanted = sorted(self._paid_invoices - self._read_invoices)
        self._read_invoices |= set(wanted)
        found = self._by_ids("Invoice", wanted)
        self._totals["Invoice"] = self._read["Invoice"] + len(found)
        yield from self._more("Invoice", iter(found))

    def _more(self, entity_name: str, entities: Iterator[Json]) -> Iterator[Json]:
        """A further read of a stream already read: counted in its read and its total, and
        moving its cursor."""
        yield from self._tracked_read(entity_name, entities, self._stamp)

    def _payments(
        self, since: Mapping[str, str], credits: dict[str, list[Application]]
    ) -> Iterator[PulledItem]:
        """Changed payments as records; the credit memo applications they carry go to
        `credits` (from every payment when the pull is incremental and needs them)."""
        touched: set[str] = set()
        self._read_payments = set()
        for entity in self._changed("Payment", since):
            self._read_payments.add(str(entity.get("Id")))
            self._paid_invoices |= _linked(entity, "Invoice")
            split = self._split(entity)
            if isinstance(split, QuarantineEntry):
                yield split
                continue
            yield from self._ignored_links(entity, split)
            for memo_id, application in split.credits:
                credits[memo_id].append(application)
                touched.add(memo_id)
            if split.payment is not None:
                yield Pulled(split.payment, _location("Payment", entity))
        self._touched_memos = touched

    def _credit_memos(
        self, since: Mapping[str, str], credits: dict[str, list[Application]]
    ) -> Iterator[PulledItem]:
        changed = list(self._changed("CreditMemo", since))
        if "Payment" in since:
            # Only changed payments were read: find each yielded memo's applications on all.
            changed_ids = {str(e.get("Id")) for e in changed}
            touched = self._by_ids("CreditMemo", sorted(self._touched_memos - changed_ids))
            self._totals["CreditMemo"] += len(touched)
            self._read["CreditMemo"] += len(touched)
            changed += touched
            if changed:
                credits.clear()
                yield from self._all_credit_applications(credits)
        for entity in changed:
            yield from self._credit_memo(entity, credits.get(str(entity.get("Id")), []))

    def _credit_memo(self, entity: Json, applications: list[Application]) -> Iterator[PulledItem]:
        location = _location("CreditMemo", entity)

        def build() -> CreditMemo | None:
            memo = mapping.credit_memo(entity, applications, self._lookups)
            if memo is not None:
                self._warn_if_credit_used_elsewhere(entity, memo, location)
            return memo

        memo = self._caught(CREDIT_MEMOS, entity.get(CREDIT_MEMOS.key), location, build)
        if isinstance(memo, QuarantineEntry):
            yield memo
        elif memo is None:
            log.debug("erp.record_skipped", erp=self.name, record=location, reason="zero credit")
        else:
            yield Pulled(memo, location)

    def _all_credit_applications(
        self, credits: dict[str, list[Application]]
    ) -> Iterator[QuarantineEntry]:
        for entity in self._query_all("Payment", where=None):
            split = self._split(entity)
            if isinstance(split, QuarantineEntry):
                if str(entity.get("Id")) not in self._read_payments:  # else reported above
                    yield split
                continue
            for memo_id, application in split.credits:
                credits[memo_id].append(application)

    # ------------------------------------------------------------------ mapping

    def _split(self, entity: Json) -> mapping.SplitPayment | QuarantineEntry:
        location = _location("Payment", entity)
        build = partial(mapping.split_payment, entity, self._lookups)
        split = self._caught(PAYMENTS, entity.get(PAYMENTS.key), location, build)
        if isinstance(split, QuarantineEntry) and _ignored_text(entity):
            reason = f"{split.reason} (lines linked to {_ignored_text(entity)} are not read)"
            return dataclasses.replace(split, reason=reason)
        return split

    def _ignored_links(self, entity: Json, split: mapping.SplitPayment) -> Iterator[PulledItem]:
        for kind, txn_id, amount in split.ignored_links:
            yield QuarantineEntry(
                record_type="payment_application",
                record_id=f"{entity.get('Id')}->{kind}/{txn_id}",
                location=_location("Payment", entity),
                rule="unsupported_link",
                reason=f"a Line of {amount} is linked to {kind} {txn_id}; only Invoice and "
                "CreditMemo links become applications",
            )

    # ------------------------------------------------------------------ lookups

    def _read_lookups(self) -> Lookups:
        terms: dict[str, int | None] = {}
        for term in self._query_all("Term", where=ALL):
            due = term.get("DueDays") if term.get("Type", "STANDARD") == "STANDARD" else None
            terms[str(term.get("Id"))] = None if due is None else int(due)
        methods: dict[str, PaymentMethod] = {}
        for method in self._query_all("PaymentMethod", where=ALL):
            methods[str(method.get("Id"))] = mapping.payment_method(
                method, self._settings.payment_methods
            )
        return Lookups(terms, methods, self._company_currency)

    def _company_currency(self) -> str:
        """`Preferences.CurrencyPrefs.HomeCurrency`, read once, when a record has no
        CurrencyRef (companies without multicurrency)."""
        if self._home_currency is None:
            url = self._url.removesuffix("/query") + "/preferences"
            body = self._get(f"{url}?minorversion={self._settings.minor_version}")
            preferences = body.get("Preferences") or {}
            home = (preferences.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}
            if not home.get("value"):
                raise FatalError(
                    "QuickBooks Online did not say the company's home currency "
                    "(Preferences.CurrencyPrefs.HomeCurrency)"
                )
            self._home_currency = str(home["value"])
        return self._home_currency

    # ------------------------------------------------------------------ querying

    def _changed(
        self, entity_name: str, since: Mapping[str, str], extra: str | None = None
    ) -> Iterator[Json]:
        """Entities changed at or after the stream's cursor; the cursor follows the newest.

        `>=`, not `>`: QuickBooks keeps seconds, so a change in the same second as the
        cursor but committed after the last pull must not be missed; re-reading a record
        is harmless.
        """
        conditions = [extra] if extra else []
        if entity_name in since:
            # Whole seconds, as QuickBooks keeps them (flooring keeps `>=` safe).
            moment = self._cursor_time(entity_name, since[entity_name]).replace(microsecond=0)
            conditions.append(f"{STAMP} >= '{moment.isoformat()}'")
        where = " AND ".join(conditions) or None
        self._read[entity_name] = 0
        entities = self._query_all(entity_name, where, counted=True)
        yield from self._tracked_read(entity_name, entities, self._stamp)

    def _by_ids(self, entity_name: str, ids: Sequence[str]) -> list[Json]:
        found: list[Json] = []
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            listed = ", ".join("'" + i.replace("'", "") + "'" for i in chunk)
            found.extend(self._query_all(entity_name, where=f"Id IN ({listed})"))
        return found

    def _query_all(
        self, entity_name: str, where: str | None, *, counted: bool = False
    ) -> Iterator[Json]:
        """Every entity the query matches, page by page (STARTPOSITION counts from 1) until a
        short page; `counted`: the stream's total is known after its first page."""
        return self._items(Stream(entity_name, "", "Id", STAMP, OFFSET), _Query(where, counted))

    def _fetch(self, stream: Stream, request: _Query, position: int) -> Page[Json]:
        # QuickBooks' own query language, not SQL: entity names are constants here, and the
        # only values put in (times, ids) are re-formatted or stripped of quotes.
        statement = f"SELECT * FROM {stream.name}"  # noqa: S608
        if request.where:
            statement += f" WHERE {request.where}"
        size = self._page_size()
        answer = self._query(f"{statement} STARTPOSITION {position} MAXRESULTS {size}")
        return Page(answer.get(stream.name) or [])

    def _page_size(self) -> int:
        return self._settings.page_size

    def _page_total(self, stream: Stream, request: _Query, page: Page[Json]) -> int | None:
        """The first page's entities when it is the only one, else a `SELECT COUNT(*)`."""
        if not request.counted:
            return None
        if len(page.items) < self._page_size():
            return len(page.items)
        return self._count(stream.name, request.where)

    def _change_stamp(self, entity: Json) -> dt.datetime | None:
        return mapping.last_updated(entity)

    def _count(self, entity_name: str, where: str | None) -> int | None:
        """How many entities the query matches, by `SELECT COUNT(*)` with the same filter,
        through the same client, retries and rate limit as the pages; None when the answer
        holds no `totalCount` (the bar then goes without this stream's total)."""
        statement = f"SELECT COUNT(*) FROM {entity_name}"  # noqa: S608 - as in _fetch
        if where:
            statement += f" WHERE {where}"
        count = self._query(statement).get("totalCount")
        if isinstance(count, int) and not isinstance(count, bool):
            return count
        log.warning("erp.count_missing", erp=self.name, stream=entity_name)
        return None

    def _query(self, statement: str) -> Json:
        # Spaces as %20, not '+': the statement is text, not a form.
        body = self._get(
            f"{self._url}?query={quote(statement, safe='')}"
            f"&minorversion={self._settings.minor_version}"
        )
        answer = body.get("QueryResponse")
        return answer if isinstance(answer, dict) else {}

    def _get(self, url: str) -> Json:
        response = self._client.request("GET", url, headers={"Accept": "application/json"})
        body = json_object(response, "QuickBooks Online answered")
        if "Fault" in body:
            raise FatalError(f"QuickBooks Online refused a request: {_fault(body['Fault'])}")
        if self._as_of is None and body.get("time"):
            self._as_of = mapping.stamp(body["time"])
        return body


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True, slots=True)
class _Query:
    """What one read of an entity asks for: its WHERE, and whether its total is counted."""

    where: str | None
    counted: bool = False


def _linked(entity: Json, kind: str) -> set[str]:
    """The ids of the `kind` transactions a payment's lines link to."""
    return {
        str(link.get("TxnId"))
        for line in entity.get("Line") or []
        for link in line.get("LinkedTxn") or []
        if link.get("TxnType") == kind and link.get("TxnId") is not None
    }


def _location(entity_name: str, entity: Json) -> str:
    return f"quickbooks:{entity_name}/{entity.get('Id')}"


def _ignored_text(entity: Json) -> str:
    kinds = [
        f"{link.get('TxnType')} {link.get('TxnId')}"
        for line in entity.get("Line") or []
        for link in line.get("LinkedTxn") or []
        if link.get("TxnType") not in ("Invoice", "CreditMemo")
    ]
    return ", ".join(kinds)


def _fault(fault: object) -> str:
    errors = fault.get("Error") if isinstance(fault, dict) else None
    if not errors:
        return "no detail"
    first = errors[0]
    return f"{first.get('code')} {first.get('Message')}: {first.get('Detail')}"


# --------------------------------------------------------------------------- building


def make_client(
    settings: QuickBooksSettings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_rotate: Callable[[str], None] | None = None,
) -> HttpClient:
    """The HTTP client with Intuit's OAuth 2.0 refresh-token grant and rate limit."""
    # The HTTP stack loads only for a run that reads QuickBooks.
    from connector.erp.tokenstore import refresh_token_client  # noqa: PLC0415

    return refresh_token_client(
        settings,
        ERP,
        REQUESTS_PER_MINUTE,
        environ=environ,
        session=session,
        sleep=sleep,
        on_rotate=on_rotate,
    )


def build(
    settings: QuickBooksSettings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    on_rotate: Callable[[str], None] | None = None,
) -> Source:
    """The configured source; secrets are read from `environ` (the process's by default)."""
    return QuickBooksSource(settings, make_client(settings, environ, session, on_rotate=on_rotate))
