"""Alembic's environment for the state store.

`jobs.state.migrate` passes an open connection in `config.attributes["connection"]`; nothing is
read from an alembic.ini. Offline (SQL script) mode is not supported: the worker migrates its own
database when it opens it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from jobs.state.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters a table by copying it; batch mode does that for the migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("the state store's migrations run online only (jobs.state.migrate)")
_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("run the state store's migrations through jobs.state.migrate.upgrade")
run_migrations(_connection)
