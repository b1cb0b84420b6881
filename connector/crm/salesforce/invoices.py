"""Open invoices in Salesforce: one record per ERP invoice, upserted on the ERP invoice id.

Open invoices of the Accounts in scope are created or brought up to date; a record that is
already in Salesforce is updated when its invoice is paid or voided, and marked removed when
the invoice is gone from the ERP, so no record stays open by mistake. Upserting on the
external id means a rerun after a lost answer updates the record it created, never a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import TYPE_CHECKING, Any

import pandas as pd
import structlog

from arsync.crm_objects import InvoiceSync
from arsync.shaping import shape_value
from connector.crm.salesforce.changes import RecordChange
from connector.crm.salesforce.plan import ID_FIELD, normalise
from connector.crm.salesforce.push import Operation
from connector.crm.salesforce.soql import check_name, chunks, select_in

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)
REMOVED = {"status": "removed", "open_amount": 0, "days_overdue": 0, "disputed": False}


def invoice_operation(sync: InvoiceSync) -> Operation:
    return Operation(sync.object, "upsert", sync.external_id_field)


def plan_invoices(
    sync: InvoiceSync,
    lines: pd.DataFrame,
    accounts: Mapping[str, str],
    read: Mapping[str, Mapping[str, Any]],
    *,
    known_invoices: Set[str],
    field_types: Mapping[str, str],
) -> list[RecordChange]:
    """The invoice records to create or update for the customers in `accounts`; pure: it
    plans from `read` (`read_invoices`, made with the Accounts before scoring) alone.

    `lines` has the invoice columns (`arsync.crm_objects.INVOICE_COLUMNS`); `accounts` maps
    each customer in scope (matched, not held) to its Account Id; `read` may hold the records
    of more Accounts (read before the held customers were known): only those of `accounts`
    count. `known_invoices` is every invoice id the ERP has, so that a record is marked
    removed only when its invoice is gone.
    """
    scope = {account_id[:15] for account_id in accounts.values()}
    existing = {
        invoice_id: record
        for invoice_id, record in read.items()
        if str(record.get(sync.account_field) or "")[:15] in scope
    }
    in_scope = lines[lines["customer_id"].isin(list(accounts))]
    wanted = in_scope[(in_scope["status"] == "open") | in_scope["invoice_id"].isin(list(existing))]
    changes = [
        _change(sync, row, accounts[str(row["customer_id"])], existing, field_types)
        for row in _records(wanted)
    ]
    owners = {account_id: customer for customer, account_id in accounts.items()}
    for invoice_id, record in existing.items():
        if invoice_id in known_invoices:
            continue
        account_id = str(record.get(sync.account_field) or "")
        row = {"invoice_id": invoice_id, "customer_id": owners.get(account_id, ""), **REMOVED}
        changes.append(_change(sync, row, account_id, existing, field_types))
    planned = [c for c in changes if c.values]
    log.info(
        "salesforce.invoices_planned",
        created=sum(1 for c in planned if c.action == "create"),
        updated=sum(1 for c in planned if c.action == "update"),
        unchanged=len(changes) - len(planned),
    )
    return planned


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def read_invoices(
    client: SalesforceClient, sync: InvoiceSync, account_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The invoice records of these Accounts still open in Salesforce, by ERP invoice id.

    Only open ones: paid, void and removed records pile up over the years and need nothing
    (an invoice that reopens is upserted on its id like a new one, and finds its record).
    Without a mapped status field every record is read.
    """
    fields = [ID_FIELD, sync.external_id_field, sync.account_field, *sync.fields]
    where = _still_open(sync)
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(sorted(set(account_ids)), client.settings.ids_per_query):
        soql = select_in(sync.object, fields, sync.account_field, chunk, where=where)
        for record in client.query(soql):
            key = record.get(sync.external_id_field)
            if key is not None:
                found[str(key)] = record
    return found


def _still_open(sync: InvoiceSync) -> str:
    """`Status__c = 'Open'` as the mapping spells it, the value an escaped literal."""
    from simple_salesforce.format import format_soql  # noqa: PLC0415 - loads the API client

    for name, spec in sync.fields.items():
        if spec.source == "status":
            return format_soql("{:literal} = {}", check_name(name), spec.values.get("open", "open"))
    return ""


def _change(
    sync: InvoiceSync,
    row: Mapping[str, Any],
    account_id: str,
    existing: Mapping[str, Mapping[str, Any]],
    field_types: Mapping[str, str],
) -> RecordChange:
    invoice_id = str(row["invoice_id"])
    desired = {
        name: shape_value(row[spec.source], spec)
        for name, spec in sync.fields.items()
        if spec.source in row
    }
    if account_id:
        desired[sync.account_field] = account_id
    current = existing.get(invoice_id)
    if current is None:
        changes = desired
    else:
        changes = {
            name: value
            for name, value in desired.items()
            if normalise(value, field_types.get(name, "string"))
            != normalise(current.get(name), field_types.get(name, "string"))
        }
    values = {sync.external_id_field: invoice_id, **changes} if changes else {}
    return RecordChange(
        sync.object,
        invoice_id,
        str(row.get("customer_id", "")),
        "create" if current is None else "update",
        values,
        str(current[ID_FIELD]) if current is not None else None,
        {name: current.get(name) for name in changes} if current is not None else {},
    )
