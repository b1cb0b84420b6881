"""The shipped SFDX field metadata, read back as the describe() fields Salesforce would report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ROOT / "salesforce/force-app/main/default/objects/Account/fields"
_NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
# Metadata type -> the `type` describe() reports for such a field.
_DESCRIBE_TYPES = {
    "Text": "string",
    "LongTextArea": "textarea",
    "Currency": "currency",
    "Number": "double",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "Checkbox": "boolean",
}


def describe_fields(folder: Path = FIELDS) -> list[dict[str, Any]]:
    return [_describe(path) for path in sorted(folder.glob("*.field-meta.xml"))]


def _describe(path: Path) -> dict[str, Any]:
    root = ET.parse(path).getroot()  # noqa: S314 - our own repository's files

    def text(tag: str) -> str | None:
        node = root.find(f"m:{tag}", _NS)
        return node.text if node is not None else None

    values = [v.text for v in root.findall(".//m:valueSetDefinition/m:value/m:fullName", _NS)]
    return {
        "name": text("fullName"),
        "label": text("label"),
        "type": _DESCRIBE_TYPES[str(text("type"))],
        "length": int(text("length") or 0),
        "precision": int(text("precision") or 0),
        "scale": int(text("scale") or 0),
        "updateable": True,
        "nillable": True,
        "externalId": text("externalId") == "true",
        "idLookup": text("externalId") == "true",
        "restrictedPicklist": root.find(".//m:valueSet/m:restricted", _NS) is not None,
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": False} for v in values
        ],
    }
