"""Xero source: the Accounting API's list endpoints, paged, filtered by `If-Modified-Since`.

`GET https://api.xero.com/api.xro/2.0/{Contacts|Invoices|Payments|Prepayments|Overpayments|
CreditNotes}?page=N` (100 a page, a `pagination` object says how many pages; Contacts with
`includeArchived=true`, or Xero leaves archived ones out) with the `Xero-tenant-id` header,
through the shared `HttpClient` (OAuth 2.0 refresh-token grant, retries, Retry-After, 60 calls
a minute). The first page's `pagination.itemCount` is the stream's total for the progress
bar, at no extra call.

An incremental pull re-verifies the open invoices (`Statuses=AUTHORISED`, paged, one call a
page more): Xero documents `UpdatedDateUTC` as "the timestamp of the last edit to the
invoice", and does not say a payment is one. An invoice paid off is PAID, no longer
AUTHORISED; the payment or allocation that paid it is new, so every invoice a changed payment,
prepayment, overpayment or credit note points at that was not read yet is read by `IDs=`, 50
a call.

After the pull, `control_balances()` gives Xero's own figure per contact,
`Balances.AccountsReceivable.Outstanding`, which Xero sends on paged Contacts lists: a full pull
keeps it from the contacts it read (no call more); an incremental one, which read only the
changed contacts, reads every contact's page again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from arsync.control import ControlBalance, ControlBalances
from arsync.errors import FatalError
from arsync.records import CanonicalRecord, CreditMemo, Customer, Invoice, Payment
from connector.erp.base import ApiSource, Paging, Pulled, PulledItem, Source, Stream, utc_cursor
from connector.erp.json_body import json_object
from connector.erp.paging import Page
from connector.erp.validation import UnmappableError, money
from connector.erp.xero import mapping
from connector.erp.xero.mapping import SOURCE_FIELDS, Context, Json, NotReceivableError
from connector.erp.xero.settings import XeroSettings

if TYPE_CHECKING:
    import requests

    from connector.erp.http import HttpClient

log = structlog.get_logger(__name__)
ERP = "Xero"
CALLS_PER_MINUTE = 60  # Xero's limit per organisation and app (and 5,000 a day)
PAGE_SIZE = 100  # what Xero returns per page unless told otherwise
DAY_LIMIT_WARNING = 500  # warn when fewer calls than this are left for the day
IDS_PER_CALL = 50  # `IDs=` lists, kept well under URL limits
OPEN = (("Statuses", "AUTHORISED"),)  # approved and not fully paid: still owed


@dataclass(frozen=True, slots=True)
class XeroStream(Stream):
    """One list endpoint (`name`, also the key of its list in the answer), paged by `page=`:
    besides what every stream declares, the filter and the parameters Xero is asked with."""

    where: str | None = None
    query: tuple[tuple[str, str], ...] = ()  # sent on every request, full or incremental


UPDATED = "UpdatedDateUTC"  # every endpoint's change stamp, asked for by If-Modified-Since


# Xero returns only ACTIVE contacts unless asked: an archived contact's outstanding invoices
# are still receivables, so ARCHIVED (and GDPRREQUEST) contacts are read too.
INCLUDE_ARCHIVED = (("includeArchived", "true"),)


def _endpoint(
    name: str,
    record_type: str,
    where: str | None,
    convert: Callable[[Json, Context], CanonicalRecord],
    query: tuple[tuple[str, str], ...] = (),
) -> XeroStream:
    """A list endpoint: its objects' key is the singular of its name and ID (`Contacts`:
    `ContactID`), its change stamp UpdatedDateUTC."""
    key = f"{name[:-1]}ID"
    return XeroStream(name, record_type, key, UPDATED, Paging.PAGE_NUMBER, convert, where, query)


STREAMS = (
    _endpoint("Contacts", "customer", None, mapping.customer, INCLUDE_ARCHIVED),
    _endpoint("Invoices", "invoice", 'Type=="ACCREC"', mapping.invoice),
    _endpoint("Payments", "payment", 'PaymentType=="ACCRECPAYMENT"', mapping.payment),
    _endpoint(
        "Prepayments",
        "payment",
        'Type=="RECEIVE-PREPAYMENT"',
        lambda entity, context: mapping.prepayment(entity, context, "Prepayment"),
    ),
    _endpoint(
        "Overpayments",
        "payment",
        'Type=="RECEIVE-OVERPAYMENT"',
        lambda entity, context: mapping.prepayment(entity, context, "Overpayment"),
    ),
    _endpoint("CreditNotes", "credit_memo", 'Type=="ACCRECCREDIT"', mapping.credit_note),
)
CONTACTS, INVOICES = STREAMS[0], STREAMS[1]
CONTROL_FIGURE = "Xero Balances.AccountsReceivable.Outstanding (read as net of credit)"


class XeroSource(ApiSource):
    """Receivables of one Xero organisation (tenant)."""

    name: ClassVar[str] = "xero"
    declared: ClassVar[tuple[Stream, ...]] = STREAMS
    fields: ClassVar[Mapping[str, str]] = SOURCE_FIELDS

    def __init__(self, settings: XeroSettings, client: HttpClient) -> None:
        super().__init__()
        self._settings = settings
        self._client = client
        self._base = settings.base_url.rstrip("/")
        self._organisation: Json | None = None
        self._lookups = Context(self._base_currency, self._default_terms_days)
        self._held: dict[str, Customer] = {}
        self._read_invoices: set[str] = set()  # the invoices this pull has read
        self._paid_invoices: set[str] = set()  # the invoices changed payments point at
        # A full pull's contacts, as far as the reconciliation needs them; None: not read whole.
        self._contact_figures: list[Json] | None = None

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        """Every stream modified since its cursor (all of it without one).

        Contacts that are only suppliers are held back, unless a document of this pull names
        them: a contact Xero marks neither as customer is not a receivables account.
        """
        self._held = {}
        self._read_invoices = set()
        self._paid_invoices = set()
        self._contact_figures = None
        for stream in STREAMS:
            cursor = since.get(stream.name)
            if stream.name == INVOICES.name and cursor is not None:
                entities = self._changed_and_open_invoices(cursor)
            else:
                entities = self._pages(stream, cursor)
            figures: list[Json] | None = [] if stream is CONTACTS and cursor is None else None
            for entity in entities:
                if figures is not None:
                    figures.append(_figures(entity))
                self._paid_invoices |= _pointed_at(entity)
                yield from self._emit(stream, entity)
            if figures is not None:
                self._contact_figures = figures
        if INVOICES.name in since:
            for entity in self._linked_invoices():
                yield from self._emit(INVOICES, entity)

    def control_balances(self) -> ControlBalances:
        """Each contact's `Balances.AccountsReceivable.Outstanding`, in its `DefaultCurrency`
        (else the organisation's `BaseCurrency`), the currency arsync gives the customer.

        Xero returns `Balances` on paged Contacts lists (`page=`, no `summaryOnly`). A full
        pull has just read every contact that way, so its contacts serve, at no call more (the
        60 calls a minute go to documents); an incremental pull read only the changed ones
        (`If-Modified-Since` does not fire on a balance change), so every contact is read
        again, archived ones included.

        Basis NET: Xero does not document whether credit notes, prepayments and overpayments
        not yet allocated are netted into `Outstanding`. Its own examples say they are: both
        show `Overdue` above `Outstanding`, which a gross figure of open invoices could not be,
        and an `Outstanding` below zero. Were it gross, a customer holding unallocated credit
        would show as unreconciled and not be written: the safe way to be wrong.

        `every_customer` is False: Xero adds up a contact's documents in every currency
        without converting them ("raw ... not converted to base currency"), so for a contact
        invoiced in two currencies the figure means nothing. Listed as speaking for only the
        contacts in it, such a contact, whose ledger holds a second currency, is
        `not_comparable` instead of unreconciled in both, and no meaningless sum reaches a
        currency's portfolio total. Every contact read is listed, with 0 too, so "Xero says 0,
        arsync does not" is still caught; one without the figure is left out (a debug line),
        never taken as 0. Supplier-only contacts with nothing receivable are not customers.
        """
        calls = self._client.calls
        contacts = self._contact_figures
        if contacts is None:
            contacts = [_figures(entity) for entity in self._uncounted(CONTACTS)]
        balances = [self._control_balance(contact) for contact in contacts]
        return self._control_list(
            CONTROL_FIGURE,
            [balance for balance in balances if balance is not None],
            calls=self._client.calls - calls,
            reused=self._contact_figures is not None,
        )

    def _control_balance(self, contact: Json) -> ControlBalance | None:
        location = f"xero:Contacts/{contact.get('ContactID')}"
        receivable = ((contact.get("Balances") or {}).get("AccountsReceivable")) or {}
        outstanding = receivable.get("Outstanding")
        try:
            if not contact.get("ContactID"):
                raise UnmappableError("ContactID is empty")
            amount = money(outstanding, "Balances.AccountsReceivable.Outstanding")
        except UnmappableError as error:
            return self._control_skipped(location, str(error))
        if amount == 0 and _supplier_only(contact):
            return None
        currency = mapping.currency(contact, "DefaultCurrency", self._lookups)
        return ControlBalance(str(contact["ContactID"]), currency, amount)

    def _emit(self, stream: XeroStream, entity: Json) -> Iterator[PulledItem]:
        item = self._record(stream, entity)
        if item is None:
            return
        record = item.record if isinstance(item, Pulled) else None
        if isinstance(record, Customer) and _supplier_only(entity):
            self._held[record.id] = record
            return
        if isinstance(record, Invoice | Payment | CreditMemo):
            yield from self._release(record.customer_id)
        yield item

    def _changed_and_open_invoices(self, cursor: str) -> Iterator[Json]:
        """The invoices modified since the cursor, and every open one, each once.

        Of two copies the later `UpdatedDateUTC` wins; on a tie, the later read.
        """
        reads = (self._pages(INVOICES, cursor), self._pages(INVOICES, None, OPEN))
        freshest = self._freshest(INVOICES, *reads)
        self._read_invoices = set(freshest)
        yield from freshest.values()

    def _linked_invoices(self) -> Iterator[Json]:
        """The invoices changed payments and credit point at that this pull has not read: one
        paid off is no longer open, and its stamp may not have moved."""
        wanted = sorted(self._paid_invoices - self._read_invoices)
        self._read_invoices |= set(wanted)
        for start in range(0, len(wanted), IDS_PER_CALL):
            listed = ",".join(wanted[start : start + IDS_PER_CALL])
            yield from self._pages(INVOICES, None, (("IDs", listed),))

    # ------------------------------------------------------------------ mapping

    def _record(
        self,
        stream: Stream,
        entity: Json,
        convert: Callable[[Json, Context], object] | None = None,
        record_type: str | None = None,
    ) -> PulledItem | None:
        """The declared mapping, and a warning for credit refunded in cash; a document that
        is not a receivable (`NotReceivableError`) is skipped with a debug line."""
        location = self._location(stream, entity)
        mapped = convert or stream.mapping
        if mapped is None:  # the base refuses a stream without a mapping
            return super()._record(stream, entity)

        def build(entity: Json, context: Context) -> object:
            record = mapped(entity, context)
            if isinstance(record, Payment | CreditMemo):
                self._warn_if_credit_used_elsewhere(entity, record, location)
            return record

        try:
            return super()._record(stream, entity, build, record_type)
        except NotReceivableError as skipped:
            log.debug("erp.record_skipped", erp=self.name, record=location, reason=str(skipped))
            return None

    def _release(self, customer_id: str) -> Iterator[PulledItem]:
        held = self._held.pop(customer_id, None)
        if held is not None:
            yield Pulled(held, f"xero:Contacts/{customer_id}")

    # ------------------------------------------------------------------ organisation

    def _base_currency(self) -> str:
        currency = self._org().get("BaseCurrency")
        if not currency:
            raise FatalError("Xero did not say the organisation's BaseCurrency")
        return str(currency)

    def _default_terms_days(self) -> int | None:
        sales = (self._org().get("PaymentTerms") or {}).get("Sales")
        return mapping.terms_days(sales) if sales else None

    def _org(self) -> Json:
        """`GET /Organisation`, read once, when a record leans on the organisation's
        defaults (a contact without DefaultCurrency or its own sales terms)."""
        if self._organisation is None:
            body = self._get("Organisation", params={}, modified_since=None)[1]
            found = body.get("Organisations") or [{}]
            self._organisation = found[0]
        return self._organisation

    # ------------------------------------------------------------------ paging

    def _pages(
        self, stream: XeroStream, cursor: str | None, query: tuple[tuple[str, str], ...] = ()
    ) -> Iterator[Json]:
        """Every object of the stream (that `query` asks for), page by page; the cursor
        follows the newest. Each read adds to the stream's read and total (the first page's
        `pagination.itemCount`)."""
        modified_since = None if cursor is None else _if_modified_since(stream.name, cursor)
        return self._read_stream(stream, _Request(modified_since, query, counted=True))

    def _uncounted(self, stream: XeroStream) -> Iterator[Json]:
        """Every object of the stream, read outside the pull: no cursor moves, and nothing is
        added to the pull's counts."""
        return self._items(stream, _Request(None, ()))

    def _fetch(self, stream: Stream, request: _Request, position: int) -> Page[Json]:
        """Page `position` of the stream, until the `pagination` object's `pageCount`, or a
        short page when there is none."""
        where = stream.where if isinstance(stream, XeroStream) else None
        fixed = stream.query if isinstance(stream, XeroStream) else ()
        params: dict[str, str | int] = {"page": position, **dict(fixed), **dict(request.query)}
        if where:
            params["where"] = where
        response, body = self._get(stream.name, params, request.modified_since)
        _warn_if_day_limit_low(response)
        calls_left = {
            "minute_calls_left": response.headers.get("X-MinLimit-Remaining"),
            "day_calls_left": response.headers.get("X-DayLimit-Remaining"),
        }
        items = body.get(stream.name) or []
        return Page(items, more=_more_pages(body, position), body=body, context=calls_left)

    def _page_size(self) -> int:
        return PAGE_SIZE

    def _page_total(self, stream: Stream, request: _Request, page: Page[Json]) -> int | None:
        """The stream's total from `pagination.itemCount`, when this API version sends it."""
        pagination = page.body.get("pagination")
        count = pagination.get("itemCount") if isinstance(pagination, dict) else None
        counted = request.counted and isinstance(count, int) and not isinstance(count, bool)
        return count if counted else None

    def _change_stamp(self, entity: Json) -> dt.datetime | None:
        return mapping.updated(entity)

    def _get(
        self, endpoint: str, params: Mapping[str, str | int], modified_since: str | None
    ) -> tuple[requests.Response, Json]:
        headers = {"Xero-tenant-id": self._settings.tenant_id, "Accept": "application/json"}
        if modified_since is not None:
            headers["If-Modified-Since"] = modified_since
        response = self._client.request(
            "GET", f"{self._base}/{endpoint}", params=dict(params), headers=headers
        )
        if response.status_code == 304:  # nothing modified since
            return response, {}
        body = json_object(response, f"Xero answered GET {endpoint}")
        if self._as_of is None and body.get("DateTimeUTC"):
            stamp = mapping.moment(body["DateTimeUTC"])
            self._as_of = None if stamp is None else stamp.astimezone(dt.UTC)
        return response, body


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True, slots=True)
class _Request:
    """One read of an endpoint: its If-Modified-Since, the parameters it adds, and whether
    its first page's count is the stream's total."""

    modified_since: str | None
    query: tuple[tuple[str, str], ...]
    counted: bool = False


def _pointed_at(entity: Json) -> set[str]:
    """The invoices a payment (`Invoice`) or a credit note, prepayment or overpayment
    (`Allocations[].Invoice`) settles."""
    invoices = [entity.get("Invoice")]
    invoices += [a.get("Invoice") for a in entity.get("Allocations") or [] if isinstance(a, dict)]
    return {
        str(invoice["InvoiceID"])
        for invoice in invoices
        if isinstance(invoice, dict) and invoice.get("InvoiceID")
    }


def _figures(contact: Json) -> Json:
    """What the reconciliation needs of a contact: kept from a full pull, not the contact."""
    keys = ("ContactID", "DefaultCurrency", "Balances", "IsSupplier", "IsCustomer")
    return {key: contact[key] for key in keys if key in contact}


def _supplier_only(contact: Json) -> bool:
    return bool(contact.get("IsSupplier")) and contact.get("IsCustomer") is False


def _more_pages(body: Json, page: int) -> bool | None:
    """Whether pages follow page `page`, by the `pagination` object when Xero sends one; None
    when it does not (a short page then ends the list)."""
    pagination = body.get("pagination")
    if isinstance(pagination, dict) and pagination.get("pageCount") is not None:
        return page < int(pagination["pageCount"])
    return None


def _if_modified_since(stream: str, cursor: str) -> str:
    """The header as Xero documents it: a UTC time, yyyy-mm-ddThh:mm:ss (seconds floored,
    so nothing changed in the cursor's second is missed)."""
    return utc_cursor(stream, cursor).strftime("%Y-%m-%dT%H:%M:%S")


def _warn_if_day_limit_low(response: requests.Response) -> None:
    left = response.headers.get("X-DayLimit-Remaining")
    if left is not None and left.isdigit() and int(left) < DAY_LIMIT_WARNING:
        log.warning("erp.day_limit_low", erp="xero", day_calls_left=int(left))


def _stop_at_daily_limit(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A 429 for the daily limit will not clear within a run: stop at once instead of
    retrying (the per-minute 429s are retried by HttpClient, honouring Retry-After). The
    header's value (`minute`, `day`, `appminute`, ...) is read whatever its casing."""
    problem = (response.headers.get("X-Rate-Limit-Problem") or "").strip().lower()
    if response.status_code == 429 and problem == "day":
        raise FatalError(
            "Xero's daily call limit for this organisation is used up; it resets after "
            f"{response.headers.get('Retry-After', 'an unknown number of')} seconds"
        )


# --------------------------------------------------------------------------- building


def make_client(
    settings: XeroSettings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_rotate: Callable[[str], None] | None = None,
) -> HttpClient:
    """The HTTP client with Xero's OAuth 2.0 refresh-token grant and call limits."""
    # The HTTP stack loads only for a run that reads Xero.
    from connector.erp.tokenstore import refresh_token_client  # noqa: PLC0415

    return refresh_token_client(
        settings,
        ERP,
        CALLS_PER_MINUTE,
        environ=environ,
        session=session,
        sleep=sleep,
        on_rotate=on_rotate,
        hooks=(_stop_at_daily_limit,),
    )


def build(
    settings: XeroSettings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    on_rotate: Callable[[str], None] | None = None,
) -> Source:
    """The configured source; secrets are read from `environ` (the process's by default)."""
    return XeroSource(settings, make_client(settings, environ, session, on_rotate=on_rotate))
