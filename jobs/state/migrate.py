"""Bring a state database to the schema this code expects, with Alembic but without alembic.ini.

The migrations ship inside the package (`jobs/state/migrations/`), so an installed wheel upgrades
its own database when the store opens; the connection is handed to Alembic's `env.py` through
`Config.attributes`, and the whole upgrade is one transaction.

A new revision, after changing `models.py` (then edit it: no model imports, explicit names):

    from alembic import command
    from jobs.state.db import make_engine
    from jobs.state.migrate import alembic_config, upgrade
    engine = make_engine("sqlite:////tmp/rev.db"); upgrade(engine)
    with engine.begin() as connection:
        command.revision(alembic_config(connection), "what changed", autogenerate=True,
                         rev_id="0003")
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from jobs.state.db import SQLITE_IMMEDIATE, advisory_key

MIGRATIONS = Path(__file__).resolve().with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's settings, built in code: the package's migrations, and the connection to use."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    # Module names that mypy and ruff accept: v0001_initial_schema.py
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The latest revision shipped with this code."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # only a broken installation ships no revision
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return revision


def current(engine: Engine) -> str | None:
    """The revision the database is at (None when it has never been migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision`, in one transaction.

    Two processes may open a new database at once: on PostgreSQL a transaction-scoped advisory
    lock makes the second wait and then find nothing to do; on SQLite `BEGIN IMMEDIATE` does.
    """
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_IMMEDIATE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                key = advisory_key("arsync.state.migrate")
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            command.upgrade(alembic_config(connection), revision)
