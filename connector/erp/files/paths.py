"""Which files the files source may read: only those inside the export folder.

The folder is named by the settings (`source.path`); the file names come from the column
mapping (`files.<kind>.path`, `manifest`). A name that leads out of the folder, by `..`, an
absolute path or a symlink in the export, would make arsync read any file its user can, and
echo its first line (the "header") into an error, the log and the state store. So every path is
resolved (symlinks followed) and refused unless it stays inside the folder, itself resolved (so
the folder may be a symlink). A symlink to another file inside the folder is fine.

The check is made when the path is about to be opened; someone able to swap files in the export
folder between that instant and the open is not guarded against.
"""

from __future__ import annotations

from pathlib import Path

from arsync.errors import SourceConfigError


def inside_folder(folder: Path, name: Path | str, key: str) -> Path:
    """`folder / name`, or a SourceConfigError when it resolves outside `folder`.

    `key` says where the name is set (`files.customers.path`); the message names it, the name
    and the folder, never where the path leads nor anything read from there.
    """
    path = folder / name
    root = folder.resolve()
    if not path.resolve().is_relative_to(root):
        raise SourceConfigError(
            f"the column mapping's {key} {str(name)!r} leads outside the export folder {root} "
            "(through `..`, an absolute path or a symlink): arsync reads only files inside it"
        )
    return path
