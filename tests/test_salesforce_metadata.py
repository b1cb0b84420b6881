"""The shipped SFDX metadata holds every field the default mapping writes, with fitting types."""

from __future__ import annotations

from pathlib import Path

from sfdx import ROOT, describe_fields

from arsync.mapping import CrmMapping
from arsync.yamlfile import load_model
from connector.crm.salesforce.describe import FieldInfo, check_mapping
from scoring import ScoringSettings
from scoring.columns import output_columns


def test_every_mapped_field_is_shipped_and_fits_its_column() -> None:
    mapping = load_model(CrmMapping, ROOT / "mappings/salesforce_account.yaml")
    fields = {f["name"]: FieldInfo.from_describe(f) for f in describe_fields()}
    kinds = {name: c.kind.value for name, c in output_columns(ScoringSettings()).items()}

    assert check_mapping(fields, mapping, kinds) == []
    match = mapping.match
    assert set(mapping.fields) | {match.external_id_field, match.hold_field} == set(fields)


def test_the_permission_set_grants_exactly_the_shipped_fields() -> None:
    text = Path(ROOT / "salesforce/force-app/main/default/permissionsets").glob("*.xml")
    permission_set = next(text).read_text()
    granted = {
        line.strip().removeprefix("<field>Account.").removesuffix("</field>")
        for line in permission_set.splitlines()
        if line.strip().startswith("<field>")
    }

    assert granted == {f["name"] for f in describe_fields()}
