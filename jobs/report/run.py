"""`arsync report`, the job: load as a sync run does (`jobs.load`), read the score history,
build the report, write its files, and log each step.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from jobs import late_risk
from jobs.late_risk import judge_late_risk
from jobs.load import LoadedLedger, load_ledger
from jobs.progress import Reporter, Silent
from jobs.report.build import Report, build_report
from jobs.report.files import write_report
from jobs.report.history import History, read_history
from jobs.report.options import DEFAULT_COMPARE_DAYS
from jobs.settings import RunSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReportResult:
    loaded: LoadedLedger
    report: Report
    outputs: dict[str, Path]


def run_report(
    settings: RunSettings,
    *,
    out_dir: Path | None = None,
    as_of: dt.date | None = None,
    compare_days: int = DEFAULT_COMPARE_DAYS,
    progress: Reporter | None = None,
    today: dt.date | None = None,
    history: bool = True,
) -> ReportResult:
    """Pull and validate as a sync run does, read the score history from the state store
    (unless `history` is False), build the report, write it to `out_dir`.

    `out_dir` defaults to the output folder of the settings.
    """
    progress = progress or Silent()
    started = time.perf_counter()
    loaded = load_ledger(settings, as_of, progress, today, started_event="report.started")
    with progress.step("Reading the score history"):
        past = (
            read_history(settings.app.state.url, loaded.as_of, migration_days=compare_days)
            if history
            else History(note="the score history was not read (--no-history)")
        )
    judged = None
    if late_risk.wanted(settings.scoring):
        with progress.step("Testing the late-payment model"):
            judged = judge_late_risk(loaded.ledger, loaded.as_of, settings.scoring)
    with progress.step("Scoring and summarising"):
        report = build_report(
            loaded.ledger,
            loaded.as_of,
            settings,
            compare_days=compare_days,
            data_as_of=loaded.data_as_of,
            quarantined=len(loaded.quarantine),
            accounting={s: c.as_dict() for s, c in loaded.accounting.items()},
            history=past,
            balances=loaded.balances,
            late_risk=judged,
        )
    log.info(
        "report.built",
        customers=int(report.kpi("customers")),
        worklist=len(report.worklist),
        worst_movers=len(report.worst_movers),
        compared_with=report.compared_with.isoformat(),
        trend_days=len(report.trend),
        compared_snapshot=report.base_day.isoformat() if report.base_day else None,
    )
    outputs = write_report(report, out_dir or settings.app.output.dir)
    log.info(
        "report.written",
        status=loaded.exit_code.name.lower(),
        exit_code=int(loaded.exit_code),
        seconds=round(time.perf_counter() - started, 3),
        **{f"{name}_file": str(path) for name, path in outputs.items()},
    )
    return ReportResult(loaded, report, outputs)
