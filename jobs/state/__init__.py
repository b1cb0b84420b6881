"""The state store: runs, watermarks, quarantine, outcomes, score history and the sync lock,
in SQLite or PostgreSQL through SQLAlchemy, its schema kept by the Alembic migrations shipped in
this package."""

from jobs.state.errors import LockHeldError, RunStateError, StateError, StateUrlError
from jobs.state.migrate import upgrade
from jobs.state.store import RunRecord, StateStore

__all__ = [
    "LockHeldError",
    "RunRecord",
    "RunStateError",
    "StateError",
    "StateStore",
    "StateUrlError",
    "upgrade",
]
