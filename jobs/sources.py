"""Which source a run reads, by the `kind` of its settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from connector.erp import business_central, netsuite, quickbooks, sql, xero
from connector.erp.base import Source
from connector.erp.files.source import FileSource
from jobs.settings import FileSourceSettings, RunSettings

if TYPE_CHECKING:
    import requests


def build_source(
    settings: RunSettings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> Source:
    """The configured source, its secrets read from the environment now."""
    source = settings.app.source
    if isinstance(source, FileSourceSettings):
        assert settings.source_mapping is not None  # noqa: S101 - loaded with every files source
        return FileSource(source.path, settings.source_mapping)
    if isinstance(source, sql.Settings):
        return sql.build(source, environ, session)
    if isinstance(source, quickbooks.Settings):
        return quickbooks.build(source, environ, session)
    if isinstance(source, xero.Settings):
        return xero.build(source, environ, session)
    if isinstance(source, netsuite.Settings):
        return netsuite.build(source, environ, session)
    return business_central.build(source, environ, session)
