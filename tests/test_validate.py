"""`arsync validate` finds what a run would stop on first: unset `${VAR}`s, missing paths, an
unknown encoding, an export whose dates or numbers fit no format, and keys written twice; each
at the YAML file, line and key to change, through the real CLI."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from jobs.cli import app

REPO = Path(__file__).resolve().parents[1]
WIDE = {"COLUMNS": "1000"}  # one problem per line, whatever the terminal


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """config/, mappings/ and the sample export, as shipped, side by side."""
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def config_of(project: Path) -> Path:
    return project / "config/arsync.yaml"


def mapping_of(project: Path) -> Path:
    return project / "mappings/erp/generic_csv.yaml"


def validate(project: Path, env: Mapping[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(
        app, ["validate", "--config", str(config_of(project))], env={**WIDE, **(env or {})}
    )


def problems(result: Result) -> list[str]:
    """The listed problems, one `file:line: key: message` each."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    heading = next(n for n, line in enumerate(lines) if " in the settings:" in line)
    count = len(lines) - heading - 1
    assert lines[heading] == f"{count} {'problem' if count == 1 else 'problems'} in the settings:"
    return [line.strip() for line in lines[heading + 1 :]]


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the one line holding `text`."""
    numbers = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(numbers) == 1, (text, numbers)
    return numbers[0]


def replace_line(path: Path, old: str, new: str) -> int:
    """Replace `old` on the one line holding it; that line's number."""
    number = line_of(path, old)
    lines = path.read_text().splitlines(keepends=True)
    lines[number - 1] = lines[number - 1].replace(old, new)
    path.write_text("".join(lines))
    return number


def append(path: Path, text: str) -> int:
    """Append `text`; the number of its first line."""
    before = path.read_text()
    path.write_text(before + text)
    return len(before.splitlines()) + 1


def rewrite_column(path: Path, column: str, value: str) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row[column] = value
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


SALESFORCE = """
salesforce:
  auth:
    mode: password
    username: me@acme.com
    password: ${SF_PASSWORD}
    security_token: ${SF_TOKEN}
state:
  url: postgresql://arsync:${ARSYNC_DB_PASSWORD}@db.internal:5432/arsync
"""
SECRET = "hunter2-do-not-print"


# -- a clean config -------------------------------------------------------------------------


def test_the_shipped_config_with_its_sample_export_validates(project: Path) -> None:
    result = validate(project)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ok {config_of(project)}",
        f"ok {project / 'config/scoring.yaml'}",
        f"ok {mapping_of(project)}",
        f"ok {project / 'mappings/salesforce_account.yaml'}",
    ]


def test_every_referenced_variable_set_validates_and_no_value_is_printed(project: Path) -> None:
    append(config_of(project), SALESFORCE)
    env = {"SF_PASSWORD": SECRET, "SF_TOKEN": SECRET + "-token", "ARSYNC_DB_PASSWORD": SECRET}

    result = validate(project, env)

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert SECRET not in result.stderr


# -- ${VAR} references ----------------------------------------------------------------------


def test_an_unset_variable_is_named_with_the_file_line_and_key_never_a_value(
    project: Path,
) -> None:
    config = config_of(project)
    first = append(config, SALESFORCE)  # a blank line, then salesforce:
    env = {"SF_PASSWORD": SECRET, "SF_TOKEN": "", "ARSYNC_DB_PASSWORD": None}

    found = problems(validate(project, env))

    assert found == [
        f"{config}:{first + 6}: salesforce.auth.security_token: environment variable SF_TOKEN "
        "is not set (set it where arsync runs)",
        f"{config}:{first + 8}: state.url: environment variable ARSYNC_DB_PASSWORD is not set "
        "(set it where arsync runs)",
    ]
    assert line_of(config, "    security_token: ${SF_TOKEN}") == first + 6
    assert line_of(config, "  url: postgresql://arsync:${ARSYNC") == first + 8


def test_a_secret_set_beside_an_unset_one_never_appears_in_the_output(project: Path) -> None:
    append(config_of(project), SALESFORCE)
    env = {"SF_PASSWORD": SECRET, "SF_TOKEN": None, "ARSYNC_DB_PASSWORD": SECRET}

    result = validate(project, env)

    assert result.exit_code == 2
    assert "SF_TOKEN is not set" in result.stderr
    assert "SF_PASSWORD" not in result.stderr  # set: not a problem
    assert SECRET not in result.output
    assert SECRET not in result.stderr


def erp_config(project: Path, token_file: Path) -> Path:
    """A QuickBooks source instead of the files; the mapping is not read then."""
    config = config_of(project)
    text = config.read_text()
    start = text.index("source:")
    end = text.index("crm_mapping:")
    config.write_text(
        text[:start]
        + "source:\n"
        + "  kind: quickbooks\n"
        + "  realm_id: '1234'\n"
        + "  client_id: ${QBO_CLIENT_ID}\n"
        + "  client_secret: ${QBO_CLIENT_SECRET}\n"
        + "  refresh_token: ${QBO_REFRESH_TOKEN}\n"
        + f"  refresh_token_file: {token_file}\n\n"
        + text[end:]
    )
    return config


def test_an_erp_secret_is_checked_and_a_kept_refresh_token_needs_no_variable(
    project: Path,
) -> None:
    token_file = project / "state/qbo-refresh-token"
    token_file.parent.mkdir()
    token_file.write_text("kept-token\n")
    config = erp_config(project, token_file)
    env = {"QBO_CLIENT_ID": "id", "QBO_CLIENT_SECRET": None, "QBO_REFRESH_TOKEN": None}

    found = problems(validate(project, env))

    line = line_of(config, "${QBO_CLIENT_SECRET}")
    assert found == [
        f"{config}:{line}: source.client_secret: environment variable QBO_CLIENT_SECRET is not "
        "set (set it where arsync runs)"
    ]

    token_file.write_text("")  # no token kept yet: the first run reads the variable
    found = problems(validate(project, env))

    assert len(found) == 2
    line = line_of(config, "${QBO_REFRESH_TOKEN}")
    assert found[1] == (
        f"{config}:{line}: source.refresh_token: environment variable QBO_REFRESH_TOKEN is not "
        "set (set it where arsync runs)"
    )


# -- paths ----------------------------------------------------------------------------------


def test_a_missing_export_folder_is_named_at_source_path(project: Path) -> None:
    config = config_of(project)
    line = replace_line(config, "path: ../examples/sample", "path: ../examples/sampel")

    found = problems(validate(project))

    assert found == [
        f"{config}:{line}: source.path: folder not found: {project / 'examples/sampel'}"
    ]


@pytest.mark.parametrize(
    ("old", "new", "key", "missing"),
    [
        (
            "mapping: ../mappings/erp/generic_csv.yaml",
            "mapping: ../mappings/erp/generic.yaml",
            "source.mapping",
            "mappings/erp/generic.yaml",
        ),
        ("scoring: scoring.yaml", "scoring: score.yaml", "scoring", "config/score.yaml"),
        (
            "crm_mapping: ../mappings/salesforce_account.yaml",
            "crm_mapping: ../mappings/salesforce.yaml",
            "crm_mapping",
            "mappings/salesforce.yaml",
        ),
    ],
    ids=["source-mapping", "scoring", "crm-mapping"],
)
def test_a_missing_settings_file_is_named_at_the_arsync_yaml_key(
    project: Path, old: str, new: str, key: str, missing: str
) -> None:
    config = config_of(project)
    line = replace_line(config, old, new)

    found = problems(validate(project))

    assert found == [f"{config}:{line}: {key}: file not found: {project / missing}"]


def test_a_missing_default_scoring_file_says_it_is_the_default(project: Path) -> None:
    config = config_of(project)
    replace_line(config, "scoring: scoring.yaml", "")
    (project / "config/scoring.yaml").unlink()

    found = problems(validate(project))

    assert found == [
        f"{config}:2: scoring: file not found: {project / 'config/scoring.yaml'} "
        "(the default; set scoring: to its path)"
    ]


def test_a_missing_mapped_export_file_and_manifest_are_named_in_the_mapping(
    project: Path,
) -> None:
    mapping = mapping_of(project)
    (project / "examples/sample/payments.csv").unlink()
    (project / "examples/sample/export_manifest.json").unlink()
    folder = project / "examples/sample"

    found = problems(validate(project))

    assert found == [
        f"{mapping}:{line_of(mapping, 'manifest:')}: manifest: file not found: "
        f"{folder / 'export_manifest.json'}",
        f"{mapping}:{line_of(mapping, 'path: payments.csv')}: files.payments.path: file not "
        f"found: {folder / 'payments.csv'}",
    ]


def test_a_mapped_file_outside_the_export_folder_is_refused_unread(project: Path) -> None:
    """The probe echoes a header and a value; like the run, it reads nothing outside."""
    mapping = mapping_of(project)
    outside = project / "private.csv"
    outside.write_text("Customer No.,top-secret-header\nC1,top-secret-value\n")
    line = replace_line(mapping, "path: customers.csv", "path: ../../private.csv")

    found = problems(validate(project))

    assert len(found) == 1
    assert found[0].startswith(f"{mapping}:{line}: files.customers.path: ")
    assert "leads outside the export folder" in found[0]
    assert "top-secret" not in found[0]


def test_a_missing_jwt_key_file_is_named(project: Path) -> None:
    config = config_of(project)
    key_file = project / "secrets/sf.pem"
    first = append(
        config,
        "salesforce:\n  auth:\n    mode: jwt\n    username: me@acme.com\n"
        f"    consumer_key: ${{SF_CONSUMER_KEY}}\n    private_key_file: {key_file}\n",
    )

    found = problems(validate(project, {"SF_CONSUMER_KEY": "key"}))

    assert found == [
        f"{config}:{first + 5}: salesforce.auth.private_key_file: file not found: {key_file}"
    ]


# -- encoding -------------------------------------------------------------------------------


def test_an_unknown_encoding_is_refused_at_its_line(project: Path) -> None:
    mapping = mapping_of(project)
    line = replace_line(mapping, "encoding: utf-8", "encoding: utf-9")

    found = problems(validate(project))

    assert found == [
        f"{mapping}:{line}: formats.encoding: unknown text encoding 'utf-9'; write a Python "
        "codec name such as utf-8, cp1252, latin-1 or utf-16"
    ]


def test_an_export_in_another_encoding_is_named_at_the_encoding_key(project: Path) -> None:
    mapping = mapping_of(project)
    customers = project / "examples/sample/customers.csv"
    text = customers.read_text(encoding="utf-8").replace("Zenith Logistics", "Zénith Logistics")
    customers.write_bytes(text.encode("cp1252"))

    found = problems(validate(project))

    assert found == [
        f"{mapping}:{line_of(mapping, 'encoding: utf-8')}: formats.encoding: customers.csv is "
        "not utf-8 text (byte 0xe9 cannot be read); set formats.encoding to the export's "
        "encoding, e.g. cp1252 or utf-16"
    ]

    replace_line(mapping, "encoding: utf-8", "encoding: cp1252")
    assert validate(project).exit_code == 0


# -- formats and columns --------------------------------------------------------------------


def test_a_date_format_that_fits_no_row_is_named_per_file_and_column(project: Path) -> None:
    mapping = mapping_of(project)
    line = replace_line(mapping, 'date: "%Y-%m-%d"', 'date: "%d/%m/%Y"')

    found = problems(validate(project))

    at = f"{mapping}:{line}: formats.date: "
    assert (
        f"{at}dates in invoices.csv column 'Invoice Date' do not match format %d/%m/%Y in "
        "any of the first 200 rows (first value: '2024-11-20')"
    ) in found
    assert (
        f"{at}dates in credit_memos.csv column 'Date' do not match format %d/%m/%Y in any "
        "of the first 36 rows (first value: '2025-01-01')"
    ) in found
    # Each date column of each file once (two in invoices, one in each other file but
    # customers); nothing else.
    assert len(found) == 6
    assert all(problem.startswith(at + "dates in ") for problem in found)


def test_a_number_format_that_fits_no_row_is_named_at_the_decimal_separator(
    project: Path,
) -> None:
    mapping = mapping_of(project)
    rewrite_column(project / "examples/sample/customers.csv", "Credit Limit", "14 000,00")

    found = problems(validate(project))

    assert found == [
        f"{mapping}:{line_of(mapping, 'decimal_separator:')}: formats.decimal_separator: "
        "numbers in customers.csv column 'Credit Limit' do not match decimal_separator '.' and "
        "thousands_separator ',' in any of the first 60 rows (first value: '14 000,00')"
    ]


def test_a_default_format_is_said_to_be_the_default(project: Path) -> None:
    mapping = mapping_of(project)
    replace_line(mapping, 'datetime: "%Y-%m-%dT%H:%M:%S%z"', "")
    rewrite_column(project / "examples/sample/invoices.csv", "Last Modified", "02.01.2025 09:00")

    found = problems(validate(project))

    # Without a line of its own, the key is placed where it would go: in the formats block.
    formats_block = line_of(mapping, "formats:") + 1
    assert found == [
        f"{mapping}:{formats_block}: formats.datetime: dates and times in "
        "invoices.csv column 'Last Modified' do not match format %Y-%m-%dT%H:%M:%S%z in any of "
        "the first 200 rows (first value: '02.01.2025 09:00') (the default; set "
        "formats.datetime in this file)"
    ]


def test_some_bad_values_are_bad_rows_for_the_run_not_a_wrong_format(project: Path) -> None:
    invoices = project / "examples/sample/invoices.csv"
    with invoices.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[:199]:
        row["Due Date"] = "31/01/2026"
    with invoices.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    assert validate(project).exit_code == 0  # row 200 reads: the format fits

    rows[199]["Due Date"] = "31/01/2026"
    with invoices.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    found = problems(validate(project))

    assert [p.split(": ", 2)[2] for p in found] == [
        "dates in invoices.csv column 'Due Date' do not match format %Y-%m-%d in any of the "
        "first 200 rows (first value: '31/01/2026')"
    ]


def test_a_column_the_export_lacks_is_named_at_its_mapping_line(project: Path) -> None:
    mapping = mapping_of(project)
    invoices = project / "examples/sample/invoices.csv"
    lines = invoices.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace("Due Date", "Due")
    invoices.write_text("".join(lines), encoding="utf-8")

    found = problems(validate(project))

    assert found == [
        f"{mapping}:{line_of(mapping, 'due_date: Due Date')}: files.invoices.columns.due_date: "
        "no column 'Due Date' in invoices.csv; columns found: Invoice ID, Invoice No., "
        "Customer No., Invoice Date, Due, Currency, Amount, Balance Due, Status, Disputed, "
        "Dispute Reason, Last Modified"
    ]


def test_a_missing_xlsx_sheet_is_named_at_its_key(project: Path) -> None:
    from openpyxl import Workbook  # noqa: PLC0415 - only this case writes a workbook

    mapping = mapping_of(project)
    folder = project / "examples/sample"
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Customers"
    with (folder / "customers.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            sheet.append(row)
    workbook.save(folder / "customers.xlsx")
    path_line = replace_line(mapping, "path: customers.csv", "path: customers.xlsx")
    mapping.write_text(
        mapping.read_text().replace(
            "    path: customers.xlsx\n", "    path: customers.xlsx\n    sheet: Clients\n"
        )
    )

    found = problems(validate(project))

    assert found == [
        f"{mapping}:{path_line + 1}: files.customers.sheet: no sheet 'Clients' in "
        "customers.xlsx; sheets: Customers"
    ]


# -- keys written twice ---------------------------------------------------------------------


def test_a_key_written_twice_in_arsync_yaml_is_an_error_at_the_second(project: Path) -> None:
    config = config_of(project)
    first = line_of(config, "reporting_currency: USD")
    second = append(config, "reporting_currency: EUR\n")

    found = problems(validate(project))

    assert found == [
        f"{config}:{second}: reporting_currency: duplicate key 'reporting_currency': already "
        f"set on line {first}"
    ]


def test_a_nested_key_written_twice_in_a_mapping_names_its_path(project: Path) -> None:
    mapping = mapping_of(project)
    first = line_of(mapping, "due_date: Due Date")
    second = replace_line(mapping, "dispute_reason: Dispute Reason", "due_date: Dispute Reason")

    found = problems(validate(project))

    assert found == [
        f"{mapping}:{second}: files.invoices.columns.due_date: duplicate key 'due_date': "
        f"already set on line {first}"
    ]


def test_a_key_written_twice_stops_a_run_too(project: Path) -> None:
    config = config_of(project)
    first = line_of(config, "output:")
    second = append(config, "output:\n  dir: ../elsewhere\n")

    result = CliRunner().invoke(app, ["run", "--dry-run", "--config", str(config)], env=WIDE)

    assert result.exit_code == 2, result.output
    message = f"{config}:{second}: output: duplicate key 'output': already set on line {first}"
    assert message in result.stderr
    assert not (project / "out").exists()
    assert not (project / "elsewhere").exists()
