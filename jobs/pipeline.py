"""One sync run: load (`jobs.load`), check, read Salesforce, score, plan, write, record.
Only this module knows the order of the steps; each stage is a function of its own."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import structlog

from arsync import parallel
from arsync.errors import FatalError
from arsync.frame_csv import write_safe_csv
from arsync.ledger import Ledger
from arsync.mapping import desired_values, match_keys
from arsync.quarantine import Quarantine
from arsync.redact import redact
from arsync.yamlfile import ConfigError, ConfigProblem
from connector.crm.salesforce.changes import ChangeOutcome
from jobs import late_risk
from jobs.breaker import (
    PORTFOLIO_OPEN,
    Trip,
    check_breaker,
    enforce,
    portfolio_open_minor,
    written_balance,
)
from jobs.crm import (
    Connect,
    CrmConnection,
    CrmRead,
    CrmResult,
    Pushed,
    connect_salesforce,
    offline,
    open_and_read,
)
from jobs.crm_stage import CrmPlan, plan_crm, write_crm
from jobs.exit_codes import ExitCode
from jobs.late_risk import LateRisk, judge_late_risk
from jobs.load import RECORD_TYPES, LoadedLedger, load_ledger
from jobs.outcomes import accounts, others
from jobs.progress import Reporter, Silent
from jobs.reconciliation import (
    UnreconciledPortfolioError,
    enforce_portfolio,
    held_outcomes,
    out_of_line,
)
from jobs.related import confirmed_records
from jobs.settings import RunSettings
from jobs.state import FULL_PULL, FinishedRun, NextPull, StateStore
from scoring import score_accounts
from scoring.model_scores import MODEL

log = structlog.get_logger(__name__)


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
    loaded: LoadedLedger | None = None
    trips: tuple[Trip, ...] = ()  # the circuit breaker's, accepted or (a dry run) only warned
    portfolio_open_minor: int = 0  # reporting currency: what the next run's breaker compares
    crm_read: CrmRead | None = None  # what was read before scoring (owners: for the history)
    late_risk: LateRisk | None = None  # the late-payment model's backtest and gate (enabled)

    @classmethod
    def of(
        cls,
        run_id: str,
        *,
        loaded: LoadedLedger,
        scored: Scored,
        safety: SafetyCheck,
        online: Online | None,
        crm: CrmResult,
        outputs: dict[str, Path],
        dry_run: bool,
    ) -> SyncResult:
        """A completed run, from what its stages returned."""
        return cls(
            run_id,
            loaded.as_of,
            loaded.data_as_of,
            loaded.ledger,
            loaded.quarantine,
            scored.scores,
            crm,
            dry_run,
            outputs,
            loaded,
            safety.trips,
            safety.portfolio_open_minor,
            crm_read=online.read if online is not None else None,
            late_risk=scored.late_risk,
        )

    @property
    def plan(self) -> pd.DataFrame:
        """The field values that would change (offline: every value the mapping plans)."""
        return self.crm.changes

    @property
    def exit_code(self) -> ExitCode:
        partial = bool(self.quarantine.kept_aside() or self.crm.failed or self.crm.ambiguous)
        partial = partial or bool(self.loaded is not None and self.loaded.balances.problems)
        # A dry run past a breaker limit: its real run would stop (exit 3); not "all good".
        partial = partial or (self.dry_run and bool(self.trips))
        return ExitCode.PARTIAL if partial else ExitCode.OK


class OlderDataError(FatalError):
    """The ERP data is older than the data the CRM already shows: writing it would turn
    fresher figures back into staler ones under a stamp that says otherwise."""


def refuse_older_data(state: StateStore, data_as_of: dt.datetime | None) -> None:
    """Stop before any write when this run's data is older than the last written run's."""
    last = state.runs.last_success()
    if last is None or last.data_as_of is None or data_as_of is None:
        return
    if data_as_of < last.data_as_of:
        raise OlderDataError(
            f"the ERP data is as of {data_as_of.isoformat()}, older than the data of run "
            f"{last.run_id} ({last.data_as_of.isoformat()}), which Salesforce already shows; "
            "nothing was written. If this export is meant (a restore), rerun with "
            "--allow-older-data"
        )


def run_sync(
    settings: RunSettings,
    run_id: str,
    as_of: dt.date | None = None,
    progress: Reporter | None = None,
    today: dt.date | None = None,
    *,
    dry_run: bool = True,
    connect: Connect = connect_salesforce,
    state: StateStore | None = None,
    full: bool = False,
    allow_older_data: bool = False,
    accept_large_change: bool = False,
) -> SyncResult:
    """Pull, validate, score, map, plan and (unless a dry run) push; write the outputs.

    The as-of date is, in order: the one asked for, the date the ERP data is current to, today.
    Without a `salesforce:` section a dry run plans offline: every mapped value, nothing read.
    With a state store, the run holds the sync lock from start to end, is recorded as running
    at once, and its end (counts, quarantine, outcomes, scores, watermarks) in one transaction.
    """
    require_org(settings, dry_run=dry_run)
    progress = progress or Silent()
    started_at = dt.datetime.now(dt.UTC)
    reached = Reached()  # how far the run got: a failed run records (and writes) that much
    day = as_of or today or started_at.date()  # recorded until the data's as-of is known
    with recorded(
        state, settings, run_id, reached, dry_run=dry_run, started_at=started_at, day=day
    ):
        started = time.perf_counter()
        loaded = reached.loaded = load_ledger(
            settings, as_of, progress, today, state=state, full=full, started_at=started_at
        )
        check_data(state, loaded, dry_run=dry_run, allow_older_data=allow_older_data)
        online = read_salesforce(settings, loaded.ledger, progress, connect)
        scored = score(settings, loaded, online, progress)
        reached.scores = scored.scores
        safety = check_change(
            settings, loaded, scored, state, dry_run=dry_run, accepted=accept_large_change
        )
        with crm_step(progress, online, dry_run=dry_run):
            planned = plan_writes(settings, loaded, scored, online, state)
            crm = reached.crm = write_salesforce(
                settings, loaded, planned, online, dry_run=dry_run, reached=reached
            )
        outputs = reached.outputs = write_run_outputs(settings, loaded, scored, crm)
        result = SyncResult.of(
            run_id,
            loaded=loaded,
            scored=scored,
            safety=safety,
            online=online,
            crm=crm,
            outputs=outputs,
            dry_run=dry_run,
        )
        log_finished(result, seconds=time.perf_counter() - started)
        if state is not None:
            record_run(state, result)  # all or nothing: if it raises, nothing of it was saved
    return result


def require_org(settings: RunSettings, *, dry_run: bool) -> None:
    """A real run needs an org to write to: refused before anything is read."""
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


@contextmanager
def recorded(
    state: StateStore | None,
    settings: RunSettings,
    run_id: str,
    reached: Reached,
    *,
    dry_run: bool,
    started_at: dt.datetime,
    day: dt.date,
) -> Iterator[None]:
    """The run's frame in the state store: the sync lock held throughout, the run recorded
    as running at once and, if it raises, as failed with what it reached (`record_failure`).
    Without a state store, nothing."""
    if state is None:
        yield
        return
    with state.locks.hold(run_id, lease_hours=settings.app.state.lock_lease_hours):
        state.begin_run(
            run_id,
            dry_run=dry_run,
            as_of=day,
            config_fingerprint=config_fingerprint(settings),
            started_at=started_at,
        )
        try:
            yield
        except BaseException as error:
            record_failure(state, run_id, error, reached, settings.app.output.dir)
            raise


@dataclass
class Reached:
    """How far a run got, filled in step by step: what a run that fails records of itself.

    `loaded` once the ledger is loaded (the data's as-of date, the rows read), `scores` once
    scored, `pushed` the Account push and `records` the invoice and Task writes as far as
    Salesforce confirmed them, batch by batch; `crm` once every CRM write is done, and
    `outputs` once the out/ files are written.
    """

    loaded: LoadedLedger | None = None
    scores: pd.DataFrame | None = None
    pushed: Pushed = field(default_factory=Pushed)
    records: list[ChangeOutcome] = field(default_factory=list)
    crm: CrmResult | None = None
    outputs: dict[str, Path] | None = None

    def crm_result(self) -> CrmResult | None:
        """What the CRM stage did, or as far as Salesforce confirmed it (None: no plan)."""
        if self.crm is not None:
            return self.crm
        crm = self.pushed.result()
        if crm is not None and self.records:
            outcomes = [crm.outcomes, confirmed_records(self.records)]
            return replace(crm, outcomes=pd.concat(outcomes, ignore_index=True))
        return crm


def record_failure(
    state: StateStore, run_id: str, error: BaseException, reached: Reached, out_dir: Path
) -> None:
    """The end of a failed run: its error, and what it did before it stopped.

    The data's as-of date once the ledger is loaded; before that it stays unknown (no
    accounting recorded: `RunRecord.as_of_known`), never the day the run failed. Once it
    planned against Salesforce, the Account outcomes and the values Salesforce confirmed
    (so the next run knows its own writes from a person's edits), their counts, and the
    outputs (plan, confirmed outcomes, conflicts, scores, quarantine). Nothing moves the
    watermarks: the next run redoes the work.
    """
    loaded = reached.loaded
    crm = reached.crm_result()
    state.finish_run(
        FinishedRun(
            run_id,
            status="failed",
            finished_at=dt.datetime.now(dt.UTC),
            counts=failed_counts(loaded, crm) if crm is not None else {},
            as_of=loaded.as_of if loaded else None,
            data_as_of=loaded.data_as_of if loaded else None,
            accounting=(
                {stream: count.as_dict() for stream, count in loaded.accounting.items()}
                if loaded
                else None
            ),
            error=redact(f"{type(error).__name__}: {error}")[:2000],
            reconciliation=out_of_line(error.check)
            if isinstance(error, UnreconciledPortfolioError)
            else (),
            outcomes=_rows(crm.outcomes) if crm is not None else (),
            written=crm.written if crm is not None else (),
        )
    )
    if crm is None or loaded is None or reached.scores is None or reached.outputs is not None:
        return  # nothing planned, or the run's own outputs are written already
    try:
        checked = loaded.balances.result
        write_outputs(
            out_dir,
            reached.scores,
            crm,
            loaded.quarantine,
            reconciliation=checked.customers if checked is not None else None,
        )
    except Exception as failure:  # the run's own error is the one to raise, not this
        log.warning("sync.failed_run_outputs_not_written", error=redact(str(failure))[:500])


def failed_counts(loaded: LoadedLedger | None, crm: CrmResult) -> dict[str, int]:
    """A failed run's counts, as far as it got: the ledger, the plan, and the Accounts
    Salesforce confirmed (`accounts_written`, `accounts_failed`, ... as a completed run)."""
    return {
        **(loaded.ledger.counts() if loaded is not None else {}),
        "field_changes": len(crm.changes),
        "accounts_changed": int(crm.changes["customer_id"].nunique()),
        "field_conflicts": len(crm.conflicts),
        **_outcome_counts(crm.outcomes),
        "api_calls": sum(crm.api_calls.values()),
    }


def record_run(state: StateStore, result: SyncResult) -> None:
    """The end of a completed run: what it did, and where the next one starts."""
    loaded = result.loaded
    assert loaded is not None  # noqa: S101 - set by run_sync
    kept = [
        {
            "source": loaded.source_name,
            "record_type": RECORD_TYPES[type(item.record)],
            "record_id": item.record.id,
            "payload": item.record.model_dump(mode="json"),
            "location": item.location,
        }
        for item in loaded.pulled
    ]
    snapshots = snapshot_frame(result)
    next_pull = NextPull(
        watermarks={(loaded.source_name, s): c for s, c in loaded.cursors.items()},
        records=kept,
        forget_records=[(loaded.source_name, kind, key) for kind, key in loaded.forgotten],
        # A full pull replaces what an earlier one kept, even when it found nothing at all:
        # records deleted in the ERP must not outlive it.
        replace_records_of=None if loaded.incremental else loaded.source_name,
    )
    state.finish_run(
        FinishedRun(
            result.run_id,
            status="succeeded" if result.exit_code is ExitCode.OK else "partial",
            finished_at=dt.datetime.now(dt.UTC),
            counts=run_counts(result),
            as_of=result.as_of,
            data_as_of=result.data_as_of,
            quarantine=list(result.quarantine),
            outcomes=_rows(result.crm.outcomes),
            snapshots=[] if result.dry_run else _rows(snapshots),  # history is of real runs
            written=result.crm.written,
            accounting={stream: count.as_dict() for stream, count in loaded.accounting.items()},
            reconciliation=out_of_line(loaded.balances.result),
            model=result.late_risk.summary() if result.late_risk is not None else None,
            next_pull=next_pull,
        )
    )


SNAPSHOT_SCORE_COLUMNS = (
    "customer_id",
    "health_score",
    "risk_tier",
    "open_balance",
    "overdue_balance",
    "segment",
)
SNAPSHOT_PROMISE_COLUMNS = ("promise_status", "promise_amount", "promise_date")


def snapshot_frame(result: SyncResult) -> pd.DataFrame:
    """The day's score snapshot: per customer the scores, what scoring judged of the CRM's
    promise and dispute, and the Account's owner from the CRM read.

    What the run did not read is None, not "none": a promise source the mapping lacks, or an
    owner of an Account not matched (or of a run without the CRM), is unknown, not absent.
    """
    scores = result.scores
    frame = scores[list(SNAPSHOT_SCORE_COLUMNS)].assign(snapshot_date=result.as_of)
    read = result.crm_read
    promises = read is not None and read.promises_read
    for name in SNAPSHOT_PROMISE_COLUMNS:
        frame[name] = scores[name] if promises and name in scores else None
    disputes = read is not None and read.disputes_read and "crm_dispute_open" in scores
    frame["crm_dispute_open"] = scores["crm_dispute_open"] if disputes else None
    owners = read.owners if read is not None else None
    if owners is not None and len(owners):
        by_customer = owners.drop_duplicates("customer_id").set_index("customer_id")
        frame["owner_id"] = frame["customer_id"].map(by_customer["owner_id"])
        frame["owner_name"] = frame["customer_id"].map(by_customer["owner_name"])
    else:
        frame["owner_id"] = frame["owner_name"] = None
    return frame.astype({"owner_id": object, "owner_name": object})


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def run_counts(result: SyncResult) -> dict[str, int]:
    accounting = result.loaded.accounting.values() if result.loaded else ()
    return {
        **result.ledger.counts(),
        "quarantined": len(result.quarantine),
        "rows_read": sum(count.read for count in accounting),
        "rows_merged": sum(count.merged for count in accounting),
        "field_changes": len(result.crm.changes),
        "accounts_changed": int(result.crm.changes["customer_id"].nunique()),
        "field_conflicts": len(result.crm.conflicts),
        **_outcome_counts(result.crm.outcomes),
        "api_calls": sum(result.crm.api_calls.values()),
        PORTFOLIO_OPEN: result.portfolio_open_minor,
        "breaker_trips": len(result.trips),
        **(result.loaded.balances.counts() if result.loaded else {}),
        # 1: everything was read (no watermarks used), so deletions in the ERP were seen. The
        # worker's periodic full pull is due when no completed real run says 1 recently.
        FULL_PULL: int(result.loaded is not None and not result.loaded.incremental),
    }


def _outcome_counts(outcomes: pd.DataFrame) -> dict[str, int]:
    """The Accounts by status (`accounts_written`, `accounts_unmatched`, ...); invoice and
    Task changes by object, action and status (`Task_create_written`)."""
    records = others(outcomes)
    keys = records["object"] + "_" + records["action"] + "_" + records["status"]
    return {
        **{f"accounts_{name}": int(n) for name, n in _statuses(outcomes).items()},
        **{str(key): int(n) for key, n in keys.value_counts().items()},
    }


def _statuses(outcomes: pd.DataFrame) -> dict[str, int]:
    """The Accounts' outcomes by status."""
    return {str(k): int(n) for k, n in accounts(outcomes)["status"].value_counts().items()}


def config_fingerprint(settings: RunSettings) -> str:
    """Which settings a run used: a digest of every settings file, in order."""
    digest = hashlib.sha256()
    for path in [settings.config_path, *settings.files()]:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def check_data(
    state: StateStore | None, loaded: LoadedLedger, *, dry_run: bool, allow_older_data: bool
) -> None:
    """Stop before Salesforce is read when the data must not be written: older than the last
    written run's (`refuse_older_data`) or a portfolio the ERP's balances do not agree with."""
    if state is not None and not dry_run and not allow_older_data:
        refuse_older_data(state, loaded.data_as_of)
    enforce_portfolio(loaded.balances, dry_run=dry_run)


@dataclass(frozen=True)
class Online:
    """The run's Salesforce connection and its one read, made before scoring."""

    connection: CrmConnection
    read: CrmRead


def read_salesforce(
    settings: RunSettings, ledger: Ledger, progress: Reporter, connect: Connect
) -> Online | None:
    """Log in, check the mapping against describe(), and read everything the plan needs
    (`jobs.crm.open_and_read`); None without a `salesforce:` section (offline)."""
    if settings.app.salesforce is None:
        return None
    with progress.step("Reading Salesforce"):
        keys = match_keys(ledger.customers, settings.crm_mapping.match)
        connection, read = open_and_read(settings, keys, connect)
    return Online(connection, read)


@dataclass(frozen=True, eq=False)  # DataFrames have no single truth value to compare by
class Scored:
    """Every customer's scores, and the late-payment model's backtest and gate (when on)."""

    scores: pd.DataFrame
    late_risk: LateRisk | None = None


def score(
    settings: RunSettings, loaded: LoadedLedger, online: Online | None, progress: Reporter
) -> Scored:
    """Judge the late-payment model (when wanted), then score every customer, with what
    people recorded in Salesforce (promises, disputes) when it was read."""
    judged = None
    if late_risk.wanted(settings.scoring):
        with progress.step("Testing the late-payment model"):
            judged = judge_late_risk(loaded.ledger, loaded.as_of, settings.scoring)
    with progress.step("Scoring accounts"):
        scores = score_accounts(
            loaded.ledger,
            loaded.as_of,
            settings.scoring,
            settings.currencies,
            data_as_of=loaded.data_as_of,
            crm=online.read.inputs if online is not None else None,
            late_risk=judged.gated_risk if judged is not None else None,
        )
    log.info(
        "scoring.finished",
        customers=len(scores),
        by_model=int((scores["score_basis"] == MODEL).sum()),
    )
    return Scored(scores, judged)


@dataclass(frozen=True)
class SafetyCheck:
    """The circuit breaker's verdict: its trips (accepted, or a dry run's, only warned) and
    the portfolio's open balance in minor units, which the next run's breaker compares."""

    trips: tuple[Trip, ...]
    portfolio_open_minor: int


def check_change(
    settings: RunSettings,
    loaded: LoadedLedger,
    scored: Scored,
    state: StateStore | None,
    *,
    dry_run: bool,
    accepted: bool,
) -> SafetyCheck:
    """The circuit breaker, after the scores and before anything is written: stop a run
    whose rows or portfolio moved past the safety limits since the last written run."""
    currency = settings.app.reporting_currency
    open_now = portfolio_open_minor(scored.scores, currency)
    open_before, before_run = written_balance(state)
    trips = check_breaker(
        loaded.accounting,
        open_now,
        open_before,
        settings.app.safety,
        currency=currency,
        before_run=before_run,
    )
    enforce(trips, dry_run=dry_run, accepted=accepted)
    return SafetyCheck(tuple(trips), open_now)


@dataclass(frozen=True, eq=False)  # DataFrames have no single truth value to compare by
class Planned:
    """What the run means to write: the customers held back (their balances do not
    reconcile), the mapped values of the others, and (with Salesforce) every object's plan."""

    held: frozenset[str]
    desired: pd.DataFrame
    plan: CrmPlan | None = None  # None offline: the desired values are the plan


def plan_writes(
    settings: RunSettings,
    loaded: LoadedLedger,
    scored: Scored,
    online: Online | None,
    state: StateStore | None,
) -> Planned:
    """Map the scores to field values and plan every object from the run's one read
    (`jobs.crm_stage.plan_crm`); a customer the ERP does not agree with is not written, nor
    what rolls it up."""
    held = loaded.balances.held(loaded.ledger, settings.crm_mapping)
    scores = scored.scores
    writable = scores[~scores["customer_id"].isin(held)] if held else scores
    desired = desired_values(writable, settings.crm_mapping)
    if online is None:
        return Planned(held, desired)
    plan = plan_crm(
        settings,
        online.connection,
        online.read,
        desired,
        scores=writable,
        ledger=loaded.ledger,
        as_of=loaded.as_of,
        last_written=state.written.values() if state is not None else None,
        held=held,
        quarantined_invoices=frozenset(
            e.record_id for e in loaded.quarantine if e.record_type == "invoice" and e.record_id
        ),
    )
    return Planned(held, desired, plan)


def write_salesforce(
    settings: RunSettings,
    loaded: LoadedLedger,
    planned: Planned,
    online: Online | None,
    *,
    dry_run: bool,
    reached: Reached | None = None,
) -> CrmResult:
    """Write the plan unless dry (`jobs.crm_stage.write_crm`), or offline take the desired
    values as the plan; the held customers' outcomes added. `reached` follows the writes
    batch by batch, for a run that stops half-way."""
    reached = reached or Reached()
    if planned.plan is None or online is None:
        crm = offline(planned.desired)
    else:
        crm = write_crm(
            settings,
            online.connection,
            planned.plan,
            dry_run=dry_run,
            pushed=reached.pushed,
            on_confirmed=reached.records.extend,
        )
    if planned.held:
        unwritten = held_outcomes(loaded.balances, planned.held)
        crm = replace(crm, outcomes=pd.concat([crm.outcomes, unwritten], ignore_index=True))
    log.info(
        "plan.built",
        rows=len(crm.changes),
        accounts=crm.changes["customer_id"].nunique(),
        online=crm.online,
    )
    return crm


def crm_step(
    progress: Reporter, online: Online | None, *, dry_run: bool
) -> AbstractContextManager[object]:
    """The progress step of planning and writing against Salesforce (offline: none)."""
    if online is None:
        return nullcontext()
    return progress.step("Planning against Salesforce" if dry_run else "Writing to Salesforce")


def write_run_outputs(
    settings: RunSettings, loaded: LoadedLedger, scored: Scored, crm: CrmResult
) -> dict[str, Path]:
    """The run's out/ files (`write_outputs`): plan, outcomes, scores, quarantine, and the
    reconciliation when the run compared the ERP's balances."""
    return write_outputs(
        settings.app.output.dir,
        scored.scores,
        crm,
        loaded.quarantine,
        reconciliation=reconciled(loaded),
    )


def reconciled(loaded: LoadedLedger) -> pd.DataFrame | None:
    """Each customer's figures against the ERP's balance report, when the run compared them."""
    checked = loaded.balances.result
    return checked.customers if checked is not None else None


def log_finished(result: SyncResult, *, seconds: float) -> None:
    crm = result.crm
    statuses = _statuses(crm.outcomes)
    log.info(
        "sync.finished",
        status=result.exit_code.name.lower(),
        exit_code=int(result.exit_code),
        dry_run=result.dry_run,
        seconds=round(seconds, 3),
        api_calls=sum(crm.api_calls.values()),
        **{f"accounts_{name}": int(count) for name, count in statuses.items()},
        **{f"{name}_file": str(path) for name, path in result.outputs.items()},
    )


def write_outputs(
    folder: Path,
    scores: pd.DataFrame,
    crm: CrmResult,
    quarantine: Quarantine,
    *,
    reconciliation: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Plan, outcomes, scores and quarantine as CSV, replacing those of the previous run; the
    reconciliation's figures per customer when the run compared them (else the previous
    run's file is removed, so that no stale figures are read as this run's)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ("plan", "outcomes", "conflicts", "scores", "quarantine")
    paths = {name: folder / f"{name}.csv" for name in names}
    # Invoice and Task outcomes went to records.csv before outcomes.csv listed every object:
    # an old one left there would read as this run's.
    (folder / "records.csv").unlink(missing_ok=True)
    checked = folder / "reconciliation.csv"
    if reconciliation is not None:
        write_safe_csv(reconciliation, checked)
        paths["reconciliation"] = checked
    else:
        checked.unlink(missing_ok=True)
    # write_safe_csv: the bytes of safe_frame(...).to_csv(..., index=False), so names and other
    # ERP text do not run as formulas in a spreadsheet, written column-wise (plan.csv: 1.3M rows).
    # The two big files (the plan's rows, the scores' columns) are written on two threads:
    # most of the work is Arrow's, which lets go of the interpreter.
    frames = [
        (crm.changes, paths["plan"]),
        (scores, paths["scores"]),
        (crm.outcomes, paths["outcomes"]),
        (crm.conflicts, paths["conflicts"]),
    ]
    parallel.each(lambda item: write_safe_csv(*item), frames, rows=sum(len(f) for f, _ in frames))
    quarantine.write_csv(paths["quarantine"])
    return paths
