"""One way for every API source to turn a payload it cannot read into a quarantine entry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

import pytest
from pydantic import ValidationError

from arsync.errors import SkippableError
from arsync.quarantine import QuarantineEntry
from arsync.records import Invoice
from connector.erp.base import ApiSource, PulledItem
from connector.erp.quickbooks import mapping as quickbooks
from connector.erp.validation import UnmappableError, rejected
from connector.erp.xero import mapping as xero


def test_a_mapping_refusal_is_the_projects_skippable_error_with_its_rule() -> None:
    error = UnmappableError("TotalAmt is empty")
    assert isinstance(error, SkippableError)
    entry = rejected("invoice", 42, "quickbooks:Invoice/42", error, {})
    assert (entry.record_id, entry.rule, entry.reason) == ("42", "invalid_record", error.reason)
    # The sources' mappings raise this one class, so the base's handling catches all of them.
    assert quickbooks.UnmappableError is xero.UnmappableError is UnmappableError


def test_pydantics_complaints_name_the_erps_field_and_the_value_it_sent() -> None:
    with pytest.raises(ValidationError) as raised:
        Invoice.model_validate(
            {
                "id": "7",
                "customer_id": "C1",
                "issue_date": "2026-01-01",
                "due_date": "2026-01-31",
                "currency": "USD",
                "total": "ten",
                "open_balance": "10",
                "status": "open",
            }
        )
    entry = rejected("invoice", "7", "xero:Invoices/7", raised.value, xero.SOURCE_FIELDS)
    assert entry.rule == "invalid_record"
    assert entry.reason.startswith(f"{xero.SOURCE_FIELDS['total']}: ")
    assert "(got 'ten')" in entry.reason


class _Source(ApiSource):
    name = "example"
    streams = ("Invoices",)
    fields: ClassVar[Mapping[str, str]] = {"total": "Total"}

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        yield from ()


def test_the_base_catches_each_records_refusal_once_and_nothing_else() -> None:
    source = _Source()

    def bad_total() -> Invoice:
        return Invoice.model_validate({"id": "7", "total": "ten"})

    def bad_line() -> Invoice:
        raise UnmappableError("line 2: amount is empty", location="example:Lines/2")

    def broken() -> Invoice:
        raise KeyError("a bug, not a bad record")

    entry = source._convert("invoice", "7", "example:Invoices/7", bad_total)
    assert isinstance(entry, QuarantineEntry)
    assert "; Total: Input should be a valid decimal (got 'ten')" in entry.reason
    entry = source._convert("invoice", "8", "example:Invoices/8", bad_line)
    assert isinstance(entry, QuarantineEntry)
    assert (entry.location, entry.rule) == ("example:Lines/2", "invalid_record")
    assert source._caught("invoice", "9", "example:Invoices/9", lambda: None) is None
    with pytest.raises(KeyError):  # an unexpected exception is fatal, never quarantine
        source._convert("invoice", "10", "example:Invoices/10", broken)
