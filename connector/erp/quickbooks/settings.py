"""Schema of a `source:` section with `kind: quickbooks` (QuickBooks Online Accounting API).

Secrets are `${ENV}` references resolved when the source is built. Intuit rotates the refresh
token: name a `refresh_token_file` so arsync can keep the newest one between runs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from arsync.records import PaymentMethod
from connector.erp.http_settings import RefreshTokenAuth

PRODUCTION_URL = "https://quickbooks.api.intuit.com"
SANDBOX_URL = "https://sandbox-quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"  # noqa: S105 - a public endpoint, not a secret
Url = Annotated[str, Field(pattern=r"^https?://[^\s?#]+$")]


class QuickBooksSettings(RefreshTokenAuth):
    """One QuickBooks Online company (realm) and the app's OAuth 2.0 credentials."""

    kind: Literal["quickbooks"]
    realm_id: Annotated[str, Field(pattern=r"^[0-9]{1,32}$", description="the company id")]
    base_url: Url = Field(
        default=PRODUCTION_URL, description=f"{SANDBOX_URL} for a sandbox company"
    )
    token_url: Url = TOKEN_URL
    minor_version: int = Field(
        default=75, ge=75, description="the API minor version every request is pinned to"
    )
    page_size: int = Field(default=1000, ge=1, le=1000, description="MAXRESULTS per query")
    payment_methods: dict[str, PaymentMethod] = Field(
        default_factory=dict,
        description="QuickBooks payment method name -> check, ach, card, wire or other, for "
        "names arsync cannot classify itself",
    )
