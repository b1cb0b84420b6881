"""Microsoft Dynamics 365 Business Central source: API v2.0 with an Entra ID app (OAuth 2.0
client credentials)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from connector.erp.base import Source
from connector.erp.business_central.odata import OData
from connector.erp.business_central.settings import BusinessCentralSettings
from connector.secrets import resolve_secret

if TYPE_CHECKING:
    import requests

Settings = BusinessCentralSettings


def build(
    settings: BusinessCentralSettings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Source:
    """The source, its client secret read from the environment now (`sleep` and `clock` are
    for tests: waits between retries, and the moment a pull starts)."""
    # The HTTP stack (requests, OAuth 2.0; the source catches the client's errors): only a run
    # that reads Business Central loads it.
    import requests  # noqa: PLC0415

    from connector.erp.business_central.source import BusinessCentralSource  # noqa: PLC0415
    from connector.erp.http import HttpClient  # noqa: PLC0415
    from connector.erp.oauth import OAuthToken  # noqa: PLC0415

    session = session if session is not None else requests.Session()
    token = OAuthToken(
        token_url=settings.token_url,
        client_id=settings.client_id,
        client_secret=_secret(settings.client_secret, environ),
        grant="client_credentials",
        scope=settings.scope,
        session=session,
        clock=clock,
    )
    http = HttpClient(
        settings.http,
        authorize=token.authorize,
        default_per_minute=settings.requests_per_minute,
        session=session,
        sleep=sleep,
    )
    odata = OData(http, settings.api_root, page_size=settings.page_size)
    return BusinessCentralSource(odata, local_currency=settings.local_currency, clock=clock)


def _secret(reference: str, environ: Mapping[str, str] | None) -> str:
    return resolve_secret(reference, environ, "to log in to Business Central")


__all__ = ["Settings", "build"]
