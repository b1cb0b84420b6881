"""Secrets in settings: `${NAME}` references, resolved from the environment when needed.

A secret is never written in YAML; a setting holds a reference, and the value is read only at
the moment a connection opens. Errors name the variable, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator

from connector.errors import FatalError

_REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")


def _reference(value: str) -> str:
    if not _REFERENCE.match(value):
        raise ValueError(
            "secrets come from the environment: write a reference such as ${SF_PASSWORD} "
            "and set that variable where arsync runs"
        )
    return value


SecretRef = Annotated[str, AfterValidator(_reference)]


def resolve_secret(
    reference: str,
    environ: Mapping[str, str] | None = None,
    purpose: str = "to log in",
) -> str:
    """The value of `${NAME}` from the environment; the error names the variable, never a value."""
    match = _REFERENCE.match(reference)
    if match is None:
        raise FatalError("a secret setting is not an environment reference")
    name = match.group(1)
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise FatalError(f"environment variable {name} is not set (needed {purpose})")
    return value
