"""The Xero source under contract: the ledger served by a fake organisation."""

from __future__ import annotations

from pathlib import Path

import responses
from fakes.xero import ENDPOINTS, TENANT, UPDATED, ms_date, render

from arsync.records import CanonicalRecord, Invoice
from connector.erp import xero
from connector.erp.base import Source
from connector.erp.http import HttpSettings
from contract.balances import Unseen, erp_amounts
from contract.harness import CHANGED_AT, ConnectorCase, ErpState

ENVIRON = {"XERO_CLIENT_ID": "ci", "XERO_CLIENT_SECRET": "cs", "XERO_REFRESH_TOKEN": "rt-1"}
SETTINGS = xero.Settings(
    kind="xero",
    tenant_id=TENANT,
    client_id="${XERO_CLIENT_ID}",
    client_secret="${XERO_CLIENT_SECRET}",
    refresh_token="${XERO_REFRESH_TOKEN}",
    http=HttpSettings(requests_per_minute=60_000),
)


def serve(
    records: list[CanonicalRecord],
    tmp_path: Path,
    mock: responses.RequestsMock,
    unseen: Unseen | None = None,
) -> Source:
    """Each contact's `Balances.AccountsReceivable.Outstanding` its balance."""
    render(records, erp_amounts(records, unseen)).register(mock)
    return xero.build(SETTINGS, environ=ENVIRON)


ID_FIELDS = {"customer": ("ContactID",), "payment": ("PaymentID", "PrepaymentID")}


def serve_state(state: ErpState, tmp_path: Path, mock: responses.RequestsMock) -> Source:
    """An archived contact has `ContactStatus: ARCHIVED`; a later change moves
    `UpdatedDateUTC`."""
    fake = render(state.records, erp_amounts(state.records))
    for item in fake.objects.get("Contacts", []):
        if item["ContactID"] in state.archived:
            item["ContactStatus"] = "ARCHIVED"
    for kind, key in state.later:
        for endpoint in ENDPOINTS:
            for item in fake.objects.get(endpoint, []):
                if any(item.get(name) == key for name in ID_FIELDS[kind]):
                    item["UpdatedDateUTC"] = ms_date(CHANGED_AT)
    fake.register(mock)
    return xero.build(SETTINGS, environ=ENVIRON)


def as_kept(record: CanonicalRecord) -> CanonicalRecord:
    """Xero stamps every change (UpdatedDateUTC)."""
    if isinstance(record, Invoice) and record.last_modified is None:
        return record.model_copy(update={"last_modified": UPDATED})
    return record


CASE = ConnectorCase(
    name="xero",
    serve=serve,
    serve_state=serve_state,
    cannot_carry={
        # A Xero contact has no credit limit, parent, industry, delivery or payment method
        # preference, nor a CRM id.
        "customer": frozenset(
            {
                "credit_limit",
                "parent_id",
                "industry",
                "invoice_delivery",
                "payment_method",
                "crm_account_id",
            }
        ),
        "invoice": frozenset({"disputed", "dispute_reason"}),
        "payment": frozenset({"method"}),  # a Xero payment names the bank account, not how
        "credit_memo": frozenset({"reason"}),
    },
    as_kept=as_kept,
)
