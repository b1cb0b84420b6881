"""ERP text in the files and on the console: no formulas in out/*.csv, no markup or control
sequences on the terminal."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from csv_rows import read_rows, write_rows
from typer.testing import CliRunner

from arsync.csv_safety import FORMULA_STARTS, safe_cell, safe_frame, safe_value
from arsync.quarantine import Quarantine, QuarantineEntry
from jobs.cli import app
from jobs.console_safety import PLACEHOLDER, clean, escaped, plain

ROOT = Path(__file__).resolve().parents[1]
HYPERLINK = '=HYPERLINK("http://x.example/","x")'
# One name for each other formula character, given to the first customers; the rest get the
# HYPERLINK name, so some of them are certainly on the worklist. The file source strips a
# cell's leading tab or carriage return, so those two arrive as "@..." and "=..." (the unit
# tests cover a cell that does start with one).
OTHER_NAMES = ["+1+2 Traders", "-2+3 Holdings", "@SUM(A1:A9) Ltd", "\t@Tabbed Inc", "\r=1+1 Co"]
ARRIVING_NAMES = ["+1+2 Traders", "-2+3 Holdings", "@SUM(A1:A9) Ltd", "@Tabbed Inc", "=1+1 Co"]
BAD_INVOICE_ID = "=cmd|' /C calc'!A0"
MARKUP = "[/bold]"
ESCAPE = "\x1b]0;evil\x07"
# A plain decimal number, which a CSV may hold as text (plan.csv's mixed columns).
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped config, mappings and sample data, writing to its own out/."""
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def invoke(*args: str) -> tuple[int, str, list[dict[str, Any]]]:
    """Exit code, everything printed (stdout and stderr), and the JSON log events."""
    result = CliRunner().invoke(app, ["--log-format", "json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return result.exit_code, result.output, events


# --- the CSV helper ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1", "+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-1+2", "'-1+2"),
        ("-14659.82", "-14659.82"),
        ("-3", "-3"),
        ("-1.5e3", "-1.5e3"),
        ("-inf", "'-inf"),
        ("-", "'-"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Acme = Co", "Acme = Co"),
        ("'=already", "'=already"),
        ("", ""),
    ],
)
def test_safe_cell(value: str, expected: str) -> None:
    assert safe_cell(value) == expected


def test_safe_value_leaves_everything_but_text_alone() -> None:
    assert safe_value(-5) == -5
    assert safe_value(-1.5) == -1.5
    assert safe_value(None) is None
    assert safe_value("=1") == "'=1"


def test_safe_frame_touches_only_text_cells_and_leaves_the_input_as_it_was() -> None:
    frame = pd.DataFrame(
        {
            "name": [HYPERLINK, "Acme", "-1+2"],
            "mixed": ["-14659.82", -3.5, None],
            "count": [-1, -2, -3],
            "amount": [-0.5, 1.0, -2.25],
            "tier": pd.Categorical(["@low", "high", "@low"]),
            "=header": ["a", "b", "c"],
        }
    )

    safe = safe_frame(frame)

    assert safe["name"].tolist() == ["'" + HYPERLINK, "Acme", "'-1+2"]
    assert safe["mixed"].iloc[0] == "-14659.82"
    assert safe["mixed"].iloc[1] == -3.5
    assert safe["mixed"].iloc[2] is None
    assert safe["count"].tolist() == [-1, -2, -3]
    assert str(safe["count"].dtype) == "int64"
    assert safe["amount"].tolist() == [-0.5, 1.0, -2.25]
    assert safe["tier"].tolist() == ["'@low", "high", "'@low"]
    assert list(safe.columns) == ["name", "mixed", "count", "amount", "tier", "'=header"]
    assert frame["name"].iloc[0] == HYPERLINK  # the caller's frame is untouched
    assert list(frame.columns)[-1] == "=header"
    written = safe.to_csv(index=False).splitlines()
    assert written[1] == '"\'=HYPERLINK(""http://x.example/"",""x"")",-14659.82,-1,-0.5,\'@low,a'


def test_quarantine_csv_neutralises_every_text_cell(tmp_path: Path) -> None:
    quarantine = Quarantine()
    quarantine.add(QuarantineEntry("invoice", "=1+1", "-x.csv:2", "invalid_record", "@reason"))
    quarantine.add(QuarantineEntry("invoice", None, "a.csv:3", "invalid_record", "-12.5"))
    path = tmp_path / "quarantine.csv"

    quarantine.write_csv(path)

    rows = read_rows(path)
    assert [r["record_id"] for r in rows] == ["'=1+1", ""]
    assert [r["location"] for r in rows] == ["'-x.csv:2", "a.csv:3"]
    assert [r["reason"] for r in rows] == ["'@reason", "-12.5"]
    assert [r["action"] for r in rows] == ["rejected", "rejected"]


# --- the CSV files of a run and a report ------------------------------------------------------


def test_no_csv_cell_of_a_run_or_report_starts_a_formula(project: Path) -> None:
    sample = project / "examples/sample"
    customers = read_rows(sample / "customers.csv")
    names = OTHER_NAMES + [HYPERLINK] * (len(customers) - len(OTHER_NAMES))
    for row, name in zip(customers, names, strict=True):
        row["Name"] = name
    customers[-1]["Industry"] = "-Logistics"
    write_rows(sample / "customers.csv", customers)
    invoices = read_rows(sample / "invoices.csv")
    invoices[0]["Invoice ID"] = BAD_INVOICE_ID
    invoices[0]["Amount"] = "=1+1"  # not a number: quarantined, the ERP text in the reason
    write_rows(sample / "invoices.csv", invoices)
    config = str(project / "config/arsync.yaml")

    run_code, run_output, _ = invoke("run", "--dry-run", "--config", config)
    report_code, report_output, _ = invoke("report", "--config", config)

    assert run_code == 1, run_output  # the bad invoice is quarantined: a partial run
    assert report_code == 1, report_output
    out = project / "out"
    expected = {
        "plan.csv",
        "outcomes.csv",
        "conflicts.csv",
        "scores.csv",
        "quarantine.csv",
        "worklist.csv",
        "portfolio_kpis.csv",
        "worst_movers.csv",
    }
    assert expected <= {path.name for path in out.glob("*.csv")}
    for path in sorted(out.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.reader(handle), start=1):
                for cell in row:
                    if cell.startswith(FORMULA_STARTS):
                        assert PLAIN_NUMBER.fullmatch(cell), f"{path.name}:{line}: {cell!r}"
    scores = read_rows(out / "scores.csv")
    assert {"'" + name for name in [*ARRIVING_NAMES, HYPERLINK]} == {
        r["customer_name"] for r in scores
    }
    assert "'-Logistics" in {r["industry"] for r in scores}
    worklist = read_rows(out / "worklist.csv")
    assert worklist
    assert "'" + HYPERLINK in {r["customer_name"] for r in worklist}
    assert all(r["customer_name"].startswith("'") for r in worklist)
    plan = read_rows(out / "plan.csv")
    assert "'" + HYPERLINK in {r["customer_name"] for r in plan}
    negative = [r["value"] for r in plan if r["value"].startswith("-")]
    assert negative  # plain negative numbers, left as they are
    assert all(PLAIN_NUMBER.fullmatch(value) for value in negative)
    quarantined = read_rows(out / "quarantine.csv")
    assert quarantined[0]["record_id"] == "'" + BAD_INVOICE_ID
    assert "'=1+1'" in quarantined[0]["reason"]


# --- the console ------------------------------------------------------------------------------


def test_clean_replaces_control_characters_but_keeps_text_and_newlines() -> None:
    assert clean(f"a{ESCAPE}b") == f"a{PLACEHOLDER}]0;evil{PLACEHOLDER}b"
    assert clean("tab\there\r\x00\x7f\x9b") == "tab" + PLACEHOLDER + "here" + PLACEHOLDER * 4
    assert clean("line one\nline two") == "line one\nline two"
    assert clean("Zürich ÅB — [/bold]") == "Zürich ÅB — [/bold]"
    assert clean(12) == "12"


def test_markup_in_data_is_shown_as_text() -> None:
    from rich.console import Console  # noqa: PLC0415 - only this test renders

    console = Console(record=True, width=200, color_system=None)
    console.print(plain(f"Bad {MARKUP} name {ESCAPE}"))
    console.print(f"[bold]Run[/bold] {escaped(f'[red]x{MARKUP}')}")

    text = console.export_text()
    assert f"Bad {MARKUP} name {PLACEHOLDER}]0;evil{PLACEHOLDER}" in text
    assert f"Run [red]x{MARKUP}" in text
    assert "\x1b" not in text
    assert "\x07" not in text


def test_markup_and_escape_sequences_from_the_erp_reach_the_console_as_text(
    project: Path,
) -> None:
    sample = project / "examples/sample"
    customers = read_rows(sample / "customers.csv")
    evil_name = f"Evil {MARKUP} Co {ESCAPE}"
    customers[0]["Name"] = evil_name
    write_rows(sample / "customers.csv", customers)
    invoices = read_rows(sample / "invoices.csv")
    invoices[0]["Invoice ID"] = f"INV-{MARKUP}{ESCAPE}"
    invoices[0]["Amount"] = f"x{MARKUP}{ESCAPE}"  # not a number: quarantined with this reason
    write_rows(sample / "invoices.csv", invoices)
    config = str(project / "config/arsync.yaml")

    code, output, events = invoke("run", "--dry-run", "--show", "60", "--config", config)

    assert code == 1, output  # a quarantined record makes the run partial
    assert "Traceback" not in output
    assert "\x1b" not in output
    assert "\x07" not in output
    assert f"Evil {MARKUP} Co" in output  # the plan table
    assert f"{PLACEHOLDER}]0;evil{PLACEHOLDER}" in output
    assert f"INV-{MARKUP}{PLACEHOLDER}]0;evil{PLACEHOLDER}" in output  # the quarantine table
    assert f"'x{MARKUP}\\x1b]0;evil\\x07'" in output  # the reason quotes the value's repr
    finished = next(e for e in events if e["event"] == "sync.finished")
    assert finished["exit_code"] == 1

    code, output, _ = invoke("runs", "show", finished["run_id"], "--config", config)

    assert code == 0, output
    assert "Traceback" not in output
    assert "\x1b" not in output
    assert "\x07" not in output
    assert f"INV-{MARKUP}{PLACEHOLDER}]0;evil{PLACEHOLDER}" in output
    assert f"'x{MARKUP}\\x1b]0;evil\\x07'" in output


def test_runs_show_of_an_unknown_id_with_markup_says_so(project: Path) -> None:
    config = str(project / "config/arsync.yaml")

    code, output, _ = invoke("runs", "show", f"nope{MARKUP}", "--config", config)

    assert code == 2, output
    assert f"No run 'nope{MARKUP}' in the state store." in output
