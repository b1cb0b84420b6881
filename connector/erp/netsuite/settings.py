"""Schema of a `source:` section with `kind: netsuite` (SuiteQL over REST, token-based auth).

Secrets are `${ENV}` references resolved only when the source is built; the account id is the
one NetSuite shows under Setup > Company > Company Information (e.g. `1234567` or `1234567_SB1`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.erp.http_settings import HttpSettings
from connector.secrets import SecretRef

SUITEQL_MAX_ROWS = 100_000  # NetSuite returns at most this many rows for one SuiteQL query


class NetSuiteSettings(BaseModel):
    """Where the account is and which integration token reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["netsuite"]
    account_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9]+([_-][A-Za-z0-9]+)*$")]
    base_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(:\d+)?/?$")] | None = Field(
        default=None,
        description="default https://<account>.suitetalk.api.netsuite.com (override for tests)",
    )
    consumer_key: SecretRef
    consumer_secret: SecretRef
    token_id: SecretRef
    token_secret: SecretRef
    page_size: int = Field(default=1000, ge=1, le=1000, description="rows per SuiteQL page")
    max_rows_per_query: int = Field(
        default=SUITEQL_MAX_ROWS,
        ge=1,
        le=SUITEQL_MAX_ROWS,
        description="past this many rows a query is continued in a new id window",
    )
    http: HttpSettings = HttpSettings()

    @property
    def realm(self) -> str:
        """The OAuth realm: the account id upper-case with `_` (`1234567_SB1`)."""
        return self.account_id.upper().replace("-", "_")

    @property
    def api_root(self) -> str:
        """The account's REST host: the account id lower-case with `-` (`1234567-sb1`)."""
        if self.base_url is not None:
            return self.base_url.rstrip("/")
        host = self.account_id.lower().replace("_", "-")
        return f"https://{host}.suitetalk.api.netsuite.com"
