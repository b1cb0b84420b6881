"""Schema of a `source:` section with `kind: xero` (Xero Accounting API).

Secrets are `${ENV}` references resolved when the source is built. Xero rotates the refresh
token on every use: name a `refresh_token_file` so arsync can keep the newest one between runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from connector.erp.http_settings import RefreshTokenAuth

API_URL = "https://api.xero.com/api.xro/2.0"
TOKEN_URL = "https://identity.xero.com/connect/token"  # noqa: S105 - a public endpoint, not a secret
Url = Annotated[str, Field(pattern=r"^https?://[^\s?#]+$")]


class XeroSettings(RefreshTokenAuth):
    """One Xero organisation (tenant) and the app's OAuth 2.0 credentials."""

    kind: Literal["xero"]
    tenant_id: Annotated[
        str,
        Field(
            pattern=r"^[0-9A-Fa-f-]{32,36}$",
            description="the organisation's tenantId, from GET https://api.xero.com/connections",
        ),
    ]
    base_url: Url = API_URL
    token_url: Url = TOKEN_URL
