"""Who may do what: the integration user's permission set and the one for the reps."""

from __future__ import annotations

from sfdx import ROOT, TABS, object_fields, permission_object, permission_set, shipped_objects

from arsync.mapping import CrmMapping
from arsync.yamlfile import load_model

PEOPLE_FILL_IN = {
    "Account.AR_Promise_Amount__c",
    "Account.AR_Promise_Date__c",
    "Account.AR_Promise_Made_On__c",
    "Account.AR_Dispute_Status__c",
}


def _mapping() -> CrmMapping:
    return load_model(CrmMapping, ROOT / "mappings/salesforce_account.yaml")


def _shipped_fields() -> set[str]:
    return {
        f"{permission_object(name)}.{field['name']}"
        for name in shipped_objects()
        for field in object_fields(name)
        if field["name"].endswith("__c")
    }


def _fields(name: str) -> dict[str, dict[str, object]]:
    return {p["field"]: p for p in permission_set(name)["fieldPermissions"]}


def test_the_integration_user_may_use_the_api_and_edit_its_tasks() -> None:
    permissions = {p["name"]: p["enabled"] for p in permission_set()["userPermissions"]}

    # API Enabled: every call arsync makes; Edit Tasks: the one open Task it keeps per Account.
    assert permissions == {"ApiEnabled": True, "EditTask": True}


def test_the_integration_user_reads_every_field_and_edits_each_one_it_writes() -> None:
    fields = _fields("arsync_Integration")
    mapping = _mapping()
    editable = {name for name, p in fields.items() if p["editable"]}

    assert set(fields) == _shipped_fields()
    assert all(p["readable"] for p in fields.values())
    assert {f"Account.{name}" for name in mapping.fields} <= editable
    assert {name for name in editable if name.startswith("Account.")} == {
        f"Account.{name}" for name in mapping.fields
    }
    # Matched by, never written (the Account update goes by Id): read only.
    assert not fields["Account.ERP_Customer_Id__c"]["editable"]
    # Upserted by: the upsert sets it on the invoices it creates, so it stays editable.
    assert fields["AR_Invoice__c.ERP_Invoice_Id__c"]["editable"]
    assert fields["Task.AR_Sync_Task__c"]["editable"]


def test_the_rep_set_reads_everything_and_edits_only_what_people_fill_in() -> None:
    rep = permission_set("arsync_AR_Viewer")
    fields = _fields("arsync_AR_Viewer")

    assert rep["label"] == "arsync AR Viewer"
    assert set(fields) == _shipped_fields()
    assert all(p["readable"] for p in fields.values())
    assert {name for name, p in fields.items() if p["editable"]} == PEOPLE_FILL_IN
    assert rep["objectPermissions"] == [
        {
            "allowCreate": False,
            "allowDelete": False,
            "allowEdit": False,
            "allowRead": True,
            "modifyAllRecords": False,
            "object": "AR_Invoice__c",
            "viewAllRecords": False,
        }
    ]
    assert rep["userPermissions"] == []


def test_the_rep_set_shows_the_invoice_tab() -> None:
    tabs = permission_set("arsync_AR_Viewer")["tabSettings"]

    assert tabs == [{"tab": "AR_Invoice__c", "visibility": "Visible"}]
    assert all((TABS / f"{tab['tab']}.tab-meta.xml").exists() for tab in tabs)
    assert permission_set()["tabSettings"] == [], "the integration user opens no tab"
