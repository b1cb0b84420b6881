"""What reps see after a deploy: the Account layout and record page, the invoice pages and tab."""

from __future__ import annotations

import pytest
from sfdx import (
    OBJECTS,
    ROOT,
    SOURCE,
    TABS,
    child_relationships,
    compact_layout,
    flexipage,
    layout,
    object_fields,
    object_settings,
)

from arsync.mapping import CrmMapping
from arsync.yamlfile import load_model

ACCOUNT_LAYOUT = "Account-AR Health Layout"
INVOICE_LAYOUT = "AR_Invoice__c-AR Invoice Layout"
# Written by arsync but of no use to a rep reading the page: none today.
NOT_FOR_REPS: set[str] = set()
# What the rep needs at a glance, in the AR Health section (issue 16, item 5).
AR_HEALTH = {
    "AR_Health_Score__c",
    "AR_Risk_Tier__c",
    "AR_Health_Reason_1__c",
    "AR_Health_Reason_2__c",
    "AR_Health_Reason_3__c",
    "AR_Next_Action__c",
    "AR_Next_Action_Date__c",
    "AR_Overdue_Status__c",
    "AR_Open_Balance__c",
    "AR_Overdue_Balance__c",
    "AR_As_Of__c",
}
PEOPLE_FILL_IN = {
    "AR_Promise_Amount__c",
    "AR_Promise_Date__c",
    "AR_Promise_Made_On__c",
    "AR_Dispute_Status__c",
}


def _mapping() -> CrmMapping:
    return load_model(CrmMapping, ROOT / "mappings/salesforce_account.yaml")


def _placed(name: str) -> dict[str, str]:
    """Every field of a layout -> its behavior, each field placed once."""
    items = [item for section in layout(name)["sections"].values() for item in section]
    fields = [field for field, _ in items]
    assert len(fields) == len(set(fields)), f"a field is placed twice on {name}"
    return dict(items)


def _custom_field_names(object_name: str) -> set[str]:
    return {f["name"] for f in object_fields(object_name) if f["name"].endswith("__c")}


def test_the_account_layout_shows_every_field_arsync_writes_and_reads() -> None:
    mapping = _mapping()
    placed = _placed(ACCOUNT_LAYOUT)
    match = mapping.match

    assert set(mapping.fields) - NOT_FOR_REPS <= set(placed)
    assert PEOPLE_FILL_IN | {match.external_id_field, match.hold_field} <= set(placed)
    assert _custom_field_names("Account") <= set(placed), "every shipped Account field is shown"


def test_the_ar_health_section_holds_what_a_rep_needs_first() -> None:
    sections = layout(ACCOUNT_LAYOUT)["sections"]

    assert list(sections)[:2] == ["Account Information", "AR Health"]
    assert {field for field, _ in sections["AR Health"]} >= AR_HEALTH
    aging = {field for field, _ in sections["AR Aging"]}
    assert {f"AR_Aging_{b}__c" for b in ("Current", "1_30", "31_60", "61_90", "91_120")} <= aging
    assert {"AR_Aging_Over_120__c", "AR_DSO__c"} <= aging
    promise = {field for field, _ in sections["AR Promise and Dispute"]}
    assert PEOPLE_FILL_IN | {"AR_Promise_Status__c", "AR_Disputed_Balance__c"} <= promise


def test_the_layout_lets_people_edit_only_what_arsync_never_overwrites() -> None:
    mapping = _mapping()
    placed = _placed(ACCOUNT_LAYOUT)

    # Editing a field arsync writes is lost on the next run: the layout shows it read-only.
    assert {placed[name] for name in mapping.fields} == {"Readonly"}
    assert {placed[name] for name in PEOPLE_FILL_IN} == {"Edit"}
    assert placed[mapping.match.hold_field] == "Edit"
    assert placed["Name"] == "Required"


def test_the_account_layout_lists_the_invoices_open_ones_first() -> None:
    related = {entry["relatedList"]: entry for entry in layout(ACCOUNT_LAYOUT)["relatedLists"]}
    (relationship,) = child_relationships("Account")
    invoices = related[f"{relationship['childSObject']}.{relationship['field']}"]
    invoice_fields = {f["name"] for f in object_fields("AR_Invoice__c")}

    # Paid, void and removed invoices hold 0 open: largest open amount first puts open ones on top.
    assert (invoices["sortField"], invoices["sortOrder"]) == ("Open_Amount__c", "Desc")
    assert invoices["fields"][0] == "NAME"
    assert set(invoices["fields"][1:]) <= invoice_fields
    assert {"Open_Amount_Display__c", "Days_Overdue__c", "Status__c"} <= set(invoices["fields"])
    assert invoices["excludeButtons"] == ["New"], "arsync creates invoices, not reps"


def test_the_invoice_layout_shows_every_invoice_field_read_only() -> None:
    placed = _placed(INVOICE_LAYOUT)

    assert _custom_field_names("AR_Invoice__c") <= set(placed)
    assert {placed[name] for name in _custom_field_names("AR_Invoice__c")} == {"Readonly"}
    assert placed["Name"] == "Required"


def test_the_account_record_page_shows_highlights_detail_and_the_invoices() -> None:
    page = flexipage("Account_AR_Health")
    regions = page["regions"]
    (relationship,) = child_relationships("Account")

    assert (page["type"], page["sobjectType"]) == ("RecordPage", "Account")
    assert page["template"] == "flexipage:recordHomeTemplateDesktop"
    assert [c["componentName"] for c in regions["header"]] == ["force:highlightsPanel"]
    assert [c["componentName"] for c in regions["main"]] == ["force:detailPanel"]
    invoices = regions["sidebar"][0]
    assert invoices["componentName"] == "force:relatedListSingleContainer"
    assert invoices["properties"]["relatedListApiName"] == relationship["relationshipName"]
    assert invoices["properties"]["parentFieldApiName"] == "Account.Id"
    identifiers = [c["identifier"] for region in regions.values() for c in region]
    assert len(identifiers) == len(set(identifiers)), "identifiers are unique on the page"


def test_the_compact_layouts_name_shipped_fields() -> None:
    account = compact_layout("Account", "AR_Health")
    invoice = compact_layout("AR_Invoice__c", "AR_Invoice")

    assert account[0] == "Name"
    assert set(account[1:]) <= AR_HEALTH
    assert {"AR_Health_Score__c", "AR_Risk_Tier__c", "AR_Overdue_Balance__c"} <= set(account)
    assert set(invoice) <= {f["name"] for f in object_fields("AR_Invoice__c")}
    assert len(account) <= 10  # the platform's limit
    assert len(invoice) <= 10
    assigned = object_settings("AR_Invoice__c").findtext(
        "{http://soap.sforce.com/2006/04/metadata}compactLayoutAssignment"
    )
    assert assigned == "AR_Invoice"


def test_the_invoice_search_results_and_list_views_name_shipped_fields() -> None:
    fields = {f["name"] for f in object_fields("AR_Invoice__c")}
    ns = "{http://soap.sforce.com/2006/04/metadata}"
    search = object_settings("AR_Invoice__c").find(f"{ns}searchLayouts")
    assert search is not None
    listed = {node.text for node in search}
    views = sorted((OBJECTS / "AR_Invoice__c/listViews").glob("*.listView-meta.xml"))

    assert listed <= fields
    assert "Open_Amount_Display__c" in listed
    assert [path.name.split(".")[0] for path in views] == ["All", "Open"]
    for path in views:
        text = path.read_text(encoding="utf-8")
        columns = {line.strip()[9:-10] for line in text.splitlines() if "<columns>" in line}
        assert columns - {"NAME"} <= fields, path.name


@pytest.mark.parametrize("tab", ["AR_Invoice__c"])
def test_the_invoice_object_has_a_tab(tab: str) -> None:
    text = (TABS / f"{tab}.tab-meta.xml").read_text(encoding="utf-8")

    assert (OBJECTS / tab).is_dir()
    assert "<customObject>true</customObject>" in text
    assert "<motif>Custom41: Cash</motif>" in text


def test_the_layouts_are_new_ones_not_the_orgs_own() -> None:
    # A deployed layout replaces one of the same name whole: the package never ships the org's
    # default "Account-Account Layout", only its own, which an admin assigns.
    assert not (SOURCE / "layouts/Account-Account Layout.layout-meta.xml").exists()
    layouts = sorted(path.name.split("-")[0] for path in (SOURCE / "layouts").iterdir())

    assert layouts == ["AR_Invoice__c", "Account"]
    assert all((OBJECTS / name).is_dir() for name in layouts)
