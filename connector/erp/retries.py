"""Retrying what is transient, once for the ERP sources (the APIs' requests, the database's
connection): tenacity's bounded loop, the last error re-raised, and before each wait one
warning naming the attempt and the error's type and status, never its message (a driver's or
a server's may quote a secret)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

log = structlog.get_logger(__name__)
Errors = type[BaseException] | tuple[type[BaseException], ...]


def retrying(
    errors: Errors,
    attempts: int,
    sleep: Callable[[float], None],
    event: str,
    *,
    wait: Callable[[RetryCallState], float] | None = None,
    **context: object,
) -> Retrying:
    """Up to `attempts` tries while one of `errors` is raised, waiting by `wait` (by default
    jittered exponential backoff from 1 s up to 30 s); each retry logged as `event`, with
    `context` (what is retried)."""
    return Retrying(
        retry=retry_if_exception_type(errors),
        stop=stop_after_attempt(attempts),
        wait=wait or wait_exponential_jitter(initial=1, max=30),
        sleep=sleep,
        before_sleep=lambda state: _log_retry(event, context, state),
        reraise=True,
    )


def _log_retry(event: str, context: Mapping[str, object], state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        event,
        **context,
        attempt=state.attempt_number,
        error=type(error).__name__,
        status=getattr(error, "status", None),
    )
