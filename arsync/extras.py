"""The optional installs: the PostgreSQL driver and the XLSX reader come with extras
(`pip install 'arsync[postgres]'`, `'arsync[xlsx]'`), not with `pip install arsync`, so that
the default install stays lighter. A run that needs one and lacks it says which extra to
install, instead of failing on an import deep in SQLAlchemy or the file reader."""

from __future__ import annotations

from importlib.util import find_spec

POSTGRES = "postgres"
XLSX = "xlsx"


def installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it (cheap on every run)."""
    return find_spec(module) is not None


def missing_extra(extra: str, needed_for: str) -> str:
    """The message for a run that needs an extra that is not installed."""
    return (
        f"{needed_for} needs the {extra} extra, which is not installed: "
        f"pip install 'arsync[{extra}]'"
    )
