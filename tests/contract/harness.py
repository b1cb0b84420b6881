"""What a connector case provides, and how its output is compared with the ledger it was fed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import responses

from arsync.ledger import Ledger, LedgerBuilder
from arsync.quarantine import QuarantineEntry
from arsync.records import CanonicalRecord, CreditMemo, Customer, Invoice, Payment
from connector.erp.base import Cursors, Source
from jobs.pipeline import pull_into

T = TypeVar("T")
RECORD_TYPE = {
    Customer: "customer",
    Invoice: "invoice",
    Payment: "payment",
    CreditMemo: "credit_memo",
}


@dataclass(frozen=True)
class ConnectorCase:
    """One ERP source under contract.

    `serve(records, tmp_path, mock)` stands up the ERP (files in tmp_path, or API answers on
    the `responses` mock, in the shapes of the ERP's public documentation) holding exactly
    `records`, and returns the configured source. `cannot_carry` names, per record type, the
    canonical fields that ERP has no place for: they are compared at their default.
    """

    name: str
    serve: Callable[[list[CanonicalRecord], Path, responses.RequestsMock], Source]
    cannot_carry: Mapping[str, frozenset[str]] = field(default_factory=dict)
    as_kept: Callable[[CanonicalRecord], CanonicalRecord] | None = None
    """How the ERP keeps a record it cannot hold as fed, field by field being not enough (a
    voided QuickBooks invoice has its amounts zeroed); None: every record as fed."""

    def expected(self, fed: Iterable[CanonicalRecord]) -> list[CanonicalRecord]:
        """The records this ERP should yield back for the ledger it was fed."""
        as_kept = self.as_kept
        return [record if as_kept is None else as_kept(record) for record in fed]


def comparable(
    records: Iterable[CanonicalRecord], cannot_carry: Mapping[str, frozenset[str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Records keyed by (type, id) as plain data, without the fields the ERP cannot carry."""
    result = {}
    for record in records:
        kind = RECORD_TYPE[type(record)]
        data = record.model_dump(exclude=set(cannot_carry.get(kind, ())))
        if "applications" in data:
            data["applications"] = sorted(
                (a["invoice_id"], str(a["amount"]), str(a["applied_date"]))
                for a in data["applications"]
            )
        result[(kind, record.id)] = data
    return result


def pull_all(source: Source) -> tuple[list[CanonicalRecord], list[QuarantineEntry]]:
    records: list[CanonicalRecord] = []
    rejected: list[QuarantineEntry] = []
    for item in source.pull():
        if isinstance(item, QuarantineEntry):
            rejected.append(item)
        else:
            records.append(item.record)
    return records, rejected


def build(records: Iterable[CanonicalRecord]) -> Ledger:
    builder = LedgerBuilder()
    for number, record in enumerate(records, start=1):
        builder.add(record, f"contract:{number}")
    assert list(builder.quarantine) == []
    return builder.build()


class BarRecorder:
    """A Reporter that keeps what the pull's bar was told after each item: (total, done)."""

    def __init__(self) -> None:
        self.unit: str | None = None
        self.seen: list[tuple[int | None, int]] = []

    def track(
        self,
        items: Iterable[T],
        description: str,
        *,
        unit: str = "records",
        total: Callable[[], int | None] | None = None,
        done: Callable[[], int | None] | None = None,
    ) -> Iterator[T]:
        self.unit = unit
        for count, item in enumerate(items, start=1):
            yield item
            measured = done() if done is not None else None
            self.seen.append((total() if total else None, count if measured is None else measured))

    def step(self, description: str) -> AbstractContextManager[object]:
        return nullcontext()


def bar_of(source: Source, since: Cursors | None = None) -> BarRecorder:
    """The bar of a whole pull through the pipeline, as the CLI would draw it."""
    recorder = BarRecorder()
    pull_into(source, frozenset({"USD", "EUR", "GBP"}), recorder, since=since)
    return recorder
