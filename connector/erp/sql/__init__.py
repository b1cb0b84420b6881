"""The `sql` ERP source: a warehouse or an ERP's reporting database, read through a mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog

from connector.erp.base import Source
from connector.erp.sql.database import create_source_engine, describe, resolve_url
from connector.erp.sql.settings import Settings
from connector.erp.sql.source import SqlSource

if TYPE_CHECKING:
    import requests

__all__ = ["Settings", "SqlSource", "build"]

log = structlog.get_logger(__name__)


def build(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> Source:
    """The configured source; secrets are read from `environ` (default: the process's).

    `session` is part of every source's `build` signature; a database needs no HTTP session.
    """
    del session
    url = resolve_url(settings.url, environ)
    engine = create_source_engine(url)
    log.info("erp.sql.configured", database=describe(url), dialect=engine.dialect.name)
    return SqlSource(settings, engine)
