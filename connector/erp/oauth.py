"""OAuth 2.0 access tokens for ERP APIs: client credentials and refresh tokens.

A token is fetched when first needed and again after a 401 or when it is about to expire.
Secrets arrive resolved (from the environment) and never appear in a log line or an error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
import structlog

from arsync.errors import FatalError
from arsync.redact import register_secret

log = structlog.get_logger(__name__)
_EARLY_SECONDS = 60  # refresh this long before the token says it expires


@dataclass
class OAuthToken:
    """`authorize(headers, refresh)` for `connector.erp.http.HttpClient`.

    `grant` is "client_credentials" (Entra ID for Business Central) or "refresh_token"
    (QuickBooks Online, Xero). A refresh-token grant may rotate the refresh token: the new one
    goes to `on_rotate`, so the caller can keep it for the next run.
    """

    token_url: str
    client_id: str
    client_secret: str
    grant: str = "client_credentials"
    refresh_token: str | None = None
    scope: str | None = None
    on_rotate: Callable[[str], None] | None = None
    session: requests.Session = field(default_factory=requests.Session)
    clock: Callable[[], float] = time.time
    _access_token: str | None = None
    _expires_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def authorize(self, headers: dict[str, str], refresh: bool) -> None:
        with self._lock:
            if refresh or self._access_token is None or self.clock() >= self._expires_at:
                self._fetch()
            headers["Authorization"] = f"Bearer {self._access_token}"

    def _fetch(self) -> None:
        data = {"grant_type": self.grant}
        if self.grant == "refresh_token":
            if not self.refresh_token:
                raise FatalError("a refresh token is needed to log in to the ERP API")
            data["refresh_token"] = self.refresh_token
        if self.scope:
            data["scope"] = self.scope
        response = self.session.post(
            self.token_url, data=data, auth=(self.client_id, self.client_secret), timeout=60
        )
        if response.status_code != 200:
            raise FatalError(
                f"the ERP's token endpoint refused the login (HTTP {response.status_code}): "
                f"{_error_code(response)}"
            )
        body = response.json()
        self._access_token = str(body["access_token"])
        register_secret(self._access_token)
        self._expires_at = self.clock() + float(body.get("expires_in", 3600)) - _EARLY_SECONDS
        rotated = body.get("refresh_token")
        if rotated and rotated != self.refresh_token:
            self.refresh_token = str(rotated)
            register_secret(self.refresh_token)
            if self.on_rotate is not None:
                self.on_rotate(self.refresh_token)
        log.info("erp.token_obtained", grant=self.grant, expires_in=body.get("expires_in"))


def _error_code(response: requests.Response) -> str:
    """The OAuth error code only: descriptions sometimes echo what was sent."""
    try:
        return str(response.json().get("error", "unknown_error"))
    except ValueError:
        return "unknown_error"
