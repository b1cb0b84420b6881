"""Secrets of the OAuth sources: environment references, and rotating refresh tokens kept
between runs.

QuickBooks Online and Xero hand out a new refresh token when the old one is used, and the old
one soon stops working. A run that does not keep the new one leaves the next run locked out,
so the token is written to a file the operator names (`refresh_token_file`) the moment it
arrives, before the run goes on; the next run reads that file first and falls back to the
environment variable only when the file does not exist yet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests
import structlog

from arsync.errors import FatalError
from arsync.privatefiles import write_private
from arsync.redact import register_secret
from connector.erp.http import HttpClient
from connector.erp.http_settings import HttpSettings
from connector.erp.oauth import OAuthToken
from connector.secrets import REFERENCE, resolve_secret

log = structlog.get_logger(__name__)


def resolve(reference: str, erp: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of `${NAME}`; the error names the variable and the ERP, never a value."""
    try:
        return resolve_secret(reference, environ)
    except FatalError:
        match = REFERENCE.match(reference)
        name = match.group(1) if match else "(not an ${NAME} reference)"
        raise FatalError(
            f"environment variable {name} is not set (needed to log in to {erp})"
        ) from None


@dataclass(frozen=True)
class RefreshTokenStore:
    """Where a rotating refresh token lives: a file arsync keeps up to date, else the env."""

    reference: str
    file: Path | None
    erp: str

    def load(self, environ: Mapping[str, str] | None = None) -> str:
        """The newest refresh token: the file's when it holds one, else the variable's."""
        if self.file is not None:
            try:
                token = self.file.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                token = ""
            except OSError as error:
                raise FatalError(
                    f"{self.file}: cannot read the {self.erp} refresh token ({error.strerror})"
                ) from None
            if token:
                register_secret(token)
                return token
        return resolve(self.reference, self.erp, environ)

    def on_rotate(self, then: Callable[[str], None] | None = None) -> Callable[[str], None]:
        """The callback for `OAuthToken.on_rotate`: keep the new token, then call `then`."""

        def rotated(token: str) -> None:
            self.save(token)
            if then is not None:
                then(token)

        return rotated

    def save(self, token: str) -> None:
        """Write the token atomically, readable by the owner only; without a file, warn."""
        if self.file is None:
            log.warning(
                "erp.refresh_token_rotated",
                erp=self.erp,
                persisted=False,
                action=f"set refresh_token_file, or store the new token in "
                f"{self.reference} yourself before the next run",
            )
            return
        try:
            write_private(self.file, lambda path: path.write_text(token, encoding="utf-8"))
        except OSError as error:
            raise FatalError(
                f"{self.file}: cannot keep the new {self.erp} refresh token ({error.strerror}); "
                "the old one no longer works: authorise arsync again"
            ) from None
        log.info("erp.refresh_token_rotated", erp=self.erp, persisted=True, file=str(self.file))


class RefreshTokenSettings(Protocol):
    """What a refresh-token source's settings provide (QuickBooks Online, Xero)."""

    @property
    def token_url(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def refresh_token(self) -> str: ...
    @property
    def refresh_token_file(self) -> Path | None: ...
    @property
    def http(self) -> HttpSettings: ...


def refresh_token_client(
    settings: RefreshTokenSettings,
    erp: str,
    per_minute: float,
    *,
    environ: Mapping[str, str] | None,
    session: requests.Session | None,
    sleep: Callable[[float], None],
    on_rotate: Callable[[str], None] | None,
    hooks: tuple[Callable[..., None], ...] = (),
) -> HttpClient:
    """The HTTP client of a source that logs in with a rotating OAuth 2.0 refresh token, on
    `session` (a new one by default) with the ERP's response `hooks` added."""
    environ = os.environ if environ is None else environ
    session = session or requests.Session()
    session.hooks["response"].extend(hooks)
    store = RefreshTokenStore(settings.refresh_token, settings.refresh_token_file, erp)
    token = OAuthToken(
        token_url=settings.token_url,
        client_id=resolve(settings.client_id, erp, environ),
        client_secret=resolve(settings.client_secret, erp, environ),
        grant="refresh_token",
        refresh_token=store.load(environ),
        on_rotate=store.on_rotate(on_rotate),
        session=session,
    )
    return HttpClient(
        settings.http, token.authorize, default_per_minute=per_minute, session=session, sleep=sleep
    )
