"""The Business Central source under contract: the ledger served as API v2.0 entities."""

from __future__ import annotations

from pathlib import Path

import responses
from fakes.business_central import COMPANY, LOCAL, TENANT, render

from arsync.records import CanonicalRecord
from connector.erp import business_central
from connector.erp.base import Source
from contract.balances import Unseen, erp_amounts
from contract.harness import CHANGED_AT, ConnectorCase, ErpState

SETTINGS = business_central.Settings(
    kind="business_central",
    tenant_id=TENANT,
    company_id=COMPANY,
    client_id="3e1f4f0a-7c55-4b8e-9b9e-0f3f1f6f2a10",
    client_secret="${BC_CLIENT_SECRET}",
)


def serve(
    records: list[CanonicalRecord],
    tmp_path: Path,
    mock: responses.RequestsMock,
    unseen: Unseen | None = None,
) -> Source:
    """Each customer's `customerFinancialDetail.balance` its balance in LCY. The fake's
    journal lines stand for payments whose effect is posted (the invoices' `remainingAmount`
    already carries their applications), so `Balance (LCY)` nets them too."""
    render(records, erp_amounts(records, unseen)).register(mock)
    return business_central.build(SETTINGS, environ={"BC_CLIENT_SECRET": "secret"})


def serve_state(state: ErpState, tmp_path: Path, mock: responses.RequestsMock) -> Source:
    """An archived customer is `blocked: All` (it keeps its open invoices); a later change
    moves `lastModifiedDateTime` (a payment's on each of its journal lines)."""
    fake = render(state.records, erp_amounts(state.records))
    stamp = CHANGED_AT.isoformat().replace("+00:00", "Z")
    for entity in fake.collections["customers"]:
        if entity["id"] in state.archived:
            entity["blocked"] = "All"
        if ("customer", entity["id"]) in state.later:
            entity["lastModifiedDateTime"] = stamp
    for line in fake.journal_lines.get("journal-1", []):
        if ("payment", line["documentNumber"]) in state.later:
            line["lastModifiedDateTime"] = stamp
    fake.register(mock)
    return business_central.build(SETTINGS, environ={"BC_CLIENT_SECRET": "secret"})


CASE = ConnectorCase(
    name="business_central",
    serve=serve,
    serve_state=serve_state,
    control_currencies=frozenset({LOCAL}),  # customerFinancialDetail.balance is in LCY
    # API v2.0 has no customer hierarchy, industry, delivery preference or CRM id; no dispute
    # on sales invoices; no method on payment journal lines; no reason text on credit memos
    # (only a return-reason id); and an open credit memo's applied part is not in the API.
    cannot_carry={
        "customer": frozenset({"parent_id", "industry", "invoice_delivery", "crm_account_id"}),
        "invoice": frozenset({"disputed", "dispute_reason"}),
        "payment": frozenset({"method"}),
        "credit_memo": frozenset({"reason", "applications"}),
    },
)
