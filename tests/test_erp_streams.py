"""Each API source declares its streams once; the names are the keys of stored cursors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from connector.erp.base import ApiSource, PulledItem, Stream
from connector.erp.business_central.source import BusinessCentralSource
from connector.erp.netsuite.source import NetSuiteSource
from connector.erp.quickbooks.source import QuickBooksSource
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
    declared: ClassVar[tuple[Stream, ...]] = (Stream("Bills", "invoice", "Id", "Stamp"),)


class _Inherited(_Declared):
    """A subclass that declares nothing keeps its parent's streams."""


def test_streams_follow_the_nearest_declaration() -> None:
    assert _Named.streams == ("Invoices",)
    assert _Declared.streams == ("Bills",)
    assert _Inherited.streams == ("Bills",)
