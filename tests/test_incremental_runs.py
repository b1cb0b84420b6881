"""Incremental runs end to end: the SQL source, the state store and the fake Salesforce org.

The second run pulls only what changed since the first one's watermarks, still scores the whole
ledger, and moves the watermark only when it completes; --full pulls everything again.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from contract.case_sql import EXAMPLE, write_warehouse
from contract.ledger import contract_ledger
from fakes.salesforce import FakeSalesforce, FieldSpec, PicklistValue
from sfdx import ROOT, describe_fields
from typer.testing import CliRunner

from jobs.cli import app
from jobs.state import StateStore


@pytest.fixture
def org() -> Iterator[FakeSalesforce]:
    fake = FakeSalesforce()
    for spec in describe_fields():
        if spec["name"] not in fake.fields:
            values = tuple(PicklistValue(v["value"]) for v in spec.pop("picklistValues"))
            fake.add_field(FieldSpec(**{**spec, "picklistValues": values}))
    for customer_id in ("C1", "C2", "C3", "C4"):
        fake.add_account(Name=customer_id, ERP_Customer_Id__c=customer_id)
    with fake.running():
        yield fake


@pytest.fixture
def project(tmp_path: Path, org: FakeSalesforce) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    write_warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}", contract_ledger())
    _stamp_invoices(tmp_path, dt.datetime(2026, 6, 30, 23, tzinfo=dt.UTC))
    source = EXAMPLE.read_text().replace(
        "url: postgresql://arsync_reader:${WAREHOUSE_PASSWORD}@warehouse.internal:5432/finance",
        "url: ${WAREHOUSE_URL}",
    )
    indented = "\n".join(f"  {line}" if line else "" for line in source.splitlines())
    (tmp_path / "config/arsync.yaml").write_text(
        f"""source:
{indented}
crm_mapping: ../mappings/salesforce_account.yaml
scoring: scoring.yaml
reporting_currency: USD
fx_rates: {{EUR: 1.08}}
output: {{dir: ../out}}
salesforce:
  auth: {{mode: token, instance_url: "{org.instance_url}", access_token: "${{SF_ACCESS_TOKEN}}"}}
  retry: {{initial_wait_seconds: 0, max_wait_seconds: 0}}
"""
    )
    return tmp_path


def run(project: Path, org: FakeSalesforce, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(
        app,
        [
            "--log-format",
            "json",
            "run",
            *args,
            "--as-of",
            "2026-06-30",
            "--config",
            str(project / "config/arsync.yaml"),
        ],
        env={
            "SF_ACCESS_TOKEN": org.issue_token(),
            "WAREHOUSE_URL": f"sqlite:///{project / 'warehouse.db'}",
        },
    )
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert result.exit_code == 0, result.output
    return result.exit_code, events


def event(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(e for e in events if e["event"] == name)


def _stamp_invoices(project: Path, moment: dt.datetime) -> None:
    """The contract ledger's invoices carry no last-modified time; a warehouse's do."""
    engine = sa.create_engine(f"sqlite:///{project / 'warehouse.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE fact_ar_invoice SET updated_at = :at"), {"at": moment})
    engine.dispose()


def pay_invoice_i3(project: Path) -> None:
    """The ERP records I3 (450.50 open, C1) as paid, later than the first run's watermark."""
    engine = sa.create_engine(f"sqlite:///{project / 'warehouse.db'}")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE fact_ar_invoice SET open_amount = '0', invoice_status = 'PAID', "
                "updated_at = :later WHERE invoice_id = 'I3'"
            ),
            {"later": dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)},
        )
    engine.dispose()


def scores(project: Path) -> dict[str, dict[str, str]]:
    with (project / "out/scores.csv").open() as handle:
        return {row["customer_id"]: row for row in csv.DictReader(handle)}


def test_a_second_run_pulls_only_the_change_and_still_scores_everyone(
    project: Path, org: FakeSalesforce
) -> None:
    _, first = run(project, org)
    assert event(first, "sync.started")["incremental"] is False
    assert float(scores(project)["C1"]["open_balance"]) == 750.50  # I2 300 + I3 450.50
    pay_invoice_i3(project)

    _, second = run(project, org)

    started = event(second, "sync.started")
    assert started["incremental"] is True
    assert started["kept_records"] == len(contract_ledger())
    # I3 came back for its new stamp, and the open invoices (I2, I4, I6) to be verified
    # again: a warehouse may lower an open balance without moving the stamp. Was 1, I3 alone.
    assert event(second, "ledger.built")["pulled"] == 4
    assert event(second, "ledger.built")["invoices"] == 7  # the whole ledger was scored
    assert float(scores(project)["C1"]["open_balance"]) == 300.00
    account = next(a for a in org.accounts.values() if a.get("ERP_Customer_Id__c") == "C1")
    assert account["AR_Open_Balance__c"] == 300.00


def test_a_failed_run_leaves_the_watermark_where_it_was(
    project: Path, org: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(project, org)
    state_url = f"sqlite:///{project / 'state/arsync.db'}"
    with StateStore.open(state_url) as state:
        before = state.cursors.watermarks("sql")
    pay_invoice_i3(project)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("scoring blew up")

    monkeypatch.setattr("jobs.pipeline.score_accounts", broken)
    result = CliRunner().invoke(
        app,
        ["run", "--as-of", "2026-06-30", "--config", str(project / "config/arsync.yaml")],
        env={
            "SF_ACCESS_TOKEN": org.issue_token(),
            "WAREHOUSE_URL": f"sqlite:///{project / 'warehouse.db'}",
        },
    )

    assert result.exit_code != 0
    with StateStore.open(state_url) as state:
        assert state.cursors.watermarks("sql") == before
        assert state.runs.recent(1)[0].status == "failed"


def test_a_full_pull_that_finds_nothing_keeps_nothing(project: Path, org: FakeSalesforce) -> None:
    """Every record deleted in the ERP: a full pull (accepted past the breaker) must drop the
    kept records, or the next incremental run would score them as if they still existed."""
    run(project, org)
    engine = sa.create_engine(f"sqlite:///{project / 'warehouse.db'}")
    with engine.begin() as connection:
        tables = sa.inspect(connection).get_table_names()
        for table in tables:
            connection.execute(sa.text(f'DELETE FROM "{table}"'))  # noqa: S608 - our own tables
    engine.dispose()
    with StateStore.open(f"sqlite:///{project / 'state/arsync.db'}") as store:
        assert store.cursors.records("sql")

    code, _ = run(project, org, "--full", "--accept-large-change")

    assert code in {0, 1}
    with StateStore.open(f"sqlite:///{project / 'state/arsync.db'}") as store:
        assert store.cursors.records("sql") == []


def test_full_pulls_everything_again(project: Path, org: FakeSalesforce) -> None:
    run(project, org)

    _, events = run(project, org, "--full")

    assert event(events, "sync.started")["incremental"] is False
    assert event(events, "ledger.built")["pulled"] == len(contract_ledger())
