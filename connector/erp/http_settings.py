"""The HTTP knobs every API source's settings share, apart from the client that uses them,
and the refresh-token credentials QuickBooks Online and Xero share (`RefreshTokenAuth`).

The settings of every source kind are loaded with any config (`jobs/settings.py`); keeping
them here means a run that reads files never loads requests and tenacity (`http.py`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from connector.secrets import SecretRef


class HttpSettings(BaseModel):
    """Knobs every API source shares; each source sets its own API's rate limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=20)
    initial_wait_seconds: float = Field(default=1.0, ge=0)
    max_wait_seconds: float = Field(default=60.0, ge=0)
    requests_per_minute: float | None = Field(
        default=None, gt=0, description="None: the source's own documented limit"
    )


class RefreshTokenAuth(BaseModel):
    """The OAuth 2.0 credentials of a source whose refresh token rotates on use (QuickBooks
    Online, Xero), and its HTTP knobs: the settings both share, declared once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: SecretRef
    client_secret: SecretRef
    refresh_token: SecretRef
    refresh_token_file: Path | None = Field(
        default=None,
        description="where arsync keeps the newest refresh token (read first, rewritten on "
        "rotation); without it the operator must store each new token in the variable",
    )
    http: HttpSettings = HttpSettings()
