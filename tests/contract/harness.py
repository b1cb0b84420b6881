"""What a connector case provides, and how its output is compared with the ledger it was fed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd
import responses

from arsync.control import ControlBalances
from arsync.ledger import Ledger, LedgerBuilder
from arsync.money import DEFAULT_MONEY_PLACES
from arsync.quarantine import QuarantineEntry
from arsync.records import (
    Application,
    CanonicalRecord,
    CreditMemo,
    Customer,
    Invoice,
    Payment,
    PaymentMethod,
)
from connector.erp.base import Cursors, Source
from contract.balances import Unseen
from contract.ledger import AS_OF, contract_ledger
from jobs.load import RECORD_TYPES, Pull, pull_into
from jobs.progress import Silent

T = TypeVar("T")
RECORD_TYPE = {
    Customer: "customer",
    Invoice: "invoice",
    Payment: "payment",
    CreditMemo: "credit_memo",
}


class Serve(Protocol):
    """Stands up the ERP holding exactly `records` and returns the configured source."""

    def __call__(
        self,
        records: list[CanonicalRecord],
        tmp_path: Path,
        mock: responses.RequestsMock,
        unseen: Unseen | None = None,
    ) -> Source: ...


@dataclass(frozen=True)
class ConnectorCase:
    """One ERP source under contract.

    `serve(records, tmp_path, mock, unseen)` stands up the ERP (files in tmp_path, or API
    answers on the `responses` mock, in the shapes of the ERP's public documentation) holding
    exactly `records`, its own balance of each customer computed from them
    (`contract.balances.erp_balances`, moved by `unseen`), and returns the configured source.
    `cannot_carry` names, per record type, the canonical fields that ERP has no place for:
    they are compared at their default.
    """

    name: str
    serve: Serve
    serve_state: Callable[[ErpState, Path, responses.RequestsMock], Source] | None = None
    """Stands up the ERP in `state` (see ErpState), for the incremental scenario; None: the
    source pulls a whole snapshot every run (files), so it has no incremental state."""
    cannot_carry: Mapping[str, frozenset[str]] = field(default_factory=dict)
    as_kept: Callable[[CanonicalRecord], CanonicalRecord] | None = None
    """How the ERP keeps a record it cannot hold as fed, field by field being not enough (a
    voided QuickBooks invoice has its amounts zeroed); None: every record as fed."""
    control_currencies: frozenset[str] | None = None
    """The customer currencies the source documents it reports a balance for (Business
    Central: LCY only; NetSuite: base currencies only); None: every currency."""

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


def build(records: Iterable[CanonicalRecord], money_places: int = DEFAULT_MONEY_PLACES) -> Ledger:
    """The records' ledger, at the money places of the pull they came from."""
    builder = LedgerBuilder(money_places=money_places)
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


# --------------------------------------------------------------------------- incremental state

FIRST_PULL = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)  # every invoice's stamp
CHANGED_AT = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC)  # after the first pull's cursors
CURRENCIES = frozenset({"USD", "EUR", "GBP"})
Key = tuple[str, str]  # (record type, id)


@dataclass(frozen=True)
class ErpState:
    """What the ERP holds at one moment of the scenario, for a case to express in its shapes.

    `records` as canonical records; `archived` the customers archived or inactive in the ERP
    (still holding open invoices); `later` the records changed after the first pull, which
    the ERP stamps at `CHANGED_AT`. Every other record keeps the stamp it had at the first
    pull: an invoice its `last_modified`, whatever else changed on it (its open balance).
    """

    records: list[CanonicalRecord]
    archived: frozenset[str] = frozenset()
    later: frozenset[Key] = frozenset()


def _stamped(records: Iterable[CanonicalRecord]) -> list[CanonicalRecord]:
    return [
        r.model_copy(update={"last_modified": FIRST_PULL}) if isinstance(r, Invoice) else r
        for r in records
    ]


def before_changes() -> ErpState:
    """The contract ledger, plus C5, archived with an open invoice I8, and P5, 75.00 of
    unapplied cash from C4 (the record the ERP deletes later)."""
    records = [
        *contract_ledger(),
        Customer(id="C5", name="Dormant Ltd", currency="USD", payment_terms_days=30),
        Invoice(
            id="I8",
            number="1008",
            customer_id="C5",
            issue_date=dt.date(2026, 3, 2),
            due_date=dt.date(2026, 4, 1),
            currency="USD",
            total=Decimal("640.00"),
            open_balance=Decimal("640.00"),
        ),
        Payment(
            id="P5",
            customer_id="C4",
            received_date=dt.date(2026, 6, 20),
            currency="USD",
            amount=Decimal("75.00"),
            method=PaymentMethod.CHECK,
        ),
    ]
    return ErpState(_stamped(records), archived=frozenset({"C5"}))


PARTLY_PAID = "I3"  # 450.50 open before; 100.00 paid by P4, its stamp unchanged


def after_changes() -> ErpState:
    """After the first pull: P4 pays 100.00 of I3 (the ERP lowers I3's open balance but not
    its stamp), C2 is archived with its open invoice I4, and P5 is deleted."""
    records: list[CanonicalRecord] = []
    for record in before_changes().records:
        if record.id == "P5":
            continue
        if isinstance(record, Invoice) and record.id == PARTLY_PAID:
            records.append(record.model_copy(update={"open_balance": record.open_balance - 100}))
        else:
            records.append(record)
    records.append(
        Payment(
            id="P4",
            customer_id="C1",
            received_date=dt.date(2026, 7, 1),
            currency="USD",
            amount=Decimal("100.00"),
            method=PaymentMethod.ACH,
            applications=(
                Application(
                    invoice_id=PARTLY_PAID,
                    amount=Decimal("100.00"),
                    applied_date=dt.date(2026, 7, 1),
                ),
            ),
        )
    )
    return ErpState(
        records,
        archived=frozenset({"C5", "C2"}),
        later=frozenset({("payment", "P4"), ("customer", "C2")}),
    )


@dataclass(frozen=True)
class Scenario:
    """The pulls of the incremental scenario, their ledgers built and their records kept."""

    first: Ledger  # the full pull before the changes
    incremental: Ledger  # the changes, on top of the first pull's kept records
    fresh: Ledger  # a full pull of the changed ERP (the next scheduled full pull)
    kept_after_incremental: dict[Key, CanonicalRecord]  # what the state store then holds
    kept_after_full: dict[Key, CanonicalRecord]
    quarantined: list[list[QuarantineEntry]]  # per pull, in that order
    controls: list[ControlBalances | None]  # the ERP's balances after each pull, in that order


def run_scenario(case: ConnectorCase, tmp_path: Path, mock: responses.RequestsMock) -> Scenario:
    """Full pull, the ERP changes, an incremental pull from the first one's cursors and kept
    records (as a run keeps them: `record_run` in jobs/pipeline.py), then a full pull again."""
    serve = case.serve_state
    assert serve is not None, case.name
    source = serve(before_changes(), tmp_path / "before", mock)
    first = pull_into(source, CURRENCIES, Silent())
    # Asked once each pull is fully read, as jobs/reconciliation.py asks, before the ERP moves.
    controls = [source.control_balances()]
    cursors = source.cursors()
    kept = _keep({}, first)
    mock.reset()
    changed = serve(after_changes(), tmp_path / "after", mock)
    incremental = pull_into(changed, CURRENCIES, Silent(), since=cursors, kept=_rows(kept))
    controls.append(changed.control_balances())
    kept_after_incremental = _keep(kept, incremental)
    mock.reset()
    again = serve(after_changes(), tmp_path / "again", mock)
    fresh = pull_into(again, CURRENCIES, Silent())
    controls.append(again.control_balances())
    pulls = (first, incremental, fresh)
    ledgers = [pull.builder.build(as_of=AS_OF) for pull in pulls]
    return Scenario(
        first=ledgers[0],
        incremental=ledgers[1],
        fresh=ledgers[2],
        kept_after_incremental=kept_after_incremental,
        kept_after_full=_keep({}, fresh),
        quarantined=[list(pull.builder.quarantine) for pull in pulls],
        controls=controls,
    )


def _keep(kept: dict[Key, CanonicalRecord], pull: Pull) -> dict[Key, CanonicalRecord]:
    """The state store's records after this pull: a full pull replaces them all, an
    incremental one replaces those it pulled again and forgets those now quarantined."""
    result = dict(kept) if pull.incremental else {}
    for key in pull.forgotten:
        result.pop(key, None)
    for item in pull.pulled:
        result[(RECORD_TYPES[type(item.record)], item.record.id)] = item.record
    return result


def _rows(kept: dict[Key, CanonicalRecord]) -> list[tuple[str, dict[str, Any], str]]:
    return [
        (kind, record.model_dump(mode="json"), f"kept:{kind}:{key}")
        for (kind, key), record in kept.items()
    ]


LEDGER_KEYS = {
    "customers": ["customer_id"],
    "invoices": ["invoice_id"],
    "payments": ["payment_id"],
    "credit_memos": ["credit_memo_id"],
    "applications": ["document_type", "document_id", "invoice_id"],
}


def ledger_frames(ledger: Ledger) -> dict[str, pd.DataFrame]:
    """The ledger's frames in a stable row order, to compare two ledgers by value."""
    return {
        name: getattr(ledger, name).sort_values(keys, kind="stable").reset_index(drop=True)
        for name, keys in LEDGER_KEYS.items()
    }


def assert_same_ledger(actual: Ledger, expected: Ledger, label: str) -> None:
    want = ledger_frames(expected)
    for name, frame in ledger_frames(actual).items():
        pd.testing.assert_frame_equal(frame, want[name], obj=f"{label}: {name}")
