"""Schema of the `salesforce:` section of `config/arsync.yaml`.

Secrets are never written in YAML: a secret field holds a reference such as `${SF_PASSWORD}`,
resolved from the environment only when the connection is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.secrets import SecretRef


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JwtAuth(_Strict):
    """OAuth 2.0 JWT bearer: the server-to-server flow of a pre-authorised connected app."""

    mode: Literal["jwt"]
    username: str
    consumer_key: SecretRef
    private_key: SecretRef | None = Field(default=None, description="PEM text, from the env")
    private_key_file: Path | None = Field(default=None, description="path to a PEM file")


class PasswordAuth(_Strict):
    mode: Literal["password"]
    username: str
    password: SecretRef
    security_token: SecretRef | None = None


class TokenAuth(_Strict):
    """An existing session, e.g. from `sf org display`: no refresh when it expires."""

    mode: Literal["token"]
    instance_url: Annotated[str, Field(pattern=r"^https://")]
    access_token: SecretRef


Auth = Annotated[JwtAuth | PasswordAuth | TokenAuth, Field(discriminator="mode")]


class RetrySettings(_Strict):
    max_attempts: int = Field(default=5, ge=1, le=20)
    initial_wait_seconds: float = Field(default=1.0, ge=0)
    max_wait_seconds: float = Field(default=30.0, ge=0)


class SalesforceSettings(_Strict):
    auth: Auth
    domain: str = Field(
        default="login",
        description="login (production), test (sandbox) or your My Domain, e.g. acme.my",
    )
    api_version: Annotated[str, Field(pattern=r"^\d{2,3}\.0$")] = "59.0"
    client_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")] = "arsync"
    bulk_threshold: int = Field(
        default=2000, ge=1, description="more changed Accounts than this go by Bulk API 2.0"
    )
    collection_size: int = Field(default=200, ge=1, le=200)
    ids_per_query: int = Field(
        default=300, ge=1, le=2000, description="ids in one SOQL IN list (URL length bound)"
    )
    max_daily_api_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="stop before the org's daily API use would pass this share of its limit",
    )
    retry: RetrySettings = RetrySettings()
    bulk_poll_seconds: float = Field(default=2.0, ge=0)
    bulk_timeout_seconds: float = Field(default=1800.0, gt=0)
