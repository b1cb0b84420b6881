"""A run scored as of a day outside the data says so, with the dates (issue 16, item 1)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jobs.as_of_check import as_of_warning
from jobs.cli import app

ROOT = Path(__file__).resolve().parents[1]
DATA_AS_OF = dt.datetime(2026, 11, 20, 23, tzinfo=dt.UTC)  # the sample's manifest
FIRST_INVOICE = dt.date(2024, 11, 20)  # the sample's earliest issue date


@pytest.fixture
def config(tmp_path: Path) -> Path:
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path / "config/arsync.yaml"


def dry_run(config: Path, *extra: str) -> tuple[str, list[dict[str, Any]]]:
    result = CliRunner().invoke(
        app, ["--log-format", "json", "run", "--dry-run", "--config", str(config), *extra]
    )
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return result.stdout, [e for e in events if e["event"] == "ledger.as_of_outside_data"]


@pytest.mark.model  # the model's step once crashed on a ledger with no invoice yet
def test_as_of_years_before_the_data_warns_that_every_score_reads_as_new(config: Path) -> None:
    output, [event] = dry_run(config, "--as-of", "2000-01-01")

    expected = (
        "scored as of 2000-01-01, before the first invoice (2024-11-20): no customer has any "
        "history then, so every score reads as a new customer's"
    )
    assert event["reason"] == expected
    assert event["as_of"] == "2000-01-01"
    assert f"Warning: {expected}" in " ".join(output.split())


def test_as_of_after_the_export_warns_that_later_payments_are_missing(config: Path) -> None:
    output, [event] = dry_run(config, "--as-of", "2027-03-01")

    assert event["reason"].startswith(
        "scored as of 2027-03-01, after the ERP data was current (2026-11-20)"
    )
    assert "Warning: scored as of 2027-03-01" in output


def test_the_datas_own_as_of_date_gives_no_warning(config: Path) -> None:
    output, events = dry_run(config)

    assert events == []
    assert "Warning" not in output


@pytest.mark.parametrize(
    ("as_of", "warned"),
    [
        (FIRST_INVOICE - dt.timedelta(days=1), True),
        (FIRST_INVOICE, False),
        (DATA_AS_OF.date(), False),
        (DATA_AS_OF.date() + dt.timedelta(days=1), True),
    ],
)
def test_the_edges_are_the_first_invoice_and_the_datas_day(as_of: dt.date, warned: bool) -> None:
    assert (as_of_warning(as_of, FIRST_INVOICE, DATA_AS_OF) is not None) is warned


def test_without_invoices_or_a_data_time_nothing_is_claimed() -> None:
    assert as_of_warning(dt.date(2000, 1, 1), None, None) is None
