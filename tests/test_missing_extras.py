"""psycopg and openpyxl come with extras (`arsync[postgres]`, `arsync[xlsx]`): a run that needs
one that is not installed is told which extra to install, at the place that needs it.

`sys.modules[name] = None` makes Python refuse the import, as it would without the package."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arsync.errors import SourceConfigError
from arsync.extras import installed, missing_extra
from connector.erp.files.table import read_table
from connector.erp.sql.database import create_source_engine, resolve_url
from jobs.cli import app
from jobs.state.db import make_engine
from jobs.state.errors import StateUrlError

REPO = Path(__file__).resolve().parents[1]
POSTGRES_HINT = "pip install 'arsync[postgres]'"
XLSX_HINT = "pip install 'arsync[xlsx]'"


@pytest.fixture
def without_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)


@pytest.fixture
def without_openpyxl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)


def test_the_message_names_the_extra_and_the_command_to_install_it() -> None:
    assert missing_extra("xlsx", "reading ledger.xlsx") == (
        "reading ledger.xlsx needs the xlsx extra, which is not installed: "
        "pip install 'arsync[xlsx]'"
    )


def test_installed_finds_a_module_without_importing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "openpyxl", raising=False)

    assert installed("openpyxl")  # the dev extra pulls both extras in
    assert "openpyxl" not in sys.modules
    assert not installed("arsync_no_such_module")


@pytest.mark.usefixtures("without_psycopg")
def test_a_postgresql_state_database_without_the_driver_names_the_extra() -> None:
    with pytest.raises(StateUrlError) as raised:
        make_engine("postgresql://arsync:s3cret@db.internal/arsync")

    assert str(raised.value) == (
        "the state database postgresql+psycopg://arsync:***@db.internal/arsync needs the "
        f"postgres extra, which is not installed: {POSTGRES_HINT}"
    )


def test_a_postgresql_state_database_with_the_driver_gets_its_engine() -> None:
    engine = make_engine("postgresql://arsync:s3cret@db.internal/arsync")  # no connection yet

    assert engine.dialect.driver == "psycopg"


@pytest.mark.usefixtures("without_psycopg")
def test_a_postgresql_sql_source_without_the_driver_names_the_extra() -> None:
    url = resolve_url("postgresql://reader:pw@warehouse/finance")

    with pytest.raises(SourceConfigError) as raised:
        create_source_engine(url)

    assert str(raised.value) == (
        "the SQL source postgresql+psycopg://reader:***@warehouse/finance needs the postgres "
        f"extra, which is not installed: {POSTGRES_HINT}"
    )


@pytest.mark.usefixtures("without_psycopg")
def test_a_sqlite_state_database_needs_no_extra(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")

    assert engine.dialect.name == "sqlite"


def write_workbook(path: Path) -> None:
    from openpyxl import Workbook  # noqa: PLC0415 - written before the import is refused

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["customer_id", "name"])
    sheet.append(["C1", "Acme Corp"])
    workbook.save(path)


def test_an_xlsx_export_without_openpyxl_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "customers.xlsx"
    write_workbook(path)
    monkeypatch.setitem(sys.modules, "openpyxl", None)

    with pytest.raises(SourceConfigError) as raised:
        read_table(
            path, record_type="customers", encoding="utf-8", delimiter=",", max_lines_per_row=1
        )

    assert str(raised.value) == (
        f"reading customers.xlsx needs the xlsx extra, which is not installed: {XLSX_HINT}"
    )


def test_validate_names_the_xlsx_extra_at_the_files_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    mapping = tmp_path / "mappings/erp/generic_csv.yaml"
    text = mapping.read_text(encoding="utf-8")
    line = text.splitlines().index("    path: customers.csv") + 1
    mapping.write_text(text.replace("path: customers.csv", "path: customers.xlsx"))
    write_workbook(tmp_path / "examples/sample/customers.xlsx")
    monkeypatch.setitem(sys.modules, "openpyxl", None)

    result = CliRunner().invoke(
        app, ["validate", "--config", str(tmp_path / "config/arsync.yaml")], env={"COLUMNS": "1000"}
    )

    assert result.exit_code == 2, result.output
    assert (
        f"{mapping}:{line}: files.customers.path: reading customers.xlsx needs the xlsx extra, "
        f"which is not installed: {XLSX_HINT}"
    ) in [row.strip() for row in result.stderr.splitlines()]
