"""One sync run: pull, validate, score, map, plan. Only this module knows the order of steps."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import pandas as pd
import structlog

from arsync.ledger import Ledger, LedgerBuilder
from arsync.mapping import desired_values
from arsync.quarantine import Quarantine, QuarantineEntry
from arsync.yamlfile import ConfigError, ConfigProblem
from connector.crm.salesforce.client import SalesforceClient
from connector.erp.base import Source
from connector.erp.files.source import FileSource
from jobs.crm import Connect, CrmResult, offline, sync_crm
from jobs.progress import Reporter, Silent
from jobs.settings import RunSettings
from scoring import score_accounts

log = structlog.get_logger(__name__)


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1  # the run finished, but records were quarantined or failed
    CONFIG_ERROR = 2
    FATAL = 3  # the run could not finish: a source unreachable, a file missing


@dataclass(frozen=True)
class SyncResult:
    run_id: str
    as_of: dt.date
    data_as_of: dt.datetime | None
    ledger: Ledger
    quarantine: Quarantine
    scores: pd.DataFrame
    crm: CrmResult
    dry_run: bool
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def plan(self) -> pd.DataFrame:
        """The field values that would change (offline: every value the mapping plans)."""
        return self.crm.changes

    @property
    def exit_code(self) -> ExitCode:
        partial = len(self.quarantine) or self.crm.failed or self.crm.ambiguous
        return ExitCode.PARTIAL if partial else ExitCode.OK


def build_source(settings: RunSettings) -> Source:
    return FileSource(settings.app.source.path, settings.source_mapping)


def pull_ledger(source: Source, currencies: frozenset[str], progress: Reporter) -> LedgerBuilder:
    """Every record the source yields, into a builder; bad ones straight to the quarantine."""
    builder = LedgerBuilder(currencies=currencies)
    for item in progress.track(source.pull(), f"Reading {source.name}"):
        if isinstance(item, QuarantineEntry):
            builder.reject(item)
        else:
            builder.add(item.record, item.location, item.part_locations)
    return builder


@dataclass(frozen=True)
class LoadedLedger:
    """A pulled and validated ledger, its quarantine, and the dates it is scored for."""

    ledger: Ledger
    quarantine: Quarantine
    data_as_of: dt.datetime | None
    as_of: dt.date

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PARTIAL if len(self.quarantine) else ExitCode.OK


def load_ledger(
    settings: RunSettings,
    as_of: dt.date | None = None,
    progress: Reporter | None = None,
    today: dt.date | None = None,
    *,
    started_event: str = "sync.started",
) -> LoadedLedger:
    """Pull and validate the ledger; log `started_event`, each quarantined record, the counts.

    The as-of date is, in order: the one asked for, the date the ERP data is current to, today.
    """
    progress = progress or Silent()
    source = build_source(settings)
    data_as_of = source.data_as_of()
    as_of = as_of or (data_as_of.date() if data_as_of else today or dt.datetime.now(dt.UTC).date())
    log.info(
        started_event,
        source=source.name,
        as_of=as_of.isoformat(),
        data_as_of=data_as_of.isoformat() if data_as_of else None,
    )

    builder = pull_ledger(source, settings.app.currencies, progress)
    with progress.step("Validating the ledger"):
        ledger = builder.build()
    quarantine = builder.quarantine
    for entry in quarantine:
        log.warning(
            "ledger.record_quarantined",
            record_type=entry.record_type,
            record_id=entry.record_id,
            location=entry.location,
            rule=entry.rule,
            reason=entry.reason,
            action=entry.action.value,
        )
    log.info("ledger.built", **ledger.counts(), quarantined=len(quarantine))
    return LoadedLedger(ledger, quarantine, data_as_of, as_of)


def run_sync(
    settings: RunSettings,
    run_id: str,
    as_of: dt.date | None = None,
    progress: Reporter | None = None,
    today: dt.date | None = None,
    *,
    dry_run: bool = True,
    connect: Connect = SalesforceClient.connect,
) -> SyncResult:
    """Pull, validate, score, map, plan and (unless a dry run) push; write the outputs.

    The as-of date is, in order: the one asked for, the date the ERP data is current to, today.
    Without a `salesforce:` section a dry run plans offline: every mapped value, nothing read.
    """
    if not dry_run and settings.app.salesforce is None:
        raise ConfigError(
            [
                ConfigProblem(
                    settings.config_path,
                    None,
                    "salesforce",
                    "missing: arsync needs a Salesforce org to write to (or use --dry-run)",
                )
            ]
        )
    progress = progress or Silent()
    started = time.perf_counter()
    loaded = load_ledger(settings, as_of, progress, today)
    ledger, quarantine, as_of = loaded.ledger, loaded.quarantine, loaded.as_of

    with progress.step("Scoring accounts"):
        scores = score_accounts(ledger, as_of, settings.scoring, settings.currencies)
    log.info("scoring.finished", customers=len(scores))

    desired = desired_values(scores, settings.crm_mapping)
    if settings.app.salesforce is None:
        crm = offline(desired)
    else:
        with progress.step("Planning against Salesforce" if dry_run else "Writing to Salesforce"):
            crm = sync_crm(settings, desired, dry_run=dry_run, connect=connect)
    log.info(
        "plan.built",
        rows=len(crm.changes),
        accounts=crm.changes["customer_id"].nunique(),
        online=crm.online,
    )

    outputs = write_outputs(settings.app.output.dir, scores, crm, quarantine)
    result = SyncResult(
        run_id, as_of, loaded.data_as_of, ledger, quarantine, scores, crm, dry_run, outputs
    )
    statuses = crm.outcomes["status"].value_counts().to_dict()
    log.info(
        "sync.finished",
        status=result.exit_code.name.lower(),
        exit_code=int(result.exit_code),
        dry_run=dry_run,
        seconds=round(time.perf_counter() - started, 3),
        api_calls=sum(crm.api_calls.values()),
        **{f"accounts_{name}": int(count) for name, count in statuses.items()},
        **{f"{name}_file": str(path) for name, path in outputs.items()},
    )
    return result


def write_outputs(
    folder: Path, scores: pd.DataFrame, crm: CrmResult, quarantine: Quarantine
) -> dict[str, Path]:
    """Plan, outcomes, scores and quarantine as CSV, replacing those of the previous run."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ("plan", "outcomes", "scores", "quarantine")
    paths = {name: folder / f"{name}.csv" for name in names}
    crm.changes.to_csv(paths["plan"], index=False)
    crm.outcomes.to_csv(paths["outcomes"], index=False)
    scores.to_csv(paths["scores"], index=False)
    quarantine.write_csv(paths["quarantine"])
    return paths
