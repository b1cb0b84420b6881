"""The SQLite file of the state store: readable by its owner only, never silently replaced by a
new history, and named with what to do when it is damaged, instead of a traceback.

- **Mode.** A new file is made 0600, and each folder arsync creates for it 0700, by
  `arsync.privatefiles`, as the refresh-token files are. SQLite gives its `-wal`, `-shm` and
  `-journal` files the mode of the database file, so they are 0600 too. The process umask is
  left alone: it is process-wide, and changing it around the open would race with other
  threads creating files. An existing file, and a folder arsync did not create, keep their mode.
- **A new file appears whole.** It is made under a temporary name, already a valid empty
  database in WAL mode, then linked into place; so no arsync ever leaves a 0-byte state file,
  even while two first runs start together.
- **A 0-byte file is refused**, not taken for a new database as SQLite would: it is what a full
  disk, a failed copy or a restore gone wrong leaves of a history, and a new history written
  over it would hide that. A process creating the file holds its write lock until its first
  commit, so this waits for such a writer first (another tool, or an older arsync).
- **A damaged file** (SQLite's SQLITE_CORRUPT "database disk image is malformed" or
  SQLITE_NOTADB "file is not a database") is a `StateError`, exit 3, naming the file and the
  fix. A truncated file is found when the store opens: SQLite compares the page count in the
  header with the file's size on its first read. `PRAGMA quick_check` is not run at open: it
  reads every page, 0.1 s for a 60 MB file in the page cache and far more from a cold disk, on
  every command (`arsync runs` too); damage deeper in the file is reported the same way by the
  first query that reaches it (`StateStore` translates it).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import structlog
from sqlalchemy import Engine

from arsync.privatefiles import make_private_dirs, write_private
from jobs.state.errors import StateError

log = structlog.get_logger(__name__)

_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_CREATOR_PATIENCE_SECONDS = 30.0


def prepare(path: Path) -> None:
    """Before SQLite opens `path`: create it, owner-only, when it does not exist; refuse it when
    it exists and is empty."""
    try:
        make_private_dirs(path.parent)
        if not path.exists() and write_private(path, _new_database, replace=False):
            log.info("state.created", file=str(path))
            return
    except (OSError, sqlite3.Error) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise StateError(f"cannot create the state database {path}: {reason}") from None
    _refuse_empty(path)


def damaged(error: BaseException, engine: Engine) -> StateError | None:
    """The error to raise when `error` (SQLAlchemy's, or the driver's) says the SQLite file is
    not a whole database; None for any other error."""
    original = getattr(error, "orig", error)
    if not isinstance(original, sqlite3.DatabaseError):
        return None
    if original.sqlite_errorcode & 0xFF not in _DAMAGE_CODES:  # the primary code
        return None
    path = engine.url.database or "(in memory)"
    return StateError(
        f"the state database {path} is damaged ({str(original).strip()}): SQLite cannot read "
        "it, so arsync cannot know what earlier runs did. Restore it from a backup; or, to "
        "start a new run history on purpose, move it aside together with its -wal and -shm "
        f"files if there are any (for example mv {path} {path}.damaged) and run again."
    )


def _new_database(path: Path) -> None:
    """Make `path` (empty, owner-only) a valid empty database: WAL mode writes its header."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode = WAL")


def _refuse_empty(path: Path) -> None:
    if not _is_empty(path):
        return
    try:
        # A process creating the file holds the write lock until its first commit: wait for it.
        with contextlib.closing(
            sqlite3.connect(path, timeout=_CREATOR_PATIENCE_SECONDS, isolation_level=None)
        ) as probe:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
    except sqlite3.Error as error:
        raise StateError(f"cannot open the state database {path}: {error}") from None
    if _is_empty(path):
        raise StateError(
            f"the state database {path} is empty (0 bytes): it holds no run history. arsync "
            "will not start a new history over an existing file, which may be a history lost "
            "to a full disk or a failed copy. Restore it from a backup; or, to start a new "
            "history on purpose, delete the file (or move it away) and run again."
        )


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return False  # removed meanwhile: SQLite will say what it finds
