"""The Salesforce stage against the stateful fake: what is written, how often, and what is not."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fakes.salesforce import FakeSalesforce, Fault, FieldSpec, PicklistValue
from sfdx import ROOT, describe_fields

from arsync.errors import FatalError
from arsync.ledger import Ledger
from arsync.mapping import CrmMapping, desired_values
from arsync.yamlfile import ConfigError
from connector.crm.salesforce.client import BudgetExhaustedError, SalesforceClient
from connector.crm.salesforce.settings import (
    PasswordAuth,
    RetrySettings,
    SalesforceSettings,
    TokenAuth,
)
from jobs.crm import Connect, CrmResult, Pushed, open_and_read
from jobs.crm_stage import plan_crm, write_crm
from jobs.settings import RunSettings, load_run_settings

MAPPING = CrmMapping.model_validate(
    {
        "fields": {
            "AR_Open_Balance__c": {"from": "open_balance"},
            "AR_Risk_Tier__c": {
                "from": "risk_tier",
                "values": {"low": "Low", "medium": "Medium", "high": "High"},
            },
            "AR_As_Of__c": {"from": "data_as_of", "advance_only": True},
        }
    }
)
DATA_AS_OF = pd.Timestamp("2026-11-20T23:00:00Z")
AS_OF = dt.date(2026, 11, 20)
ENV = {"SF_ACCESS_TOKEN": "", "SF_PASSWORD": "correct-horse-battery", "SF_TOKEN": "SECTOKEN123"}


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    org = FakeSalesforce()
    for spec in describe_fields():
        if spec["name"] in org.fields:
            continue
        values = tuple(PicklistValue(v["value"]) for v in spec.pop("picklistValues"))
        org.add_field(FieldSpec(**{**spec, "picklistValues": values}))
    with org.running():
        yield org


def settings_for(fake: FakeSalesforce, **overrides: Any) -> RunSettings:
    shipped = load_run_settings(ROOT / "config/arsync.yaml")
    salesforce = SalesforceSettings(
        auth=TokenAuth(
            mode="token", instance_url=fake.instance_url, access_token="${SF_ACCESS_TOKEN}"
        ),
        retry=RetrySettings(initial_wait_seconds=0, max_wait_seconds=0),
        bulk_poll_seconds=0,
        **overrides,
    )
    app = shipped.app.model_copy(update={"salesforce": salesforce})
    return dataclasses.replace(shipped, app=app, crm_mapping=MAPPING)


def connector(fake: FakeSalesforce) -> Any:
    environ = {**ENV, "SF_ACCESS_TOKEN": fake.issue_token()}
    return lambda settings: SalesforceClient.connect(settings, environ=environ)


def scores(count: int, open_balance: float = 100.0, **changes: dict[str, Any]) -> pd.DataFrame:
    """A scoring result for customers C00001.. with the mapped columns."""
    ids = [f"C{i:05d}" for i in range(1, count + 1)]
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "customer_name": [f"Customer {i}" for i in range(1, count + 1)],
            "crm_account_id": [None] * count,
            "open_balance": [open_balance] * count,
            "risk_tier": ["low"] * count,
            "data_as_of": [DATA_AS_OF] * count,
        }
    )
    for customer_id, values in changes.items():
        for column, value in values.items():
            frame.loc[frame["customer_id"] == customer_id, column] = value
    return frame


def pipeline_sync(
    settings: RunSettings,
    desired: pd.DataFrame,
    *,
    connect: Connect,
    dry_run: bool,
    last_written: Mapping[tuple[str, str], Any] | None = None,
    pushed: Pushed | None = None,
) -> CrmResult:
    """The CRM stage on the pipeline's path: the one read first (`open_and_read`), then
    `plan_crm` and `write_crm`, as a run does. No invoices or Tasks are mapped here: the
    planners of those get an empty ledger and no scores."""
    connection, read = open_and_read(settings, desired.drop_duplicates("customer_id"), connect)
    plan = plan_crm(
        settings,
        connection,
        read,
        desired,
        scores=pd.DataFrame(columns=["customer_id"]),
        ledger=Ledger.empty(),
        as_of=AS_OF,
        last_written=last_written,
    )
    return write_crm(settings, connection, plan, dry_run=dry_run, pushed=pushed)


def sync(
    fake: FakeSalesforce, frame: pd.DataFrame, *, dry_run: bool = False, **overrides: Any
) -> CrmResult:
    settings = settings_for(fake, **overrides)
    return pipeline_sync(
        settings, desired_values(frame, MAPPING), dry_run=dry_run, connect=connector(fake)
    )


def writes(fake: FakeSalesforce) -> int:
    return fake.count("composite") + fake.count("bulk_create")


def test_first_run_writes_every_account_and_a_rerun_writes_nothing(fake: FakeSalesforce) -> None:
    ids = fake.seed_accounts(10)

    first = sync(fake, scores(10))
    written_before = writes(fake)
    second = sync(fake, scores(10))

    assert (first.outcomes["status"] == "written").sum() == 10
    assert fake.account(ids[0])["AR_Open_Balance__c"] == 100.0
    assert fake.account(ids[0])["AR_Risk_Tier__c"] == "Low"
    assert str(fake.account(ids[0])["AR_As_Of__c"]).startswith("2026-11-20T23:00:00.000")
    assert written_before == 1
    assert writes(fake) == 1  # nothing new: no write call at all
    assert second.changes.empty
    assert second.outcomes.empty


def test_the_as_of_stamp_only_moves_forward(fake: FakeSalesforce) -> None:
    """Older data (a restored export) or none at all never moves the stamp back or clears it;
    fresher data moves it, in the same write as the figures."""
    ids = fake.seed_accounts(3)
    sync(fake, scores(3))
    stamp = fake.account(ids[0])["AR_As_Of__c"]

    older = sync(fake, scores(3, 90.0).assign(data_as_of=DATA_AS_OF - pd.Timedelta(days=2)))
    unknown = sync(fake, scores(3, 80.0).assign(data_as_of=None))
    after_stale = [fake.account(i)["AR_As_Of__c"] for i in ids]
    fresher = sync(fake, scores(3, 70.0).assign(data_as_of=DATA_AS_OF + pd.Timedelta(hours=1)))

    assert after_stale == [stamp] * 3
    assert set(older.changes["field"]) == {"AR_Open_Balance__c"}
    assert set(unknown.changes["field"]) == {"AR_Open_Balance__c"}
    assert set(fresher.changes["field"]) == {"AR_Open_Balance__c", "AR_As_Of__c"}
    assert str(fake.account(ids[0])["AR_As_Of__c"]).startswith("2026-11-21T00:00:00.000")
    assert fake.account(ids[0])["AR_Open_Balance__c"] == 70.0


def test_dry_run_reads_but_never_writes(fake: FakeSalesforce) -> None:
    fake.seed_accounts(3)

    result = sync(fake, scores(3), dry_run=True)

    assert writes(fake) == 0
    assert len(result.changes) == 9
    assert set(result.changes["current"]) == {None}


def test_one_change_among_10000_accounts_is_one_collections_call(fake: FakeSalesforce) -> None:
    fake.seed_accounts(10_000)
    sync(fake, scores(10_000))
    before = fake.count("composite"), fake.count("bulk_create")

    result = sync(fake, scores(10_000, C04242={"open_balance": 55.5}))

    assert (fake.count("composite") - before[0], fake.count("bulk_create") - before[1]) == (1, 0)
    assert result.changes[["customer_id", "field", "current", "value"]].values.tolist() == [
        ["C04242", "AR_Open_Balance__c", 100.0, 55.5]
    ]
    body = fake.calls_of("composite")[-1].json()
    assert len(body["records"]) == 1
    assert set(body["records"][0]) == {"attributes", "id", "AR_Open_Balance__c"}


def test_10000_changes_go_as_one_bulk_job_above_the_threshold(fake: FakeSalesforce) -> None:
    ids = fake.seed_accounts(10_000)

    result = sync(fake, scores(10_000))

    assert fake.count("bulk_create") == 1
    assert fake.count("composite") == 0
    assert (result.outcomes["status"] == "written").sum() == 10_000
    assert fake.account(ids[-1])["AR_Risk_Tier__c"] == "Low"


def test_10000_changes_go_as_50_collections_calls_below_the_threshold(
    fake: FakeSalesforce,
) -> None:
    fake.seed_accounts(10_000)

    sync(fake, scores(10_000), bulk_threshold=20_000)

    assert fake.count("composite") == 50
    assert fake.count("bulk_create") == 0


@pytest.mark.parametrize("bulk_threshold", [2000, 1], ids=["collections", "bulk"])
def test_three_records_refused_by_a_rule_are_reported_and_alone_retried_next_run(
    fake: FakeSalesforce, bulk_threshold: int
) -> None:
    ids = fake.seed_accounts(20)
    refused = {ids[2], ids[7], ids[11]}
    fake.validation_rules.append(
        lambda account_id, values: (
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Open balance needs approval")
            if account_id in refused
            else None
        )
    )

    first = sync(fake, scores(20), bulk_threshold=bulk_threshold)
    composite_before = fake.count("composite")
    second = sync(fake, scores(20))

    failed = first.outcomes[first.outcomes["status"] == "failed"]
    assert set(failed["record_id"]) == refused
    assert set(failed["error_code"]) == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    assert (first.outcomes["status"] == "written").sum() == 17
    assert all(fake.account(i)["AR_Open_Balance__c"] == 100.0 for i in set(ids) - refused)
    assert fake.count("composite") == composite_before + 1
    retried = fake.calls_of("composite")[-1].json()["records"]
    assert {r["id"] for r in retried} == refused
    assert set(second.outcomes["record_id"]) == refused


def test_a_bulk_job_s_outcomes_are_kept_when_the_retry_after_it_fails(
    fake: FakeSalesforce,
) -> None:
    """Outcomes are confirmed as each batch is answered (here a Bulk job's results): when the
    push then fails (the row-lock retry cannot reach the org), what the job confirmed is
    known, and nothing of the retry that never reached the org."""
    ids = fake.seed_accounts(6)
    fake.lock_records(ids[4:])
    fake.fail_next("composite", Fault.connection_reset(), RetrySettings().max_attempts)
    pushed = Pushed()

    with pytest.raises(FatalError, match="did not answer"):
        pipeline_sync(
            settings_for(fake, bulk_threshold=5),
            desired_values(scores(6), MAPPING),
            dry_run=False,
            pushed=pushed,
            connect=connector(fake),
        )

    assert fake.count("bulk_create") == 1
    result = pushed.result()
    assert result is not None
    statuses = dict(zip(result.outcomes["record_id"], result.outcomes["status"], strict=True))
    assert statuses == {**dict.fromkeys(ids[:4], "written"), **dict.fromkeys(ids[4:], "failed")}
    assert set(result.outcomes["error_code"].dropna()) == {"UNABLE_TO_LOCK_ROW"}
    assert {(account, name) for account, name, _ in result.written} == {
        (account, name) for account in ids[:4] for name in MAPPING.fields
    }
    assert all(fake.account(i)["AR_Open_Balance__c"] == 100.0 for i in ids[:4])
    assert all(fake.account(i).get("AR_Open_Balance__c") is None for i in ids[4:])


def test_503s_locks_and_an_expired_session_end_in_a_complete_correct_write(
    fake: FakeSalesforce,
) -> None:
    ids = fake.seed_accounts(450)
    fake.fail_next("query", Fault.server_unavailable())
    fake.fail_next("composite", Fault.server_unavailable(), times=2)
    fake.fail_next("composite", Fault.connection_reset())
    fake.lock_records(ids[10:13])
    settings = settings_for(fake)
    settings = dataclasses.replace(
        settings,
        app=settings.app.model_copy(
            update={
                "salesforce": settings.app.salesforce.model_copy(  # type: ignore[union-attr]
                    update={
                        "auth": PasswordAuth(
                            mode="password",
                            username=fake.username,
                            password="${SF_PASSWORD}",
                            security_token="${SF_TOKEN}",
                        )
                    }
                )
            }
        ),
    )
    fake.fail_next("composite", Fault.invalid_session())  # the session expires mid-push

    def connect(salesforce: SalesforceSettings) -> SalesforceClient:
        return SalesforceClient.connect(salesforce, environ=ENV)

    result = pipeline_sync(
        settings, desired_values(scores(450), MAPPING), dry_run=False, connect=connect
    )

    assert (result.outcomes["status"] == "written").sum() == 450
    assert all(fake.account(i)["AR_Open_Balance__c"] == 100.0 for i in ids)
    assert fake.count("login") == 2  # the first login, and the one after the expired session
    rerun = pipeline_sync(
        settings, desired_values(scores(450), MAPPING), dry_run=False, connect=connect
    )
    assert rerun.changes.empty


def test_a_collections_answer_lost_after_the_commit_saves_no_account_twice(
    fake: FakeSalesforce,
) -> None:
    ids = fake.seed_accounts(200)
    fake.fail_next("composite", Fault.answer_lost())

    result = sync(fake, scores(200))
    rerun = sync(fake, scores(200))

    assert (result.outcomes["status"] == "written").sum() == 200
    assert [fake.saves[("Account", i)] for i in ids] == [1] * 200
    assert fake.count("composite") == 1
    assert all(fake.account(i)["AR_Open_Balance__c"] == 100.0 for i in ids)
    assert rerun.changes.empty


def test_token_mode_cannot_log_in_again_and_says_so(fake: FakeSalesforce) -> None:
    fake.seed_accounts(2)
    connect = connector(fake)
    fake.fail_next("limits", Fault.invalid_session())

    with pytest.raises(Exception, match="session expired"):
        pipeline_sync(
            settings_for(fake), desired_values(scores(2), MAPPING), dry_run=False, connect=connect
        )


@pytest.mark.parametrize("customer_id", ["O'Brien\\x", 'a"b', "x') OR Name != ('", "back\\", "%_%"])
def test_a_quote_or_backslash_in_a_customer_id_stays_inside_its_literal(
    fake: FakeSalesforce, customer_id: str
) -> None:
    target = fake.add_account(Name="Target", ERP_Customer_Id__c=customer_id)
    bystanders = fake.seed_accounts(3)
    frame = scores(1).assign(customer_id=[customer_id])

    result = sync(fake, frame)

    # The Account's key, then its owner's Id (the owner-name lookup on User).
    assert fake.soql_literals == [customer_id, fake.user_id]
    assert result.outcomes[["record_id", "status"]].values.tolist() == [[target, "written"]]
    assert all(fake.account(i).get("AR_Open_Balance__c") is None for i in bystanders)


def test_only_the_mapped_fields_are_ever_written(fake: FakeSalesforce) -> None:
    fake.seed_accounts(30)

    sync(fake, scores(30))
    sync(fake, scores(30, C00003={"open_balance": 1.0}), bulk_threshold=1)

    assert fake.written_fields() == set(MAPPING.fields)


def test_customers_without_an_account_or_with_two_are_reported_not_written(
    fake: FakeSalesforce,
) -> None:
    fake.seed_accounts(2)
    twin_a = fake.add_account(Name="Twin A", ERP_Customer_Id__c="C00003")
    twin_b = fake.add_account(Name="Twin B", ERP_Customer_Id__c="C00003")

    result = sync(fake, scores(4))

    statuses = dict(zip(result.outcomes["customer_id"], result.outcomes["status"], strict=True))
    assert statuses == {
        "C00001": "written",
        "C00002": "written",
        "C00003": "ambiguous",
        "C00004": "unmatched",
    }
    assert fake.account(twin_a).get("AR_Open_Balance__c") is None
    assert fake.account(twin_b).get("AR_Open_Balance__c") is None
    assert result.ambiguous == 1


def test_external_ids_match_whatever_their_case_as_salesforce_compares_them(
    fake: FakeSalesforce,
) -> None:
    # ERP_Customer_Id__c is not caseSensitive (shipped metadata, Salesforce's default).
    lower = fake.add_account(Name="Lower", ERP_Customer_Id__c="c00001")
    upper = fake.add_account(Name="Upper", ERP_Customer_Id__c="C00002")
    twin_a = fake.add_account(Name="Twin A", ERP_Customer_Id__c="C00003")
    twin_b = fake.add_account(Name="Twin B", ERP_Customer_Id__c="c00003")

    result = sync(fake, scores(3))

    statuses = dict(zip(result.outcomes["customer_id"], result.outcomes["status"], strict=True))
    assert statuses == {"C00001": "written", "C00002": "written", "C00003": "ambiguous"}
    assert fake.account(lower)["AR_Open_Balance__c"] == 100.0
    assert fake.account(upper)["AR_Open_Balance__c"] == 100.0
    assert fake.account(twin_a).get("AR_Open_Balance__c") is None
    assert fake.account(twin_b).get("AR_Open_Balance__c") is None
    message = result.outcomes.set_index("customer_id").loc["C00003", "message"]
    assert message.startswith("2 Account records match")


def test_erp_customers_whose_ids_differ_only_in_case_are_ambiguous(fake: FakeSalesforce) -> None:
    account = fake.add_account(Name="One", ERP_Customer_Id__c="C00001")
    frame = scores(2)
    frame.loc[1, "customer_id"] = "c00001"

    result = sync(fake, frame)

    assert set(result.outcomes["status"]) == {"ambiguous"}
    assert len(result.outcomes) == 2
    assert fake.account(account).get("AR_Open_Balance__c") is None


def test_a_case_sensitive_external_id_matches_only_its_own_case(fake: FakeSalesforce) -> None:
    fake.add_field(dataclasses.replace(fake.fields["ERP_Customer_Id__c"], caseSensitive=True))
    other = fake.add_account(Name="Other", ERP_Customer_Id__c="c00001")
    mine = fake.add_account(Name="Mine", ERP_Customer_Id__c="C00001")

    result = sync(fake, scores(1))

    assert result.outcomes[["record_id", "status"]].values.tolist() == [[mine, "written"]]
    assert fake.account(other).get("AR_Open_Balance__c") is None


def test_the_budget_stops_the_run_before_it_writes(fake: FakeSalesforce) -> None:
    fake.seed_accounts(5)
    fake.daily_used = 79_999  # of 100,000; arsync may go to 80%

    with pytest.raises(BudgetExhaustedError, match="arsync stops at 80%"):
        sync(fake, scores(5))

    assert writes(fake) == 0


def test_a_mapped_field_missing_in_the_org_stops_before_any_write(
    fake: FakeSalesforce, tmp_path: Path
) -> None:
    fake.seed_accounts(2)
    del fake.fields["AR_DSO__c"]
    shipped = settings_for(fake)
    mapping = load_run_settings(ROOT / "config/arsync.yaml").crm_mapping
    settings = dataclasses.replace(shipped, crm_mapping=mapping)
    frame = scores(2).reindex(columns=[*scores(2).columns, *_all_columns(mapping)])

    with pytest.raises(ConfigError) as raised:
        pipeline_sync(
            settings, desired_values(frame, mapping), dry_run=False, connect=connector(fake)
        )

    problem = raised.value.problems[0]
    assert problem.file == ROOT / "mappings/salesforce_account.yaml"
    assert problem.key_path == "fields.AR_DSO__c"
    assert "Account has no field 'AR_DSO__c'" in problem.message
    line = (ROOT / "mappings/salesforce_account.yaml").read_text().splitlines()[problem.line - 1]
    assert "AR_DSO__c" in line
    assert writes(fake) == 0


def _all_columns(mapping: CrmMapping) -> list[str]:
    return sorted({spec.source for spec in mapping.fields.values()} - set(scores(1).columns))


def test_an_account_on_hold_gets_no_write_at_all(fake: FakeSalesforce) -> None:
    ids = fake.seed_accounts(3)
    held = ids[1]
    fake.accounts[held]["AR_Sync_Hold__c"] = True

    result = sync(fake, scores(3))

    statuses = dict(zip(result.outcomes["customer_id"], result.outcomes["status"], strict=True))
    assert statuses == {"C00001": "written", "C00002": "held", "C00003": "written"}
    assert fake.account(held).get("AR_Open_Balance__c") is None
    assert all(r["id"] != held for c in fake.calls_of("composite") for r in c.json()["records"])
    assert result.changes["customer_id"].tolist().count("C00002") == 0


SUGGESTING = CrmMapping.model_validate(
    {
        "fields": {
            "AR_Open_Balance__c": {"from": "open_balance"},
            "AR_Risk_Tier__c": {
                "from": "risk_tier",
                "values": {"low": "Low", "medium": "Medium", "high": "High"},
                "mode": "suggested",
            },
        }
    }
)


def test_a_suggested_field_a_person_changed_is_left_and_reported(fake: FakeSalesforce) -> None:
    ids = fake.seed_accounts(2)
    settings = dataclasses.replace(settings_for(fake), crm_mapping=SUGGESTING)

    def sync_suggesting(frame: pd.DataFrame, last: dict[tuple[str, str], Any]) -> CrmResult:
        return pipeline_sync(
            settings,
            desired_values(frame, SUGGESTING),
            dry_run=False,
            last_written=last,
            connect=connector(fake),
        )

    first = sync_suggesting(scores(2), {})
    last = {(account, name): value for account, name, value in first.written}
    fake.accounts[ids[0]]["AR_Risk_Tier__c"] = "High"  # a person knows better
    changed = scores(
        2, C00001={"risk_tier": "medium", "open_balance": 5.0}, C00002={"risk_tier": "medium"}
    )

    second = sync_suggesting(changed, last)

    assert fake.account(ids[0])["AR_Risk_Tier__c"] == "High"  # the person's value stands
    assert fake.account(ids[0])["AR_Open_Balance__c"] == 5.0  # owned fields still move
    assert fake.account(ids[1])["AR_Risk_Tier__c"] == "Medium"  # untouched by people: updated
    assert second.conflicts.values.tolist() == [
        ["C00001", ids[0], "AR_Risk_Tier__c", "High", "Low", "Medium"]
    ]
    assert ("C00001", "AR_Risk_Tier__c") not in set(
        zip(second.changes["customer_id"], second.changes["field"], strict=True)
    )


ACTION_MAPPING = CrmMapping.model_validate(
    {
        "fields": {
            "AR_Next_Action__c": {"from": "next_action_label"},
            "AR_Next_Action_Date__c": {
                "from": "next_action_date",
                "keep_earlier_while_unchanged": "AR_Next_Action__c",
            },
        }
    }
)


def test_an_action_not_done_keeps_the_date_it_fell_due(fake: FakeSalesforce) -> None:
    """Scoring never dates an action before its as-of day; on the Account the date must not
    roll forward each night while the action stays the same, or it never shows overdue."""
    ids = fake.seed_accounts(2)
    settings = dataclasses.replace(settings_for(fake), crm_mapping=ACTION_MAPPING)

    def nightly(label: str, date: str) -> CrmResult:
        frame = scores(2).assign(next_action_label=label, next_action_date=pd.Timestamp(date))
        desired = desired_values(frame, ACTION_MAPPING)
        return pipeline_sync(settings, desired, dry_run=False, connect=connector(fake))

    nightly("Send a first overdue reminder", "2026-11-20")
    same = nightly("Send a first overdue reminder", "2026-11-21")
    earlier = nightly("Send a first overdue reminder", "2026-11-18")
    changed = nightly("Call the customer's accounts-payable contact", "2026-11-25")

    assert same.changes.empty  # still due 11-20: overdue on 11-21, and no write
    assert set(earlier.changes["value"]) == {"2026-11-18"}  # an earlier date always lands
    assert set(changed.changes["field"]) == {"AR_Next_Action__c", "AR_Next_Action_Date__c"}
    assert str(fake.account(ids[0])["AR_Next_Action_Date__c"]) == "2026-11-25"


def test_keep_earlier_must_name_a_mapped_field() -> None:
    with pytest.raises(ValueError, match="must name a mapped field: AR_Date__c names AR_Gone__c"):
        CrmMapping.model_validate(
            {
                "fields": {
                    "AR_Date__c": {
                        "from": "next_action_date",
                        "keep_earlier_while_unchanged": "AR_Gone__c",
                    }
                }
            }
        )
