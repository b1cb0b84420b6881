"""Shared test set-up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """The CLI points structlog at the stream of the test that ran it; undo that afterwards,
    so no later test logs into a closed stream."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
