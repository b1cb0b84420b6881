"""Each API source declares its streams once; the names are the keys of stored cursors."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from enum import Enum
from typing import Any, ClassVar

import pytest
from structlog.testing import capture_logs

from arsync.quarantine import QuarantineEntry
from arsync.records import Customer
from connector.erp.base import ApiSource, Extent, Paging, Pulled, PulledItem, Stream
from connector.erp.business_central.source import BusinessCentralSource
from connector.erp.netsuite.source import NetSuiteSource
from connector.erp.paging import Page
from connector.erp.quickbooks.source import QuickBooksSource
from connector.erp.validation import UnmappableError
from connector.erp.xero.source import XeroSource

# Renaming a stream would orphan every stored cursor of it, so the names are pinned here.
EXPECTED = [
    (
        QuickBooksSource,
        ("Customer", "Invoice", "Payment", "CreditMemo"),
        ("customer", "invoice", "payment", "credit_memo"),
    ),
    (
        XeroSource,
        ("Contacts", "Invoices", "Payments", "Prepayments", "Overpayments", "CreditNotes"),
        ("customer", "invoice", "payment", "payment", "payment", "credit_memo"),
    ),
    (
        BusinessCentralSource,
        ("customers", "salesInvoices", "salesCreditMemos", "customerPayments"),
        ("customer", "invoice", "credit_memo", "payment"),
    ),
    (NetSuiteSource, ("customers", "transactions"), ("customer", "transaction")),
]


@pytest.mark.parametrize(("source", "names", "record_types"), EXPECTED)
def test_the_cursor_streams_are_the_declared_ones_in_order(
    source: type[ApiSource], names: tuple[str, ...], record_types: tuple[str, ...]
) -> None:
    assert source.streams == names
    assert tuple(stream.record_type for stream in source.declared) == record_types


class _Named(ApiSource):
    """A source that names its streams without declaring them keeps its names."""

    name = "example"
    streams = ("Invoices",)

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        yield from ()


class _Declared(_Named):
    declared: ClassVar[tuple[Stream, ...]] = (
        Stream("Bills", "invoice", "Id", "Stamp", Paging.OFFSET),
    )


class _Inherited(_Declared):
    """A subclass that declares nothing keeps its parent's streams."""


def test_streams_follow_the_nearest_declaration() -> None:
    assert _Named.streams == ("Invoices",)
    assert _Declared.streams == ("Bills",)
    assert _Inherited.streams == ("Bills",)


BILLS: list[dict[str, str | None]] = [
    {"Id": "1", "Stamp": "2024-03-01T10:00:00+00:00"},
    {"Id": "2", "Stamp": None},  # no stamp: counted, the cursor stays
    {"Id": "3", "Stamp": "2024-03-02T09:30:00Z"},  # kept as spelled
    {"Id": "4", "Stamp": "2024-02-01T00:00:00+00:00"},  # older: the cursor stays
]


def _stamp(bill: dict[str, str | None]) -> dt.datetime | None:
    return None if bill["Stamp"] is None else dt.datetime.fromisoformat(bill["Stamp"])


class _Tracked(_Declared):
    """Reads `Bills` through the base's `_tracked_read`, the stamp kept as spelled, then two
    more bills as a read that is not the stream's last; notes what the base says after each
    bill."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int | None, dict[str, str], Extent | None]] = []

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        self._totals["Bills"] = 10  # as the ERP counted them: replaced once they are read
        spelled = self._tracked_read("Bills", BILLS, _stamp, lambda bill: bill["Stamp"])
        more = self._tracked_read("Bills", BILLS[:2], _stamp, final=False)
        for bill in itertools.chain(spelled, more):
            self.seen.append((self.done(), self.cursors(), self.extent()))
            yield QuarantineEntry(
                record_type="invoice", record_id=bill["Id"], location="x", rule="r", reason="r"
            )


def test_the_base_counts_each_record_and_moves_the_cursor_from_its_stamp() -> None:
    source = _Tracked()
    pulled = list(source.pull({"Bills": "2024-01-01T00:00:00+00:00"}))
    assert len(pulled) == 6
    newest = {"Bills": "2024-03-02T09:30:00Z"}
    first = {"Bills": "2024-03-01T10:00:00+00:00"}
    assert source.seen[:4] == [
        (1, first, Extent(10, "records")),
        (2, first, Extent(10, "records")),
        (3, newest, Extent(10, "records")),
        (4, newest, Extent(10, "records")),
    ]
    # The first read is over (its total is what was read); the second adds to the read only.
    assert source.seen[4:] == [
        (5, newest, Extent(4, "records")),
        (6, newest, Extent(4, "records")),
    ]
    assert source.done() == 6
    assert source.extent() == Extent(4, "records")
    assert source.cursors() == newest


def test_a_stamp_before_the_stored_cursor_keeps_the_cursor() -> None:
    source = _Tracked()
    list(source.pull({"Bills": "2025-01-01T00:00:00+00:00"}))
    assert source.cursors() == {"Bills": "2025-01-01T00:00:00+00:00"}
    assert source.done() == 6


class _Skip(Enum):
    DRAFT = "a draft"


def _contact(entity: dict[str, str | None], lookups: str) -> Customer | _Skip:
    """A declared mapping: the source's lookups (its currency) come second."""
    if entity["Status"] == "DRAFT":
        return _Skip.DRAFT
    if not entity["Name"]:
        raise UnmappableError("Name is empty")
    return Customer(id=str(entity["Id"]), name=str(entity["Name"]), currency=lookups)


CONTACTS = [
    {"Id": "1", "Name": "Acme", "Status": "ACTIVE", "Stamp": "2024-03-01T10:00:00+00:00"},
    {"Id": "2", "Name": "", "Status": "ACTIVE", "Stamp": "2024-03-03T10:00:00+00:00"},
    {"Id": "3", "Name": "Draft", "Status": "DRAFT", "Stamp": "2024-03-02T10:00:00+00:00"},
    {"Id": "4", "Name": "Bolt", "Status": "ACTIVE", "Stamp": None},
    {"Id": "5", "Name": "Cask", "Status": "ACTIVE", "Stamp": "2024-02-01T10:00:00+00:00"},
]


class _Paged(ApiSource):
    """A declared stream read wholly by the base: only fetching a page is the source's."""

    name = "paged"
    declared: ClassVar[tuple[Stream, ...]] = (
        Stream("Contacts", "customer", "Id", "Stamp", Paging.PAGE_NUMBER, _contact),
    )

    def __init__(self) -> None:
        super().__init__()
        self._lookups = "EUR"
        self.asked: list[int] = []

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        stream = self.declared[0]
        return self._records(stream, self._read_stream(stream))

    def _fetch(self, stream: Stream, request: object, position: int) -> Page[Any]:
        self.asked.append(position)
        return Page(CONTACTS[(position - 1) * 2 : position * 2], body={"count": len(CONTACTS)})

    def _page_size(self) -> int:
        return 2

    def _page_total(self, stream: Stream, request: object, page: Page[Any]) -> int | None:
        return int(page.body["count"])

    def _change_stamp(self, entity: Any) -> dt.datetime | None:
        return _stamp(entity)


def test_the_base_reads_a_declared_stream_by_its_paging_and_mapping() -> None:
    source = _Paged()
    with capture_logs() as logs:
        items = list(source.pull({"Contacts": "2024-01-01T00:00:00+00:00"}))
    assert source.asked == [1, 2, 3]  # page numbers until a short page
    pulled = [item for item in items if isinstance(item, Pulled)]
    assert [(p.record.id, p.record.currency, p.location) for p in pulled] == [
        ("1", "EUR", "paged:Contacts/1"),
        ("4", "EUR", "paged:Contacts/4"),
        ("5", "EUR", "paged:Contacts/5"),
    ]
    rejected = [item for item in items if isinstance(item, QuarantineEntry)]
    assert [(e.record_type, e.record_id, e.location, e.reason) for e in rejected] == [
        ("customer", "2", "paged:Contacts/2", "Name is empty")
    ]
    skipped = [e for e in logs if e["event"] == "erp.record_skipped"]
    assert [(e["record"], e["reason"]) for e in skipped] == [("Contacts/3", "a draft")]
    # Every entity counted, the cursor at the newest stamp of any (the refused one's too).
    assert source.done() == 5
    assert source.extent() == Extent(5, "records")
    assert source.cursors() == {"Contacts": "2024-03-03T10:00:00+00:00"}
