"""The state store: what each run did, so that a rerun after any failure is safe and finishes
the work.

`StateStore` opens the database and hands out one object per concern, each over the same
sessions (`jobs.state.sessions`): `runs` (runs and what each produced: quarantine, outcomes,
reconciliation, model figures), `locks` (the sync lock), `cursors` (watermarks and kept source
records), `written` (the values arsync last wrote) and `history` (score snapshots). Reads go
to them; the run's two writes that span concerns stay here.

A run is recorded twice: `begin_run` when it starts (status `running`), `finish_run` when it
ends, in ONE transaction with everything it produced (a `FinishedRun`): its counts, its
quarantine, the outcome of each Account, the day's score snapshots, the values Salesforce
confirmed and, only if the run completed, the new watermarks. So either the next run sees all
of a run or none of it: a crash half-way leaves the watermarks where they were, and the next
run pulls the same changes again.

Callers get plain values (`RunRecord`, `QuarantineEntry`, dicts, a DataFrame), never ORM
objects, so no session leaks out of the package.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError, SQLAlchemyError

from jobs.state import cursors, history, runs, written
from jobs.state.bulk import BulkWriteError
from jobs.state.cursors import Cursors
from jobs.state.db import describe, make_engine
from jobs.state.errors import RunStateError, StateError
from jobs.state.finished import FinishedRun
from jobs.state.history import History
from jobs.state.locks import Locks
from jobs.state.migrate import upgrade
from jobs.state.runs import Runs
from jobs.state.sessions import Sessions, require_aware
from jobs.state.sqlitefile import damaged
from jobs.state.written import Written

log = structlog.get_logger(__name__)


class StateStore:
    """The runs, sync lock, cursors, written values and score history of one database.

    Open it with `StateStore.open(url)`: SQLite for one machine (the default), PostgreSQL when
    several machines or a scheduler in a container share the state.
    """

    def __init__(self, engine: Engine) -> None:
        """Use `open()`, which also upgrades the schema; this takes an engine already set up."""
        self._sessions = Sessions(engine)
        self.runs = Runs(self._sessions)
        self.locks = Locks(self._sessions)
        self.cursors = Cursors(self._sessions)
        self.written = Written(self._sessions)
        self.history = History(self._sessions)

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
        return self._sessions.url

    def close(self) -> None:
        """Close every pooled connection (a held lock keeps its own until its block ends)."""
        self._sessions.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({self.url!r})"

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
        run that records its state should hold `locks.hold()` from before `begin_run` to after
        `finish_run`: a run without the lock counts as abandoned when the next one begins.
        """
        require_aware(started_at=started_at, data_as_of=data_as_of)
        try:
            with self._sessions.write() as session:
                abandoned = runs.abandon_stale(session, run_id, started_at, self.locks.live_run_ids)
                runs.begin(
                    session,
                    run_id,
                    dry_run=dry_run,
                    as_of=as_of,
                    config_fingerprint=config_fingerprint,
                    started_at=started_at,
                    data_as_of=data_as_of,
                )
        except IntegrityError:
            raise RunStateError(f"run {run_id} is already recorded: run ids are unique") from None
        if abandoned:
            log.warning("state.runs_abandoned", run_ids=abandoned, found_by=run_id)

    def finish_run(self, finished: FinishedRun) -> None:
        """Record the end of a run and all it produced, in one transaction: all or nothing.

        Each part goes to its concern: the run's row and own rows (`runs`), the snapshots
        (`history`), for a real run the values Salesforce confirmed (`written`), and for a
        completed real run its `next_pull` (`cursors`). See `FinishedRun` for what counts when.
        """
        started = time.perf_counter()
        run_id = finished.run_id
        produced = runs.Produced.of(finished)
        snapshots = history.snapshot_rows(run_id, finished.snapshots)
        moved = False
        try:
            with self._sessions.write() as session:
                run = runs.finish(session, finished)
                runs.keep_produced(session, produced)
                history.keep(session, snapshots)
                if not run.dry_run:  # what Salesforce confirmed, also of a run that failed
                    written.keep(session, run_id, finished.written)
                moved = runs.moves_cursors(run)
                if moved:
                    cursors.advance(session, run_id, finished.finished_at, finished.next_pull)
        except (SQLAlchemyError, BulkWriteError) as failure:
            reason = str(getattr(failure, "orig", None) or failure).strip()
            raise StateError(
                f"could not record the end of run {run_id} in {self.url}; "
                f"nothing of it was saved: {reason}"
            ) from failure
        log.info(
            "state.run_recorded",
            status=finished.status,
            quarantined=len(produced.quarantine),
            outcomes=len(produced.outcomes),
            snapshots=len(snapshots),
            watermarks=len(finished.next_pull.watermarks) if moved else 0,
            seconds=round(time.perf_counter() - started, 3),
        )
