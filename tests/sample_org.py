"""The fake Salesforce org of the bundled sample, and a project folder that writes to it:
shared by the end-to-end tests that run `arsync run` against an org."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from csv_rows import read_rows
from fakes.salesforce import FakeSalesforce, FieldSpec, PicklistValue
from sfdx import ROOT, describe_fields

LEFT_OUT = "C00005"  # a customer with no Account in the org


@contextmanager
def sample_org() -> Iterator[FakeSalesforce]:
    """The sample's org (`new_org`), running."""
    fake = new_org()
    with fake.running():
        yield fake


def new_org() -> FakeSalesforce:
    """The shipped fields, and an Account for every sample customer but LEFT_OUT, by its
    Salesforce Account Id where the ERP has one, else by ERP_Customer_Id__c."""
    fake = FakeSalesforce()
    for spec in describe_fields():
        if spec["name"] not in fake.fields:
            values = tuple(PicklistValue(v["value"]) for v in spec.pop("picklistValues"))
            fake.add_field(FieldSpec(**{**spec, "picklistValues": values}))
    for row in read_rows(ROOT / "examples/sample/customers.csv"):
        if row["Customer No."] == LEFT_OUT:
            continue
        if row["Salesforce Account ID"]:
            fake.add_account(Id=row["Salesforce Account ID"], Name=row["Name"])
        else:
            fake.add_account(Name=row["Name"], ERP_Customer_Id__c=row["Customer No."])
    return fake


def project_for(tmp_path: Path, org: FakeSalesforce) -> Path:
    """The shipped config, mappings and sample in `tmp_path`, writing to `org` by token."""
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    without_balance_report(tmp_path)
    config = tmp_path / "config/arsync.yaml"
    config.write_text(config.read_text() + salesforce_yaml(org))
    return tmp_path


def without_balance_report(project: Path) -> None:
    """The copied sample without the ERP's balance report: these projects edit the export
    to stand for changes in the ERP, and the report would not follow them (every edited
    customer would rightly be held back as unreconciled). The reconciliation has its own
    tests (test_reconcile_run.py, the contract suite)."""
    (project / "examples/sample/customer_balances.csv").unlink(missing_ok=True)


def salesforce_yaml(org: FakeSalesforce, extra: str = "") -> str:
    """A `salesforce:` section for arsync.yaml: `org` by token from $SF_ACCESS_TOKEN, no
    waits between retries or bulk polls; `extra` lines (indented) go inside the section."""
    return f"""
salesforce:
  auth:
    mode: token
    instance_url: {org.instance_url}
    access_token: ${{SF_ACCESS_TOKEN}}
  retry: {{initial_wait_seconds: 0, max_wait_seconds: 0}}
  bulk_poll_seconds: 0
{extra}"""
