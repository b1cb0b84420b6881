"""The sessions every part of the state store shares: one engine, read and write transactions
that name a damaged SQLite file, and the few helpers their statements need.

A part of the store (`runs`, `locks`, `cursors`, `written`, `history`) reads through
`Sessions.read()`; what a run writes across parts goes into the one `Sessions.write()`
transaction that `StateStore.finish_run` opens, so it is all or nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from jobs.state.db import SQLITE_IMMEDIATE, describe
from jobs.state.sqlitefile import damaged


class Sessions:
    """Transactions on one engine: the handle every part of the store is built on."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The database URL with its password hidden."""
        return describe(self.engine)

    @property
    def postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._damage_named(), self._factory() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed at the end of the block or rolled back whole. On
        SQLite it takes the write lock at BEGIN, so it never fails half-way for a concurrent
        writer (it waits for it instead)."""
        with self._damage_named(), self._factory() as session, session.begin():
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            yield session

    @contextmanager
    def _damage_named(self) -> Iterator[None]:
        """Damage deeper in a SQLite file than the open reads, found by a query: a StateError
        naming the file and what to do (exit 3), not a traceback."""
        try:
            yield
        except DatabaseError as error:
            damage = damaged(error, self.engine)
            if damage is None:
                raise
            raise damage from None


def upsert(
    session: Session,
    model: type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    keys: tuple[str, ...],
) -> None:
    """Insert the few rows, replacing those with the same key (through the models' types, which
    refuse a naive datetime). Tens of thousands of rows go through `jobs.state.bulk`."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model)
    table = model.__table__
    names = [column.name for column in table.columns if column.name not in keys]
    changes = {name: statement.excluded[name] for name in names}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes), rows)


def json_wrapper(session: Session) -> Callable[[Any], Any]:
    """How a JSON value goes to the session's database: psycopg's `Json` for PostgreSQL's COPY,
    the value itself for SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return _unchanged
    from psycopg.types.json import Json  # noqa: PLC0415 - PostgreSQL only

    return Json


def _unchanged(value: Any) -> Any:
    return value


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def require_aware(**moments: dt.datetime | None) -> None:
    """A naive datetime would be read as UTC on one machine and local time on another."""
    for name, moment in moments.items():
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"{name} must carry a time zone (UTC), got {moment.isoformat()}")
