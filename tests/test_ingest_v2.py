"""Messy exports through the real load: every case named by file, line and reason, nothing
silently reinterpreted, and every row read accounted for (read = ledger + quarantined + merged).

Each case edits a copy of the bundled sample export the way real exports go wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from arsync.errors import SourceConfigError
from arsync.frames import RecordFrame
from arsync.quarantine import Action, QuarantineEntry
from jobs.cli import app
from jobs.load import LoadedLedger, load_ledger
from jobs.report.text import reword
from jobs.settings import load_run_settings
from jobs.sources import build_source

REPO = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 20)  # the sample's


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def export(project: Path) -> Path:
    return project / "examples/sample"


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write_rows(path: Path, table: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(table)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def edit(project: Path, name: str, change: Callable[[list[list[str]]], None]) -> None:
    path = export(project) / name
    table = rows(path)
    change(table)
    write_rows(path, table)


def load(project: Path) -> LoadedLedger:
    settings = load_run_settings(project / "config/arsync.yaml")
    return load_ledger(settings)


def entries(loaded: LoadedLedger, rule: str) -> list[QuarantineEntry]:
    return [e for e in loaded.quarantine if e.rule == rule]


def accounted(loaded: LoadedLedger) -> None:
    for stream, count in loaded.accounting.items():
        assert count.unaccounted == 0, (stream, count)


def column(header: list[str], name: str) -> int:
    return header.index(name)


def open_balance(loaded: LoadedLedger, invoice_id: str) -> int | None:
    invoices = loaded.ledger.invoices
    found = invoices.loc[invoices["invoice_id"] == invoice_id, "open_minor"]
    return int(found.iloc[0]) if len(found) else None


# --- the clean export: every row accounted, no quarantine ---------------------------------


def test_the_clean_sample_accounts_for_every_row_of_every_file(project: Path) -> None:
    loaded = load(project)

    assert len(loaded.quarantine) == 0
    assert {
        s: (c.read, c.ledger, c.quarantined, c.merged) for s, c in loaded.accounting.items()
    } == {
        "customers.csv": (60, 60, 0, 0),
        "invoices.csv": (2455, 2455, 0, 0),
        "payments.csv": (1925, 1925, 0, 0),
        "payment_applications.csv": (2253, 2253, 0, 0),
        "credit_memos.csv": (36, 36, 0, 0),
        "credit_memo_applications.csv": (31, 31, 0, 0),
    }


# --- duplicates -----------------------------------------------------------------------------


def test_a_conflicting_duplicate_invoice_quarantines_every_copy_with_its_line(
    project: Path,
) -> None:
    def duplicate(table: list[list[str]]) -> None:
        copy = list(table[44])  # INV-000044, line 45, open
        copy[column(table[0], "Amount")] = "12412.30"
        table.append(copy)  # line 2457

    edit(project, "invoices.csv", duplicate)

    loaded = load(project)

    found = entries(loaded, "conflicting_duplicate_id")
    assert sorted(e.location for e in found) == ["invoices.csv:2457", "invoices.csv:45"]
    assert all(e.record_id == "INV-000044" for e in found)
    assert all("invoices.csv:45" in e.reason and "invoices.csv:2457" in e.reason for e in found)
    assert open_balance(loaded, "INV-000044") is None  # neither copy replaces the other
    assert loaded.accounting["invoices.csv"].quarantined == 2
    accounted(loaded)


def test_an_identical_duplicate_row_is_merged_and_counted_not_lost(project: Path) -> None:
    edit(project, "invoices.csv", lambda table: table.append(list(table[44])))
    edit(project, "payments.csv", lambda table: table.append(list(table[5])))

    loaded = load(project)

    assert len(loaded.quarantine) == 0
    assert loaded.accounting["invoices.csv"].merged == 1
    assert loaded.accounting["invoices.csv"].read == 2456
    assert loaded.accounting["payments.csv"].merged == 1
    assert len(loaded.ledger.invoices) == 2455
    accounted(loaded)


@pytest.mark.parametrize(
    ("name", "line", "field"),
    [
        ("payments.csv", 7, "Amount"),
        ("customers.csv", 4, "Name"),
    ],
)
def test_a_conflicting_duplicate_payment_or_customer_is_quarantined_too(
    project: Path, name: str, line: int, field: str
) -> None:
    def duplicate(table: list[list[str]]) -> None:
        copy = list(table[line - 1])
        copy[column(table[0], field)] = "99.99" if field == "Amount" else "Someone Else Ltd"
        table.append(copy)

    edit(project, name, duplicate)

    loaded = load(project)

    found = entries(loaded, "conflicting_duplicate_id")
    last = len(rows(export(project) / name))
    assert sorted(e.location for e in found) == sorted([f"{name}:{line}", f"{name}:{last}"])
    accounted(loaded)


# --- numbers and dates ----------------------------------------------------------------------


def test_a_comma_decimal_under_a_dot_mapping_is_quarantined_not_read_as_thousands(
    project: Path,
) -> None:
    def comma(table: list[list[str]]) -> None:
        table[1][column(table[0], "Amount")] = "5306,62"

    edit(project, "invoices.csv", comma)

    loaded = load(project)

    [entry] = [e for e in loaded.quarantine if e.record_type == "invoice"]
    assert (entry.location, entry.record_id, entry.rule) == (
        "invoices.csv:2",
        "INV-000001",
        "invalid_record",
    )
    assert "column 'Amount'" in entry.reason
    assert "'5306,62' is not a number written as 1,234.56" in entry.reason
    assert open_balance(loaded, "INV-000001") is None
    # Its application has no invoice to land on: quarantined too, never cash left unapplied.
    [application] = [e for e in loaded.quarantine if e.record_type == "payment_application"]
    assert application.rule == "unknown_invoice"
    accounted(loaded)


@pytest.mark.parametrize("year", ["9999", "0202", "2100"])
def test_a_date_outside_the_window_is_quarantined_with_the_reason_never_a_crash(
    project: Path, year: str
) -> None:
    def far(table: list[list[str]]) -> None:
        table[44][column(table[0], "Invoice Date")] = f"{year}-01-15"
        table[44][column(table[0], "Due Date")] = f"{year}-02-14"

    edit(project, "invoices.csv", far)

    loaded = load(project)

    found = entries(loaded, "date_out_of_range")
    assert [e.location for e in found] == ["invoices.csv:45"]
    assert f"{year}-01-15" in found[0].reason
    assert "1990-01-01" in found[0].reason
    accounted(loaded)


def test_an_invoice_issued_after_the_as_of_date_is_reported_and_kept(project: Path) -> None:
    def later(table: list[list[str]]) -> None:
        table[44][column(table[0], "Invoice Date")] = "2026-12-15"
        table[44][column(table[0], "Due Date")] = "2027-01-14"

    edit(project, "invoices.csv", later)

    loaded = load(project)

    [entry] = entries(loaded, "issued_after_as_of")
    assert entry.action is Action.REPORTED
    assert entry.location == "invoices.csv:45"
    assert open_balance(loaded, "INV-000044") == 208812  # in the ledger, EUR cents
    assert loaded.accounting["invoices.csv"].ledger == 2455
    accounted(loaded)


# --- applications beyond the invoice ------------------------------------------------------


def test_an_application_larger_than_its_invoice_is_quarantined(project: Path) -> None:
    invoices = {row[0]: row for row in rows(export(project) / "invoices.csv")[1:]}

    def overpay(table: list[list[str]]) -> None:
        target = table[1][column(table[0], "Invoice ID")]
        total = float(invoices[target][6].replace(",", ""))
        table[1][column(table[0], "Amount Applied")] = f"{total + 500:.2f}"

    edit(project, "payment_applications.csv", overpay)
    # The payment itself must hold the larger application, or the document rule fires first.
    edit(
        project,
        "payments.csv",
        lambda table: table[1].__setitem__(column(table[0], "Amount"), "999999.00"),
    )

    loaded = load(project)

    found = entries(loaded, "over_applied_invoice")
    assert [e.location for e in found] == ["payment_applications.csv:2"]
    accounted(loaded)


# --- CSV damage and encodings -------------------------------------------------------------


def test_an_unbalanced_quote_is_named_at_its_line_and_its_swallowed_rows_counted(
    project: Path,
) -> None:
    path = export(project) / "invoices.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[99] = lines[99].replace(",no,,", ',no,"Short shipment,', 1)  # line 100, never closed
    path.write_text("".join(lines), encoding="utf-8")

    loaded = load(project)

    [entry] = entries(loaded, "csv_damage")
    assert entry.location == "invoices.csv:100"
    assert "missing its closing quote" in entry.reason
    count = loaded.accounting["invoices.csv"]
    assert count.read == 2455  # every line of the file is a row read...
    assert count.quarantined == 2455 - 98  # ... and every swallowed one is quarantined
    accounted(loaded)


def test_a_cp1252_file_under_the_default_encoding_names_the_file_offset_and_key(
    project: Path,
) -> None:
    path = export(project) / "customers.csv"
    text = path.read_text(encoding="utf-8").replace("Zenith Logistics", "Zénith Logistics")
    path.write_bytes(text.encode("cp1252"))

    with pytest.raises(SourceConfigError) as raised:
        load(project)

    message = str(raised.value)
    offset = text.encode("cp1252").index(b"\xe9")
    assert f"customers.csv is not utf-8 text: the byte 0xe9 at offset {offset:,}" in message
    assert "formats.encoding:" in message


def test_a_declared_encoding_reads_the_file(project: Path) -> None:
    path = export(project) / "customers.csv"
    text = path.read_text(encoding="utf-8").replace("Zenith Logistics", "Zénith Logistics")
    path.write_bytes(text.encode("utf-16"))
    mapping = project / "mappings/erp/generic_csv.yaml"
    mapping.write_text(mapping.read_text().replace("encoding: utf-8", "encoding: utf-16"))
    for name in (
        "invoices.csv",
        "payments.csv",
        "payment_applications.csv",
        "credit_memos.csv",
        "credit_memo_applications.csv",
        "customer_balances.csv",
    ):
        other = export(project) / name
        other.write_bytes(other.read_text(encoding="utf-8").encode("utf-16"))

    loaded = load(project)

    names = loaded.ledger.customers.set_index("customer_id")["name"]
    assert names["C00001"] == "Zénith Logistics LLC"
    accounted(loaded)


def test_a_one_megabyte_cell_is_read(project: Path) -> None:
    def huge(table: list[list[str]]) -> None:
        table[44][column(table[0], "Dispute Reason")] = "x" * 1_000_000

    edit(project, "invoices.csv", huge)

    loaded = load(project)

    assert len(loaded.quarantine) == 0
    reasons = loaded.ledger.invoices.set_index("invoice_id")["dispute_reason"]
    assert len(reasons["INV-000044"]) == 1_000_000


def test_an_empty_invoices_file_is_named_and_stops_the_run(project: Path) -> None:
    (export(project) / "invoices.csv").write_bytes(b"")

    result = CliRunner().invoke(
        app, ["run", "--dry-run", "-c", str(project / "config/arsync.yaml")]
    )

    assert result.exit_code == 2, result.output
    assert "invoices.csv is empty (0 bytes)" in result.stderr


# --- where the accounting shows -----------------------------------------------------------


def test_the_accounting_is_in_the_log_the_run_record_runs_show_and_the_report(
    project: Path,
) -> None:
    edit(project, "invoices.csv", lambda table: table.append(list(table[44])))
    config = str(project / "config/arsync.yaml")

    result = CliRunner().invoke(app, ["--log-format", "json", "run", "--dry-run", "-c", config])

    assert result.exit_code == 0, result.output
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [accounting] = [e for e in logs if e["event"] == "ledger.accounted"]
    assert accounting["streams"]["invoices.csv"] == {
        "read": 2456,
        "ledger": 2455,
        "quarantined": 0,
        "merged": 1,
    }
    assert accounting["unaccounted"] == 0
    assert "Rows read, and where each went" in result.stdout
    run_id = accounting["run_id"]
    shown = CliRunner().invoke(app, ["runs", "show", run_id, "-c", config])
    assert "invoices.csv" in shown.stdout
    assert "2,456" in shown.stdout
    report = CliRunner().invoke(app, ["report", "-c", config])
    assert report.exit_code == 0, report.output
    html = (project / "out/report.html").read_text(encoding="utf-8")
    assert "Rows read, and where each went" in html
    assert '<td>invoices.csv</td><td class="num">2,456</td>' in html


def test_scores_and_plan_on_the_clean_export_are_those_of_the_first_version(
    project: Path,
) -> None:
    """tests/data holds out/scores.csv and out/plan.csv of `arsync run --dry-run` on the
    bundled sample as the first version (the per-record load) wrote them: the columnar load
    must not move a single value. Scored by the first version's rules: segments by the mean
    days beyond terms, only open disputes in the health score (issue 14 changed both)."""
    _first_version_rules(project / "config/scoring.yaml")
    config = str(project / "config/arsync.yaml")

    result = CliRunner().invoke(app, ["run", "--dry-run", "-c", config])

    assert result.exit_code == 0, result.output
    for name in ("scores", "plan"):
        now = (project / f"out/{name}.csv").read_text(encoding="utf-8")
        before = (REPO / f"tests/data/sample_{name}_v1.csv").read_text(encoding="utf-8")
        if name == "scores":
            now, before = _as_first_version(now), _worded_as_now(before)
        else:
            now, before = _without_new_fields(now), _planned_as_now(before)
        assert now == before, name


def _first_version_rules(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for new, old in (
        ("{days_late_p75_12m: {gt: 15}}", "{avg_days_beyond_terms_12m: {gt: 15}}"),
        ("{days_late_p75_12m: {gt: 3}}", "{avg_days_beyond_terms_12m: {gt: 3}}"),
        ("  - {segment: slow_but_steady, when: {on_time_share_12m: {lt: 0.8}}}\n", ""),
        ("past_disputes: true", "past_disputes: false"),
    ):
        assert new in text, new
        text = text.replace(new, old)
    path.write_text(text, encoding="utf-8")


_NEW_COLUMNS = (  # issue 14's, after the first version
    "days_late_p75_12m",
    "disputed_share_12m",
    "late_payment_chance",
    "expected_receipts_30d",
    "expected_receipts_60d",
    "expected_receipts_90d",
    "expected_overdue_30d",
)
# The Account fields issue 14 added to the shipped mapping: not in the first version's plan.
_NEW_FIELDS = (
    "AR_Score_Basis__c",
    "AR_Late_Payment_Chance__c",
    "AR_Expected_Receipts_30__c",
    "AR_Expected_Receipts_60__c",
    "AR_Expected_Receipts_90__c",
    "AR_Expected_Overdue_30__c",
)


def _as_first_version(scores: str) -> str:
    """The scores as the first version named them: its `money_at_risk` is `priority_weight`
    now, and the new `money_at_risk` (checked here) is the open balance at a high or
    critical tier; the columns added since are left out."""
    rows = list(csv.DictReader(io.StringIO(scores)))
    for row in rows:
        at_risk = row["risk_tier"] in {"high", "critical"}
        assert float(row["money_at_risk"]) == (float(row["open_balance"]) if at_risk else 0.0)
        row["money_at_risk"] = row.pop("priority_weight")
        for column in _NEW_COLUMNS:
            del row[column]
    dropped = {"priority_weight", *_NEW_COLUMNS}
    header = [c for c in scores.splitlines()[0].split(",") if c not in dropped]
    return _csv(header, rows)


def _worded_as_now(scores: str) -> str:
    """The first version's reasons and flags with day counts in words ("1 day early", not
    "-1 days beyond terms"): the one change to their text since, every number the same."""
    rows = list(csv.DictReader(io.StringIO(scores)))
    for row in rows:
        for column in ("reason_1", "reason_2", "reason_3", "flags"):
            row[column] = reword(row[column])
    return _csv(scores.splitlines()[0].split(","), rows)


# The segment codes as the shipped mapping labels them now (the first version wrote codes).
_SEGMENT_LABELS: dict[str, str] = yaml.safe_load(
    (REPO / "mappings/salesforce_account.yaml").read_text(encoding="utf-8")
)["fields"]["AR_Segment__c"]["values"]


def _planned_as_now(plan: str) -> str:
    """The first version's plan with the changes since: reasons and flags worded as now, the
    promise picklist's "None" renamed "No Promise" (Salesforce shows its own --None--), and
    segments written as labels."""
    rows = list(csv.DictReader(io.StringIO(plan)))
    for row in rows:
        if row["field"].startswith(("AR_Health_Reason_", "AR_Flags__c")):
            row["value"] = reword(row["value"])
        elif row["field"] == "AR_Promise_Status__c" and row["value"] == "None":
            row["value"] = "No Promise"
        elif row["field"] == "AR_Segment__c":
            row["value"] = _SEGMENT_LABELS[row["value"]]
    return _csv(plan.splitlines()[0].split(","), rows)


def _without_new_fields(plan: str) -> str:
    """The plan without the rows of the fields added to the shipped mapping since."""
    rows = [r for r in csv.DictReader(io.StringIO(plan)) if r["field"] not in _NEW_FIELDS]
    return _csv(plan.splitlines()[0].split(","), rows)


def _csv(header: list[str], rows: list[dict[str, str]]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


# --- date-times that Arrow's strptime would move on ---------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        "2025-01-13T09:00:60+0000",
        "2025-01-13T09:00:61+0000",
        "2025-02-29T09:00:00+0000",
        "2025-04-31T09:30:00+0000",
    ],
)
def test_a_date_time_past_its_minute_or_month_is_quarantined_not_moved_on(
    project: Path, cell: str
) -> None:
    edit(project, "invoices.csv", lambda t: t[44].__setitem__(column(t[0], "Last Modified"), cell))

    loaded = load(project)

    [entry] = entries(loaded, "invalid_record")
    assert entry.location == "invoices.csv:45"
    assert entry.reason == (
        f"column 'Last Modified': '{cell}' is not a date and time in the format "
        "'%Y-%m-%dT%H:%M:%S%z'"
    )
    accounted(loaded)


def test_date_times_on_the_edges_that_did_not_move_are_read_exactly(project: Path) -> None:
    cells = {
        41: "2025-03-01T09:30:00+0000",
        42: "2025-01-13T09:00:01+0000",
        43: "2024-02-29T23:59:59+0000",
        44: "2025-05-01T00:00:00+0100",
    }

    def edges(table: list[list[str]]) -> None:
        for row, cell in cells.items():
            table[row][column(table[0], "Last Modified")] = cell

    edit(project, "invoices.csv", edges)
    source = build_source(load_run_settings(project / "config/arsync.yaml"))
    [invoices] = [
        item.frame
        for item in source.pull_frames()
        if isinstance(item, RecordFrame) and item.kind == "invoice"
    ]

    stamps = invoices.set_index("id")["last_modified"]
    assert {row: stamps[f"INV-{row:06d}"] for row in cells} == {
        row: pd.Timestamp(dt.datetime.strptime(cell, "%Y-%m-%dT%H:%M:%S%z")).tz_convert("UTC")
        for row, cell in cells.items()
    }
