"""The NetSuite source under contract: the ledger served as SuiteQL rows by a fake account."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import responses
from fakes.netsuite import BASE_CURRENCY, ROOT, render

from arsync.records import CanonicalRecord
from connector.erp import netsuite
from connector.erp.base import Source
from contract.balances import Unseen, erp_amounts
from contract.harness import CHANGED_AT, FIRST_PULL, ConnectorCase, ErpState

ENVIRON = {
    "NS_CONSUMER_KEY": "ck",
    "NS_CONSUMER_SECRET": "cs",
    "NS_TOKEN_ID": "tk",
    "NS_TOKEN_SECRET": "ts",
}
SETTINGS = netsuite.Settings(
    kind="netsuite",
    account_id="1234567_SB1",
    consumer_key="${NS_CONSUMER_KEY}",
    consumer_secret="${NS_CONSUMER_SECRET}",
    token_id="${NS_TOKEN_ID}",
    token_secret="${NS_TOKEN_SECRET}",
)


def serve(
    records: list[CanonicalRecord],
    tmp_path: Path,
    mock: responses.RequestsMock,
    unseen: Unseen | None = None,
) -> Source:
    """Each customer's `balancesearch` its own balance, `consolbalancesearch` with its
    sub-customers'."""
    modified = dt.datetime.fromisoformat("2026-06-30T12:00:00")
    fake = render(records, modified, erp_amounts(records, unseen))
    fake.register(mock)
    assert SETTINGS.api_root == ROOT
    return netsuite.build(SETTINGS, environ=ENVIRON)


def serve_state(state: ErpState, tmp_path: Path, mock: responses.RequestsMock) -> Source:
    """An archived customer has `isinactive` T; a later change moves `lastmodifieddate`."""
    fake = render(state.records, FIRST_PULL.replace(tzinfo=None), erp_amounts(state.records))
    for row in fake.customers:
        if row["id"] in state.archived:
            row["isinactive"] = "T"
    later = {key for _, key in state.later}
    for row in [*fake.customers, *fake.transactions]:
        if row["id"] in later:
            row["lastmodified"] = CHANGED_AT.strftime("%Y-%m-%dT%H:%M:%S")
    fake.register(mock)
    return netsuite.build(SETTINGS, environ=ENVIRON)


CASE = ConnectorCase(
    name="netsuite",
    serve=serve,
    serve_state=serve_state,
    control_currencies=frozenset({BASE_CURRENCY}),  # balancesearch: base currencies only
    # NetSuite has a place for neither a dispute flag on invoices nor an industry, delivery
    # preference, usual payment method or CRM id on customers in the columns arsync reads.
    cannot_carry={
        "customer": frozenset({"industry", "invoice_delivery", "payment_method", "crm_account_id"}),
        "invoice": frozenset({"disputed", "dispute_reason"}),
    },
)
