"""The state store: what each run did, so that a rerun after any failure is safe and finishes
the work.

A run is recorded twice: `begin_run` when it starts (status `running`), `finish_run` when it ends,
in ONE transaction with everything it produced: its counts, its quarantine, the outcome of each
Account, the day's score snapshots and, only if the run completed, the new watermarks. So either
the next run sees all of a run or none of it: a crash half-way leaves the watermarks where they
were, and the next run pulls the same changes again.

Callers get plain values (`RunRecord`, `QuarantineEntry`, dicts, a DataFrame), never ORM objects,
so no session leaks out of this module.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import structlog
from sqlalchemy import Engine, case, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from arsync.quarantine import Action, QuarantineEntry
from arsync.reconcile import CUSTOMER_COLUMNS
from jobs.state.bulk import BulkWriteError, bulk_insert, bulk_upsert, upsert_values
from jobs.state.db import SQLITE_IMMEDIATE, advisory_key, describe, make_engine
from jobs.state.errors import LockHeldError, RunStateError, StateError
from jobs.state.migrate import upgrade
from jobs.state.models import (
    COMPLETED_STATUSES,
    FINISHED_STATUSES,
    Outcome,
    QuarantineRow,
    ReconciliationRow,
    Run,
    RunLock,
    ScoreSnapshot,
    SourceRecord,
    Watermark,
    WrittenValue,
)
from jobs.state.sqlitefile import damaged
from scoring.trends import TIER_TOTAL_COLUMNS

if TYPE_CHECKING:
    import psycopg

log = structlog.get_logger(__name__)

RECONCILIATION_COLUMNS: Final = (*CUSTOMER_COLUMNS, "figure")  # arsync.reconcile's, and the figure
OUTCOME_COLUMNS: Final = (
    "customer_id",
    "account_id",
    "status",
    "fields",
    "error_code",
    "message",
)
SNAPSHOT_CRM_COLUMNS: Final = (
    "promise_status",
    "promise_amount",
    "promise_date",
    "crm_dispute_open",
    "owner_id",
    "owner_name",
)
"""What a run read from the CRM and scored, kept with its snapshots since revision 0006."""
SNAPSHOT_COLUMNS: Final = (
    "snapshot_date",
    "customer_id",
    "run_id",
    "health_score",
    "risk_tier",
    "open_balance",
    "overdue_balance",
    "segment",
    *SNAPSHOT_CRM_COLUMNS,
)
# Per day and tier: the columns `scoring.trends.tier_totals` computes from per-account rows.
SNAPSHOT_TOTAL_COLUMNS: Final = TIER_TOTAL_COLUMNS
_NO_WATERMARKS: Mapping[tuple[str, str], str] = MappingProxyType({})
_CENT = Decimal("0.01")
# The run count that says a run read everything, watermarks unused, so it saw deletions: 1 or 0
# (runs recorded before it was counted have none, and are not taken for full pulls).
FULL_PULL: Final = "full_pull"


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


class StateStore:
    """The runs, watermarks, quarantine, outcomes, score history and sync lock of one database.

    Open it with `StateStore.open(url)`: SQLite for one machine (the default), PostgreSQL when
    several machines or a scheduler in a container share the state.
    """

    def __init__(self, engine: Engine) -> None:
        """Use `open()`, which also upgrades the schema; this takes an engine already set up."""
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._schema: str | None = None

    @classmethod
    def open(cls, url: str, *, environ: Mapping[str, str] | None = None) -> StateStore:
        """Connect, create a new SQLite file (owner-only), and upgrade the schema to the latest.

        `postgresql://` URLs use psycopg 3; a `${NAME}` password is read from the environment.
        An empty or damaged SQLite file is a `StateError` naming it and what to do.
        """
        engine = make_engine(url, environ)
        try:
            upgrade(engine)
        except DatabaseError as error:  # OperationalError is one
            engine.dispose()
            damage = damaged(error, engine)
            if damage is not None:
                raise damage from None
            if not isinstance(error, OperationalError):
                raise
            # `error.orig` is the driver's own message, which never repeats the password.
            raise StateError(
                f"cannot open the state store {describe(engine)}: {str(error.orig).strip()}"
            ) from None
        except BaseException:
            engine.dispose()
            raise
        log.debug("state.opened", url=describe(engine))
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL with its password hidden."""
        return describe(self._engine)

    def close(self) -> None:
        """Close every pooled connection (a held lock keeps its own until its block ends)."""
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({self.url!r})"

    # --- runs -----------------------------------------------------------------------------

    def begin_run(
        self,
        run_id: str,
        *,
        dry_run: bool,
        as_of: dt.date,
        config_fingerprint: str,
        started_at: dt.datetime,
        data_as_of: dt.datetime | None = None,
    ) -> None:
        """Record the run as `running`, committed at once, so a crash leaves a trace.

        First, any other `running` run whose lock is no longer held is marked `abandoned`: its
        process died (or was killed) without finishing, and nothing will ever finish it. So a
        run that records its state should hold `lock()` from before `begin_run` to after
        `finish_run`: a run without the lock counts as abandoned when the next one begins.
        """
        _require_aware(started_at=started_at, data_as_of=data_as_of)
        try:
            with self._write() as session:
                abandoned = self._abandon_stale_runs(session, run_id, started_at)
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
        except IntegrityError:
            raise RunStateError(f"run {run_id} is already recorded: run ids are unique") from None
        if abandoned:
            log.warning("state.runs_abandoned", run_ids=abandoned, found_by=run_id)

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        finished_at: dt.datetime,
        counts: Mapping[str, int],
        error: str | None = None,
        as_of: dt.date | None = None,
        data_as_of: dt.datetime | None = None,
        watermarks: Mapping[tuple[str, str], str] = _NO_WATERMARKS,
        quarantine: Iterable[QuarantineEntry] = (),
        outcomes: Iterable[Mapping[str, Any]] = (),
        snapshots: Iterable[Mapping[str, Any]] = (),
        records: Iterable[Mapping[str, Any]] = (),
        replace_records_of: str | None = None,
        forget_records: Iterable[tuple[str, str, str]] = (),
        written: Iterable[tuple[str, str, Any]] = (),
        accounting: Mapping[str, Mapping[str, int]] | None = None,
        reconciliation: Iterable[Mapping[str, Any]] = (),
        model: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the end of a run and all it produced, in one transaction: all or nothing.

        `status` is `succeeded`, `partial` (finished, with quarantined or failed records) or
        `failed`. The watermarks (`{(source, stream): cursor}`) move only for a completed run
        (`succeeded` or `partial`) that is not a dry run: a failed run must be redone from the
        old cursor, and a dry run wrote nothing, so the next real run still owes those changes.
        Snapshots are upserted by (snapshot_date, customer_id): a rerun on the same day replaces
        that day's scores. `outcomes` and `snapshots` take the rows of the run's DataFrames
        (`df.to_dict("records")`); NaN and numpy numbers are accepted.

        `records` (source, record_type, record_id, payload, location) are what an incremental
        source pulled; they are kept, like the watermarks, only for a completed real run, and
        `replace_records_of` names a source whose kept records a full pull replaces, and
        `forget_records` (source, type, id) those that changed into something quarantined.
        `reconciliation` takes the customers out of line with the ERP's balances (the columns
        of RECONCILIATION_COLUMNS), also of a failed run: the portfolio check fails runs.
        `model` is the late-payment model's verdict (JSON-ready), when the run tested it.
        `written` (account, field, value) are the values Salesforce confirmed the run wrote:
        kept for any real run, a failed one too, since they are in the org whatever became
        of the run (the next run tells its own writes from a person's edits by them).
        """
        if status not in FINISHED_STATUSES:
            raise ValueError(f"a run finishes as one of {FINISHED_STATUSES}, not {status!r}")
        _require_aware(finished_at=finished_at, data_as_of=data_as_of)
        started = time.perf_counter()
        moved = False
        quarantine_rows = [_quarantine_row(run_id, entry) for entry in quarantine]
        outcome_rows = [_outcome_row(run_id, outcome) for outcome in outcomes]
        reconciliation_rows = [
            {"run_id": run_id, **{name: _text(row.get(name)) for name in RECONCILIATION_COLUMNS}}
            for row in reconciliation
        ]
        snapshot_rows = list(
            {
                (row["snapshot_date"], row["customer_id"]): row
                for row in (_snapshot_row(run_id, snapshot) for snapshot in snapshots)
            }.values()
        )
        try:
            with self._write() as session:
                run = session.get(Run, run_id, with_for_update=True)
                if run is None:
                    raise RunStateError(f"run {run_id} was never begun (begin_run)")
                if run.status != "running":
                    raise RunStateError(
                        f"run {run_id} is {run.status}, not running: it cannot be finished "
                        "(an abandoned run's work is redone by the next run)"
                    )
                run.status = status
                run.finished_at = finished_at
                run.counts = {str(name): int(count) for name, count in counts.items()}
                run.error = error
                if accounting is not None:
                    run.accounting = {
                        str(stream): {str(k): int(v) for k, v in count.items()}
                        for stream, count in accounting.items()
                    }
                if model is not None:
                    run.model = dict(model)
                if data_as_of is not None:
                    run.data_as_of = data_as_of
                if as_of is not None:
                    run.as_of = as_of  # settled while the run pulled (the data's own date)
                session.flush()
                bulk_insert(session, QuarantineRow, quarantine_rows)
                bulk_insert(session, Outcome, outcome_rows)
                bulk_insert(session, ReconciliationRow, reconciliation_rows)
                bulk_upsert(session, ScoreSnapshot, snapshot_rows, ("snapshot_date", "customer_id"))
                moved = status in COMPLETED_STATUSES and not run.dry_run
                if not run.dry_run:  # what Salesforce confirmed, also of a run that failed
                    self._keep_written(session, run_id, written)
                if moved:
                    self._keep_records(session, run_id, records, replace_records_of, forget_records)
                if moved and watermarks:
                    rows = [
                        {
                            "source": source,
                            "stream": stream,
                            "cursor": cursor,
                            "run_id": run_id,
                            "updated_at": finished_at,
                        }
                        for (source, stream), cursor in watermarks.items()
                    ]
                    _upsert(session, Watermark, rows, ("source", "stream"))
        except (SQLAlchemyError, BulkWriteError) as failure:
            reason = str(getattr(failure, "orig", None) or failure).strip()
            raise StateError(
                f"could not record the end of run {run_id} in {self.url}; "
                f"nothing of it was saved: {reason}"
            ) from failure
        log.info(
            "state.run_recorded",
            status=status,
            quarantined=len(quarantine_rows),
            outcomes=len(outcome_rows),
            snapshots=len(snapshot_rows),
            watermarks=len(watermarks) if moved else 0,
            seconds=round(time.perf_counter() - started, 3),
        )

    @staticmethod
    def _keep_records(
        session: Session,
        run_id: str,
        records: Iterable[Mapping[str, Any]],
        replace_records_of: str | None,
        forget_records: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        for source, record_type, record_id in forget_records:
            session.execute(
                delete(SourceRecord).where(
                    SourceRecord.source == source,
                    SourceRecord.record_type == record_type,
                    SourceRecord.record_id == record_id,
                )
            )
        if replace_records_of is not None:
            session.execute(delete(SourceRecord).where(SourceRecord.source == replace_records_of))
        # COPY (PostgreSQL) needs the JSON payload wrapped; SQLAlchemy (SQLite) takes the dict.
        wrap = _json_wrapper(session)
        rows = list(
            {
                (r["source"], r["record_type"], r["record_id"]): {
                    **r,
                    "payload": wrap(r["payload"]),
                    "run_id": run_id,
                }
                for r in records
            }.values()
        )
        bulk_upsert(session, SourceRecord, rows, ("source", "record_type", "record_id"))

    @staticmethod
    def _keep_written(
        session: Session, run_id: str, written: Iterable[tuple[str, str, Any]]
    ) -> None:
        """Upsert (account, field, value) by (account, field), the last of a repeated pair
        winning, as plain tuples (a first run writes 32 fields of 50,000 Accounts: 1.6 M)."""
        if session.get_bind().dialect.name == "postgresql":  # one row per key, and Json
            wrap = _json_wrapper(session)
            latest = {(account, name): value for account, name, value in written}
            written = ((account, name, wrap(value)) for (account, name), value in latest.items())
        upsert_values(
            session,
            WrittenValue,
            ("account_id", "field", "value"),
            written,
            ("account_id", "field"),
            same={"run_id": run_id},
        )

    def written_values(self) -> dict[tuple[str, str], Any]:
        """(account id, field) -> the value arsync last wrote there."""
        with self._read() as session:
            rows = session.execute(
                select(WrittenValue.account_id, WrittenValue.field, WrittenValue.value)
            )
            return {(str(account), str(name)): value for account, name, value in rows}

    def watermarks(self, source: str) -> dict[str, str]:
        """Every stream's cursor of one source: where its next incremental pull starts."""
        with self._read() as session:
            rows = session.execute(
                select(Watermark.stream, Watermark.cursor).where(Watermark.source == source)
            )
            return {str(stream): str(cursor) for stream, cursor in rows}

    def source_records(self, source: str) -> list[tuple[str, dict[str, Any], str]]:
        """The records kept for a source: (record_type, payload, location)."""
        with self._read() as session:
            rows = session.execute(
                select(SourceRecord.record_type, SourceRecord.payload, SourceRecord.location)
                .where(SourceRecord.source == source)
                .order_by(SourceRecord.record_type, SourceRecord.record_id)
            )
            return [(kind, dict(payload), location) for kind, payload, location in rows]

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or with this id prefix when exactly one run has it."""
        if not run_id:
            return None
        with self._read() as session:
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

    def recent_runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest runs first."""
        with self._read() as session:
            runs = session.scalars(
                select(Run).order_by(Run.started_at.desc(), Run.run_id.desc()).limit(limit)
            )
            return [_record(run) for run in runs]

    def last_success(self) -> RunRecord | None:
        """The latest completed (`succeeded` or `partial`) run that was not a dry run: the last
        time the CRM got the figures, and the run whose watermarks the next run starts from."""
        with self._read() as session:
            run = session.scalars(
                select(Run)
                .where(Run.status.in_(COMPLETED_STATUSES), Run.dry_run.is_(False))
                .order_by(Run.started_at.desc(), Run.run_id.desc())
                .limit(1)
            ).first()
            return None if run is None else _record(run)

    def last_full_pull(self) -> RunRecord | None:
        """The latest completed real run that read everything (`full_pull` 1 in its counts):
        until then the ERP's deletions were seen. Dry runs never count."""
        with self._read() as session:
            run = session.scalars(
                select(Run)
                .where(
                    Run.status.in_(COMPLETED_STATUSES),
                    Run.dry_run.is_(False),
                    Run.counts[FULL_PULL].as_integer() == 1,
                )
                .order_by(Run.started_at.desc(), Run.run_id.desc())
                .limit(1)
            ).first()
            return None if run is None else _record(run)

    # --- what runs produced ---------------------------------------------------------------

    def watermark(self, source: str, stream: str) -> str | None:
        """Where the next pull of this stream starts (None: from the beginning)."""
        with self._read() as session:
            row = session.get(Watermark, (source, stream))
            return None if row is None else row.cursor

    def quarantine_of(self, run_id: str) -> list[QuarantineEntry]:
        """The records the run left out, in the order they were found."""
        with self._read() as session:
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
        with self._read() as session:
            rows = session.execute(query.order_by(ReconciliationRow.id)).mappings()
            return [dict(row) for row in rows]

    def outcomes_of(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """The run's Account outcomes (optionally of one status), in the order they were given."""
        query = select(*(Outcome.__table__.c[name] for name in OUTCOME_COLUMNS)).where(
            Outcome.run_id == run_id
        )
        if status is not None:
            query = query.where(Outcome.status == status)
        with self._read() as session:
            rows = session.execute(query.order_by(Outcome.id)).mappings()
            return [dict(row) for row in rows]

    def snapshots(self, since: dt.date, until: dt.date | None = None) -> pd.DataFrame:
        """Score history from `since` on (to `until`, included, when given): one row per day
        and customer, oldest first.

        `snapshot_date` is datetime64, the balances and `promise_amount` float (the reporting
        currency, to the cent), `promise_date` a date; `segment` and the CRM columns
        (`SNAPSHOT_CRM_COLUMNS`) None for snapshots taken before the store kept them.
        """
        columns = [ScoreSnapshot.__table__.c[name] for name in SNAPSHOT_COLUMNS]
        query = select(*columns).where(ScoreSnapshot.snapshot_date >= since)
        if until is not None:
            query = query.where(ScoreSnapshot.snapshot_date <= until)
        query = query.order_by(ScoreSnapshot.snapshot_date, ScoreSnapshot.customer_id)
        with self._read() as session:
            rows = [tuple(row) for row in session.execute(query)]
        frame = pd.DataFrame.from_records(rows, columns=list(SNAPSHOT_COLUMNS))
        frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
        frame["promise_amount"] = pd.to_numeric(frame["promise_amount"]).astype("float64")
        frame["crm_dispute_open"] = frame["crm_dispute_open"].astype("object")
        return frame.astype(
            {"health_score": "int64", "open_balance": "float64", "overdue_balance": "float64"}
        )

    def snapshot_tier_totals(self, since: dt.date, until: dt.date) -> pd.DataFrame:
        """The score history from `since` to `until` (both included), summed per day and risk
        tier in the database: (snapshot_date, risk_tier, accounts, open_balance,
        overdue_balance, accounts_with_overdue), oldest first. A year of daily snapshots of
        many accounts stays a few hundred rows on the way to the report.
        """
        snapshot = ScoreSnapshot.__table__.c
        overdue = case((snapshot.overdue_balance > 0, 1), else_=0)
        query = (
            select(
                snapshot.snapshot_date,
                snapshot.risk_tier,
                func.count(),
                func.sum(snapshot.open_balance),
                func.sum(snapshot.overdue_balance),
                func.sum(overdue),
            )
            .where(snapshot.snapshot_date >= since, snapshot.snapshot_date <= until)
            .group_by(snapshot.snapshot_date, snapshot.risk_tier)
            .order_by(snapshot.snapshot_date, snapshot.risk_tier)
        )
        with self._read() as session:
            rows = [tuple(row) for row in session.execute(query)]
        columns = list(SNAPSHOT_TOTAL_COLUMNS)
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
        frame = frame.astype(
            {
                "risk_tier": "object",
                "accounts": "int64",
                "open_balance": "float64",
                "overdue_balance": "float64",
                "accounts_with_overdue": "int64",
            }
        )
        # SQLite sums the stored cents as floats: back to the cent.
        return frame.round({"open_balance": 2, "overdue_balance": 2})

    def snapshot_tiers(self, day: dt.date) -> pd.DataFrame:
        """Each account's risk tier on one snapshot day: (customer_id, risk_tier), by id."""
        query = (
            select(ScoreSnapshot.customer_id, ScoreSnapshot.risk_tier)
            .where(ScoreSnapshot.snapshot_date == day)
            .order_by(ScoreSnapshot.customer_id)
        )
        with self._read() as session:
            rows = [tuple(row) for row in session.execute(query)]
        return pd.DataFrame.from_records(rows, columns=["customer_id", "risk_tier"])

    # --- the sync lock --------------------------------------------------------------------

    def lock(
        self, run_id: str, *, name: str = "sync", lease_hours: float = 6.0
    ) -> AbstractContextManager[None]:
        """Make sure only one sync runs at a time: hold this for the whole run.

        Raises `LockHeldError`, naming the holder, when another run has it. On PostgreSQL the
        lock is a session advisory lock on a connection of its own, held for the block: if the
        process dies, the server releases it. On SQLite the `run_lock` row is the lock: a row
        whose lease has not expired and whose process still runs (checked when it is on this
        host) refuses; a stale one is taken over. Either way the row says who holds it.
        """
        if self._engine.dialect.name == "postgresql":
            return self._postgres_lock(run_id, name, lease_hours)
        return self._row_lock(run_id, name, lease_hours)

    @contextmanager
    def _row_lock(self, run_id: str, name: str, lease_hours: float) -> Iterator[None]:
        now = _now()
        with self._write() as session:  # BEGIN IMMEDIATE: one process at a time gets here
            row = session.get(RunLock, name)
            if row is not None and self._row_is_live(row, now):
                raise _held(row)
            if row is not None:
                log.warning(
                    "state.lock_taken_over",
                    lock=name,
                    stale_run_id=row.run_id,
                    stale_host=row.host,
                    stale_pid=row.pid,
                    expired=row.expires_at <= now,
                )
                session.delete(row)
                session.flush()
            session.add(_lock_row(name, run_id, now, lease_hours))
        try:
            yield
        finally:
            self._release_row(name, run_id)

    @contextmanager
    def _postgres_lock(self, run_id: str, name: str, lease_hours: float) -> Iterator[None]:
        key = self._advisory_key(name)
        # A driver connection of its own, outside the pool, so that closing it surely ends the
        # session (and with it the lock), in autocommit so that no transaction stays open for
        # the hours of a run.
        holder = _driver_connection(self._engine)
        try:
            taken = holder.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (taken and taken[0]):
                with self._read() as session:
                    row = session.get(RunLock, name)
                # A row a killed run left (lease over, or its pid gone) names no holder.
                live = row is not None and self._row_is_live(row, _now())
                raise _held(row) if live and row is not None else LockHeldError(name)
            with self._write() as session:
                _upsert(
                    session,
                    RunLock,
                    [_lock_values(name, run_id, _now(), lease_hours)],
                    ("name",),
                )
            try:
                yield
            finally:
                self._release_row(name, run_id)
        finally:
            holder.close()

    def _release_row(self, name: str, run_id: str) -> None:
        """Delete our row (never a row someone took over from us after our lease ran out)."""
        try:
            with self._write() as session:
                session.execute(
                    delete(RunLock).where(RunLock.name == name, RunLock.run_id == run_id)
                )
        except (SQLAlchemyError, StateError) as error:  # the lock is released all the same
            reason = str(getattr(error, "orig", None) or error).strip()
            log.warning("state.lock_row_not_released", lock=name, error=reason)

    def _row_is_live(self, row: RunLock, now: dt.datetime) -> bool:
        """SQLite: a lock row counts while its lease runs and its process is alive (a process
        on another host cannot be checked: its lease decides)."""
        if row.expires_at <= now:
            return False
        return row.host != socket.gethostname() or _process_alive(row.pid)

    def _lock_is_held(self, session: Session, row: RunLock, now: dt.datetime) -> bool:
        """Whether the holder recorded in `row` still holds the lock."""
        if self._engine.dialect.name != "postgresql":
            return self._row_is_live(row, now)
        unsigned = self._advisory_key(row.name) & 0xFFFF_FFFF_FFFF_FFFF
        held = session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1)"
            ),
            {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF},
        )
        return bool(held.scalar_one())

    def _abandon_stale_runs(self, session: Session, run_id: str, now: dt.datetime) -> list[str]:
        running = session.scalars(
            select(Run).where(Run.status == "running", Run.run_id != run_id)
        ).all()
        if not running:
            return []
        locks = session.scalars(
            select(RunLock).where(RunLock.run_id.in_([run.run_id for run in running]))
        ).all()
        live = {row.run_id for row in locks if self._lock_is_held(session, row, _now())}
        abandoned = [run for run in running if run.run_id not in live]
        for run in abandoned:
            run.status = "abandoned"
            run.error = (
                f"abandoned: still marked running when run {run_id} began at {now.isoformat()}, "
                "and no live process held its lock: it stopped before it finished"
            )
        return [run.run_id for run in abandoned]

    def _advisory_key(self, name: str) -> int:
        """A stable signed 64-bit key for the lock name, scoped to the schema of the store:
        advisory locks are per database, and two schemas are two independent stores."""
        if self._schema is None:
            with self._engine.connect() as connection:
                self._schema = str(connection.execute(select(func.current_schema())).scalar_one())
        return advisory_key(f"arsync.state.lock:{self._schema}:{name}")

    # --- sessions -------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._damage_named(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction, committed at the end of the block or rolled back whole. On
        SQLite it takes the write lock at BEGIN, so it never fails half-way for a concurrent
        writer (it waits for it instead)."""
        with self._damage_named(), self._sessions() as session, session.begin():
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            yield session

    @contextmanager
    def _damage_named(self) -> Iterator[None]:
        """Damage deeper in a SQLite file than the open reads, found by a query: a StateError
        naming the file and what to do (exit 3), not a traceback."""
        try:
            yield
        except DatabaseError as error:
            damage = damaged(error, self._engine)
            if damage is None:
                raise
            raise damage from None


def _driver_connection(engine: Engine) -> psycopg.Connection[Any]:
    """A psycopg connection to the engine's database, in autocommit, that no pool knows of."""
    import psycopg  # noqa: PLC0415 - PostgreSQL only: a SQLite store never loads the driver

    args, kwargs = engine.dialect.create_connect_args(engine.url)
    try:
        connection = psycopg.connect(*args, **kwargs, autocommit=True)
    except psycopg.Error as error:
        raise StateError(f"cannot connect to {describe(engine)} for the lock: {error}") from None
    return connection


def _json_wrapper(session: Session) -> Callable[[Any], Any]:
    """How a JSON value goes to the session's database: psycopg's `Json` for PostgreSQL's COPY,
    the value itself for SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return _unchanged
    from psycopg.types.json import Json  # noqa: PLC0415 - PostgreSQL only

    return Json


def _unchanged(value: Any) -> Any:
    return value


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _require_aware(**moments: dt.datetime | None) -> None:
    """A naive datetime would be read as UTC on one machine and local time on another."""
    for name, moment in moments.items():
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"{name} must carry a time zone (UTC), got {moment.isoformat()}")


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (signal 0 only checks it exists)."""
    if pid <= 0 or os.name == "nt":  # Windows' os.kill would end the process: trust the lease
        return pid > 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _held(row: RunLock) -> LockHeldError:
    return LockHeldError(
        row.name,
        run_id=row.run_id,
        host=row.host,
        pid=row.pid,
        since=row.acquired_at,
        expires_at=row.expires_at,
    )


def _lock_values(name: str, run_id: str, now: dt.datetime, lease_hours: float) -> dict[str, Any]:
    return {
        "name": name,
        "run_id": run_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired_at": now,
        "expires_at": now + dt.timedelta(hours=lease_hours),
    }


def _lock_row(name: str, run_id: str, now: dt.datetime, lease_hours: float) -> RunLock:
    return RunLock(**_lock_values(name, run_id, now, lease_hours))


def _upsert(
    session: Session,
    model: type[ScoreSnapshot] | type[Watermark] | type[RunLock],
    rows: Sequence[Mapping[str, Any]],
    keys: tuple[str, ...],
) -> None:
    """Insert the few rows, replacing those with the same key (through the models' types, which
    refuse a naive datetime)."""
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = upsert(model)
    names = [column.name for column in model.__table__.columns if column.name not in keys]
    changes = {name: statement.excluded[name] for name in names}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes), rows)


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


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA: how a DataFrame says 'no value' (the common types first: this
    runs for every cell of 50,000 rows)."""
    if value is None:
        return True
    if isinstance(value, str | int):
        return False
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: a value
        return False


def _text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


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
    row = {name: _text(outcome.get(name)) for name in OUTCOME_COLUMNS}
    row["fields"] = _text(fields) if fields is not None else ""
    row["run_id"] = run_id
    return row


def _snapshot_row(run_id: str, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    day = snapshot.get("snapshot_date")
    if isinstance(day, dt.datetime):  # pd.Timestamp too
        day = day.date()
    score: Any = snapshot.get("health_score")
    return {
        "snapshot_date": day,
        "customer_id": _text(snapshot.get("customer_id")),
        "run_id": run_id,
        "health_score": None if _missing(score) else int(score),
        "risk_tier": _text(snapshot.get("risk_tier")),
        "open_balance": _money(snapshot.get("open_balance")),
        "overdue_balance": _money(snapshot.get("overdue_balance")),
        "segment": _text(snapshot.get("segment")),
        "promise_status": _text(snapshot.get("promise_status")),
        "promise_amount": _money(snapshot.get("promise_amount")),
        "promise_date": _day(snapshot.get("promise_date")),
        "crm_dispute_open": _flag(snapshot.get("crm_dispute_open")),
        "owner_id": _text(snapshot.get("owner_id")),
        "owner_name": _text(snapshot.get("owner_name")),
    }


def _day(value: Any) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):  # pd.Timestamp too
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _flag(value: Any) -> bool | None:
    return None if _missing(value) else bool(value)


def _money(value: Any) -> Decimal | None:
    """To the cent, rounded half away from zero like the rest of arsync's money."""
    if _missing(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a balance must be a finite number, not {value}")
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return number.quantize(_CENT, rounding=ROUND_HALF_UP)
