"""The pipeline's log events, captured with structlog's own test helper."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from factories import customer, invoice
from structlog.testing import capture_logs

from arsync.ledger import LedgerBuilder
from arsync.quarantine import QuarantineEntry
from connector.erp.base import Cursors, Pulled, PulledItem, Source
from jobs.exit_codes import ExitCode
from jobs.load import pull_ledger
from jobs.pipeline import run_sync
from jobs.progress import Silent
from jobs.settings import OutputSettings, load_run_settings

ROOT = Path(__file__).resolve().parents[1]


class ListSource(Source):
    name = "list"

    def __init__(self, items: list[PulledItem]) -> None:
        self.items = items

    def pull(self, since: Cursors | None = None) -> Iterator[PulledItem]:
        yield from self.items

    def data_as_of(self) -> dt.datetime | None:
        return None


def test_pull_sends_records_to_the_builder_and_rejections_to_the_quarantine() -> None:
    rejected = QuarantineEntry("invoice", "I9", "x.csv:9", "invalid_record", "column 'Amount'")
    source = ListSource(
        [
            Pulled(customer("C1"), "c.csv:2"),
            rejected,
            Pulled(invoice("I1", "10", issued="2026-01-01", due="2026-01-31"), "i.csv:2"),
        ]
    )

    builder: LedgerBuilder = pull_ledger(source, frozenset({"USD"}), Silent())
    ledger = builder.build()

    assert ledger.invoices["invoice_id"].tolist() == ["I1"]
    assert list(builder.quarantine) == [rejected]


def test_run_logs_one_event_per_fact_with_counts(tmp_path: Path) -> None:
    shipped = load_run_settings(ROOT / "config/arsync.yaml")
    app = shipped.app.model_copy(update={"output": OutputSettings(dir=tmp_path)})
    settings = dataclasses.replace(shipped, app=app)

    with capture_logs() as logs:
        result = run_sync(settings, "run-1")

    events = [e["event"] for e in logs]
    assert events[0] == "sync.started"
    assert events[-1] == "sync.finished"
    built = next(e for e in logs if e["event"] == "ledger.built")
    assert built["customers"] == len(result.scores)
    assert built["quarantined"] == 0
    assert result.exit_code is ExitCode.OK
    assert (tmp_path / "plan.csv").is_file()
