"""Engines for the state store: which URLs are accepted, and how each database is set up.

A URL may name its password as an environment reference,
`postgresql://arsync:${ARSYNC_DB_PASSWORD}@db/arsync`, so that no secret is written in
`config/arsync.yaml`; the password is never logged nor put in an error message (`describe()`
hides it).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from arsync.extras import POSTGRES, installed, missing_extra
from arsync.redact import register_secret
from jobs.state import sqlitefile
from jobs.state.errors import StateUrlError

_REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")
_POSTGRES_NAMES = ("postgresql", "postgres")

SQLITE_IMMEDIATE = "arsync_sqlite_immediate"
"""Execution option: begin this connection's transaction with `BEGIN IMMEDIATE` on SQLite, so a
read-then-write transaction (taking the lock, finishing a run) holds the write lock from its
first statement, instead of failing half-way when another process wrote in between."""


def parse_url(url: str, environ: Mapping[str, str] | None = None) -> URL:
    """The URL as SQLAlchemy reads it: `postgresql://` goes to psycopg 3, `${NAME}` passwords are
    read from the environment."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # The text may hold a password: say what is wrong, not what was given.
        raise StateUrlError(
            "the state database URL is not a URL such as sqlite:///state/arsync.db or "
            "postgresql://user@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend in _POSTGRES_NAMES and parsed.drivername in _POSTGRES_NAMES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", *_POSTGRES_NAMES):
        raise StateUrlError(
            f"the state database must be SQLite or PostgreSQL, not {describe(parsed)}"
        )
    match = _REFERENCE.match(parsed.password or "") if parsed.password else None
    if match:
        name = match.group(1)
        value = (os.environ if environ is None else environ).get(name)
        if not value:
            raise StateUrlError(
                f"environment variable {name} is not set (the password of {describe(parsed)})"
            )
        register_secret(value)
        parsed = parsed.set(password=value)
    return parsed


def describe(url: URL | Engine) -> str:
    """The URL with its password hidden: the only form of it that goes into a log or an error."""
    if isinstance(url, Engine):
        url = url.url
    return url.render_as_string(hide_password=True)


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def make_engine(url: str | URL, environ: Mapping[str, str] | None = None) -> Engine:
    """An engine for the URL. A SQLite file is created owner-only, or refused when empty
    (`jobs.state.sqlitefile`); foreign keys are enforced, and SQLAlchemy (not the sqlite3
    module) emits BEGIN, so that transactions are real: DDL in migrations rolls back, and
    `SQLITE_IMMEDIATE` can take the write lock up front."""
    parsed = url if isinstance(url, URL) else parse_url(url, environ)
    if parsed.get_backend_name() != "sqlite":
        if parsed.get_driver_name() == "psycopg" and not installed("psycopg"):
            raise StateUrlError(missing_extra(POSTGRES, f"the state database {describe(parsed)}"))
        return create_engine(parsed, pool_pre_ping=True)

    database = parsed.database or ""
    memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    options: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if memory:
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif not database.startswith("file:"):
        sqlitefile.prepare(Path(database))  # the path as SQLite opens it: no ~ expansion
    engine = create_engine(parsed, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if not memory:
            # Readers (`arsync runs`) never block the nightly writer, nor it them.
            _switch_to_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _switch_to_wal(cursor: sqlite3.Cursor, patience_seconds: float = 30.0) -> None:
    """`PRAGMA journal_mode = WAL`, waiting while another process creates the same new file.

    SQLite's busy timeout does not cover this switch: on a new file that another run is
    writing it fails at once with "database is locked". Once the file is in WAL mode the pragma
    takes no lock, so this waits only for the very first runs.
    """
    deadline = time.monotonic() + patience_seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def advisory_key(name: str) -> int:
    """The signed 64-bit key PostgreSQL advisory locks take, the same in every process."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
