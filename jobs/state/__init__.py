"""The state store: runs, locks, cursors, written values and score history, in SQLite or
PostgreSQL through SQLAlchemy, its schema kept by the Alembic migrations shipped in this
package."""

from jobs.state.errors import LockHeldError, RunStateError, StateError, StateUrlError
from jobs.state.finished import FinishedRun, NextPull
from jobs.state.migrate import upgrade
from jobs.state.runs import FULL_PULL, RunRecord
from jobs.state.store import StateStore

__all__ = [
    "FULL_PULL",
    "FinishedRun",
    "LockHeldError",
    "NextPull",
    "RunRecord",
    "RunStateError",
    "StateError",
    "StateStore",
    "StateUrlError",
    "upgrade",
]
