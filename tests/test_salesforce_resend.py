"""A write whose answer is lost after Salesforce committed it is never saved a second time:
the records are read back and only those not holding the values sent are sent again."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fakes.salesforce import FakeSalesforce, Fault, FieldSpec
from structlog.testing import capture_logs

from arsync.errors import FatalError
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.push import Operation, RecordOutcome, RecordWrite, write_records
from connector.crm.salesforce.settings import RetrySettings, SalesforceSettings, TokenAuth

UPDATE = Operation("Account", "update")


@pytest.fixture
def org() -> Iterator[FakeSalesforce]:
    fake = FakeSalesforce()
    fake.add_field(FieldSpec("AR_Open_Balance__c", "currency", precision=18, scale=2))
    fake.add_field(FieldSpec("AR_Risk_Tier__c", "string", length=20))
    fake.add_field(FieldSpec("AR_Scored_At__c", "datetime"))
    with fake.running():
        yield fake


def client_for(org: FakeSalesforce, **overrides: Any) -> SalesforceClient:
    settings = SalesforceSettings(
        auth=TokenAuth(mode="token", instance_url=org.instance_url, access_token="${SF_TOKEN}"),
        retry=RetrySettings(initial_wait_seconds=0, max_wait_seconds=0),
        bulk_poll_seconds=0,
        **overrides,
    )
    return SalesforceClient.connect(settings, environ={"SF_TOKEN": org.issue_token()})


def writes(ids: list[str], balance: float = 120.5) -> list[RecordWrite]:
    values = {
        "AR_Open_Balance__c": balance,
        "AR_Risk_Tier__c": "High",
        "AR_Scored_At__c": "2026-11-20T23:00:00Z",  # Salesforce answers ...00.000+0000
    }
    return [RecordWrite(i, values, i) for i in ids]


def saves(org: FakeSalesforce, ids: list[str], sobject: str = "Account") -> list[int]:
    return [org.saves[(sobject, i)] for i in ids]


@pytest.mark.parametrize("timeout", [False, True], ids=["connection_reset", "read_timeout"])
def test_a_collections_update_whose_answer_was_lost_saves_nothing_twice(
    org: FakeSalesforce, timeout: bool
) -> None:
    ids = org.seed_accounts(200)
    org.fail_next("composite", Fault.answer_lost(timeout=timeout))
    client = client_for(org, ids_per_query=80)

    with capture_logs() as logs:
        outcomes = write_records(client, UPDATE, writes(ids), lambda _: None)

    assert saves(org, ids) == [1] * 200
    assert all(outcomes[i].ok for i in ids)
    assert [c.status for c in org.calls_of("composite")] == [0]
    assert len(org.queries) == 3  # 200 Ids read back, 80 a query
    assert client.budget.calls == {"composite": 1, "query": 3}
    lost = [e for e in logs if e["event"] == "salesforce.answer_lost"]
    assert [(e["kind"], e["records"], e["already_saved"], e["resent"]) for e in lost] == [
        ("composite", 200, 200, 0)
    ]


def test_only_the_records_the_lost_call_did_not_save_are_sent_again(
    org: FakeSalesforce,
) -> None:
    ids = org.seed_accounts(10)
    org.lock_records(ids[:3])  # refused inside the committed call: not saved
    org.fail_next("composite", Fault.answer_lost())
    client = client_for(org)

    outcomes = write_records(client, UPDATE, writes(ids), lambda _: None)

    assert saves(org, ids) == [1] * 10
    assert all(outcomes[i].ok for i in ids)
    resent = org.calls_of("composite")[1].json()["records"]
    assert [r["id"] for r in resent] == ids[:3]
    assert [org.account(i)["AR_Open_Balance__c"] for i in ids] == [120.5] * 10


def test_a_record_holding_other_values_than_sent_is_sent_again(org: FakeSalesforce) -> None:
    ids = org.seed_accounts(2)
    org.fail_next("composite", Fault.answer_lost())
    client = client_for(org)
    write_records(client, UPDATE, writes(ids, balance=10.0), lambda _: None)
    org.fail_next("composite", Fault.connection_reset())  # this time nothing reached the org

    outcomes = write_records(client, UPDATE, writes(ids, balance=99.25), lambda _: None)

    assert saves(org, ids) == [2, 2]
    assert all(o.ok for o in outcomes.values())
    assert [org.account(i)["AR_Open_Balance__c"] for i in ids] == [99.25, 99.25]
    assert [len(c.json()["records"]) for c in org.calls_of("composite")] == [2, 2, 2]


def test_answers_lost_every_time_end_the_run_without_a_second_save(
    org: FakeSalesforce,
) -> None:
    ids = org.seed_accounts(3)
    org.lock_records(ids, times=10)  # never saved, so always resent
    org.fail_next("composite", Fault.answer_lost(), times=5)  # retry.max_attempts
    client = client_for(org)

    with pytest.raises(FatalError, match="answer was lost each time"):
        write_records(client, UPDATE, writes(ids), lambda _: None)

    assert org.count("composite") == 5
    assert saves(org, ids) == [0, 0, 0]


def test_a_task_update_whose_answer_was_lost_is_not_saved_twice(org: FakeSalesforce) -> None:
    account = org.seed_accounts(1)[0]
    tasks = [
        org.add_record("Task", Subject=f"Collect {n}", WhatId=account, Status="Not Started")
        for n in range(4)
    ]
    org.fail_next("composite", Fault.answer_lost())
    client = client_for(org)
    closing = [RecordWrite(t, {"Status": "Completed"}, t) for t in tasks]

    outcomes = write_records(client, Operation("Task", "update"), closing, lambda _: None)

    assert saves(org, tasks, "Task") == [1, 1, 1, 1]
    assert all(outcomes[t].ok for t in tasks)
    assert org.count("composite") == 1


def test_a_bulk_upload_whose_answer_was_lost_goes_into_a_new_job_not_twice_into_one(
    org: FakeSalesforce,
) -> None:
    ids = org.seed_accounts(6)
    org.fail_next("bulk_upload", Fault.answer_lost())
    client = client_for(org, bulk_threshold=1)

    with capture_logs() as logs:
        outcomes = write_records(client, UPDATE, writes(ids), lambda _: None)

    assert saves(org, ids) == [1] * 6
    assert all(outcomes[i].ok for i in ids)
    assert sorted(job.state for job in org.jobs.values()) == ["Aborted", "JobComplete"]
    assert [c.status for c in org.calls_of("bulk_upload")] == [0, 201]
    lost = [e for e in logs if e["event"] == "salesforce.answer_lost"]
    assert [(e["kind"], e["records"], e["already_saved"], e["resent"]) for e in lost] == [
        ("bulk_upload", 6, 0, 6)
    ]


def test_a_bulk_close_whose_answer_was_lost_is_resolved_by_the_jobs_state(
    org: FakeSalesforce,
) -> None:
    ids = org.seed_accounts(4)
    org.fail_next("bulk_close", Fault.answer_lost(timeout=True))
    client = client_for(org, bulk_threshold=1)

    outcomes = write_records(client, UPDATE, writes(ids), lambda _: None)

    assert saves(org, ids) == [1] * 4
    assert all(outcomes[i].ok for i in ids)
    assert org.count("bulk_close") == 1
    assert [job.state for job in org.jobs.values()] == ["JobComplete"]


UPSERT = Operation("AR_Invoice__c", "upsert", "ERP_Invoice_Id__c")


def test_an_invoice_upsert_whose_answer_was_lost_saves_nothing_twice(
    org: FakeSalesforce,
) -> None:
    """The upsert is read back by its external id (whatever its case, as the field
    matches), not resent: records the lost call created are created once, not updated again."""
    account = org.seed_accounts(1)[0]
    known = org.add_record("AR_Invoice__c", ERP_Invoice_Id__c="inv-1", Account__c=account)
    org.fail_next("composite_upsert", Fault.answer_lost())
    client = client_for(org)
    values = {"Account__c": account, "Open_Amount__c": 80.0, "Status__c": "Open"}
    upserts = [
        RecordWrite("inv-1", {"ERP_Invoice_Id__c": "inv-1", **values}, known),
        RecordWrite("INV-2", {"ERP_Invoice_Id__c": "INV-2", **values}),
    ]

    with capture_logs() as logs:
        outcomes = write_records(client, UPSERT, upserts, lambda _: None)

    created = org.records("AR_Invoice__c")
    assert sorted(r["ERP_Invoice_Id__c"] for r in created.values()) == ["INV-2", "inv-1"]
    assert [org.saves[("AR_Invoice__c", i)] for i in created] == [1, 1]
    assert org.count("composite_upsert") == 1
    new = next(i for i, r in created.items() if r["ERP_Invoice_Id__c"] == "INV-2")
    assert [(o.key, o.ok, o.record_id, o.created) for o in outcomes.values()] == [
        ("inv-1", True, known, False),
        ("INV-2", True, new, True),
    ]
    lost = [e for e in logs if e["event"] == "salesforce.answer_lost"]
    assert [(e["records"], e["already_saved"], e["resent"]) for e in lost] == [(2, 2, 0)]


def test_records_read_back_as_saved_are_confirmed_when_every_resend_is_lost(
    org: FakeSalesforce,
) -> None:
    """A run that stops because no answer came still records what Salesforce did save."""
    ids = org.seed_accounts(3)
    org.lock_records(ids[:1], times=10)  # never saved, so resent until the attempts run out
    org.fail_next("composite", Fault.answer_lost(), times=5)  # retry.max_attempts
    client = client_for(org)
    heard: list[tuple[str, bool]] = []

    def confirmed(batch: Mapping[str, RecordOutcome]) -> None:
        heard.extend((key, outcome.ok) for key, outcome in batch.items())

    with pytest.raises(FatalError, match="answer was lost each time"):
        write_records(client, UPDATE, writes(ids), lambda _: None, confirmed)

    assert saves(org, ids) == [0, 1, 1]
    assert sorted(heard) == sorted((i, True) for i in ids[1:])
