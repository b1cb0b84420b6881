"""Runs, and what each run produced that is its own: the quarantine, one outcome per Account,
the customers out of line with the ERP's balances, and the late-payment model's figures.

Reads go through `Runs` (`store.runs`); `begin`, `abandon_stale`, `finish` and
`keep_produced` write inside the transaction `StateStore` opens, so a run's end is recorded
with the other parts' rows or not at all.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from arsync.quarantine import Action, QuarantineEntry
from arsync.reconcile import CUSTOMER_COLUMNS
from jobs.outcomes import OUTCOME_COLUMNS
from jobs.state import cells
from jobs.state.bulk import bulk_insert
from jobs.state.errors import RunStateError
from jobs.state.finished import FinishedRun
from jobs.state.models import (
    COMPLETED_STATUSES,
    Outcome,
    QuarantineRow,
    ReconciliationRow,
    Run,
)
from jobs.state.sessions import Sessions

RECONCILIATION_COLUMNS: Final = (*CUSTOMER_COLUMNS, "figure")  # arsync.reconcile's, and the figure
# The run count that says a run read everything, watermarks unused, so it saw deletions: 1 or 0
# (runs recorded before it was counted have none, and are not taken for full pulls).
FULL_PULL: Final = "full_pull"

LiveRunIds = Callable[[Session, list[str]], set[str]]
"""Which of the given runs still hold the sync lock (`Locks.live_run_ids`)."""


@dataclass(frozen=True)
class RunRecord:
    """One run as the store holds it: a plain value, safe to keep after the session is gone."""

    run_id: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    dry_run: bool
    as_of: dt.date
    data_as_of: dt.datetime | None
    config_fingerprint: str
    counts: dict[str, int]
    error: str | None
    host: str
    pid: int
    # Per file or stream: rows read, in the ledger, quarantined, merged (empty before v0005).
    accounting: dict[str, dict[str, int]] = field(default_factory=dict)
    # The late-payment model's backtest and gate (`jobs.late_risk.LateRisk.summary`; since
    # v0008, None when the run did not test the model).
    model: dict[str, Any] | None = None

    @property
    def completed(self) -> bool:
        """The run did all its work (perhaps with quarantined records): its watermarks count."""
        return self.status in COMPLETED_STATUSES

    @property
    def as_of_known(self) -> bool:
        """`as_of` is the date the run scored for: it completed, or it loaded its ledger
        before it failed (its rows read are recorded). Otherwise `as_of` is only the
        placeholder the run began with (the date asked for, or the day it started)."""
        return self.completed or bool(self.accounting)


@dataclass(frozen=True)
class Produced:
    """A run's own rows, converted before its end's transaction opens (so that it is short)."""

    quarantine: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    reconciliation: list[dict[str, Any]]

    @classmethod
    def of(cls, run: FinishedRun) -> Produced:
        return cls(
            [_quarantine_row(run.run_id, entry) for entry in run.quarantine],
            [_outcome_row(run.run_id, outcome) for outcome in run.outcomes],
            [_reconciliation_row(run.run_id, row) for row in run.reconciliation],
        )


class Runs:
    """The runs of one store and what each produced, as plain values (never ORM objects)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def get(self, run_id: str) -> RunRecord | None:
        """The run with this id, or with this id prefix when exactly one run has it."""
        if not run_id:
            return None
        with self._sessions.read() as session:
            run = session.get(Run, run_id)
            if run is None:
                found = session.scalars(
                    select(Run)
                    .where(Run.run_id.startswith(run_id, autoescape=True))
                    .order_by(Run.run_id)
                    .limit(5)
                ).all()
                if len(found) > 1:
                    ids = ", ".join(r.run_id for r in found)
                    raise RunStateError(f"run id {run_id!r} is ambiguous: it starts {ids}")
                run = found[0] if found else None
            return None if run is None else _record(run)

    def recent(self, limit: int = 20) -> list[RunRecord]:
        """The latest runs first."""
        with self._sessions.read() as session:
            runs = session.scalars(
                select(Run).order_by(Run.started_at.desc(), Run.run_id.desc()).limit(limit)
            )
            return [_record(run) for run in runs]

    def last_success(self) -> RunRecord | None:
        """The latest completed (`succeeded` or `partial`) run that was not a dry run: the last
        time the CRM got the figures, and the run whose watermarks the next run starts from."""
        return self._latest_real(Run.status.in_(COMPLETED_STATUSES))

    def last_full_pull(self) -> RunRecord | None:
        """The latest completed real run that read everything (`full_pull` 1 in its counts):
        until then the ERP's deletions were seen. Dry runs never count."""
        return self._latest_real(
            Run.status.in_(COMPLETED_STATUSES), Run.counts[FULL_PULL].as_integer() == 1
        )

    def quarantine_of(self, run_id: str) -> list[QuarantineEntry]:
        """The records the run left out, in the order they were found."""
        with self._sessions.read() as session:
            rows = session.scalars(
                select(QuarantineRow)
                .where(QuarantineRow.run_id == run_id)
                .order_by(QuarantineRow.id)
            )
            return [
                QuarantineEntry(
                    r.record_type, r.record_id, r.location, r.rule, r.reason, Action(r.action)
                )
                for r in rows
            ]

    def reconciliation_of(self, run_id: str) -> list[dict[str, Any]]:
        """The run's customers out of line with the ERP's balances, in the order given."""
        query = select(
            *(ReconciliationRow.__table__.c[name] for name in RECONCILIATION_COLUMNS)
        ).where(ReconciliationRow.run_id == run_id)
        with self._sessions.read() as session:
            rows = session.execute(query.order_by(ReconciliationRow.id)).mappings()
            return [dict(row) for row in rows]

    def outcomes_of(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """The run's outcomes, of every object (optionally of one status), in the order they
        were given."""
        query = select(*(Outcome.__table__.c[name] for name in OUTCOME_COLUMNS)).where(
            Outcome.run_id == run_id
        )
        if status is not None:
            query = query.where(Outcome.status == status)
        with self._sessions.read() as session:
            rows = session.execute(query.order_by(Outcome.id)).mappings()
            return [dict(row) for row in rows]

    def _latest_real(self, *conditions: Any) -> RunRecord | None:
        with self._sessions.read() as session:
            run = session.scalars(
                select(Run)
                .where(*conditions, Run.dry_run.is_(False))
                .order_by(Run.started_at.desc(), Run.run_id.desc())
                .limit(1)
            ).first()
            return None if run is None else _record(run)


def begin(
    session: Session,
    run_id: str,
    *,
    dry_run: bool,
    as_of: dt.date,
    config_fingerprint: str,
    started_at: dt.datetime,
    data_as_of: dt.datetime | None,
) -> None:
    """Add the run as `running` (the caller commits at once, so a crash leaves a trace)."""
    session.add(
        Run(
            run_id=run_id,
            started_at=started_at,
            finished_at=None,
            status="running",
            dry_run=dry_run,
            as_of=as_of,
            data_as_of=data_as_of,
            config_fingerprint=config_fingerprint,
            counts={},
            error=None,
            host=socket.gethostname(),
            pid=os.getpid(),
        )
    )


def abandon_stale(
    session: Session, run_id: str, started_at: dt.datetime, live: LiveRunIds
) -> list[str]:
    """Mark `abandoned` every other `running` run whose lock is no longer held: its process
    died (or was killed) without finishing, and nothing will ever finish it."""
    running = session.scalars(
        select(Run).where(Run.status == "running", Run.run_id != run_id)
    ).all()
    if not running:
        return []
    holders = live(session, [run.run_id for run in running])
    abandoned = [run for run in running if run.run_id not in holders]
    for run in abandoned:
        run.status = "abandoned"
        run.error = (
            f"abandoned: still marked running when run {run_id} began at "
            f"{started_at.isoformat()}, and no live process held its lock: it stopped before "
            "it finished"
        )
    return [run.run_id for run in abandoned]


def finish(session: Session, finished: FinishedRun) -> Run:
    """Set the run's end on its row, locked for the transaction: only a `running` run ends."""
    run = session.get(Run, finished.run_id, with_for_update=True)
    if run is None:
        raise RunStateError(f"run {finished.run_id} was never begun (begin_run)")
    if run.status != "running":
        raise RunStateError(
            f"run {finished.run_id} is {run.status}, not running: it cannot be finished "
            "(an abandoned run's work is redone by the next run)"
        )
    run.status = finished.status
    run.finished_at = finished.finished_at
    run.counts = {str(name): int(count) for name, count in finished.counts.items()}
    run.error = finished.error
    if finished.accounting is not None:
        run.accounting = {
            str(stream): {str(k): int(v) for k, v in count.items()}
            for stream, count in finished.accounting.items()
        }
    if finished.model is not None:
        run.model = dict(finished.model)
    if finished.data_as_of is not None:
        run.data_as_of = finished.data_as_of
    if finished.as_of is not None:
        run.as_of = finished.as_of  # settled while the run pulled (the data's own date)
    session.flush()
    return run


def keep_produced(session: Session, produced: Produced) -> None:
    bulk_insert(session, QuarantineRow, produced.quarantine)
    bulk_insert(session, Outcome, produced.outcomes)
    bulk_insert(session, ReconciliationRow, produced.reconciliation)


def _record(run: Run) -> RunRecord:
    return RunRecord(
        run_id=run.run_id,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        dry_run=run.dry_run,
        as_of=run.as_of,
        data_as_of=run.data_as_of,
        config_fingerprint=run.config_fingerprint,
        counts=dict(run.counts),
        error=run.error,
        host=run.host,
        pid=run.pid,
        accounting={str(k): dict(v) for k, v in (run.accounting or {}).items()},
        model=dict(run.model) if run.model is not None else None,
    )


def _quarantine_row(run_id: str, entry: QuarantineEntry) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "record_type": entry.record_type,
        "record_id": entry.record_id,
        "location": entry.location,
        "rule": entry.rule,
        "reason": entry.reason,
        "action": Action(entry.action).value,
    }


def _outcome_row(run_id: str, outcome: Mapping[str, Any]) -> dict[str, Any]:
    fields = outcome.get("fields")
    if isinstance(fields, list | tuple | set | frozenset):
        fields = ",".join(str(name) for name in fields)
    row = {name: cells.text(outcome.get(name)) for name in OUTCOME_COLUMNS}
    row["fields"] = cells.text(fields) if fields is not None else ""
    row["run_id"] = run_id
    return row


def _reconciliation_row(run_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        **{name: cells.text(row.get(name)) for name in RECONCILIATION_COLUMNS},
    }


def moves_cursors(run: Run) -> bool:
    """Whether the run's end moves the cursors: it completed, and it was not a dry run."""
    return run.status in COMPLETED_STATUSES and not run.dry_run
