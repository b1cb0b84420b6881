"""The files source's optional control totals (`control_totals:` in the column mapping): the
ERP's own balance per customer, read exactly, with a bad row stopping the run by file and line,
and never counted or pulled as ledger rows."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_file_source import (
    GENERIC_MAPPING,
    GOOD_FILES,
    edited_mapping,
    generic_mapping,
    write_export,
)

from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.errors import FatalError, SourceConfigError
from arsync.yamlfile import ConfigError, ConfigProblem
from connector.erp.base import Pulled
from connector.erp.files.control import ControlTotalsError
from connector.erp.files.mapping import FileMapping
from connector.erp.files.source import FileSource
from jobs.load import pull_into
from jobs.progress import Silent

D = Decimal
CONNECTORS_DOC = Path(__file__).resolve().parents[1] / "docs" / "connectors.md"
COLUMNS = {"customer_id": "Customer No.", "currency": "Currency", "balance": "Balance"}
CONTROL: dict[str, Any] = {"path": "control_totals.csv", "columns": COLUMNS}


def with_control(tmp_path: Path, **overrides: Any) -> FileMapping:
    def edit(data: dict[str, Any]) -> None:
        data["control_totals"] = {**CONTROL, **overrides}

    return edited_mapping(tmp_path, edit)


def export(
    tmp_path: Path, control_lines: list[str] | None, name: str = "control_totals.csv"
) -> Path:
    folder = write_export(tmp_path / "export", GOOD_FILES)
    if control_lines is not None:
        text = "\n".join(["Customer No.,Currency,Balance", *control_lines]) + "\n"
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_control_totals_are_read_exactly(tmp_path: Path) -> None:
    folder = export(tmp_path, ['C1,USD,"1,600.25"', " C2 ,eur,-12.5", "C3,JPY,0"])

    control = FileSource(folder, with_control(tmp_path)).control_balances()

    assert control == ControlBalances(
        figure="the export's control totals",
        basis=Basis.NET,
        balances=(
            ControlBalance("C1", "USD", D("1600.25")),
            ControlBalance("C2", "EUR", D("-12.5")),
            ControlBalance("C3", "JPY", D("0")),
        ),
        every_customer=False,
    )
    assert [str(b.amount) for b in control.balances] == ["1600.25", "-12.5", "0"]


def test_basis_figure_and_a_pattern_come_from_the_mapping(tmp_path: Path) -> None:
    folder = export(tmp_path, ["C1,USD,10.00"], name="balances_2026-03-31.csv")
    mapping = with_control(
        tmp_path, path="balances_*.csv", basis="open_invoices", figure="the aged AR report"
    )

    control = FileSource(folder, mapping).control_balances()

    assert control is not None
    assert (control.figure, control.basis) == ("the aged AR report", Basis.OPEN_INVOICES)
    assert control.balances == (ControlBalance("C1", "USD", D("10.00")),)


def test_a_comma_decimal_file_under_the_mappings_formats(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "control_totals.csv").write_text(
        "Customer No.;Currency;Balance\nC1;USD;1.600,25\nC2;EUR;-0,5\nC3;USD;12\n",
        encoding="utf-8",
    )

    def edit(data: dict[str, Any]) -> None:
        data["formats"].update(decimal_separator=",", thousands_separator=".", delimiter=";")
        data["control_totals"] = CONTROL

    control = FileSource(folder, edited_mapping(tmp_path, edit)).control_balances()

    assert control is not None
    assert control.balances == (
        ControlBalance("C1", "USD", D("1600.25")),
        ControlBalance("C2", "EUR", D("-0.5")),
        ControlBalance("C3", "USD", D("12")),
    )


def test_an_xlsx_sheet_with_typed_cells(tmp_path: Path) -> None:
    from openpyxl import Workbook  # noqa: PLC0415 - only the XLSX test needs it

    folder = export(tmp_path, None)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Balances"
    for row in (("Customer No.", "Currency", "Balance"), ("C1", "USD", 1600.25), (1001, "EUR", 7)):
        sheet.append(row)
    workbook.save(folder / "control_totals.xlsx")

    mapping = with_control(tmp_path, path="control_totals.xlsx", sheet="Balances")
    control = FileSource(folder, mapping).control_balances()

    assert control is not None
    assert control.balances == (
        ControlBalance("C1", "USD", D("1600.25")),
        ControlBalance("1001", "EUR", D("7")),
    )


def test_bad_rows_stop_the_run_each_named_by_file_line_and_reason(tmp_path: Path) -> None:
    folder = export(
        tmp_path,
        ["C1,USD,100.00", 'C2,EUR,"12,50"', ",usd,", "C5,EURO,1", "C6,USD,1.23456"],
    )

    with pytest.raises(ControlTotalsError) as raised:
        FileSource(folder, with_control(tmp_path)).control_balances()

    assert isinstance(raised.value, FatalError)
    assert str(raised.value).splitlines() == [
        "4 rows of the control totals control_totals.csv cannot be read, so the balances cannot "
        "be checked against the ERP's and nothing is written; correct the export and run again:",
        "control_totals.csv:3: column 'Balance': '12,50' is not a number written as 1,234.56 "
        "(decimal separator '.', thousands separator ',')",
        "control_totals.csv:4: column 'Customer No.': is empty (a control total needs its "
        "customer); column 'Balance': is empty (write 0 for a customer that owes nothing)",
        "control_totals.csv:5: column 'Currency': 'EURO' is not a three-letter currency code",
        "control_totals.csv:6: column 'Balance': '1.23456' has more than 4 decimal places",
    ]


def test_a_damaged_csv_row_stops_the_run_too(tmp_path: Path) -> None:
    folder = export(tmp_path, ["C1,USD,100.00", "C2,EUR,5.00,extra"])

    with pytest.raises(ControlTotalsError) as raised:
        FileSource(folder, with_control(tmp_path)).control_balances()

    assert str(raised.value).splitlines()[1:] == [
        "control_totals.csv:3: the row has 4 cells where the header has 3; it is not read"
    ]


def test_many_bad_rows_are_counted_past_the_first_twenty(tmp_path: Path) -> None:
    folder = export(tmp_path, [f"C{n},USD,x" for n in range(25)])

    with pytest.raises(ControlTotalsError) as raised:
        FileSource(folder, with_control(tmp_path)).control_balances()

    lines = str(raised.value).splitlines()
    assert lines[0].startswith("25 rows of the control totals control_totals.csv")
    assert lines[1].startswith("control_totals.csv:2: column 'Balance': 'x' is not a number")
    assert lines[20].startswith("control_totals.csv:21: ")
    assert lines[21:] == ["... and 5 more"]


def test_a_header_only_file_is_no_balances(tmp_path: Path) -> None:
    folder = export(tmp_path, [])

    control = FileSource(folder, with_control(tmp_path)).control_balances()

    assert control is not None
    assert control.balances == ()


def test_a_mapped_column_missing_from_the_file_names_it(tmp_path: Path) -> None:
    folder = export(tmp_path, ["C1,USD,1"])
    columns = {**COLUMNS, "balance": "Closing Balance"}

    with pytest.raises(
        SourceConfigError, match=r"control_totals\.csv:1: no column 'Closing Balance' "
    ):
        FileSource(folder, with_control(tmp_path, columns=columns)).control_balances()


def test_no_file_matching_the_pattern_names_the_pattern(tmp_path: Path) -> None:
    folder = export(tmp_path, None)
    mapping = with_control(tmp_path, path="balances_*.csv")

    with pytest.raises(SourceConfigError) as raised:
        FileSource(folder, mapping).control_balances()

    assert "matches the column mapping's control_totals.path 'balances_*.csv'" in str(raised.value)
    assert isinstance(raised.value, FatalError)


def test_two_files_matching_the_pattern_are_refused(tmp_path: Path) -> None:
    folder = export(tmp_path, ["C1,USD,1"], name="balances_1.csv")
    (folder / "balances_2.csv").write_text("Customer No.,Currency,Balance\n", encoding="utf-8")
    mapping = with_control(tmp_path, path="balances_*.csv")

    with pytest.raises(SourceConfigError, match=r"2 files .* \(balances_1\.csv, balances_2\.csv\)"):
        FileSource(folder, mapping).control_balances()


@pytest.mark.parametrize("pattern", ["../*.csv", "/etc/*"])
def test_a_pattern_leading_outside_the_export_folder_is_refused(
    tmp_path: Path, pattern: str
) -> None:
    folder = export(tmp_path, ["C1,USD,1"])
    (tmp_path / "outside.csv").write_text("Customer No.,Currency,Balance\n", encoding="utf-8")

    with pytest.raises(SourceConfigError, match="leads outside the export folder"):
        FileSource(folder, with_control(tmp_path, path=pattern)).control_balances()


def test_a_ledger_file_is_not_a_control_file(tmp_path: Path) -> None:
    folder = export(tmp_path, None)

    with pytest.raises(SourceConfigError, match="also reads as a ledger file"):
        FileSource(folder, with_control(tmp_path, path="invoices.csv")).control_balances()


def test_without_the_stream_there_are_no_control_totals(tmp_path: Path) -> None:
    folder = export(tmp_path, ["C1,USD,1"])  # a file there, but the mapping does not name it
    mapping = edited_mapping(tmp_path, lambda data: data.pop("control_totals"))

    assert mapping.control_totals is None
    assert FileSource(folder, mapping).control_balances() is None


def test_the_control_file_is_no_ledger_stream(tmp_path: Path) -> None:
    folder = export(tmp_path, ["C1,USD,1600.25", "C2,EUR,0"])
    source = FileSource(folder, with_control(tmp_path))
    plain = FileSource(folder, edited_mapping(tmp_path, lambda data: data.pop("control_totals")))

    pull = pull_into(source, frozenset({"USD", "EUR"}), Silent())
    pull.builder.build()
    control = source.control_balances()

    assert control is not None
    assert len(control.balances) == 2
    assert "control_totals.csv" not in source.rows_read()
    assert set(pull.accounting()) == set(source.rows_read())
    assert "control_totals.csv" not in pull.accounting()
    pulled = list(source.pull())
    assert {item.location.split(":")[0] for item in pulled if isinstance(item, Pulled)} == {
        "customers.csv",
        "invoices.csv",
        "payments.csv",
    }
    assert pulled == list(plain.pull())
    assert source.extent() == plain.extent()


def test_a_missing_control_file_does_not_stop_the_pull(tmp_path: Path) -> None:
    """The ledger's pull never opens the control file: only `control_balances()` says it is
    missing, so the reconciliation step owns that failure."""
    folder = export(tmp_path, None)
    mapping = with_control(tmp_path)

    assert len([i for i in FileSource(folder, mapping).pull() if isinstance(i, Pulled)]) == 6
    with pytest.raises(SourceConfigError, match=r"'control_totals\.csv'"):
        FileSource(folder, mapping).control_balances()


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("basis", "gross", "Input should be 'net' or 'open_invoices'"),
        ("figure", " ", "String should have at least 1 character"),
        ("path", "", "String should have at least 1 character"),
    ],
)
def test_a_wrong_setting_is_a_mapping_error(
    tmp_path: Path, setting: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        with_control(tmp_path, **{setting: value})


def _docs_examples() -> list[str]:
    text = CONNECTORS_DOC.read_text(encoding="utf-8")
    start = text.index("## Exported files (`kind: files`)")
    section = text[start : text.index("\n## ", start + 1)]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)


def test_the_docs_example_is_a_mapping_arsync_accepts() -> None:
    examples = [e for e in _docs_examples() if "control_totals:" in e]
    assert len(examples) == 1
    data = yaml.safe_load(GENERIC_MAPPING.read_text(encoding="utf-8"))
    data.update(yaml.safe_load(examples[0]))

    mapping = FileMapping.model_validate(data)

    assert mapping.control_totals is not None
    assert mapping.control_totals.path == "customer_balances_*.csv"
    assert mapping.control_totals.basis is Basis.NET
    written = set(re.findall(r"^\s*([a-z_]+):", examples[0], flags=re.MULTILINE))
    assert written >= set(type(mapping.control_totals).model_fields) - {"sheet"}


def test_the_shipped_mapping_checks_a_balance_report_when_the_export_has_one(
    tmp_path: Path,
) -> None:
    spec = generic_mapping().control_totals
    assert spec is not None
    assert (spec.path, spec.required, spec.basis, spec.figure) == (
        "customer_balances*.csv",
        False,
        Basis.NET,
        "the ERP's customer balance report",
    )
    without = write_export(tmp_path / "without", GOOD_FILES)
    assert FileSource(without, generic_mapping()).control_balances() is None
    (without / "customer_balances.csv").write_text(
        "Customer No.,Currency,Balance\nC1,USD,12.50\n", encoding="utf-8"
    )
    found = FileSource(without, generic_mapping()).control_balances()
    assert found is not None
    assert found.balances == (ControlBalance("C1", "USD", Decimal("12.50")),)


def test_validate_finds_what_the_run_would_stop_on_in_the_control_totals(tmp_path: Path) -> None:
    from connector.erp.files.probe import probe_export  # noqa: PLC0415 - `arsync validate`'s

    def problems(folder: Path, mapping: FileMapping) -> list[ConfigProblem]:
        found = probe_export(folder, mapping, mapping_path)  # the test export has no manifest
        return [p for p in found if p.key_path.startswith("control_totals")]

    mapping = with_control(tmp_path)
    mapping_path = tmp_path / "edited_mapping.yaml"
    line = next(
        number
        for number, text in enumerate(mapping_path.read_text().splitlines(), start=1)
        if text.startswith("control_totals:")
    )

    (missing,) = problems(export(tmp_path / "a", None), mapping)
    assert (missing.key_path, missing.line) == ("control_totals.path", line + 1)
    assert "no file in the export folder" in missing.message

    (bad,) = problems(export(tmp_path / "b", ["C1,USD,twelve"]), mapping)
    assert "control_totals.csv:2: column 'Balance'" in bad.message

    assert problems(export(tmp_path / "c", ["C1,USD,12"]), mapping) == []
    optional = with_control(tmp_path, required=False)
    assert problems(export(tmp_path / "d", None), optional) == []
