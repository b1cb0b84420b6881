"""Files and folders only their owner may read: the refresh-token files, the SQLite state store.

Both hold what another local user must not see (a token that logs in to the ERP; the run
history, with every customer's balances and every run's errors), so arsync creates such a file
0600, and each folder it creates for one 0700. A folder that already exists keeps its mode: it
was made on purpose by someone (`/var/lib`, a Docker volume) who chose it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def make_private_dirs(folder: Path) -> None:
    """Create `folder` and each missing parent 0700; leave the ones that exist as they are.

    `Path.mkdir(parents=True, mode=...)` would give the parents the umask's default (0755).
    """
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue  # made at this instant by another process: its mode is its maker's
        path.chmod(FOLDER_MODE)  # mkdir's mode passes through the umask


def write_private(path: Path, fill: Callable[[Path], object], *, replace: bool = True) -> bool:
    """Put a new owner-only file at `path`, filled by `fill` under a temporary name beside it:
    no reader ever sees it half-written, nor readable by others for an instant.

    With `replace=False` an existing file is never overwritten: when `path` exists (perhaps
    made meanwhile by another process) it is left as it is and this returns False. Raises the
    OSError that stopped it; the temporary file is removed either way.
    """
    make_private_dirs(path.parent)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(descriptor)
    temporary = Path(name)
    try:
        temporary.chmod(FILE_MODE)  # mkstemp's mode already; said where it matters
        fill(temporary)
        if replace:
            temporary.replace(path)
            return True
        return _link_new(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _link_new(temporary: Path, path: Path) -> bool:
    """`temporary` at `path` too, unless `path` exists: a hard link appears whole, at once."""
    try:
        path.hardlink_to(temporary)
    except FileExistsError:
        return False
    except OSError:
        # A file system without hard links: copy into a file this call alone creates.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as target:
            target.write(temporary.read_bytes())
    return True
