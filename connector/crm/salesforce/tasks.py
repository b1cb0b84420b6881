"""Next-action Tasks: one open Task per Account, kept in step with the next action.

arsync's Tasks carry a marker checkbox; every run reads the open ones of the Accounts in
scope first, so a Task created by an earlier run (even one that crashed before it could
record anything) is found and updated, never created twice. Extra open Tasks of an Account
(say, from two runs at once) are closed, the oldest is kept. A Task whose action is no
longer needed is closed. The owner is set when the Task is created; a person reassigning it
afterwards is respected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from arsync.crm_objects import TaskSync
from connector.crm.salesforce.changes import RecordChange
from connector.crm.salesforce.plan import ID_FIELD, keeps_earlier, normalise
from connector.crm.salesforce.push import Operation
from connector.crm.salesforce.soql import check_name, chunks, select_in

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)
TASK = "Task"
WHAT_ID = "WhatId"
_KEPT_IN_STEP = ("Subject", "ActivityDate", "Priority", "Description")
_TYPES = {"ActivityDate": "date"}


@dataclass(frozen=True)
class WantedTask:
    """The Task an Account should have open for its next action."""

    customer_id: str
    subject: str
    due: str | None  # ISO date
    priority: str
    description: str
    owner_id: str


def task_operation(change: RecordChange) -> Operation:
    if change.action == "create":
        return Operation(TASK, "insert", WHAT_ID)  # one create per Account: WhatId is unique
    return Operation(TASK, "update")


def plan_tasks(
    sync: TaskSync,
    wanted: Mapping[str, WantedTask | None],
    customers: Mapping[str, str],
    open_tasks: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[RecordChange]:
    """The Tasks to create, update and close for the Accounts in `wanted` (Account Id ->
    the Task it should have, or None for none); `customers` maps Account Id -> customer.

    Pure: it plans from `open_tasks` (`read_open_tasks`, made with the Accounts before
    scoring), which may hold the Tasks of more Accounts than `wanted`; those are left alone.
    """
    changes: list[RecordChange] = []
    for account_id, task in wanted.items():
        existing = open_tasks.get(account_id[:15], [])
        customer_id = customers.get(account_id, "")
        if task is None:
            to_close = existing
        elif not existing:
            new = _new_task(sync, account_id, task)
            changes.append(RecordChange(TASK, account_id, customer_id, "create", new))
            to_close = []
        else:
            keep, to_close = existing[0], existing[1:]
            update = _task_changes(keep, task)
            if update:
                previous = {n: keep.get(n) for n in update}
                changes.append(
                    RecordChange(
                        TASK,
                        account_id,
                        customer_id,
                        "update",
                        update,
                        str(keep[ID_FIELD]),
                        previous,
                    )
                )
        changes += [
            RecordChange(
                TASK,
                account_id,
                customer_id,
                "close",
                {"Status": sync.closed_status},
                str(record[ID_FIELD]),
                {"Status": record.get("Status")},
            )
            for record in to_close
        ]
    log.info(
        "salesforce.tasks_planned",
        created=sum(1 for c in changes if c.action == "create"),
        updated=sum(1 for c in changes if c.action == "update"),
        closed=sum(1 for c in changes if c.action == "close"),
    )
    return changes


def read_open_tasks(
    client: SalesforceClient, sync: TaskSync, account_ids: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """arsync's open Tasks per Account (15-character Id), oldest first."""
    fields = [ID_FIELD, WHAT_ID, "OwnerId", "Status", *_KEPT_IN_STEP]
    where = f"{check_name(sync.marker_field)} = true AND IsClosed = false"
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunks(sorted(set(account_ids)), client.settings.ids_per_query):
        soql = select_in(TASK, fields, WHAT_ID, chunk, where=where, order_by="CreatedDate")
        for record in client.query(soql):
            found[str(record[WHAT_ID])[:15]].append(record)
    return found


def _new_task(sync: TaskSync, account_id: str, task: WantedTask) -> dict[str, Any]:
    return {
        WHAT_ID: account_id,
        "OwnerId": task.owner_id,
        sync.marker_field: True,
        "Status": sync.open_status,
        "Subject": task.subject,
        "ActivityDate": task.due,
        "Priority": task.priority,
        "Description": task.description,
    }


def _task_changes(current: Mapping[str, Any], task: WantedTask) -> dict[str, Any]:
    """The fields to bring in step. The same action keeps the date it first fell due: scoring
    never dates an action before its as-of day, so an action not yet done would otherwise
    roll forward every night and never show as overdue in a collector's Task list."""
    wanted: dict[str, Any] = {
        "Subject": task.subject,
        "ActivityDate": task.due,
        "Priority": task.priority,
        "Description": task.description,
    }
    if keeps_earlier(wanted, current, "ActivityDate", "Subject", _TYPES):
        del wanted["ActivityDate"]
    return {
        name: value
        for name, value in wanted.items()
        if normalise(value, _TYPES.get(name, "string"))
        != normalise(current.get(name), _TYPES.get(name, "string"))
    }
