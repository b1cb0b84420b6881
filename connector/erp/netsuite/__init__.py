"""NetSuite source: SuiteQL over REST with token-based authentication (OAuth 1.0a)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from connector.erp.base import Source
from connector.erp.netsuite.settings import NetSuiteSettings
from connector.erp.netsuite.source import NetSuiteSource
from connector.erp.netsuite.suiteql import SuiteQL
from connector.secrets import resolve_secret

if TYPE_CHECKING:
    import requests

Settings = NetSuiteSettings


def build(
    settings: NetSuiteSettings,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Source:
    """The source, its token secrets read from the environment now (`sleep` and `clock` are
    for tests: waits between retries, and the moment a pull starts)."""
    # The HTTP stack (requests, OAuth 1.0a): only a run that reads NetSuite loads it.
    import requests  # noqa: PLC0415
    from requests_oauthlib import OAuth1  # noqa: PLC0415

    from connector.erp.http import HttpClient  # noqa: PLC0415

    auth = OAuth1(
        client_key=_secret(settings.consumer_key, environ),
        client_secret=_secret(settings.consumer_secret, environ),
        resource_owner_key=_secret(settings.token_id, environ),
        resource_owner_secret=_secret(settings.token_secret, environ),
        signature_method="HMAC-SHA256",
        realm=settings.realm,
    )
    http = HttpClient(
        settings.http,
        authorize=_signed_per_request,
        session=session if session is not None else requests.Session(),
        sleep=sleep,
    )
    suiteql = SuiteQL(
        http,
        auth,
        settings.api_root,
        page_size=settings.page_size,
        max_rows=settings.max_rows_per_query,
    )
    return NetSuiteSource(suiteql, clock=clock)


def _signed_per_request(headers: dict[str, str], refresh: bool) -> None:
    """Nothing to add here: OAuth 1.0a signs each request's method and URL, which this hook
    does not see, so `OAuth1` signs as requests' `auth=` (again on every retry, with a new
    nonce). A token-based-auth token does not expire, so a 401 has nothing to refresh."""


def _secret(reference: str, environ: Mapping[str, str] | None) -> str:
    return resolve_secret(reference, environ, "to sign NetSuite requests")


__all__ = ["Settings", "build"]
