"""The source database: its URL with secrets filled in from the environment, and a read-only
engine on it.

The password never leaves this module in clear: every log event and error names the database
by `describe(url)`, which hides it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from arsync.errors import SourceConfigError
from arsync.extras import POSTGRES, installed, missing_extra
from connector.secrets import REFERENCE, resolve_secret

_POSTGRES_NAMES = ("postgresql", "postgres")
APPLICATION_NAME = "arsync"


def describe(url: URL) -> str:
    """The URL with its password hidden: the only form of it for a log or an error."""
    return url.render_as_string(hide_password=True)


def resolve_url(setting: str, environ: Mapping[str, str] | None = None) -> URL:
    """The URL to connect to: `${NAME}` (the whole URL, or its password) read from `environ`.

    A bare `postgresql://` goes to psycopg 3, the driver of the `postgres` extra.
    """
    whole = REFERENCE.match(setting)
    text = resolve_secret(setting, environ, "for the SQL source's URL") if whole else setting
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        # The text may hold a password: say what is wrong, not what was given.
        where = f"environment variable {whole.group(1)}" if whole else "the SQL source's url"
        raise SourceConfigError(f"{where} does not hold a database URL") from None
    password = REFERENCE.match(str(url.password)) if url.password is not None else None
    if password:
        what = f"for the password of {describe(url)}"
        url = url.set(password=resolve_secret(str(url.password), environ, what))
    if url.get_backend_name() in _POSTGRES_NAMES and url.drivername in _POSTGRES_NAMES:
        url = url.set(drivername="postgresql+psycopg")
    return url


def create_source_engine(url: URL) -> Engine:
    """An engine that cannot write: PostgreSQL sessions are opened read-only by the source,
    SQLite connections refuse writes (`PRAGMA query_only`), and a missing SQLite file is an
    error rather than a new empty database."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if url.get_driver_name() == "psycopg" and not installed("psycopg"):
        raise SourceConfigError(missing_extra(POSTGRES, f"the SQL source {describe(url)}"))
    options: dict[str, object] = {"pool_pre_ping": True}
    if backend in _POSTGRES_NAMES and "application_name" not in url.query:
        # Lets the warehouse's DBA see whose queries these are (pg_stat_activity).
        options["connect_args"] = {"application_name": APPLICATION_NAME}
    return create_engine(url, **options)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database not in ("", ":memory:") and not database.startswith("file:"):
        path = Path(database).expanduser()
        if not path.is_file():
            raise SourceConfigError(f"no SQLite database file at {path} ({describe(url)})")
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    return engine
