"""`arsync init`: a working set of settings, mappings and the sample export in a folder.

A `pip install arsync` user has no repository to copy `config/` from, so the wheel carries the
defaults as package data (under `jobs/defaults/`, see pyproject's force-include) and this writes
them out in the repository's own layout, where every relative path in them already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

# What `init` writes, in the repository's layout: config/arsync.yaml names the rest relative to
# itself, so the folder runs as it is written; salesforce/ is the SFDX package to deploy.
DEFAULT_FOLDERS = ("config", "mappings", "examples/sample", "salesforce")
CHECKOUT = Path(__file__).resolve().parents[1]


class ScaffoldConflictError(Exception):
    """`init` would overwrite files a person may have edited; it writes nothing."""

    def __init__(self, target: Path, existing: list[str]) -> None:
        self.target = target
        self.existing = existing
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        listed = ", ".join(existing[:5]) + more
        super().__init__(f"{target} already has {listed}; nothing was written")


@dataclass(frozen=True)
class ScaffoldResult:
    """Where the files went, for the CLI's next steps."""

    target: Path
    written: tuple[str, ...]

    @property
    def config(self) -> Path:
        return self.target / "config/arsync.yaml"


def defaults_root() -> Traversable:
    """The defaults: package data in an installed wheel, the repository's own files in a
    checkout (an editable install has no `jobs/defaults/`, and needs none)."""
    packaged = files("jobs") / "defaults"
    return packaged if packaged.is_dir() else CHECKOUT


def default_files(root: Traversable | None = None) -> list[str]:
    """Every default file, as a relative path with "/" separators, in a stable order."""
    base = root if root is not None else defaults_root()
    names: list[str] = []
    for folder in DEFAULT_FOLDERS:
        names.extend(_walk(base.joinpath(*folder.split("/")), folder))
    return sorted(names)


def _walk(node: Traversable, prefix: str) -> list[str]:
    """Files under `node`, no hidden files and no caches."""
    found: list[str] = []
    for child in node.iterdir():
        if child.name.startswith((".", "__")):
            continue
        name = f"{prefix}/{child.name}"
        found.extend(_walk(child, name) if child.is_dir() else [name])
    return found


def write_defaults(target: Path, *, force: bool = False) -> ScaffoldResult:
    """Copy the default files into `target`, creating it; refuse to overwrite unless `force`."""
    root = defaults_root()
    names = default_files(root)
    existing = [name for name in names if (target / name).exists()]
    if existing and not force:
        raise ScaffoldConflictError(target, existing)
    for name in names:
        source = root.joinpath(*name.split("/"))
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(source.read_bytes())
    return ScaffoldResult(target=target, written=tuple(names))
