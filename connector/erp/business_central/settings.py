"""Schema of a `source:` section with `kind: business_central` (API v2.0, Entra ID app).

The app registration needs the application permission `API.ReadWrite.All` of "Dynamics 365
Business Central" (there is no read-only one) with admin consent, and a card on the Business
Central page "Microsoft Entra Applications" whose permission sets only read (e.g. D365 READ).
Its client secret is a `${ENV}` reference, resolved only when the source is built.

Requests are paced by the environment's type (Microsoft's limits for OData and API requests: 600
a minute in a production environment, 300 in a sandbox). The type is a setting: an environment's
name says nothing reliable about it (a sandbox may be called anything), and asking the admin
center API would need an admin permission a read-only sync should not hold.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.erp.http_settings import HttpSettings
from connector.secrets import SecretRef

_GUID = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_URL = r"^https?://[^\s/]+(:\d+)?/?$"
EnvironmentType = Literal["production", "sandbox"]
# Requests a minute Business Central Online allows per environment type (OData and API alike).
REQUESTS_PER_MINUTE: dict[EnvironmentType, int] = {"production": 600, "sandbox": 300}


class BusinessCentralSettings(BaseModel):
    """Which tenant, environment and company, and the Entra ID app that reads them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["business_central"]
    tenant_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")]
    environment: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,30}$")] = "Production"
    environment_type: EnvironmentType = Field(
        default="production", description="sets the request rate: 600 a minute, a sandbox 300"
    )
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

    @model_validator(mode="after")
    def _rate_within_the_limit(self) -> Self:
        """An own `http.requests_per_minute` may be lower than the environment's limit, never
        higher: above it Business Central answers 429 and the run only waits longer."""
        asked = self.http.requests_per_minute
        limit = self.requests_per_minute
        if asked is not None and asked > limit:
            raise ValueError(
                f"http.requests_per_minute {asked:g} is above the {limit} a minute Business "
                f"Central allows a {self.environment_type} environment: set {limit} or less"
            )
        return self

    @property
    def requests_per_minute(self) -> int:
        """The documented limit of this environment's type."""
        return REQUESTS_PER_MINUTE[self.environment_type]

    @property
    def api_root(self) -> str:
        base = self.base_url.rstrip("/")
        return (
            f"{base}/v2.0/{self.tenant_id}/{self.environment}/api/v2.0/companies({self.company_id})"
        )

    @property
    def token_url(self) -> str:
        return f"{self.login_url.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token"
