"""The main job end to end, through the CLI, on the bundled sample export."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from csv_rows import read_rows, write_rows
from typer.testing import CliRunner

from jobs.cli import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped config, mappings and sample data, writing to its own out/."""
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    code, output, _ = run_logged(*args)
    return code, output


def run_logged(*args: str) -> tuple[int, str, list[dict[str, Any]]]:
    """Exit code, everything printed, and the JSON log events the run wrote to stderr."""
    result = CliRunner().invoke(app, ["--log-format", "json", *args])
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return result.exit_code, result.output, events


def test_dry_run_on_the_sample_plans_every_customer_and_exits_0(project: Path) -> None:
    code, output = run("run", "--dry-run", "--config", str(project / "config/arsync.yaml"))

    assert code == 0, output
    with (project / "out/plan.csv").open() as handle:
        plan = list(csv.DictReader(handle))
    customers = {
        row["Customer No."] for row in read_rows(project / "examples/sample/customers.csv")
    }
    assert {row["customer_id"] for row in plan} == customers
    mapped = {"AR_Open_Balance__c", "AR_Overdue_Status__c", "AR_As_Of__c"}
    assert mapped <= {row["field"] for row in plan}
    assert "Salesforce: not connected" in output
    assert "Plan (dry run, offline" not in output  # the per-field detail is behind --show
    assert "Quarantine: empty" in output
    manifest = json.loads((project / "examples/sample/export_manifest.json").read_text())
    assert manifest["exported_at"] == "2026-11-20T23:00:00+00:00"
    # The stamp is when the ERP data was current, in Salesforce's datetime form, not today.
    assert {row["value"] for row in plan if row["field"] == "AR_As_Of__c"} == {
        "2026-11-20T23:00:00.000Z"
    }


def test_the_summary_adds_up_to_the_scores_and_show_lists_the_fields(project: Path) -> None:
    code, output = run(
        "run", "--dry-run", "--show", "2", "--config", str(project / "config/arsync.yaml")
    )

    assert code == 0, output
    scores = read_rows(project / "out/scores.csv")
    open_cents = sum(round(float(row["open_balance"]) * 100) for row in scores)
    overdue_cents = sum(round(float(row["overdue_balance"]) * 100) for row in scores)
    at_risk = [r for r in scores if r["risk_tier"] in {"high", "critical"}]
    at_risk_cents = sum(round(float(row["open_balance"]) * 100) for row in at_risk)
    assert f"Open {open_cents / 100:,.2f} USD, overdue {overdue_cents / 100:,.2f}" in output
    assert f"{at_risk_cents / 100:,.2f} open at high or critical risk" in output
    [total] = [line for line in output.splitlines() if "│ Total" in line]
    assert total.split("│")[1:5] == [
        " Total    ",
        f"{len(scores):>9,} ",
        f" {open_cents / 100:>10,.2f} ",
        f" {overdue_cents / 100:>11,.2f} ",
    ]
    assert "Plan (dry run, offline" in output
    assert "... and 58 more accounts in the plan file." in output


def test_plan_balances_match_the_export(project: Path) -> None:
    """Open balance per customer in USD equals the export's open invoices, converted by hand."""
    run("run", "--dry-run", "--config", str(project / "config/arsync.yaml"))
    customers = {r["Customer No."]: r for r in read_rows(project / "examples/sample/customers.csv")}
    expected: dict[str, int] = dict.fromkeys(customers, 0)
    for row in read_rows(project / "examples/sample/invoices.csv"):
        if row["Status"] == "Void":
            continue
        cents = round(float(row["Balance Due"]) * 100)
        rate = 1.08 if row["Currency"] == "EUR" else 1.0
        expected[row["Customer No."]] += round(cents * rate)
    plan = read_rows(project / "out/plan.csv")
    actual = {
        row["customer_id"]: round(float(row["value"]) * 100)
        for row in plan
        if row["field"] == "AR_Open_Balance__c"
    }
    assert actual == expected


def test_run_without_dry_run_refuses_to_write(project: Path) -> None:
    code, output = run("run", "--config", str(project / "config/arsync.yaml"))

    assert code == 2
    assert "--dry-run" in output
    assert not (project / "out").exists()


def test_broken_rows_make_a_partial_run_with_exit_1(project: Path) -> None:
    invoices = project / "examples/sample/invoices.csv"
    rows = read_rows(invoices)
    rows[0]["Due Date"] = ""
    rows[1]["Amount"] = "twelve"
    write_rows(invoices, rows)

    code, output, logs = run_logged(
        "run", "--dry-run", "--config", str(project / "config/arsync.yaml")
    )

    assert code == 1, output
    quarantined = [e for e in logs if e["event"] == "ledger.record_quarantined"]
    broken = {rows[0]["Invoice ID"], rows[1]["Invoice ID"]}
    assert [(e["record_id"], e["location"]) for e in quarantined[:2]] == [
        (rows[0]["Invoice ID"], "invoices.csv:2"),
        (rows[1]["Invoice ID"], "invoices.csv:3"),
    ]
    assert "column 'Due Date' is empty" in quarantined[0]["reason"]
    assert "'twelve' is not a number" in quarantined[1]["reason"]
    # Payments applied to those invoices keep their cash, but each application is reported.
    cascaded = quarantined[2:]
    assert cascaded
    assert {e["rule"] for e in cascaded} == {"unknown_invoice"}
    assert {e["record_id"].split("->")[1] for e in cascaded} == broken
    assert all(e["location"].startswith("payment_applications.csv:") for e in cascaded)
    report = read_rows(project / "out/quarantine.csv")
    assert [r["location"] for r in report][:2] == ["invoices.csv:2", "invoices.csv:3"]
    assert len(report) == len(quarantined)
    finished = next(e for e in logs if e["event"] == "sync.finished")
    assert (finished["status"], finished["exit_code"]) == ("partial", 1)


def test_every_event_of_a_run_carries_the_run_id(project: Path) -> None:
    _, _, logs = run_logged("run", "--dry-run", "--config", str(project / "config/arsync.yaml"))

    run_ids = {e.get("run_id") for e in logs}
    assert len(run_ids) == 1
    assert None not in run_ids
    assert [e["event"] for e in logs if e["event"].startswith("sync.")] == [
        "sync.started",
        "sync.finished",
    ]


def test_as_of_option_moves_the_scoring_date_but_not_the_data_stamp(project: Path) -> None:
    code, _ = run(
        "run", "--dry-run", "--as-of", "2030-01-01", "--config", str(project / "config/arsync.yaml")
    )

    assert code == 0
    scores = read_rows(project / "out/scores.csv")
    assert {r["as_of_date"] for r in scores} == {"2030-01-01"}
    plan = read_rows(project / "out/plan.csv")
    assert {r["value"] for r in plan if r["field"] == "AR_As_Of__c"} == {"2026-11-20T23:00:00.000Z"}


def test_source_check_reads_the_configured_source_and_counts_it(project: Path) -> None:
    result = CliRunner().invoke(
        app, ["source", "check", "files", "--config", str(project / "config/arsync.yaml")]
    )

    assert result.exit_code == 0, result.output
    assert "ok files: read 60 customers, 2,455 invoices" in result.output


def test_source_check_of_another_kind_than_configured_is_a_settings_error(project: Path) -> None:
    result = CliRunner().invoke(
        app, ["source", "check", "xero", "--config", str(project / "config/arsync.yaml")]
    )

    assert result.exit_code == 2
    assert "configures the source 'files', not 'xero'" in result.output
