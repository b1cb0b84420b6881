"""What people record in Salesforce that scoring weighs: promises to pay and disputes.

Read once per run, before scoring, from the Accounts already read for the plan (fields on the
Account cost no extra call) or from a related object (one query per few hundred Accounts).
A value Salesforce holds that cannot be read as what it should be (a promised amount that is
not a number) is left out with a warning that names the Account, never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import structlog

from arsync.mapping import CRM_INPUT_COLUMNS, CrmInputs, DisputeSource, PromiseSource
from connector.crm.salesforce.plan import ID_FIELD, Snapshot
from connector.crm.salesforce.soql import chunks, select_in

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)
INPUT_COLUMNS = ["customer_id", *CRM_INPUT_COLUMNS]


def read_inputs(
    client: SalesforceClient, snapshot: Snapshot, inputs: CrmInputs
) -> list[dict[str, Any]]:
    """One row per matched customer with a promise or a dispute (INPUT_COLUMNS)."""
    promise, dispute = inputs.promise, inputs.dispute
    if promise is None and dispute is None:
        return []
    promises: Mapping[str, Mapping[str, Any]] = {}
    if promise is not None and promise.object and promise.account_field:
        account_ids = [str(a[ID_FIELD]) for a in snapshot.accounts.values()]
        promises = _related_promises(
            client, promise.object, promise.account_field, promise, account_ids
        )
    rows = []
    for customer_id, account in snapshot.accounts.items():
        row: dict[str, Any] = {"customer_id": customer_id}
        if promise is not None:
            record = promises.get(str(account[ID_FIELD])) if promise.object else account
            row.update(_promise(promise, record or {}, str(account[ID_FIELD])))
        if dispute is not None:
            row["crm_dispute_open"] = _dispute_open(dispute, account.get(dispute.field))
        if any(row.get(c) for c in CRM_INPUT_COLUMNS):
            rows.append(row)
    log.info(
        "salesforce.inputs_read",
        promises=sum(1 for r in rows if r.get("promise_date")),
        disputes=sum(1 for r in rows if r.get("crm_dispute_open")),
    )
    return rows


def _related_promises(
    client: SalesforceClient,
    sobject: str,
    lookup: str,
    promise: PromiseSource,
    account_ids: list[str],
) -> dict[str, dict[str, Any]]:
    """The latest promise (by promised date) of each Account, from the related object."""
    latest: dict[str, dict[str, Any]] = {}
    for chunk in chunks(account_ids, client.settings.ids_per_query):
        soql = select_in(
            sobject,
            [ID_FIELD, lookup, *promise.fields()],
            lookup,
            chunk,
            order_by=promise.date_field,
        )
        for record in client.query(soql):
            account_id = record.get(lookup)
            if account_id is not None:
                latest[_id15(str(account_id))] = record  # ascending: the last one wins
    return {
        account_id: latest[_id15(account_id)]
        for account_id in account_ids
        if _id15(account_id) in latest
    }


def _id15(record_id: str) -> str:
    return record_id[:15]


def _promise(promise: PromiseSource, record: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    amount = _number(record.get(promise.amount_field), promise.amount_field, account_id)
    date = _date(record.get(promise.date_field), promise.date_field, account_id)
    made_on = (
        _date(record.get(promise.made_on_field), promise.made_on_field, account_id)
        if promise.made_on_field
        else None
    )
    return {"promise_amount": amount, "promise_date": date, "promise_made_on": made_on}


def _dispute_open(dispute: DisputeSource, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return value is not None and str(value).strip().lower() in {
        v.lower() for v in dispute.open_values
    }


def _number(value: Any, field: str, account_id: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(Decimal(str(value)))
    except InvalidOperation:
        log.warning("salesforce.input_unreadable", account_id=account_id, field=field)
        return None


def _date(value: Any, field: str, account_id: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        log.warning("salesforce.input_unreadable", account_id=account_id, field=field)
        return None
