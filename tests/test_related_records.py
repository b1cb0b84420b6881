"""Open invoices and next-action Tasks in Salesforce, through `arsync run` on the fake org.

The sample ledger with `invoices` and `tasks` turned on: a first run creates them, a rerun
creates nothing, paying an invoice in the ERP updates its record and closes its Task, and a
run that lost its state still finds what the earlier run created.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_project import Project, cli, make_project
from fakes.salesforce import FakeSalesforce
from sample_org import new_org
from simple_salesforce.api import Salesforce

from jobs import pipeline
from jobs.outcomes import OUTCOME_COLUMNS

AS_OF = "2026-11-20"


@dataclass
class Org:
    fake: FakeSalesforce
    project: Project

    def run(self, *args: str) -> str:
        code, output, error = cli(self.project, "run", *args)
        assert code == 0, (output, repr(error))
        return output

    def invoices(self) -> dict[str, dict[str, Any]]:
        return {r["ERP_Invoice_Id__c"]: r for r in self.fake.records("AR_Invoice__c").values()}

    def open_tasks(self) -> list[dict[str, Any]]:
        return [
            t
            for t in self.fake.records("Task").values()
            if t.get("AR_Sync_Task__c") and not t.get("IsClosed")
        ]

    def scores(self) -> dict[str, dict[str, str]]:
        return {row["customer_id"]: row for row in _read(self.project.folder / "out/scores.csv")}

    def account_of(self, customer_id: str) -> str:
        out = self.project.folder / "out"
        accounts = [r for r in _read(out / "outcomes.csv") if r["object"] == "Account"]
        known = {r["customer_id"]: r["record_id"] for r in accounts if r["record_id"]}
        plan = _read(out / "plan.csv")
        known |= {r["customer_id"]: r["account_id"] for r in plan if r["account_id"]}
        if customer_id in known:
            return known[customer_id]
        return next(
            account_id
            for account_id, values in self.fake.accounts.items()
            if values.get("ERP_Customer_Id__c") == customer_id
        )


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _records(project: Path) -> list[dict[str, str]]:
    """The invoice records' and Tasks' rows of the run's outcomes."""
    return [r for r in _read(project / "out/outcomes.csv") if r["object"] != "Account"]


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _set_sections(mapping: Path, sections: str) -> None:
    """Replace the shipped top-level sections that `sections` writes anew (a key written twice
    is an error, not the last one winning), then append them."""
    names = {line.split(":")[0] for line in sections.splitlines() if line[:1].isalpha()}
    kept: list[str] = []
    skipping = False
    for line in mapping.read_text().splitlines(keepends=True):
        if line[:1].isalpha():
            skipping = line.split(":")[0] in names
        if not skipping:
            kept.append(line)
    mapping.write_text("".join(kept) + sections)


@pytest.fixture
def org(tmp_path: Path) -> Any:
    fake = new_org()
    with fake.running():
        project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state/arsync.db'}")
        mapping = tmp_path / "mappings/salesforce_account.yaml"
        _set_sections(mapping, "invoices: {enabled: true}\ntasks: {enabled: true}\n")
        yield Org(fake, project)


def _open_invoices(project: Project) -> dict[str, dict[str, str]]:
    rows = _read(project.folder / "examples/sample/invoices.csv")
    return {
        r["Invoice ID"]: r
        for r in rows
        if r["Status"] == "Open" and Decimal(r["Balance Due"]) > 0 and r["Invoice Date"] <= AS_OF
    }


def test_a_first_run_creates_every_open_invoice_and_one_task_per_action(org: Org) -> None:
    output = org.run()

    erp_open = _open_invoices(org.project)
    invoices = org.invoices()
    scores = org.scores()
    matched = {c for c in scores if c != "C00005"}  # C00005 has no Account in the org
    expected = {i for i, r in erp_open.items() if r["Customer No."] in matched}
    assert set(invoices) == expected
    for invoice_id in sorted(expected)[:25]:
        record, erp = invoices[invoice_id], erp_open[invoice_id]
        assert record["Account__c"] == org.account_of(erp["Customer No."])
        assert record["Status__c"] == "Open"
        assert record["Name"] == erp["Invoice No."]
        assert Decimal(str(record["Open_Amount__c"])) == Decimal(erp["Balance Due"])
        assert str(record["Due_Date__c"]) == erp["Due Date"]

    tasks = org.open_tasks()
    acting = {c for c in matched if scores[c]["next_action"] != "none"}
    assert len(tasks) == len(acting)
    by_account = {t["WhatId"]: t for t in tasks}
    for customer in sorted(acting):
        task = by_account[org.account_of(customer)]
        assert task["Subject"] == f"AR: {scores[customer]['next_action_label']}"
        assert str(task["ActivityDate"]) == scores[customer]["next_action_date"]
        assert task["OwnerId"] == org.fake.accounts[task["WhatId"]]["OwnerId"]
        assert task["Status"] == "Not Started"
    assert "Related records:" in output


def test_every_object_is_reported_in_one_outcomes_file_of_one_shape(org: Org) -> None:
    """Accounts, invoice records and Tasks alike: one row per record in out/outcomes.csv and
    in the run's outcomes table; the records.csv an older arsync wrote is gone."""
    out = org.project.folder / "out"
    out.mkdir(exist_ok=True)
    (out / "records.csv").write_text("object,key\nTask,stale\n", encoding="utf-8")

    org.run()

    assert not (out / "records.csv").exists()
    with (out / "outcomes.csv").open(encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == list(OUTCOME_COLUMNS)
    rows = _read(out / "outcomes.csv")
    objects = {(r["object"], r["action"], r["status"]) for r in rows}
    assert {("Account", "update", "written"), ("AR_Invoice__c", "create", "written")} <= objects
    assert ("Task", "create", "written") in objects
    invoices = [r for r in rows if r["object"] == "AR_Invoice__c"]
    assert {r["key"] for r in invoices} == {r["ERP_Invoice_Id__c"] for r in org.invoices().values()}
    with org.project.store() as store:
        (run,) = store.runs.recent()
        kept = store.runs.outcomes_of(run.run_id)
    assert [(o["object"], o["key"], o["status"]) for o in kept] == [
        (r["object"], r["key"], r["status"]) for r in rows
    ]


def test_a_rerun_with_nothing_new_creates_and_updates_nothing(org: Org) -> None:
    org.run()
    before = (dict(org.invoices()), len(org.fake.records("Task")))
    creates = org.fake.count("composite_create") + org.fake.count("composite_upsert")

    org.run()

    assert org.fake.count("composite_create") + org.fake.count("composite_upsert") == creates
    assert (org.invoices(), len(org.fake.records("Task"))) == before
    assert _records(org.project.folder) == []


def test_lost_state_still_creates_nothing_twice(org: Org, tmp_path: Path) -> None:
    """Salesforce, not the state store, says what exists: a fresh state finds it all."""
    org.run()
    tasks, invoices = len(org.fake.records("Task")), len(org.invoices())
    (tmp_path / "state/arsync.db").unlink()

    org.run()

    assert len(org.fake.records("Task")) == tasks
    assert len(org.invoices()) == invoices


def test_paying_an_invoice_in_the_erp_updates_its_record_and_closes_its_task(org: Org) -> None:
    org.run()
    scores = org.scores()
    erp_open = _open_invoices(org.project)
    single = sorted(
        c
        for c, row in scores.items()
        if c != "C00005" and row["open_invoice_count"] == "1" and row["next_action"] != "none"
    )
    customer = single[0]
    invoice_id = next(i for i, r in erp_open.items() if r["Customer No."] == customer)
    account_id = org.account_of(customer)
    task = next(t for t in org.open_tasks() if t["WhatId"] == account_id)
    _pay(org.project, invoice_id, erp_open[invoice_id])

    org.run()

    record = org.invoices()[invoice_id]
    assert record["Status__c"] == "Paid"
    assert Decimal(str(record["Open_Amount__c"])) == 0
    assert "Days_Overdue__c" not in record  # a formula in the shipped object: never written
    assert org.fake.record("Task", task["Id"])["Status"] == "Completed"
    assert all(t["WhatId"] != account_id for t in org.open_tasks())
    assert org.fake.accounts[account_id]["AR_Open_Balance__c"] == 0
    records = _records(org.project.folder)
    assert {(r["object"], r["key"], r["action"], r["status"]) for r in records} >= {
        ("AR_Invoice__c", invoice_id, "update", "written"),
        ("Task", account_id, "close", "written"),
    }


def test_an_invoice_gone_from_the_erp_is_marked_removed_not_left_open(org: Org) -> None:
    org.run()
    invoice_id = sorted(org.invoices())[0]
    path = org.project.folder / "examples/sample/invoices.csv"
    _write(path, [r for r in _read(path) if r["Invoice ID"] != invoice_id])
    applications = org.project.folder / "examples/sample/payment_applications.csv"
    _write(applications, [r for r in _read(applications) if r["Invoice ID"] != invoice_id])

    org.run()

    assert org.invoices()[invoice_id]["Status__c"] == "Removed"
    assert Decimal(str(org.invoices()[invoice_id]["Open_Amount__c"])) == 0


def test_extra_open_tasks_of_an_account_are_closed_the_oldest_kept(org: Org) -> None:
    org.run()
    kept = org.open_tasks()[0]
    extra = org.fake.add_record(
        "Task",
        WhatId=kept["WhatId"],
        Subject="AR: copy",
        Status="Not Started",
        AR_Sync_Task__c=True,
    )

    org.run()

    assert org.fake.record("Task", extra)["Status"] == "Completed"
    assert org.fake.record("Task", kept["Id"])["Status"] == "Not Started"


def test_a_persons_own_tasks_are_never_touched(org: Org) -> None:
    org.run()
    account_id = org.open_tasks()[0]["WhatId"]
    own = org.fake.add_record("Task", WhatId=account_id, Subject="Lunch", Status="Not Started")

    org.run()

    assert org.fake.record("Task", own)["Status"] == "Not Started"
    assert org.fake.record("Task", own)["Subject"] == "Lunch"


def test_a_held_account_gets_no_invoice_record_and_no_task(org: Org) -> None:
    org.run("--dry-run")
    scores = org.scores()
    customer = next(
        c for c in sorted(scores) if c != "C00005" and scores[c]["next_action"] != "none"
    )
    account_id = org.account_of(customer)
    org.fake.accounts[account_id]["AR_Sync_Hold__c"] = True

    org.run()

    new_scores = org.scores()
    assert new_scores[customer]["open_invoice_count"] != "0"
    assert all(r["Account__c"] != account_id for r in org.invoices().values())
    assert all(t["WhatId"] != account_id for t in org.fake.records("Task").values())


def test_a_dry_run_plans_the_records_and_writes_none(org: Org) -> None:
    output = org.run("--dry-run")

    assert org.fake.records("AR_Invoice__c") == {}
    assert org.fake.records("Task") == {}
    planned = _records(org.project.folder)
    assert planned
    assert {r["status"] for r in planned} == {"planned"}
    assert {r["object"] for r in planned} == {"AR_Invoice__c", "Task"}
    assert "Related records:" in output


def _pay(project: Project, invoice_id: str, erp: dict[str, str]) -> None:
    """The ERP export after the customer paid the invoice in full, on the as-of date."""
    folder = project.folder / "examples/sample"
    invoices = _read(folder / "invoices.csv")
    for row in invoices:
        if row["Invoice ID"] == invoice_id:
            row["Balance Due"], row["Status"] = "0.00", "Paid"
    _write(folder / "invoices.csv", invoices)
    payments = _read(folder / "payments.csv")
    payments.append(
        {
            "Payment ID": "PMT-TEST-1",
            "Customer No.": erp["Customer No."],
            "Date Received": AS_OF,
            "Currency": erp["Currency"],
            "Amount": erp["Balance Due"],
            "Method": "ACH",
        }
    )
    _write(folder / "payments.csv", payments)
    applications = _read(folder / "payment_applications.csv")
    applications.append(
        {
            "Payment ID": "PMT-TEST-1",
            "Invoice ID": invoice_id,
            "Amount Applied": erp["Balance Due"],
            "Date Applied": AS_OF,
        }
    )
    _write(folder / "payment_applications.csv", applications)


def test_large_change_sets_go_by_bulk_api_and_rerun_clean(org: Org) -> None:
    config = org.project.config
    config.write_text(config.read_text() + "  bulk_threshold: 5\n")

    org.run()
    first = (len(org.invoices()), len(org.open_tasks()))
    jobs = org.fake.count("bulk_create")
    org.run()

    bodies = [call.json() for call in org.fake.calls_of("bulk_create")]
    assert {(b["object"], b["operation"]) for b in bodies} >= {
        ("AR_Invoice__c", "upsert"),
        ("Task", "insert"),
    }
    assert next(b for b in bodies if b["object"] == "AR_Invoice__c")["externalIdFieldName"] == (
        "ERP_Invoice_Id__c"
    )
    assert first[0] > 5
    assert first[1] > 5
    assert (len(org.invoices()), len(org.open_tasks())) == first
    assert org.fake.count("bulk_create") == jobs  # the rerun had nothing to write
    assert {r["status"] for r in _records(org.project.folder)} <= {"written"}


def test_an_invoice_field_missing_from_the_org_is_a_config_error_naming_the_line(
    tmp_path: Path,
) -> None:
    fake = new_org()
    with fake.running():
        project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state.db'}")
        mapping = tmp_path / "mappings/salesforce_account.yaml"
        _set_sections(
            mapping,
            "invoices:\n  enabled: true\n  fields:\n    Open_Amount__c: {from: open_amount}\n"
            "    Balance__c: {from: open_amount}\n",
        )
        code, output, _ = cli(project, "run")

    assert code == 2
    assert "salesforce_account.yaml:" in output
    assert "invoices.fields.Balance__c: AR_Invoice__c has no field 'Balance__c'" in output
    assert fake.records("AR_Invoice__c") == {}
    assert fake.count("composite") == 0  # found before any write, not half-way


def test_an_unknown_invoice_column_is_refused_when_the_mapping_loads(tmp_path: Path) -> None:
    fake = new_org()
    project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state.db'}")
    mapping = tmp_path / "mappings/salesforce_account.yaml"
    _set_sections(mapping, "invoices:\n  fields:\n    Name: {from: invoice_numbr}\n")

    code, output, _ = cli(project, "validate")

    assert code == 2
    assert "invoices.fields.Name.from: unknown column 'invoice_numbr'" in output
    assert "(did you mean 'invoice_id'?)" in output
    assert "expected one of: invoice_id, number," in output


def test_a_quarantined_invoice_keeps_its_record_instead_of_being_marked_removed(
    org: Org,
) -> None:
    """Bad data in the ERP is not a deleted invoice: the record stays until it validates."""
    org.run()
    invoice_id = sorted(org.invoices())[0]
    path = org.project.folder / "examples/sample/invoices.csv"
    rows = _read(path)
    for row in rows:
        if row["Invoice ID"] == invoice_id:
            row["Due Date"] = "soon"
    _write(path, rows)

    code, output, _ = cli(org.project, "run")

    assert code == 1  # finished, with a record quarantined
    assert invoice_id in (org.project.folder / "out/quarantine.csv").read_text(), output
    assert org.invoices()[invoice_id]["Status__c"] == "Open"


def test_an_action_not_done_keeps_its_due_date_so_the_task_shows_overdue(org: Org) -> None:
    """Scoring dates an action no earlier than its as-of day; the Task must not roll forward
    every night, or a collector never sees it overdue (and every Task is rewritten daily)."""
    org.run("--as-of", "2026-11-20")
    first = {t["Id"]: (t["Subject"], str(t["ActivityDate"])) for t in org.open_tasks()}

    org.run("--as-of", "2026-11-23")

    later = {t["Id"]: (t["Subject"], str(t["ActivityDate"])) for t in org.open_tasks()}
    same_action = [i for i in first if i in later and later[i][0] == first[i][0]]
    assert len(same_action) > len(first) // 2
    assert all(later[i][1] == first[i][1] for i in same_action)
    assert any(later[i][1] < "2026-11-23" for i in same_action)  # overdue, as it should be
    updates = [
        r for r in _records(org.project.folder) if r["object"] == "Task" and r["action"] == "update"
    ]
    assert all("ActivityDate" not in r["fields"] for r in updates if r["record_id"] in same_action)


def test_only_invoice_records_still_open_in_salesforce_are_read(org: Org) -> None:
    org.run()

    reads = [q for q in org.fake.queries if "FROM AR_Invoice__c" in q]
    assert reads
    assert all("AND Status__c = 'Open'" in q for q in reads)


def test_a_lost_answer_to_a_task_create_is_not_sent_again_and_the_rerun_finds_the_tasks(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Tasks were made but the connection dropped before the answer: resending would make
    them twice. The run fails instead; the next run reads them and creates nothing."""
    restful = Salesforce.restful
    calls = []

    def made_then_dropped(self: Salesforce, path: str, *args: Any, **kwargs: Any) -> Any:
        answer = restful(self, path, *args, **kwargs)
        if path == "composite/sobjects" and kwargs.get("method") == "POST":
            calls.append(path)
            if len(calls) == 1:
                raise requests.ConnectionError("connection reset after the org answered")
        return answer

    monkeypatch.setattr(Salesforce, "restful", made_then_dropped)
    code, output, _ = cli(org.project, "run")
    assert code == 3, output
    after_failure = len(org.fake.records("Task"))
    assert len(calls) == 1  # not sent again
    assert after_failure > 0  # ... although the org made them

    org.run()

    per_account: dict[str, int] = {}
    for task in org.open_tasks():
        per_account[task["WhatId"]] = per_account.get(task["WhatId"], 0) + 1
    assert set(per_account.values()) == {1}
    assert len(org.fake.records("Task")) == len(per_account)  # none made twice, none closed
    acting = [c for c, row in org.scores().items() if row["next_action"] != "none"]
    assert len(per_account) == len([c for c in acting if c != "C00005"])


def test_a_rerun_reads_everything_once_before_planning_and_writes_nothing(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accounts, invoice records and Tasks come from the one read before scoring: a rerun on
    unchanged data makes no write, and no query once planning has begun."""
    config = org.project.config
    config.write_text(config.read_text() + "  ids_per_query: 7\n")  # several chunks each
    org.run()
    calls, queries = len(org.fake.calls), len(org.fake.queries)
    planning: list[int] = []  # the fake's request count when the plan starts
    plan_crm = pipeline.plan_crm

    def plans(*args: Any, **kwargs: Any) -> Any:
        planning.append(len(org.fake.calls))
        return plan_crm(*args, **kwargs)

    monkeypatch.setattr(pipeline, "plan_crm", plans)

    org.run()

    rerun = [call.kind for call in org.fake.calls[calls:]]
    assert rerun[planning[0] - calls :] == []  # nothing at all once planning began
    writes = {"composite", "composite_create", "composite_upsert", "sobject_create"}
    writes |= {"sobject_update", "bulk_create", "bulk_upload", "bulk_close"}
    assert [kind for kind in rerun if kind in writes] == []
    read = Counter(re.findall(r" FROM (\w+) ", q)[0] for q in org.fake.queries[queries:])
    customers = _read(org.project.folder / "examples/sample/customers.csv")
    by_id = sum(1 for row in customers if row["Salesforce Account ID"])
    in_scope = len(customers) - 1  # C00005 has no Account in the org
    assert read == {
        "Account": -(-by_id // 7) + -(-(len(customers) - by_id) // 7),
        "User": 1,  # the owners' names, for the report
        "AR_Invoice__c": -(-in_scope // 7),
        "Task": -(-in_scope // 7),
    }
    assert rerun.count("query") == sum(read.values())  # one page each: no queryMore either
