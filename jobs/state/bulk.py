"""Writing tens of thousands of rows inside the caller's transaction, fast on both databases.

SQLite: one executemany `INSERT` (or `INSERT ... ON CONFLICT DO UPDATE`), which its driver runs
row by row in C. PostgreSQL: `COPY ... FROM STDIN`, straight into the table or, for an upsert,
into a temporary table that one `INSERT ... SELECT ... ON CONFLICT DO UPDATE` merges; this is
about ten times faster than the multi-row INSERTs psycopg would otherwise be sent (50,000
outcomes: 0.3 s instead of 3 s). Both run on the session's own connection, so they commit or
roll back with everything else the transaction did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Session

from jobs.state.errors import StateError

if TYPE_CHECKING:
    import psycopg


class BulkWriteError(StateError):
    """PostgreSQL refused a COPY or the merge after it (the caller's transaction is lost)."""


Rows = Sequence[Mapping[str, Any]]


def bulk_insert(session: Session, model: type[DeclarativeBase], rows: Rows) -> None:
    """Insert the rows (dicts keyed by column name; a missing key is NULL)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy(session, _table(model).name, _columns(model, rows), rows)
    else:
        session.execute(insert(model), list(rows))


def bulk_upsert(
    session: Session, model: type[DeclarativeBase], rows: Rows, keys: Sequence[str]
) -> None:
    """Insert the rows, replacing every column but `keys` of a row that has the same key.

    The rows must not repeat a key: PostgreSQL refuses to update one row twice in a statement.
    """
    if not rows:
        return
    table = _table(model).name
    updated = [c.name for c in _table(model).columns if c.name not in keys]
    if session.get_bind().dialect.name != "postgresql":
        statement = sqlite.insert(model)
        changes = {name: statement.excluded[name] for name in updated}
        session.execute(
            statement.on_conflict_do_update(index_elements=list(keys), set_=changes), list(rows)
        )
        return
    columns = _columns(model, rows)
    staging = f"arsync_{table}_in"
    quote = session.get_bind().dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    changes_sql = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in updated)
    keys_sql = ", ".join(quote(name) for name in keys)
    _run(
        session,
        f"CREATE TEMPORARY TABLE {staging} (LIKE {quote(table)} INCLUDING DEFAULTS) ON COMMIT DROP",
    )
    _copy(session, staging, columns, rows)
    # Only the model's own table and column names go into the SQL, quoted; the values go by COPY.
    merge = f"INSERT INTO {quote(table)} ({names}) SELECT {names} FROM {staging} "  # noqa: S608
    _run(session, f"{merge}ON CONFLICT ({keys_sql}) DO UPDATE SET {changes_sql}")
    _run(session, f"DROP TABLE {staging}")


def _table(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to one table")
    return table


def _columns(model: type[DeclarativeBase], rows: Rows) -> list[str]:
    """The table's columns that the rows give (an autoincrement id is left to the database)."""
    given = set(rows[0])
    return [c.name for c in _table(model).columns if c.name in given]


def _driver(session: Session) -> psycopg.Connection[Any]:
    import psycopg  # noqa: PLC0415 - PostgreSQL only: SQLite writes never load the driver

    connection = session.connection().connection.driver_connection
    if not isinstance(connection, psycopg.Connection):
        raise TypeError(f"COPY needs psycopg 3, not {type(connection).__name__}")
    return connection


def _run(session: Session, sql: str) -> None:
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    try:
        with _driver(session).cursor() as cursor:
            cursor.execute(sql.encode())
    except psycopg.Error as error:
        raise BulkWriteError(
            f"the state database refused {sql.split(' (', maxsplit=1)[0]}: {error}"
        ) from error


def _copy(session: Session, table: str, columns: Sequence[str], rows: Rows) -> None:
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    quote = session.get_bind().dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    sql = f"COPY {quote(table)} ({names}) FROM STDIN"
    try:
        with _driver(session).cursor() as cursor, cursor.copy(sql.encode()) as copy:
            for row in rows:
                copy.write_row(tuple(row.get(name) for name in columns))
    except psycopg.Error as error:
        raise BulkWriteError(f"the state database refused rows for {table}: {error}") from error
