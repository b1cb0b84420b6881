"""Records arsync keeps beside the Accounts (invoices, Tasks): planned changes and writing them.

A change is planned against what Salesforce holds now, read in the same run, so a rerun with
nothing new writes nothing, and a run after a crash finds what the crashed run created.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import structlog

from connector.crm.salesforce.push import Operation, RecordOutcome, RecordWrite, write_records

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)
Action = Literal["create", "update", "close"]


@dataclass(frozen=True)
class RecordChange:
    """One record to create, update or close; `key` is what it is known by in the ERP terms
    (the invoice id; for a Task, its Account)."""

    sobject: str
    key: str
    customer_id: str
    action: Action
    values: dict[str, Any]
    record_id: str | None = None
    previous: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeOutcome:
    change: RecordChange
    ok: bool
    record_id: str | None
    error_code: str | None = None
    message: str | None = None


def write_changes(
    client: SalesforceClient,
    changes: Sequence[RecordChange],
    operation_for: Callable[[RecordChange], Operation],
    sleep: Callable[[float], None] = time.sleep,
    on_confirmed: Callable[[list[ChangeOutcome]], None] | None = None,
) -> list[ChangeOutcome]:
    """Write the changes, grouped by operation; one outcome per change, in their order.
    `on_confirmed` hears each batch's outcomes as Salesforce answers them."""
    groups: dict[Operation, list[RecordChange]] = {}
    for change in changes:
        groups.setdefault(operation_for(change), []).append(change)
    results: dict[tuple[Operation, str], RecordOutcome] = {}
    for operation, group in groups.items():
        by_key = {_write_key(c): c for c in group}
        writes = [RecordWrite(_write_key(c), c.values, c.record_id) for c in group]

        def confirmed(
            batch: Mapping[str, RecordOutcome], by_key: dict[str, RecordChange] = by_key
        ) -> None:
            if on_confirmed is not None:
                on_confirmed(
                    [_change_outcome(by_key[key], result) for key, result in batch.items()]
                )

        for key, outcome in write_records(client, operation, writes, sleep, confirmed).items():
            results[(operation, key)] = outcome
    outcomes = []
    for change in changes:
        result = results[(operation_for(change), _write_key(change))]
        outcomes.append(_change_outcome(change, result))
        if not result.ok:
            log.warning(
                "salesforce.record_failed",
                sobject=change.sobject,
                key=change.key,
                action=change.action,
                record_id=change.record_id,
                error_code=result.error_code,
                message=result.message,
            )
    return outcomes


def _change_outcome(change: RecordChange, result: RecordOutcome) -> ChangeOutcome:
    return ChangeOutcome(
        change, result.ok, result.record_id or change.record_id, result.error_code, result.message
    )


def _write_key(change: RecordChange) -> str:
    return change.record_id or change.key
