"""The shipped SFDX metadata holds every field arsync writes or reads, with fitting types."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sfdx import (
    OBJECTS,
    ROOT,
    child_relationships,
    describe_fields,
    field_metadata,
    object_fields,
    permission_object,
    permission_set,
    shipped_objects,
)

from arsync.crm_objects import InvoiceSync
from arsync.mapping import CrmMapping
from arsync.yamlfile import load_model
from connector.crm.salesforce.describe import FieldInfo, check_invoice_object, check_mapping
from scoring import ScoringSettings
from scoring.columns import output_columns

# Account fields people fill in; arsync reads them and never writes them.
ACCOUNT_INPUTS = {
    "AR_Promise_Amount__c",
    "AR_Promise_Date__c",
    "AR_Promise_Made_On__c",
    "AR_Dispute_Status__c",
}
# Written by arsync; counted as mapped whether or not the default mapping lists it yet.
PROMISE_STATUS = "AR_Promise_Status__c"
# What the invoice writer writes to each AR_Invoice__c field: describe() type and its size.
INVOICE_FIELDS: dict[str, dict[str, Any]] = {
    "ERP_Invoice_Id__c": {"type": "string", "length": 64},
    "Account__c": {"type": "reference"},
    "Issue_Date__c": {"type": "date"},
    "Expected_Pay_Date__c": {"type": "date"},
    "Due_Date__c": {"type": "date"},
    "Currency__c": {"type": "string", "length": 3},
    # Numbers, not Currency fields: a Currency field shows the org's or the record's currency,
    # which need not be the invoice's (Currency__c); the *_Display__c formulas show both.
    "Total_Amount__c": {"type": "double", "precision": 16, "scale": 2},
    "Open_Amount__c": {"type": "double", "precision": 16, "scale": 2},
    "Disputed__c": {"type": "boolean"},
    "Dispute_Reason__c": {"type": "string", "length": 255},
    "Status__c": {"type": "picklist"},
}
# Formulas of the invoice object: computed by the org, never written.
INVOICE_FORMULAS = {"Days_Overdue__c", "Open_Amount_Display__c", "Total_Amount_Display__c"}


def _load_mapping() -> CrmMapping:
    return load_model(CrmMapping, ROOT / "mappings/salesforce_account.yaml")


def _by_name(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in fields}


def test_every_mapped_field_is_shipped_and_fits_its_column() -> None:
    mapping = _load_mapping()
    fields = {f["name"]: FieldInfo.from_describe(f) for f in describe_fields()}
    kinds = {name: c.kind.value for name, c in output_columns(ScoringSettings()).items()}

    assert check_mapping(fields, mapping, kinds) == []
    match = mapping.match
    expected = set(mapping.fields) | {match.external_id_field, match.hold_field}
    assert expected | ACCOUNT_INPUTS | {PROMISE_STATUS} == set(fields)
    assert not ACCOUNT_INPUTS & set(mapping.fields), "arsync must never write the input fields"


def test_the_account_input_fields_say_people_fill_them_and_arsync_only_reads_them() -> None:
    fields = _by_name(describe_fields())

    assert {name: fields[name]["type"] for name in ACCOUNT_INPUTS} == {
        "AR_Promise_Amount__c": "currency",
        "AR_Promise_Date__c": "date",
        "AR_Promise_Made_On__c": "date",
        "AR_Dispute_Status__c": "picklist",
    }
    amount = fields["AR_Promise_Amount__c"]
    assert (amount["precision"], amount["scale"]) == (16, 2)
    dispute = fields["AR_Dispute_Status__c"]
    assert not dispute["restrictedPicklist"]
    assert [v["value"] for v in dispute["picklistValues"]] == ["Open", "Resolved"]
    for name in ACCOUNT_INPUTS:
        metadata = field_metadata("Account", name)
        assert "arsync only reads it" in metadata["description"], name
        assert "arsync reads it and never changes it" in metadata["inlineHelpText"], name


def test_the_promise_status_field_holds_the_values_arsync_writes() -> None:
    status = _by_name(describe_fields())[PROMISE_STATUS]

    assert status["type"] == "picklist"
    assert status["restrictedPicklist"]
    assert [v["value"] for v in status["picklistValues"]] == [
        "No Promise",
        "Pending",
        "Kept",
        "Broken",
    ]
    assert "Written by arsync" in field_metadata("Account", PROMISE_STATUS)["description"]


def test_every_segment_is_written_as_a_label_that_fits_the_segment_field() -> None:
    scoring = load_model(ScoringSettings, ROOT / "config/scoring.yaml")
    codes = {rule.segment for rule in scoring.segments}
    field = _by_name(describe_fields())["AR_Segment__c"]
    labels = _load_mapping().fields["AR_Segment__c"].values

    assert codes == {rule.segment for rule in ScoringSettings().segments}
    assert set(labels) == codes  # every segment has a label, and no label a lost segment
    assert labels["chronic_late"] == "Chronic Late"
    assert field["type"] == "string"  # text, not a picklist: a segment of one's own still fits
    assert max(len(label) for label in labels.values()) <= field["length"]


def test_every_invoice_field_the_writer_uses_is_shipped_with_a_fitting_type() -> None:
    fields = _by_name(object_fields("AR_Invoice__c"))
    infos = {name: FieldInfo.from_describe(f) for name, f in fields.items()}

    assert check_invoice_object(infos, InvoiceSync(enabled=True)) == []  # the default mapping
    assert {name for name in fields if name.endswith("__c")} == set(INVOICE_FIELDS) | (
        INVOICE_FORMULAS
    )
    for name, expected in INVOICE_FIELDS.items():
        assert {key: fields[name][key] for key in expected} == expected, name
        assert fields[name]["updateable"], name
        description = field_metadata("AR_Invoice__c", name)["description"]
        assert "Written by arsync from the ERP" in description, name
    status = fields["Status__c"]
    assert status["restrictedPicklist"]
    assert [v["value"] for v in status["picklistValues"]] == ["Open", "Paid", "Void", "Removed"]
    days = fields["Days_Overdue__c"]  # computed by the org each day: never rewritten nightly
    assert (days["type"], days["updateable"]) == ("double", False)
    assert "TODAY() - Due_Date__c" in field_metadata("AR_Invoice__c", "Days_Overdue__c")["formula"]
    assert field_metadata("AR_Invoice__c", "Disputed__c")["defaultValue"] == "false"
    number = fields["Name"]
    assert (number["type"], number["label"], number["updateable"]) == (
        "string",
        "Invoice Number",
        True,
    )


def test_the_erp_invoice_id_is_a_unique_external_id() -> None:
    erp_id = _by_name(object_fields("AR_Invoice__c"))["ERP_Invoice_Id__c"]

    assert erp_id["externalId"]
    assert erp_id["idLookup"]
    assert erp_id["unique"]
    assert not erp_id["caseSensitive"]
    info = FieldInfo.from_describe(erp_id)
    assert info.external_id
    assert info.id_lookup


def test_the_invoice_account_lookup_references_account_and_survives_its_deletion() -> None:
    account = _by_name(object_fields("AR_Invoice__c"))["Account__c"]

    assert account["referenceTo"] == ["Account"]
    assert account["nillable"]
    assert field_metadata("AR_Invoice__c", "Account__c")["deleteConstraint"] == "SetNull"
    assert child_relationships("Account") == [
        {
            "childSObject": "AR_Invoice__c",
            "field": "Account__c",
            "relationshipName": "AR_Invoices__r",
            "cascadeDelete": False,
            "restrictedDelete": False,
        }
    ]


def test_the_invoice_object_is_deployed_reportable_searchable_and_bulk_writable() -> None:
    definition = ET.parse(OBJECTS / "AR_Invoice__c/AR_Invoice__c.object-meta.xml").getroot()  # noqa: S314
    settings = {node.tag.rpartition("}")[2]: node.text for node in definition if len(node) == 0}

    assert settings["label"] == "AR Invoice"
    assert settings["pluralLabel"] == "AR Invoices"
    assert settings["deploymentStatus"] == "Deployed"
    # A lookup, not a master-detail: the object keeps its own sharing model.
    assert settings["sharingModel"] in {"Read", "ReadWrite"}
    for flag in ("enableReports", "enableSearch", "enableBulkApi"):
        assert settings[flag] == "true", flag


def test_the_task_marker_is_an_activity_checkbox() -> None:
    marker = _by_name(object_fields("Activity"))["AR_Sync_Task__c"]

    assert marker["type"] == "boolean"
    assert marker["label"] == "AR Sync Task"
    assert field_metadata("Activity", "AR_Sync_Task__c")["defaultValue"] == "false"
    assert not marker["nillable"]
    assert field_metadata("Activity", "AR_Sync_Task__c")["description"].startswith(
        "Checked on the one open Task arsync keeps per Account"
    )


def test_the_permission_set_grants_exactly_the_shipped_fields() -> None:
    granted = [p["field"] for p in permission_set()["fieldPermissions"]]
    shipped = {
        f"{permission_object(name)}.{field['name']}"
        for name in shipped_objects()
        for field in object_fields(name)
        if field["name"].endswith("__c")  # a Name field takes no field permission
    }

    assert {"Account", "AR_Invoice__c", "Activity"} <= set(shipped_objects())
    assert len(granted) == len(set(granted)), "a field is granted twice"
    assert set(granted) == shipped


def test_the_permission_set_lets_arsync_edit_only_what_it_writes() -> None:
    permissions = {p["field"]: p for p in permission_set()["fieldPermissions"]}
    mapping = _load_mapping()
    # The match key too: arsync finds Accounts by it (the Account update goes by Id) and never
    # writes it, so a bug cannot re-point an Account at another ERP customer.
    people = ACCOUNT_INPUTS | {mapping.match.hold_field, mapping.match.external_id_field}
    read_only = {f"Account.{name}" for name in people}
    read_only |= {f"AR_Invoice__c.{name}" for name in INVOICE_FORMULAS}

    assert all(p["readable"] for p in permissions.values())
    assert {name for name, p in permissions.items() if not p["editable"]} == read_only


def test_the_permission_set_lets_arsync_create_and_edit_invoices_but_never_delete_them() -> None:
    objects = {p["object"]: p for p in permission_set()["objectPermissions"]}

    assert set(objects) == {"Account", "AR_Invoice__c"}
    assert objects["AR_Invoice__c"] == {
        "object": "AR_Invoice__c",
        "allowRead": True,
        "allowCreate": True,
        "allowEdit": True,
        "allowDelete": False,
        "viewAllRecords": False,
        "modifyAllRecords": False,
    }
    assert (objects["Account"]["allowEdit"], objects["Account"]["allowCreate"]) == (True, False)
    assert not objects["Account"]["allowDelete"]


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "salesforce").rglob("*.xml")),
    ids=lambda path: str(path.relative_to(ROOT / "salesforce")),
)
def test_every_xml_file_parses_as_metadata(path: Any) -> None:
    root = ET.parse(path).getroot()  # noqa: S314 - our own repository's files

    assert root.tag.startswith("{http://soap.sforce.com/2006/04/metadata}")


def test_every_field_file_is_named_after_its_field_and_described() -> None:
    for name in shipped_objects():
        for path in sorted((OBJECTS / name / "fields").glob("*.field-meta.xml")):
            field = path.name.removesuffix(".field-meta.xml")
            metadata = field_metadata(name, field)
            assert metadata["fullName"] == field, path
            assert metadata.get("description"), path
