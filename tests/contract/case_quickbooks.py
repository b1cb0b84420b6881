"""The QuickBooks Online source under contract: the ledger served by a fake company."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import responses
from fakes.quickbooks import REALM, STAMP, render

from arsync.records import CanonicalRecord, Invoice, InvoiceStatus
from connector.erp import quickbooks
from connector.erp.base import Source
from connector.erp.http import HttpSettings
from contract.balances import Unseen, erp_amounts
from contract.harness import CHANGED_AT, ConnectorCase, ErpState

ENVIRON = {"QBO_CLIENT_ID": "ci", "QBO_CLIENT_SECRET": "cs", "QBO_REFRESH_TOKEN": "rt-1"}
SETTINGS = quickbooks.Settings(
    kind="quickbooks",
    realm_id=REALM,
    client_id="${QBO_CLIENT_ID}",
    client_secret="${QBO_CLIENT_SECRET}",
    refresh_token="${QBO_REFRESH_TOKEN}",
    page_size=4,  # several pages per stream
    http=HttpSettings(requests_per_minute=60_000),
)


def serve(
    records: list[CanonicalRecord],
    tmp_path: Path,
    mock: responses.RequestsMock,
    unseen: Unseen | None = None,
) -> Source:
    """Each customer's `Balance` its own, `BalanceWithJobs` with its sub-customers'."""
    render(records, erp_amounts(records, unseen)).register(mock)
    return quickbooks.build(SETTINGS, environ=ENVIRON)


ENTITIES = {"customer": "Customer", "payment": "Payment", "invoice": "Invoice"}


def serve_state(state: ErpState, tmp_path: Path, mock: responses.RequestsMock) -> Source:
    """An archived customer is inactive (`Active: false`); a later change moves
    `MetaData.LastUpdatedTime`."""
    fake = render(state.records, erp_amounts(state.records))
    for entity in fake.entities["Customer"]:
        if entity["Id"] in state.archived:
            entity["Active"] = False
    for kind, key in state.later:
        for entity in fake.entities[ENTITIES[kind]]:
            if entity["Id"] == key:
                entity["MetaData"]["LastUpdatedTime"] = CHANGED_AT.isoformat()
    fake.register(mock)
    return quickbooks.build(SETTINGS, environ=ENVIRON)


def as_kept(record: CanonicalRecord) -> CanonicalRecord:
    """QuickBooks zeroes a voided invoice's amounts, and stamps every change."""
    if not isinstance(record, Invoice):
        return record
    update: dict[str, object] = {}
    if record.status is InvoiceStatus.VOID:
        update.update(total=Decimal(0), open_balance=Decimal(0))
    if record.last_modified is None:
        update["last_modified"] = dt.datetime.fromisoformat(STAMP).astimezone(dt.UTC)
    return record.model_copy(update=update)


CASE = ConnectorCase(
    name="quickbooks",
    serve=serve,
    serve_state=serve_state,
    cannot_carry={
        # No credit limit, industry or CRM id on a QuickBooks customer.
        "customer": frozenset({"credit_limit", "industry", "crm_account_id"}),
        # No dispute flag on an invoice.
        "invoice": frozenset({"disputed", "dispute_reason"}),
        "credit_memo": frozenset({"reason"}),
    },
    as_kept=as_kept,
)
