"""Promises to pay and disputes that people record in Salesforce, through `arsync run`.

The sample ledger against the fake org: a baseline run without anything recorded, then a run
with a pending promise, a broken promise and an open dispute on three overdue customers.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_project import cli, make_project
from fakes.salesforce import FieldSpec, SObjectType
from sample_org import new_org

from arsync.mapping import CrmMapping
from arsync.yamlfile import load_model
from jobs.settings import load_run_settings

AS_OF = "2026-11-20"  # the sample's manifest date


def _scores(project_folder: Path) -> dict[str, dict[str, str]]:
    with (project_folder / "out/scores.csv").open(encoding="utf-8", newline="") as handle:
        return {row["customer_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("inputs")
    fake = new_org()
    with fake.running():
        project = make_project(folder, fake, f"sqlite:///{folder / 'state/arsync.db'}")
        code, output, _ = cli(project, "run")
        assert code == 0, output
        before = _scores(folder)
        chased = sorted(
            customer
            for customer, row in before.items()
            if float(row["overdue_balance"]) > 0
            and row["next_action"] not in {"none", "resolve_dispute"}
            and row["risk_tier"] != "critical"
        )
        assert len(chased) >= 3
        pending, broken, disputed = chased[:3]
        accounts = {
            row["customer_id"]: account_id
            for account_id, values in fake.accounts.items()
            for row in before.values()
            if values.get("AR_Open_Balance__c") is not None
            and values.get("Name") == row["customer_name"]
        }
        fake.accounts[accounts[pending]].update(
            AR_Promise_Amount__c=float(before[pending]["overdue_balance"]),
            AR_Promise_Date__c="2026-11-24",
        )
        fake.accounts[accounts[broken]].update(
            AR_Promise_Amount__c=500.0,
            AR_Promise_Date__c="2026-11-02",
            AR_Promise_Made_On__c="2026-10-30",
        )
        fake.accounts[accounts[disputed]].update(AR_Dispute_Status__c="Open")
        collector = fake.add_user(Name="Ann O'Neil")
        for customer in (pending, broken):
            fake.accounts[accounts[customer]]["OwnerId"] = collector
        queries = len(fake.queries)
        code, output, error = cli(project, "run")
        assert code == 0, (output, repr(error))
        with project.store() as store:
            snapshot = store.history.snapshots(dt.date.fromisoformat(AS_OF))
        return {
            "before": before,
            "after": _scores(folder),
            "org": {c: fake.accounts[accounts[c]] for c in (pending, broken, disputed)},
            "customers": (pending, broken, disputed),
            "snapshot": snapshot.set_index("customer_id"),
            "collector": collector,
            "queries": fake.queries[queries:],
            "integration_user": fake.user_id,
            "written": fake.written_fields(),
            "planned": {row["field"] for row in csv.DictReader((folder / "out/plan.csv").open())},
        }


def test_a_pending_promise_recorded_in_salesforce_holds_the_next_action(
    runs: dict[str, Any],
) -> None:
    pending = runs["customers"][0]
    account = runs["org"][pending]

    assert account["AR_Promise_Status__c"] == "Pending"
    assert account["AR_Next_Action__c"] == "Payment promised by 2026-11-24: check that it arrived"
    assert str(account["AR_Next_Action_Date__c"]) == "2026-11-28"
    assert runs["after"][pending]["priority_rank"] == ""  # nothing at risk until then
    assert runs["before"][pending]["priority_rank"] != ""


def test_a_broken_promise_raises_the_risk_and_is_the_first_reason(runs: dict[str, Any]) -> None:
    broken = runs["customers"][1]
    account = runs["org"][broken]
    before, after = runs["before"][broken], runs["after"][broken]
    tiers = ["low", "medium", "high", "critical"]

    assert account["AR_Promise_Status__c"] == "Broken"
    assert account["AR_Health_Reason_1__c"].startswith(
        "BROKEN_PROMISE: promised 500.00 by 2026-11-02"
    )
    assert int(after["health_score"]) == max(int(before["health_score"]) - 15, 0)
    assert tiers.index(after["risk_tier"]) == tiers.index(before["risk_tier"]) + 1
    assert account["AR_Risk_Tier__c"] == after["risk_tier"].capitalize()


def test_a_dispute_opened_in_salesforce_turns_the_action_to_resolving_it(
    runs: dict[str, Any],
) -> None:
    disputed = runs["customers"][2]

    assert runs["org"][disputed]["AR_Next_Action__c"] == "Resolve the open dispute first"
    assert runs["after"][disputed]["crm_dispute_open"] == "True"


def test_customers_without_anything_recorded_keep_their_figures(runs: dict[str, Any]) -> None:
    others = set(runs["before"]) - set(runs["customers"])

    for customer in others:
        assert runs["after"][customer]["health_score"] == runs["before"][customer]["health_score"]
        assert runs["after"][customer]["promise_status"] == "none"


def test_the_snapshot_keeps_the_promise_the_dispute_and_the_owner_the_run_read(
    runs: dict[str, Any],
) -> None:
    pending, broken, disputed = runs["customers"]
    snapshot = runs["snapshot"]

    assert snapshot.loc[pending, "promise_status"] == "pending"
    assert snapshot.loc[pending, "promise_amount"] == float(
        runs["before"][pending]["overdue_balance"]
    )
    assert snapshot.loc[pending, "promise_date"] == dt.date(2026, 11, 24)
    assert snapshot.loc[broken, "promise_status"] == "broken"
    assert snapshot.loc[broken, "promise_amount"] == 500.0
    assert snapshot.loc[disputed, "crm_dispute_open"] is True
    assert snapshot.loc[pending, "crm_dispute_open"] is False
    others = snapshot.drop(index=list(runs["customers"]))
    assert set(others["promise_status"]) == {"none"}
    for customer in (pending, broken):
        assert snapshot.loc[customer, "owner_id"] == runs["collector"]
        assert snapshot.loc[customer, "owner_name"] == "Ann O'Neil"
    assert set(others["owner_id"].dropna()) == {runs["integration_user"]}
    assert set(others["owner_name"].dropna()) == {"Integration User"}
    matched = snapshot[snapshot["owner_id"].notna()]
    assert len(matched) == len(snapshot) - 1  # the customer with no Account has no owner
    # One User query names both owners; OwnerId is read with the mapped fields.
    users = [q for q in runs["queries"] if " FROM User " in q]
    ids = "','".join(sorted([runs["collector"], runs["integration_user"]]))
    assert users == [f"SELECT Id, Name FROM User WHERE Id IN ('{ids}')"]  # noqa: S608
    assert all("OwnerId" in q for q in runs["queries"] if " FROM Account " in q)


def test_owner_names_are_looked_up_200_ids_a_query(tmp_path: Path) -> None:
    fake = new_org()
    owners = [fake.add_user(Name=f"Collector {n}") for n in range(450)]
    for account, owner in zip(fake.accounts.values(), owners, strict=False):
        account["OwnerId"] = owner
    with fake.running():
        project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state.db'}")
        before = len(fake.queries)
        code, output, error = cli(project, "run", "--dry-run")
        assert code == 0, (output, repr(error))

    users = [q for q in fake.queries[before:] if " FROM User " in q]
    named = min(len(owners), len(fake.accounts))
    assert len(users) == -(-named // 200)
    assert all(q.count("'005") <= 200 for q in users)


def test_an_org_whose_user_cannot_read_user_runs_on_without_owner_names(tmp_path: Path) -> None:
    fake = new_org()
    fake.unreadable.add("User")
    with fake.running():
        project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state.db'}")
        code, output, error = cli(project, "run")
        assert code == 0, (output, repr(error))
        with project.store() as store:
            snapshot = store.history.snapshots(dt.date.fromisoformat(AS_OF))

    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    warnings = [e for e in events if e.get("event") == "salesforce.owner_names_unreadable"]
    assert len(warnings) == 1
    assert "INVALID_TYPE" in warnings[0]["error"]
    assert snapshot["owner_id"].notna().sum() == len(snapshot) - 1  # the Ids are still read
    assert snapshot["owner_name"].isna().all()


def test_the_owner_is_read_never_planned_or_written(runs: dict[str, Any]) -> None:
    mapping = load_model(CrmMapping, Path(__file__).parents[1] / "mappings/salesforce_account.yaml")

    assert "OwnerId" not in mapping.fields
    assert runs["planned"] <= set(mapping.fields)
    assert runs["written"] <= set(mapping.fields)
    for account in runs["org"].values():
        assert account["OwnerId"] in {runs["collector"], runs["integration_user"]}


def test_the_inputs_are_read_never_written() -> None:
    mapping = load_model(CrmMapping, Path(__file__).parents[1] / "mappings/salesforce_account.yaml")

    assert set(mapping.from_crm.account_fields()).isdisjoint(mapping.fields)
    with pytest.raises(ValueError, match="read from_crm"):
        CrmMapping.model_validate(
            {
                "from_crm": {"dispute": {"field": "AR_Dispute_Status__c"}},
                "fields": {"AR_Dispute_Status__c": {"from": "segment"}},
            }
        )


def test_an_input_field_missing_from_the_org_is_a_config_error_naming_the_line(
    tmp_path: Path,
) -> None:
    fake = new_org()
    del fake.fields["AR_Promise_Date__c"]
    with fake.running():
        project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state.db'}")
        code, output, _ = cli(project, "run", "--dry-run")

    assert code == 2
    assert "salesforce_account.yaml:" in output
    assert "from_crm.promise.date_field" in output
    assert "Account has no field 'AR_Promise_Date__c'" in output
    assert load_run_settings(project.config).crm_mapping.from_crm.promise is not None


def test_promises_from_a_related_object_take_the_latest_per_account(tmp_path: Path) -> None:
    """Promises kept as records of their own: the latest by promised date counts."""
    fake = new_org()
    fake.add_object(
        SObjectType("Promise_To_Pay__c", "a0P", "Promise to Pay", "Promises to Pay"),
        [
            FieldSpec("Account__c", "reference", length=18, referenceTo=("Account",)),
            FieldSpec("Amount__c", "currency", precision=16, scale=2),
            FieldSpec("Promised_Date__c", "date"),
        ],
    )
    with fake.running():
        project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state.db'}")
        mapping = tmp_path / "mappings/salesforce_account.yaml"
        document = yaml.safe_load(mapping.read_text())
        document["from_crm"]["promise"] = {
            "object": "Promise_To_Pay__c",
            "account_field": "Account__c",
            "amount_field": "Amount__c",
            "date_field": "Promised_Date__c",
        }
        mapping.write_text(yaml.safe_dump(document))
        code, output, error = cli(project, "run", "--dry-run")
        assert code == 0, (output, repr(error))
        before = _scores(tmp_path)
        customer = next(
            c
            for c, row in sorted(before.items())
            if float(row["overdue_balance"]) > 0 and row["next_action"] != "none"
        )
        account = next(
            a
            for a, v in fake.accounts.items()
            if v.get("Name") == before[customer]["customer_name"]
        )
        fake.add_record(
            "Promise_To_Pay__c", Account__c=account, Amount__c=100, Promised_Date__c="2026-10-01"
        )
        fake.add_record(
            "Promise_To_Pay__c",
            Account__c=account,
            Amount__c=float(before[customer]["overdue_balance"]),
            Promised_Date__c="2026-11-23",
        )
        code, output, error = cli(project, "run", "--dry-run")
        assert code == 0, (output, repr(error))

    after = _scores(tmp_path)[customer]
    assert after["promise_status"] == "pending"  # the later promise, not the broken old one
    assert after["promise_date"] == "2026-11-23"
    assert after["next_action"] == "await_promise"
    assert any("FROM Promise_To_Pay__c WHERE Account__c IN" in q for q in fake.queries)
