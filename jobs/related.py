"""The records kept beside the Accounts: open invoices and next-action Tasks (both optional).

Planned with the Accounts by `jobs.crm_stage.plan_crm`, before any write, from what
`jobs.crm.read_crm` read before scoring (no query here), for the Accounts in scope: matched to
one customer, not on hold and not held; written by `jobs.crm_stage.write_crm` after the
Accounts. The objects were checked against describe() when the connection opened. A dry run
plans them and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd
import structlog

from arsync.crm_objects import TaskSync
from arsync.ledger import Ledger
from connector.crm.salesforce.changes import ChangeOutcome, RecordChange
from connector.crm.salesforce.invoices import invoice_operation, plan_invoices
from connector.crm.salesforce.push import write_changes
from connector.crm.salesforce.tasks import WantedTask, plan_tasks, task_operation
from jobs.crm import CrmConnection, CrmRead, accounts_in_scope
from jobs.outcomes import outcome_frame, outcome_row
from jobs.settings import RunSettings
from scoring.invoices import invoice_lines

log = structlog.get_logger(__name__)
_Read = TypeVar("_Read", dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]])


@dataclass(frozen=True)
class RelatedPlan:
    """The invoice record and Task changes of a run, planned from its one read; an object
    that is off in the mapping has none."""

    invoices: list[RecordChange] = field(default_factory=list)
    tasks: list[RecordChange] = field(default_factory=list)


def plan_related(
    settings: RunSettings,
    connection: CrmConnection,
    read: CrmRead,
    scores: pd.DataFrame,
    ledger: Ledger,
    *,
    as_of: dt.date,
    quarantined_invoices: frozenset[str] = frozenset(),
    held: frozenset[str] = frozenset(),
) -> RelatedPlan:
    """The invoice records and Tasks to write, from `read` alone (no query: everything was
    read with the Accounts, before scoring); `connection` gives only the invoice fields'
    types from describe().

    A quarantined invoice is still the ERP's: its record is left as it is, not marked removed.
    A `held` customer (its balance does not reconcile) is left as it is, like one on hold.
    """
    mapping = settings.crm_mapping
    in_scope = accounts_in_scope(read.snapshot, mapping.match.hold_field)
    in_scope = {customer: account for customer, account in in_scope.items() if customer not in held}
    invoice_changes: list[RecordChange] = []
    task_changes: list[RecordChange] = []

    invoices = mapping.invoices
    if invoices.enabled:
        lines = invoice_lines(ledger, as_of, scores.set_index("customer_id"))
        invoice_changes = plan_invoices(
            invoices,
            lines,
            in_scope,
            _was_read(read.invoices, invoices.object),
            known_invoices=set(ledger.invoices["invoice_id"].astype(str)) | quarantined_invoices,
            field_types={name: info.type for name, info in connection.invoice_fields.items()},
        )

    tasks = mapping.tasks
    if tasks.enabled:
        wanted = wanted_tasks(scores, in_scope, read, tasks)
        customers = {account_id: customer for customer, account_id in in_scope.items()}
        task_changes = plan_tasks(tasks, wanted, customers, _was_read(read.tasks, "Task"))
    return RelatedPlan(invoice_changes, task_changes)


def write_related(
    settings: RunSettings,
    connection: CrmConnection,
    plan: RelatedPlan,
    *,
    dry_run: bool,
    on_confirmed: Callable[[list[ChangeOutcome]], None] | None = None,
) -> pd.DataFrame:
    """Write the planned invoice records, then the Tasks, unless dry; one row per change.
    `on_confirmed` hears each batch's outcomes as Salesforce answers them."""
    mapping = settings.crm_mapping
    if not (mapping.invoices.enabled or mapping.tasks.enabled):
        return outcome_frame()
    client = connection.client
    rows: list[dict[str, Any]] = []
    if mapping.invoices.enabled:
        operation = invoice_operation(mapping.invoices)
        invoices = plan.invoices
        rows += _rows(
            invoices,
            dry_run,
            lambda: write_changes(client, invoices, lambda _: operation, on_confirmed=on_confirmed),
        )
    if mapping.tasks.enabled:
        tasks = plan.tasks
        rows += _rows(
            tasks,
            dry_run,
            lambda: write_changes(client, tasks, task_operation, on_confirmed=on_confirmed),
        )
    return outcome_frame(rows)


def _was_read(records: _Read | None, sobject: str) -> _Read:
    """The records `read_crm` read; planning without them would create what exists."""
    if records is None:
        raise ValueError(f"{sobject} is on in the mapping but was not read with the Accounts")
    return records


def wanted_tasks(
    scores: pd.DataFrame, in_scope: Mapping[str, str], read: CrmRead, sync: TaskSync
) -> dict[str, WantedTask | None]:
    """Account Id -> the Task it should have open (None: no action needed, close any)."""
    wanted: dict[str, WantedTask | None] = {}
    rows = {str(row["customer_id"]): row for row in scores.to_dict("records")}
    for customer, account_id in in_scope.items():
        row = rows.get(customer)
        if row is None:
            continue
        if row["next_action"] == "none":
            wanted[account_id] = None
            continue
        owner = sync.owner
        if owner == "account_owner":
            owner = str(read.snapshot.accounts[customer].get("OwnerId") or "")
        due = row["next_action_date"]
        wanted[account_id] = WantedTask(
            customer_id=customer,
            subject=f"{sync.subject_prefix}{row['next_action_label']}"[:255],
            due=due.isoformat() if due is not None and not pd.isna(due) else None,
            priority=sync.priorities.get(str(row["risk_tier"]), "Normal"),
            description=_description(row),
            owner_id=owner,
        )
    return wanted


def _description(row: Mapping[Any, Any]) -> str:
    currency = row["reporting_currency"]
    reasons = [str(r) for r in (row["reason_1"], row["reason_2"], row["reason_3"]) if _text(r)]
    lines = [
        f"Open balance {row['open_balance']:,.2f} {currency}, "
        f"overdue {row['overdue_balance']:,.2f} {currency}.",
        *reasons,
        "Kept by arsync: it updates this Task and closes it when the action is no longer needed.",
    ]
    return "\n".join(lines)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _rows(
    changes: list[RecordChange], dry_run: bool, write: Callable[[], list[ChangeOutcome]]
) -> list[dict[str, Any]]:
    """One row per change; `write` answers one outcome per change, in their order."""
    outcomes: list[ChangeOutcome] = [] if dry_run or not changes else write()
    answered: list[ChangeOutcome | None] = [*outcomes] or [None] * len(changes)
    rows = [outcome_row(c, o) for c, o in zip(changes, answered, strict=True)]
    log.info(
        "salesforce.records_finished",
        sobject=changes[0].sobject if changes else None,
        planned=len(changes),
        written=sum(1 for o in outcomes if o.ok),
        failed=sum(1 for o in outcomes if not o.ok),
    )
    return rows


def confirmed_records(outcomes: list[ChangeOutcome]) -> pd.DataFrame:
    """The outcome rows of the changes Salesforce answered, for a run that stopped
    while writing them: the latest answer per record, in the order first answered."""
    latest: dict[tuple[str, str, str], ChangeOutcome] = {}
    for outcome in outcomes:
        change = outcome.change
        latest[(change.sobject, change.action, change.record_id or change.key)] = outcome
    rows = [outcome_row(outcome.change, outcome) for outcome in latest.values()]
    return outcome_frame(rows)
