"""Which source a run reads: a registry from the `kind` of its settings to the builder of
that kind, so that a new ERP is one entry here and one settings class in `jobs/settings.py`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from connector.erp import business_central, netsuite, quickbooks, sql, xero
from connector.erp.base import Source
from connector.erp.files.source import FileSource
from jobs.settings import RunSettings

if TYPE_CHECKING:
    import requests

Builder = Callable[[Any, Mapping[str, str] | None, "requests.Session | None"], Source]
"""settings of one kind, the environment for its secrets, an HTTP session (tests) -> source"""

BUILDERS: dict[str, Builder] = {
    "sql": sql.build,
    "quickbooks": quickbooks.build,
    "xero": xero.build,
    "netsuite": netsuite.build,
    "business_central": business_central.build,
}


def build_source(
    settings: RunSettings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> Source:
    """The configured source, its secrets read from the environment now."""
    source = settings.app.source
    if source.kind == "files":  # the only kind whose builder needs a second file, the mapping
        if settings.source_mapping is None:
            raise ValueError("a files source is loaded with its mapping (load_run_settings)")
        return FileSource(source.path, settings.source_mapping)
    return BUILDERS[source.kind](source, environ, session)
