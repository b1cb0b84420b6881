"""One HTTP client for every ERP API: retries, Retry-After, rate limits and token refresh.

Each API source is a few declarative attributes plus the mapping of its payloads; everything
about talking HTTP well lives here, once: 408, 429 and 5xx answers and dropped connections are
retried with backoff (honouring `Retry-After`), a request rate is kept under the API's limit,
and a 401 triggers one token refresh before the request is tried again.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import structlog
from tenacity import RetryCallState, wait_exponential_jitter

from arsync.errors import FatalError, RetriableError
from arsync.redact import redact
from connector.erp.http_settings import HttpSettings
from connector.erp.retries import retrying

log = structlog.get_logger(__name__)
# 408: the server gave up waiting for the request (a slow network, a busy gateway).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class RetryAfterError(RetriableError):
    """The server asked us to wait (429/503 with Retry-After), timed out (408) or failed
    transiently."""

    def __init__(self, status: int, wait_seconds: float | None, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.wait_seconds = wait_seconds


class ApiError(FatalError):
    """An answer that no retry will change (bad request, forbidden, not found).

    The body is redacted before it is cut: an endpoint that echoes the request would otherwise
    put the bearer token or the OAuth 1.0a token id into stderr and the run's stored error."""

    def __init__(self, status: int, url: str, detail: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {redact(detail)[:300]}")
        self.status = status


class RateLimiter:
    """Spaces requests evenly so a run never exceeds `per_minute` (thread-safe)."""

    def __init__(
        self,
        per_minute: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 60.0 / per_minute if per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            delay = self._next - now
            self._next = max(now, self._next) + self._interval
        if delay > 0:
            self._sleep(delay)


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now())


@dataclass
class HttpClient:
    """A requests session with the care every ERP API needs; `authorize` adds credentials.

    `authorize(headers, refresh)` sets the auth headers; called with refresh=True after a 401,
    it must obtain a new token first. Sources with static credentials ignore `refresh`.
    """

    settings: HttpSettings
    authorize: Callable[[dict[str, str], bool], None]
    default_per_minute: float | None = None
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    calls: int = 0

    def __post_init__(self) -> None:
        per_minute = self.settings.requests_per_minute or self.default_per_minute
        self._limiter = RateLimiter(per_minute, sleep=self.sleep)
        self.session.headers["User-Agent"] = "arsync (+accounts receivable sync)"

    def get_json(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs).json()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send, retrying what is transient; a 401 refreshes the credentials once."""
        transient = (RetriableError, requests.ConnectionError, requests.Timeout)
        attempts = self.settings.max_attempts
        retry = retrying(transient, attempts, self.sleep, "erp.request_retried", wait=self._wait)
        try:
            for attempt in retry:
                with attempt:
                    return self._send(method, url, kwargs)
        except transient as error:
            raise FatalError(
                f"the ERP API did not answer after {attempts} attempts: "
                + redact(_without_queries(str(error)))
            ) from None
        raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover

    def _send(self, method: str, url: str, kwargs: dict[str, Any]) -> requests.Response:
        refreshed = False
        while True:
            headers = dict(kwargs.get("headers") or {})
            self.authorize(headers, refreshed)
            self._limiter.wait()
            self.calls += 1
            response = self.session.request(
                method,
                url,
                **{**kwargs, "headers": headers},
                timeout=self.settings.timeout_seconds,
            )
            if response.status_code == 401 and not refreshed:
                log.info("erp.token_refreshed", url=_safe(url))
                refreshed = True
                continue
            break
        if response.status_code in RETRY_STATUSES:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise RetryAfterError(response.status_code, wait, _safe(url))
        if response.status_code >= 400:
            raise ApiError(response.status_code, _safe(url), response.text)
        return response

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryAfterError) and error.wait_seconds is not None:
            return min(error.wait_seconds, self.settings.max_wait_seconds)
        backoff = wait_exponential_jitter(
            multiplier=self.settings.initial_wait_seconds, max=self.settings.max_wait_seconds
        )
        return float(backoff(state))


def _safe(url: str) -> str:
    """The URL without its query string, which may carry tokens or customer data."""
    return url.split("?", 1)[0]


_QUERY = re.compile(r"\?[^\s'\"()]*")


def _without_queries(text: str) -> str:
    """A message (urllib3's "Max retries exceeded with url: /path?...") with every query
    string cut off, for the same reason as `_safe`."""
    return _QUERY.sub("", text)
