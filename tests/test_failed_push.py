"""A run that fails half-way through its push records what Salesforce confirmed it wrote:
the next run tells those values from a person's edits, so suggested fields keep moving.

Before, a failed run recorded nothing of its writes: on the next change every suggested field
it had written read as a person's edit and froze (issue 15, defect 2). Each run is the whole
CLI on the sample against the fake org, every mapped field `suggested`.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import yaml
from cli_project import COLLECTION_SIZE, Project, cli, composite_ids
from csv_rows import read_rows
from fakes.salesforce import FakeSalesforce, Fault, canonical_id
from simple_salesforce.api import Salesforce
from test_related_records import _set_sections

from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.settings import RetrySettings

LATER = "2026-12-20"  # the second run's as-of: a month on, days overdue and aging move
EDITED = "AR_Health_Reason_1__c"  # the one suggested field a person changes
PERSONS_TEXT = "Called the customer: pays on Friday"


def _all_suggested(project: Project) -> list[str]:
    """Every mapped field becomes `suggested`: written only while it holds arsync's value."""
    path = project.folder / "mappings/salesforce_account.yaml"
    mapping = yaml.safe_load(path.read_text())
    for spec in mapping["fields"].values():
        spec["mode"] = "suggested"
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return sorted(mapping["fields"])


def _unreachable_from_call(m: pytest.MonkeyPatch, org: FakeSalesforce, failing: int) -> None:
    """Collections calls before `failing` reach the org; from then on the org drops every
    connection (nothing reaches it), until the client's retries run out."""
    original = SalesforceClient.update_collection
    calls = 0

    def update(self: SalesforceClient, sobject: str, records: list[dict[str, Any]]) -> Any:
        nonlocal calls
        calls += 1
        if calls == failing:
            org.fail_next("composite", Fault.connection_reset(), RetrySettings().max_attempts)
        return original(self, sobject, records)

    m.setattr(SalesforceClient, "update_collection", update)


def _confirmed_values(org: FakeSalesforce) -> dict[tuple[str, str], Any]:
    """(Account, field) -> value of every Collections call the org answered 200."""
    return {
        (record["id"], name): value
        for call in org.calls_of("composite")
        if call.status == 200
        for record in call.json()["records"]
        for name, value in record.items()
        if name not in {"id", "attributes"}
    }


def _fail_mid_push(project: Project, org: FakeSalesforce) -> list[str]:
    """`arsync run` fails at its 3rd Collections call: the Accounts of the first two (20 of
    the 59) are written. Their Ids."""
    with pytest.MonkeyPatch.context() as m:
        _unreachable_from_call(m, org, failing=3)
        code, output, _ = cli(project, "run")
    assert code == 3, output
    assert "The run stopped: Salesforce did not answer" in output
    written = [str(canonical_id(a)) for a in composite_ids(org.calls_of("composite"))]
    assert len(written) == 2 * COLLECTION_SIZE
    return written


@pytest.mark.parametrize("state_url", ["sqlite", "postgresql"], indirect=True)
def test_a_run_failed_mid_push_records_and_shows_what_salesforce_confirmed(
    project: Project, org: FakeSalesforce
) -> None:
    _all_suggested(project)

    written = _fail_mid_push(project, org)

    with project.store() as store:
        (failed,) = store.runs.recent()
        assert failed.status == "failed"
        assert store.written.values() == _confirmed_values(org)  # exactly, nothing unconfirmed
        assert failed.counts["accounts_written"] == len(written)
        assert failed.counts["accounts_changed"] == 59  # planned: every matched Account
        outcomes = store.runs.outcomes_of(failed.run_id)
    statuses = {str(canonical_id(o["record_id"] or "")): o["status"] for o in outcomes}
    assert sorted(a for a, status in statuses.items() if status == "written") == sorted(written)
    assert [o["status"] for o in outcomes if o["status"] != "written"] == ["unmatched"]
    rows = read_rows(project.folder / "out/outcomes.csv")
    assert sorted(r["record_id"] for r in rows if r["status"] == "written") == sorted(written)
    assert len(read_rows(project.folder / "out/plan.csv")) == failed.counts["field_changes"]
    assert len(read_rows(project.folder / "out/scores.csv")) == 60
    code, shown, _ = cli(project, "runs", "show", failed.run_id)
    assert code == 0, shown
    assert f"accounts_written {len(written)}" in shown
    assert (
        "Before it stopped: 20 of 59 Accounts to change written, 0 refused by Salesforce"
    ) in " ".join(shown.split())


@pytest.mark.parametrize("state_url", ["sqlite", "postgresql"], indirect=True)
def test_the_run_after_one_failed_mid_push_writes_every_suggested_field_nobody_touched(
    project: Project, org: FakeSalesforce
) -> None:
    fields = _all_suggested(project)
    written = _fail_mid_push(project, org)
    touched = written[0]  # a person changes one suggested field the failed run wrote
    org.account(touched)[EDITED] = PERSONS_TEXT
    before = {account: dict(org.account(account)) for account in written}

    code, output, _ = cli(project, "run", "--as-of", LATER)  # and the data moves on

    assert code == 0, output
    conflicts = read_rows(project.folder / "out/conflicts.csv")
    assert [(canonical_id(r["account_id"]), r["field"]) for r in conflicts] == [(touched, EDITED)]
    assert org.account(touched)[EDITED] == PERSONS_TEXT  # the person's value stands
    moved = {
        (canonical_id(r["account_id"]), r["field"])
        for r in read_rows(project.folder / "out/plan.csv")
    }
    # Not vacuous: the run changed suggested fields on most Accounts the failed run wrote.
    assert len({account for account, _ in moved if account in before}) > len(written) // 2
    for account in written:
        for name in fields:
            if (account, name) in moved:
                assert org.account(account)[name] != before[account].get(name), (account, name)
    # Every field holds what arsync wants, but the person's: nothing is left to write.
    code, output, _ = cli(project, "run", "--dry-run", "--as-of", LATER)
    assert code == 0, output
    assert read_rows(project.folder / "out/plan.csv") == []
    assert [r["field"] for r in read_rows(project.folder / "out/conflicts.csv")] == [EDITED]


@pytest.mark.parametrize("state_url", ["sqlite"], indirect=True)
def test_a_run_failed_while_writing_tasks_counts_the_invoice_records_it_wrote(
    project: Project, org: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invoice records are upserted, then Tasks created; the first Task create's answer is
    lost (the org made them): the run fails, having confirmed the invoices and no Task."""
    mapping = project.folder / "mappings/salesforce_account.yaml"
    _set_sections(mapping, "invoices: {enabled: true}\ntasks: {enabled: true}\n")
    restful = Salesforce.restful

    def task_answer_lost(self: Salesforce, path: str, *args: Any, **kwargs: Any) -> Any:
        answer = restful(self, path, *args, **kwargs)
        if path == "composite/sobjects" and kwargs.get("method") == "POST":
            raise requests.ConnectionError("connection reset after the org answered")
        return answer

    monkeypatch.setattr(Salesforce, "restful", task_answer_lost)
    code, output, _ = cli(project, "run")

    assert code == 3, output
    invoices = len(org.records("AR_Invoice__c"))
    assert invoices > 0
    assert len(org.records("Task")) > 0  # made, but never confirmed
    with project.store() as store:
        (failed,) = store.runs.recent()
    records = {k: n for k, n in failed.counts.items() if k.startswith(("AR_Invoice__c", "Task"))}
    assert records == {"AR_Invoice__c_create_written": invoices}
    rows = [r for r in read_rows(project.folder / "out/outcomes.csv") if r["object"] != "Account"]
    assert {(r["object"], r["action"], r["status"]) for r in rows} == {
        ("AR_Invoice__c", "create", "written")
    }
    assert len(rows) == invoices
    assert failed.counts["accounts_written"] == 59
