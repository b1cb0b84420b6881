"""Health for operators: what the worker's runs did, as /healthz and Prometheus /metrics.

`RunMetrics` keeps the outcome of the last runs (thread-safe: runs finish on the scheduler's
thread, requests are answered on the server's). `HealthServer` serves it over HTTP from a daemon
thread: the standard library's `ThreadingHTTPServer`, because one port must answer two paths
with their own status codes (prometheus_client's `start_http_server` answers every path with
the metrics and cannot say 503), and `prometheus_client` only renders the exposition format
from a registry of our own, so nothing global leaks between workers or tests.

`python -m jobs.health` is the container's health probe (see `probe`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from jobs.exit_codes import ExitCode

log = structlog.get_logger(__name__)

DEFAULT_MAX_AGE = dt.timedelta(hours=26)
DEFAULT_PROBE_URL = "http://127.0.0.1:9108/healthz"
RUN_STATUSES = ("ok", "partial", "failed")
FATAL_EXIT_CODE = 3  # what a run that raised counts as: it could not finish


@dataclass(frozen=True)
class RunSummary:
    """What one run produced, as far as operators care; independent of the pipeline's types."""

    exit_code: int
    seconds: float
    records_pulled: int = 0
    accounts_changed: int = 0
    failures: int = 0
    api_calls: int = 0

    @property
    def status(self) -> str:
        """ok (exit 0); partial (exit 1: finished, some records quarantined or Accounts
        failed); skipped (exit 4: another sync held the lock, so this one did nothing);
        failed (anything else: settings wrong, the run stopped, or it raised)."""
        if self.exit_code == 0:
            return "ok"
        if self.exit_code == ExitCode.LOCKED:
            return "skipped"
        return "partial" if self.exit_code == 1 else "failed"

    @property
    def succeeded(self) -> bool:
        """The run finished and wrote what it could: the data in the CRM is fresh."""
        return self.status != "failed"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RunMetrics:
    """The last runs' outcomes, as Prometheus metrics and as a health verdict."""

    def __init__(
        self,
        *,
        max_age: dt.timedelta = DEFAULT_MAX_AGE,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._started_at = clock()
        self._last_success: dt.datetime | None = None
        self._last_finished: dt.datetime | None = None
        self._last: RunSummary | None = None
        self._next_run: Callable[[], dt.datetime | None] = lambda: None
        self._running = False

        self.registry = CollectorRegistry()

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, registry=self.registry)

        self._last_success_ts = gauge(
            "arsync_last_success_timestamp_seconds",
            "When the last good run (exit 0 or 1) ended, Unix time; 0 before the first",
        )
        self._exit_code = gauge("arsync_last_run_exit_code", "Exit code of the last run")
        self._runs = Counter(
            "arsync_runs",
            "Runs finished, by status: ok (exit 0), partial (exit 1), failed (any other)",
            ["status"],
            registry=self.registry,
        )
        for status in RUN_STATUSES:
            self._runs.labels(status=status)  # every series exists from the start, at 0
        self._records = gauge("arsync_records_pulled", "Records the last run pulled from the ERP")
        self._changed = gauge(
            "arsync_accounts_changed", "Accounts the last run changed (dry run: would change)"
        )
        self._failures = gauge(
            "arsync_record_failures", "Accounts the last run could not write to the CRM"
        )
        self._api_calls = gauge("arsync_api_calls", "CRM API calls the last run made")
        self._duration = gauge("arsync_run_duration_seconds", "How long the last run took")
        self._next_run_ts = gauge(
            "arsync_next_run_timestamp_seconds", "When the next run is due, Unix time; 0: none"
        )
        self._next_run_ts.set_function(self._next_run_timestamp)
        self._in_progress = gauge("arsync_run_in_progress", "1 while a run is in progress")
        healthy = gauge("arsync_healthy", "1 when /healthz answers 200, 0 when it answers 503")
        healthy.set_function(lambda: float(self.health()[0] == HTTPStatus.OK))

    def run_started(self) -> None:
        with self._lock:
            self._running = True
            self._in_progress.set(1)

    def record(self, summary: RunSummary) -> None:
        """One run finished (or raised, as a failed summary): update the metrics and health."""
        with self._lock:
            now = self._clock()
            self._running = False
            self._in_progress.set(0)
            if summary.status == "skipped":  # another sync ran: health is that run's
                self._runs.labels(status=summary.status).inc()
                return
            self._last, self._last_finished = summary, now
            self._runs.labels(status=summary.status).inc()
            self._exit_code.set(summary.exit_code)
            self._duration.set(summary.seconds)
            self._records.set(summary.records_pulled)
            self._changed.set(summary.accounts_changed)
            self._failures.set(summary.failures)
            self._api_calls.set(summary.api_calls)
            if summary.succeeded:
                self._last_success = now
                self._last_success_ts.set(now.timestamp())

    def watch_next_run(self, source: Callable[[], dt.datetime | None]) -> None:
        """Where to read the next run's time from, whenever it is asked for (the scheduler
        moves it on its own thread; reading it then cannot race with a run that just ended)."""
        self._next_run = source

    def set_next_run(self, when: dt.datetime | None) -> None:
        self.watch_next_run(lambda: when)

    def _next_run_timestamp(self) -> float:
        when = self._next_run()
        return when.timestamp() if when else 0.0

    def health(self) -> tuple[HTTPStatus, dict[str, Any]]:
        """200 when the last run finished (ok or partial), or none has yet and the worker
        started less than `max_age` ago; 503 when the last run failed or the last good run
        (or, before any, the worker's start) is older than `max_age`."""
        with self._lock:
            now = self._clock()
            last = self._last
            body: dict[str, Any] = {
                "status": "ok",
                "last_success": _iso(self._last_success),
                "last_run_status": last.status if last else None,
                "last_run_exit_code": last.exit_code if last else None,
                "last_run_finished": _iso(self._last_finished),
                "running": self._running,
                "next_run": _iso(self._next_run()),
            }
            since = self._last_success or self._started_at
            reason = None
            if last is not None and not last.succeeded:
                reason = f"the last run failed with exit code {last.exit_code}"
            elif now - since > self.max_age:
                age, limit = _hours(now - since), _hours(self.max_age)
                reason = (
                    f"the last successful run ended {age} ago, more than {limit}"
                    if self._last_success
                    else f"no successful run in the {age} since the worker started, more than "
                    f"{limit}"
                )
        if reason is None:
            return HTTPStatus.OK, body
        return HTTPStatus.SERVICE_UNAVAILABLE, {**body, "status": "unhealthy", "reason": reason}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _hours(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: RunMetrics) -> None:
        self.metrics = metrics
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "arsync"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            status, body = self._metrics_of_server().health()
            self._send(status, "application/json", json.dumps(body).encode())
        elif path == "/metrics":
            self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, self._metrics_of_server().exposition())
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found: try /healthz or /metrics\n")

    def _metrics_of_server(self) -> RunMetrics:
        server = self.server
        assert isinstance(server, _Server)  # noqa: S101 - the handler belongs to this server
        return server.metrics

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Access lines go to structlog (debug), not as plain text onto the JSON log stream."""
        log.debug("health.request", client=self.client_address[0], request=format % args)


class HealthServer:
    """/healthz and /metrics on host:port from a daemon thread. Binds when built (port 0: a
    free port, see `port`), so a port already taken fails at start-up, not later."""

    def __init__(self, metrics: RunMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), metrics)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="arsync-health",
            daemon=True,
        )

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def probe(url: str = DEFAULT_PROBE_URL, timeout: float = 5.0) -> int:
    """The container's HEALTHCHECK: 0 when /healthz says 200, 1 when it says anything else or
    does not answer in time. Nothing listening (connection refused) is 0: metrics are off, and
    the worker's health is then its process, which the container watches anyway."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our URL
            healthy = response.status == HTTPStatus.OK
            sys.stderr.write(response.read().decode("utf-8", "replace") + "\n")
    except urllib.error.HTTPError as error:
        sys.stderr.write(error.read().decode("utf-8", "replace") + "\n")
        return 1
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            sys.stderr.write(f"nothing listens on {url}: metrics are disabled\n")
            return 0
        sys.stderr.write(f"{url}: {error.reason}\n")
        return 1
    except OSError as error:  # a timeout while reading
        sys.stderr.write(f"{url}: {error}\n")
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(probe(os.environ.get("ARSYNC_HEALTH_URL", DEFAULT_PROBE_URL)))
