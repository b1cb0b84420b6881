"""Progress bars know their totals, and log lines print above them, never through them."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import structlog
from contract.harness import bar_of
from rich.console import Console
from rich.progress import Progress, Task

from arsync.quarantine import QuarantineEntry
from arsync.records import Customer
from arsync.yamlfile import load_model
from connector.erp.base import Cursors, Extent, Pulled, PulledItem, Source
from connector.erp.files.mapping import FileMapping
from connector.erp.files.source import FileSource
from jobs.logging import LogFormat, configure_logging
from jobs.progress import AmountColumn, Bars

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples/sample"
BALANCES = "customer_balances.csv"  # read after the pull, for the reconciliation: not in the bar
T = TypeVar("T")


def sample_source() -> FileSource:
    return FileSource(SAMPLE, load_model(FileMapping, ROOT / "mappings/erp/generic_csv.yaml"))


def test_a_file_export_is_measured_in_bytes_before_it_is_read() -> None:
    source = sample_source()
    sizes = sum(path.stat().st_size for path in SAMPLE.glob("*.csv") if path.name != BALANCES)

    extent = source.extent()

    assert extent is not None
    assert (extent.total, extent.unit) == (sizes, "bytes")


def test_the_pull_bar_climbs_file_by_file_to_its_total() -> None:
    bar = bar_of(sample_source())

    sizes = sum(path.stat().st_size for path in SAMPLE.glob("*.csv") if path.name != BALANCES)
    assert bar.unit == "bytes"
    progress = bar.seen
    assert {total for total, _ in progress} == {sizes}
    done = [done for _, done in progress]
    assert done == sorted(done)
    assert done[-1] == sizes
    assert len(set(done)) == 6  # one step per file of the sample


class CountingApi(Source):
    """An API source that learns each stream's record count from its first page."""

    name = "api"

    def __init__(self) -> None:
        self.known: int | None = None

    def pull(self, since: Cursors | None = None) -> Iterator[PulledItem]:
        self.known = 3  # the first page of customers says: 3 in all
        for number in range(3):
            yield Pulled(Customer(id=f"C{number}", name=f"C {number}", currency="USD"), "api")
        self.known = 3 + 2  # invoices' first page: 2 more
        for number in range(2):
            yield QuarantineEntry("invoice", f"I{number}", "api", "invalid_record", "bad")

    def extent(self) -> Extent | None:
        return None if self.known is None else Extent(self.known, "records")

    def data_as_of(self) -> dt.datetime | None:
        return None


def test_an_api_bar_counts_records_against_the_totals_the_streams_report() -> None:
    bar = bar_of(CountingApi())

    assert bar.unit == "records"
    assert bar.seen == [(3, 1), (3, 2), (3, 3), (5, 4), (5, 5)]


def render(unit: str, completed: int, total: int | None) -> str:
    progress = Progress()
    task_id = progress.add_task("x", total=total, unit=unit, completed=completed)
    task: Task = progress.tasks[task_id]
    return AmountColumn().render(task).plain


def test_amounts_show_in_the_unit_of_the_bar() -> None:
    assert render("bytes", 1_500_000, 3_000_000) == "1.5 MB/3.0 MB"
    assert render("records", 1234, 5678) == "1,234/5,678 records"
    assert render("records", 1234, None) == "1,234 records"


def test_a_log_line_during_a_live_bar_prints_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    original = io.StringIO()
    monkeypatch.setattr(sys, "stderr", original)
    configure_logging(LogFormat.JSON)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=60, soft_wrap=True)  # as the CLI

    with Bars(console) as bars:
        for n in bars.track(range(3), "Reading", total=lambda: 3):
            structlog.get_logger("t").info("progress.logged_while_live", n=n)

    assert "progress.logged_while_live" not in original.getvalue()
    lines = [json.loads(raw) for raw in _printed_lines(screen) if "logged_while_live" in raw]
    assert [line["n"] for line in lines] == [0, 1, 2]  # each whole, on a line of its own
    assert sys.stderr is original  # the bars gave stderr back


def _printed_lines(screen: io.StringIO) -> list[str]:
    """The screen's text without the cursor and colour sequences the live display writes."""
    text = screen.getvalue()
    lines = []
    for raw in text.replace("\r", "\n").splitlines():
        start = raw.find("{")
        if start >= 0:
            lines.append(raw[start : raw.rfind("}") + 1])
    return lines
