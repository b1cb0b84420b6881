"""`arsync run` end to end on the bundled sample, writing to the fake Salesforce org."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from csv_rows import read_rows
from fakes.salesforce import FakeSalesforce
from sample_org import LEFT_OUT, project_for, sample_org
from sfdx import ROOT
from typer.testing import CliRunner

from jobs.cli import app

SEGMENT_LABELS = {
    "new": "New",
    "disputing": "Disputing",
    "high_exposure": "High Exposure",
    "deteriorating": "Deteriorating",
    "chronic_late": "Chronic Late",
    "slow_but_steady": "Slow but Steady",
    "prompt": "Prompt",
}


@pytest.fixture
def org() -> Iterator[FakeSalesforce]:
    with sample_org() as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, org: FakeSalesforce) -> Path:
    return project_for(tmp_path, org)


def run(project: Path, org: FakeSalesforce, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["--log-format", "json", *args, "--config", str(project / "config/arsync.yaml")],
        env={"SF_ACCESS_TOKEN": org.issue_token()},
    )
    return result.exit_code, result.output


def test_run_writes_the_scores_onto_the_accounts_and_a_rerun_writes_nothing(
    project: Path, org: FakeSalesforce
) -> None:
    code, output = run(project, org, "run")

    assert code == 0, output
    outcomes = read_rows(project / "out/outcomes.csv")
    statuses = {row["customer_id"]: row["status"] for row in outcomes}
    assert statuses.pop(LEFT_OUT) == "unmatched"
    assert set(statuses.values()) == {"written"}
    scores = {row["customer_id"]: row for row in read_rows(project / "out/scores.csv")}
    for account in org.accounts.values():
        customer = next(
            r
            for r in read_rows(ROOT / "examples/sample/customers.csv")
            if r["Name"] == account["Name"]
        )
        expected = scores[customer["Customer No."]]
        assert account["AR_Health_Score__c"] == int(expected["health_score"])
        assert account["AR_Open_Balance__c"] == pytest.approx(float(expected["open_balance"]))
        assert account["AR_Risk_Tier__c"] == expected["risk_tier"].capitalize()
        assert account["AR_Segment__c"] == SEGMENT_LABELS[expected["segment"]]  # not the code
    writes = org.count("composite") + org.count("bulk_create")

    code, output = run(project, org, "run")

    assert code == 0, output
    assert org.count("composite") + org.count("bulk_create") == writes
    assert "Accounts: 1 unmatched" in output
    assert "Salesforce: nothing changed; all 60 accounts already hold these values." in output


def test_plan_shows_current_and_new_values_and_writes_nothing(
    project: Path, org: FakeSalesforce
) -> None:
    code, output = run(project, org, "plan", "--show", "1")

    assert code == 0, output
    assert org.count("composite") + org.count("bulk_create") == 0
    plan = read_rows(project / "out/plan.csv")
    assert {row["current"] for row in plan} == {""}
    assert "Current" in output
    assert "would change" in output


def test_salesforce_check_reports_the_login_and_the_mapping(
    project: Path, org: FakeSalesforce
) -> None:
    code, output = run(project, org, "salesforce", "check")

    assert code == 0, output
    assert "logged in to acme.my.salesforce.com" in output
    # 32 written; the match key, the hold checkbox and 4 from_crm inputs only read.
    assert (
        "ok 38 Account fields exist: 32 written are writable and fit the mapped values, "
        "6 only read (to match, hold or weigh as from_crm inputs) are readable"
    ) in " ".join(output.split())
    assert "AR_Invoice__c" not in output  # off by default


def test_salesforce_check_needs_the_from_crm_inputs_readable_not_writable(
    project: Path, org: FakeSalesforce
) -> None:
    # A person fills the promise in; the integration user may well only read it.
    for name in ("AR_Promise_Amount__c", "AR_Dispute_Status__c"):
        org.add_field(dataclasses.replace(org.fields[name], updateable=False))
    described = {f["name"]: f for f in org.describe_body()["fields"]}
    assert not described["AR_Promise_Amount__c"]["updateable"]

    code, output = run(project, org, "salesforce", "check")

    assert code == 0, output
    text = " ".join(output.split())
    assert "32 written are writable" in text
    assert "6 only read (to match, hold or weigh as from_crm inputs) are readable" in text


def test_salesforce_check_covers_the_invoice_object_and_the_task_checkbox(
    project: Path, org: FakeSalesforce
) -> None:
    mapping = project / "mappings/salesforce_account.yaml"
    mapping.write_text(
        mapping.read_text()
        .replace("invoices:\n  enabled: false", "invoices:\n  enabled: true")
        .replace("tasks:\n  enabled: false", "tasks:\n  enabled: true")
    )

    code, output = run(project, org, "salesforce", "check")

    assert code == 0, output
    assert "ok 11 AR_Invoice__c fields: checked against describe()" in output
    assert "ok the Task checkbox AR_Sync_Task__c: checked against describe()" in output
    assert org.count("composite") + org.count("composite_create") == 0


def test_a_missing_secret_names_the_variable_and_never_a_value(
    project: Path, org: FakeSalesforce
) -> None:
    result = CliRunner().invoke(
        app, ["run", "--config", str(project / "config/arsync.yaml")], env={"SF_ACCESS_TOKEN": ""}
    )

    assert result.exit_code == 3
    assert "SF_ACCESS_TOKEN is not set" in result.output


def test_the_access_token_appears_in_no_output_log_or_file(
    project: Path, org: FakeSalesforce
) -> None:
    token = org.issue_token()

    result = CliRunner().invoke(
        app,
        [
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "run",
            "--config",
            str(project / "config/arsync.yaml"),
        ],
        env={"SF_ACCESS_TOKEN": token},
    )

    assert result.exit_code == 0, result.output
    assert token not in result.output
    assert token not in result.stderr
    for path in (project / "out").iterdir():
        assert token not in path.read_text(encoding="utf-8")
