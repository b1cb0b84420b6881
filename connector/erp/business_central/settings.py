"""Schema of a `source:` section with `kind: business_central` (API v2.0, Entra ID app).

The app registration needs the application permission `API.ReadWrite.All` of "Dynamics 365
Business Central" (there is no read-only one) with admin consent, and a card on the Business
Central page "Microsoft Entra Applications" whose permission sets only read (e.g. D365 READ).
Its client secret is a `${ENV}` reference, resolved only when the source is built.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.erp.http_settings import HttpSettings
from connector.secrets import SecretRef

_GUID = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_URL = r"^https?://[^\s/]+(:\d+)?/?$"


class BusinessCentralSettings(BaseModel):
    """Which tenant, environment and company, and the Entra ID app that reads them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["business_central"]
    tenant_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")]
    environment: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,30}$")] = "Production"
    company_id: Annotated[str, Field(pattern=_GUID)]
    client_id: Annotated[str, Field(min_length=1, description="the app registration's id")]
    client_secret: SecretRef
    base_url: Annotated[str, Field(pattern=_URL)] = "https://api.businesscentral.dynamics.com"
    login_url: Annotated[str, Field(pattern=_URL)] = "https://login.microsoftonline.com"
    scope: str = "https://api.businesscentral.dynamics.com/.default"
    local_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = Field(
        default=None,
        description="the company's local currency (LCY); unset: read from generalLedgerSetup",
    )
    page_size: int | None = Field(
        default=None, ge=1, le=20_000, description="Prefer: odata.maxpagesize (server: 20,000)"
    )
    http: HttpSettings = HttpSettings()

    @property
    def api_root(self) -> str:
        base = self.base_url.rstrip("/")
        return (
            f"{base}/v2.0/{self.tenant_id}/{self.environment}/api/v2.0/companies({self.company_id})"
        )

    @property
    def token_url(self) -> str:
        return f"{self.login_url.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token"
