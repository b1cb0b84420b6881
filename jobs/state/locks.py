"""The sync lock: one sync at a time per store, and who holds it (the `run_lock` table).

On PostgreSQL the lock is a session advisory lock on a connection of its own, held for the
block: if the process dies, the server releases it. On SQLite the `run_lock` row is the lock:
a row whose lease has not expired and whose process still runs (checked when it is on this
host) refuses; a stale one is taken over. Either way the row says who holds it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from jobs.state.db import advisory_key, describe
from jobs.state.errors import LockHeldError, StateError
from jobs.state.models import RunLock
from jobs.state.sessions import Sessions, now, upsert

if TYPE_CHECKING:
    import psycopg

log = structlog.get_logger(__name__)


class Locks:
    """The sync lock of one store."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions
        self._schema: str | None = None

    def hold(
        self, run_id: str, *, name: str = "sync", lease_hours: float = 6.0
    ) -> AbstractContextManager[None]:
        """Make sure only one sync runs at a time: hold this for the whole run.

        Raises `LockHeldError`, naming the holder, when another run has it.
        """
        if self._sessions.postgresql:
            return self._postgres_lock(run_id, name, lease_hours)
        return self._row_lock(run_id, name, lease_hours)

    def live_run_ids(self, session: Session, run_ids: Iterable[str]) -> set[str]:
        """Which of these runs hold a lock still, read inside the caller's transaction."""
        rows = session.scalars(select(RunLock).where(RunLock.run_id.in_(list(run_ids)))).all()
        moment = now()
        return {row.run_id for row in rows if self._is_held(session, row, moment)}

    @contextmanager
    def _row_lock(self, run_id: str, name: str, lease_hours: float) -> Iterator[None]:
        moment = now()
        with self._sessions.write() as session:  # BEGIN IMMEDIATE: one process at a time here
            row = session.get(RunLock, name)
            if row is not None and _row_is_live(row, moment):
                raise _held(row)
            if row is not None:
                log.warning(
                    "state.lock_taken_over",
                    lock=name,
                    stale_run_id=row.run_id,
                    stale_host=row.host,
                    stale_pid=row.pid,
                    expired=row.expires_at <= moment,
                )
                session.delete(row)
                session.flush()
            session.add(RunLock(**_lock_values(name, run_id, moment, lease_hours)))
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
        holder = _driver_connection(self._sessions.engine)
        try:
            taken = holder.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (taken and taken[0]):
                with self._sessions.read() as session:
                    row = session.get(RunLock, name)
                # A row a killed run left (lease over, or its pid gone) names no holder.
                live = row is not None and _row_is_live(row, now())
                raise _held(row) if live and row is not None else LockHeldError(name)
            with self._sessions.write() as session:
                upsert(
                    session, RunLock, [_lock_values(name, run_id, now(), lease_hours)], ("name",)
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
            with self._sessions.write() as session:
                session.execute(
                    delete(RunLock).where(RunLock.name == name, RunLock.run_id == run_id)
                )
        except (SQLAlchemyError, StateError) as error:  # the lock is released all the same
            reason = str(getattr(error, "orig", None) or error).strip()
            log.warning("state.lock_row_not_released", lock=name, error=reason)

    def _is_held(self, session: Session, row: RunLock, moment: dt.datetime) -> bool:
        """Whether the holder recorded in `row` still holds the lock."""
        if not self._sessions.postgresql:
            return _row_is_live(row, moment)
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

    def _advisory_key(self, name: str) -> int:
        """A stable signed 64-bit key for the lock name, scoped to the schema of the store:
        advisory locks are per database, and two schemas are two independent stores."""
        if self._schema is None:
            with self._sessions.engine.connect() as connection:
                self._schema = str(connection.execute(select(func.current_schema())).scalar_one())
        return advisory_key(f"arsync.state.lock:{self._schema}:{name}")


def _row_is_live(row: RunLock, moment: dt.datetime) -> bool:
    """SQLite: a lock row counts while its lease runs and its process is alive (a process on
    another host cannot be checked: its lease decides)."""
    if row.expires_at <= moment:
        return False
    return row.host != socket.gethostname() or _process_alive(row.pid)


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


def _driver_connection(engine: Engine) -> psycopg.Connection[Any]:
    """A psycopg connection to the engine's database, in autocommit, that no pool knows of."""
    import psycopg  # noqa: PLC0415 - PostgreSQL only: a SQLite store never loads the driver

    args, kwargs = engine.dialect.create_connect_args(engine.url)
    try:
        connection = psycopg.connect(*args, **kwargs, autocommit=True)
    except psycopg.Error as error:
        raise StateError(f"cannot connect to {describe(engine)} for the lock: {error}") from None
    return connection


def _held(row: RunLock) -> LockHeldError:
    return LockHeldError(
        row.name,
        run_id=row.run_id,
        host=row.host,
        pid=row.pid,
        since=row.acquired_at,
        expires_at=row.expires_at,
    )


def _lock_values(name: str, run_id: str, moment: dt.datetime, lease_hours: float) -> dict[str, Any]:
    return {
        "name": name,
        "run_id": run_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired_at": moment,
        "expires_at": moment + dt.timedelta(hours=lease_hours),
    }
