"""Secrets in settings: `${NAME}` references, resolved from the environment when needed.

A secret is never written in YAML; a setting holds a reference, and the value is read only at
the moment a connection opens. Errors name the variable, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import AfterValidator

from arsync.errors import FatalError
from arsync.redact import register_secret

REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)\}$")
"""A whole setting that names an environment variable: `${NAME}`, NAME its group 1."""


def _reference(value: str) -> str:
    if not REFERENCE.match(value):
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
    match = REFERENCE.match(reference)
    if match is None:
        raise FatalError("a secret setting is not an environment reference")
    name = match.group(1)
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise FatalError(f"environment variable {name} is not set (needed {purpose})")
    register_secret(value)  # from now on masked in every log line, message and stored error
    return value


_ANY_REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def register_referenced(texts: Iterable[str], environ: Mapping[str, str] | None = None) -> None:
    """Register the value of every `${NAME}` the settings files mention, before any of them is
    resolved: a secret in memory must be masked even in a crash before its login."""
    values = os.environ if environ is None else environ
    for text in texts:
        for name in _ANY_REFERENCE.findall(text):
            register_secret(values.get(name))
