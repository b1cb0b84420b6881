"""The shipped SFDX metadata, read back as the describe() fields Salesforce would report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "salesforce/force-app/main/default"
OBJECTS = SOURCE / "objects"
FIELDS = OBJECTS / "Account/fields"
PERMISSION_SETS = SOURCE / "permissionsets"
LAYOUTS = SOURCE / "layouts"
FLEXIPAGES = SOURCE / "flexipages"
TABS = SOURCE / "tabs"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
_NS = {"m": METADATA_NS}
# Metadata type -> the `type` describe() reports for such a field.
_DESCRIBE_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Currency": "currency",
    "Number": "double",
    "Percent": "percent",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Checkbox": "boolean",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "AutoNumber": "string",
}
# describe()'s length for the types whose metadata carries none.
_FIXED_LENGTHS = {
    "TextArea": 255,
    "Picklist": 255,
    "MultiselectPicklist": 4099,
    "Email": 80,
    "Phone": 40,
    "Url": 255,
    "Lookup": 18,
    "MasterDetail": 18,
}
# Custom fields of Tasks and Events are defined once, on Activity; a permission set grants them
# per object, as Task.Field__c (arsync only uses Tasks).
_PERMISSION_OBJECT = {"Activity": "Task"}


def describe_fields(folder: Path = FIELDS) -> list[dict[str, Any]]:
    """The custom fields in one `fields/` folder (Account's by default).

    Each dict holds only describe keys the test fake's `FieldSpec` takes, so a test can feed
    them to `FieldSpec(**field)`; custom fields are the ones named `...__c`.
    """
    return [_describe(path) for path in sorted(folder.glob("*.field-meta.xml"))]


def object_fields(name: str) -> list[dict[str, Any]]:
    """One object folder's fields: its custom fields and, for a custom object, its Name field."""
    fields = describe_fields(OBJECTS / name / "fields")
    definition = OBJECTS / name / f"{name}.object-meta.xml"
    if definition.exists():
        name_field = _root(definition).find("m:nameField", _NS)
        if name_field is not None:
            fields.insert(0, _describe_name(name_field))
    return fields


def shipped_objects() -> list[str]:
    """The object folders under objects/, e.g. Account, AR_Invoice__c, Activity."""
    return sorted(path.name for path in OBJECTS.iterdir() if path.is_dir())


def child_relationships(parent: str) -> list[dict[str, Any]]:
    """The childRelationships describe(parent) reports for the shipped lookups to it."""
    relationships = []
    for child in shipped_objects():
        for field in object_fields(child):
            if parent not in field["referenceTo"]:
                continue
            metadata = field_metadata(child, field["name"])
            delete = metadata.get("deleteConstraint", "SetNull")
            if metadata["type"] == "MasterDetail":
                delete = "Cascade"
            relationships.append(
                {
                    "childSObject": child,
                    "field": field["name"],
                    "relationshipName": f"{metadata['relationshipName']}__r",
                    "cascadeDelete": delete == "Cascade",
                    "restrictedDelete": delete == "Restrict",
                }
            )
    return relationships


def field_metadata(object_name: str, field: str) -> dict[str, str]:
    """A field file's top-level elements as text, for what describe() does not report."""
    path = OBJECTS / object_name / "fields" / f"{field}.field-meta.xml"
    return {_tag(node): node.text or "" for node in _root(path) if len(node) == 0}


def permission_object(object_folder: str) -> str:
    """The object a permission set names a field of this object folder by."""
    return _PERMISSION_OBJECT.get(object_folder, object_folder)


def permission_set(name: str = "arsync_Integration") -> dict[str, Any]:
    """A permission set's field and object permissions, each as a list in file order."""
    root = _root(PERMISSION_SETS / f"{name}.permissionset-meta.xml")

    def entries(tag: str) -> list[dict[str, Any]]:
        return [
            {_tag(node): _value(node.text) for node in entry}
            for entry in root.findall(f"m:{tag}", _NS)
        ]

    label = root.find("m:label", _NS)
    description = root.find("m:description", _NS)
    return {
        "label": label.text if label is not None else None,
        "description": description.text if description is not None else None,
        "fieldPermissions": entries("fieldPermissions"),
        "objectPermissions": entries("objectPermissions"),
        "tabSettings": entries("tabSettings"),
        "userPermissions": entries("userPermissions"),
    }


def layout(name: str) -> dict[str, Any]:
    """A page layout's sections (label -> [(field, behavior)]) and related lists, in file order."""
    root = _root(LAYOUTS / f"{name}.layout-meta.xml")
    sections: dict[str, list[tuple[str, str]]] = {}
    for section in root.findall("m:layoutSections", _NS):
        label = section.findtext("m:label", "", _NS)
        sections[label] = [
            (item.findtext("m:field", "", _NS), item.findtext("m:behavior", "", _NS))
            for item in section.iterfind("m:layoutColumns/m:layoutItems", _NS)
        ]
    related = [
        {
            "relatedList": entry.findtext("m:relatedList", "", _NS),
            "fields": [node.text for node in entry.findall("m:fields", _NS)],
            "excludeButtons": [node.text for node in entry.findall("m:excludeButtons", _NS)],
            "sortField": entry.findtext("m:sortField", None, _NS),
            "sortOrder": entry.findtext("m:sortOrder", None, _NS),
        }
        for entry in root.findall("m:relatedLists", _NS)
    ]
    return {"sections": sections, "relatedLists": related}


def flexipage(name: str) -> dict[str, Any]:
    """A Lightning page: its settings and, per region, each component with its properties."""
    root = _root(FLEXIPAGES / f"{name}.flexipage-meta.xml")
    regions: dict[str, list[dict[str, Any]]] = {}
    for region in root.findall("m:flexiPageRegions", _NS):
        regions[region.findtext("m:name", "", _NS)] = [
            {
                "componentName": component.findtext("m:componentName", "", _NS),
                "identifier": component.findtext("m:identifier", "", _NS),
                "properties": {
                    prop.findtext("m:name", "", _NS): prop.findtext("m:value", "", _NS)
                    for prop in component.findall("m:componentInstanceProperties", _NS)
                },
            }
            for component in region.iterfind("m:itemInstances/m:componentInstance", _NS)
        ]
    return {
        "type": root.findtext("m:type", None, _NS),
        "sobjectType": root.findtext("m:sobjectType", None, _NS),
        "masterLabel": root.findtext("m:masterLabel", None, _NS),
        "template": root.findtext("m:template/m:name", None, _NS),
        "regions": regions,
    }


def compact_layout(object_name: str, name: str) -> list[str]:
    """The fields of one compact layout, in the order the highlights panel shows them."""
    path = OBJECTS / object_name / "compactLayouts" / f"{name}.compactLayout-meta.xml"
    return [str(node.text) for node in _root(path).findall("m:fields", _NS)]


def object_settings(object_name: str) -> ET.Element:
    """A shipped object definition's root element (a custom object's `.object-meta.xml`)."""
    return _root(OBJECTS / object_name / f"{object_name}.object-meta.xml")


def _describe(path: Path) -> dict[str, Any]:
    root = _root(path)

    def text(tag: str) -> str | None:
        node = root.find(f"m:{tag}", _NS)
        return node.text if node is not None else None

    def flag(tag: str) -> bool:
        return text(tag) == "true"

    kind = str(text("type"))
    values = [v.text for v in root.findall(".//m:valueSetDefinition/m:value/m:fullName", _NS)]
    return {
        "name": text("fullName"),
        "label": text("label"),
        "type": _DESCRIBE_TYPES[kind],
        "length": int(text("length") or _FIXED_LENGTHS.get(kind, 0)),
        "precision": int(text("precision") or 0),
        "scale": int(text("scale") or 0),
        "updateable": text("formula") is None,  # a formula is computed, never written
        # A checkbox is never null; a required field (a master-detail always) cannot be.
        "nillable": not (flag("required") or kind in {"Checkbox", "MasterDetail"}),
        "externalId": flag("externalId"),
        "idLookup": flag("externalId"),
        "unique": flag("unique"),
        "caseSensitive": flag("caseSensitive"),
        "referenceTo": [text("referenceTo")] if kind in {"Lookup", "MasterDetail"} else [],
        "restrictedPicklist": text("valueSet/m:restricted") == "true",
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": False} for v in values
        ],
    }


def _describe_name(node: ET.Element) -> dict[str, Any]:
    """A custom object's Name field: text, or an auto number nobody writes."""
    label = node.find("m:label", _NS)
    kind = node.find("m:type", _NS)
    writable = kind is None or kind.text != "AutoNumber"
    return {
        "name": "Name",
        "label": label.text if label is not None else None,
        "type": "string",
        "length": 80,
        "precision": 0,
        "scale": 0,
        "updateable": writable,
        "nillable": False,
        "externalId": False,
        "idLookup": True,
        "unique": False,
        "caseSensitive": False,
        "referenceTo": [],
        "restrictedPicklist": False,
        "picklistValues": [],
    }


def _root(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 - our own repository's files


def _tag(node: ET.Element) -> str:
    return node.tag.rpartition("}")[2]


def _value(text: str | None) -> str | bool | None:
    return {"true": True, "false": False}.get(text or "", text)
