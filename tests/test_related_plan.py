"""Planning invoice records and Tasks from the one read: pure, and only for the Accounts in scope.

`read_crm` reads the records of every Account not on hold, before it is known whose balance
is held back; the planners must leave the records of any other Account as they are.
"""

from __future__ import annotations

import pandas as pd

from arsync.crm_objects import INVOICE_COLUMNS, InvoiceSync, TaskSync
from connector.crm.salesforce.invoices import plan_invoices
from connector.crm.salesforce.tasks import WantedTask, plan_tasks

IN_SCOPE = "001Hs00000AAAAAIAA"
HELD = "001Hs00000BBBBBIAA"


def _record(record_id: str, invoice_id: str, account_id: str) -> dict[str, object]:
    """An AR_Invoice__c as the query endpoint returns it (attributes aside)."""
    return {
        "Id": record_id,
        "ERP_Invoice_Id__c": invoice_id,
        "Account__c": account_id,
        "Name": invoice_id,
        "Status__c": "Open",
        "Open_Amount__c": 100.0,
    }


def test_only_the_records_of_accounts_in_scope_are_planned() -> None:
    read = {
        "INV-GONE": _record("a01Hs00000000001AAA", "INV-GONE", IN_SCOPE),
        "INV-HELD": _record("a01Hs00000000002AAA", "INV-HELD", HELD),  # a held customer's
    }
    lines = pd.DataFrame(columns=list(INVOICE_COLUMNS))

    changes = plan_invoices(
        InvoiceSync(enabled=True),
        lines,
        {"C1": IN_SCOPE},
        read,
        known_invoices=frozenset(),  # neither is in the ERP any more
        field_types={"Open_Amount__c": "currency", "Status__c": "picklist"},
    )

    assert [(c.key, c.action, c.record_id) for c in changes] == [
        ("INV-GONE", "update", "a01Hs00000000001AAA")
    ]
    assert changes[0].values["Status__c"] == "Removed"


def test_tasks_are_planned_from_the_read_and_other_accounts_tasks_are_left() -> None:
    sync = TaskSync(enabled=True)
    task = WantedTask("C1", "AR: Call", "2026-11-27", "High", "Open balance", "005Hs0000000001")
    open_tasks = {
        IN_SCOPE[:15]: [
            {
                "Id": "00THs00000000001AAA",
                "WhatId": IN_SCOPE,
                "Status": "Not Started",
                "Subject": "AR: Call",
                "ActivityDate": "2026-11-27",
                "Priority": "High",
                "Description": "Open balance",
            },
            {
                "Id": "00THs00000000002AAA",
                "WhatId": IN_SCOPE,
                "Status": "Not Started",
                "Subject": "AR: copy",
            },
        ],
        HELD[:15]: [{"Id": "00THs00000000003AAA", "WhatId": HELD, "Status": "Not Started"}],
    }

    changes = plan_tasks(sync, {IN_SCOPE: task}, {IN_SCOPE: "C1"}, open_tasks)

    assert [(c.action, c.record_id, c.values) for c in changes] == [
        ("close", "00THs00000000002AAA", {"Status": "Completed"})
    ]
