"""`arsync worker`: one run at the cron times of `schedule:`, until SIGTERM or SIGINT.

An APScheduler 3 `BackgroundScheduler` fires the run on its own thread while the calling thread
waits for a stop (a signal, or `stop_event` in tests). The job never overlaps itself
(`max_instances=1`: a fire that comes while a run is still going is skipped and logged), fires
that were missed while the process could not run are merged into one (`coalesce`) and dropped
when later than the grace time, and a run that raises is logged and counted as failed, and the
worker goes on. On SIGTERM or SIGINT the run in progress finishes, then the worker exits 0.

Each run is incremental unless a periodic full pull is due (`full_pull_due`): an incremental
pull never sees a record deleted in the ERP, a full one does.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.exc import SQLAlchemyError

from jobs.health import FATAL_EXIT_CODE, HealthServer, RunMetrics, RunSummary
from jobs.state import RunRecord, StateError, StateStore
from jobs.worker_settings import MetricsSettings, ScheduleSettings

log = structlog.get_logger(__name__)

JOB_ID = "arsync-run"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RunOnce = Callable[[], int | RunSummary]


class Worker:
    """One job on one trigger: never two runs at once, missed fires merged, failures survived.

    `run_once` performs one run and returns its exit code, or a `RunSummary` when it knows
    more (records pulled, accounts changed, ...); the worker measures the seconds itself.
    """

    def __init__(
        self,
        run_once: RunOnce,
        trigger: BaseTrigger,
        *,
        timezone: dt.tzinfo,
        misfire_grace_seconds: int,
        metrics: RunMetrics | None = None,
    ) -> None:
        _quiet_apscheduler()
        self.metrics = metrics or RunMetrics()
        self._run_once = run_once
        self._trigger = trigger
        self._grace = misfire_grace_seconds
        self._running = threading.Event()
        self._stopping = False
        self._job: Any = None
        self._scheduler = BackgroundScheduler(
            timezone=timezone,
            # One thread: with max_instances=1 a second one would never be used anyway.
            executors={"default": ThreadPoolExecutor(max_workers=1)},
        )
        self._scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self.metrics.watch_next_run(lambda: self.next_run_time)

    @property
    def running(self) -> bool:
        """A run is in progress."""
        return self._running.is_set()

    @property
    def next_run_time(self) -> dt.datetime | None:
        """When the scheduler will next start a run (read without the scheduler's locks, so
        that it is safe from inside a run while the scheduler shuts down)."""
        when: dt.datetime | None = getattr(self._job, "next_run_time", None)
        return when

    @property
    def job(self) -> Any:
        """The APScheduler job (its coalesce, max_instances, misfire_grace_time, trigger)."""
        return self._job

    def start(self, *, run_now: bool = False, on_ready: Callable[[], None] | None = None) -> None:
        """Start the scheduler; with `run_now`, the first run starts at once, then the trigger's
        times follow. `on_ready` is called once the next run time is known, before any run."""
        first: dict[str, Any] = {"next_run_time": dt.datetime.now(dt.UTC)} if run_now else {}
        self._job = self._scheduler.add_job(
            self._run,
            trigger=self._trigger,
            id=JOB_ID,
            name="arsync run",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=self._grace,
            **first,
        )
        self._scheduler.start(paused=True)  # the job's next run time is set; nothing runs yet
        if on_ready is not None:
            on_ready()
        self._scheduler.resume()

    def stop(self) -> None:
        """No new runs; wait for the run in progress to finish."""
        self._stopping = True
        self._scheduler.shutdown(wait=True)

    def _run(self) -> None:
        structlog.contextvars.clear_contextvars()  # the executor thread outlives each run
        self._running.set()
        self.metrics.run_started()
        log.info("worker.run_started")
        started = time.perf_counter()
        try:
            outcome = self._run_once()
        except BaseException:  # a run must never take the worker down with it
            seconds = time.perf_counter() - started
            log.exception("worker.run_failed", seconds=round(seconds, 3))
            summary = RunSummary(exit_code=FATAL_EXIT_CODE, seconds=seconds)
        else:
            seconds = time.perf_counter() - started
            summary = (
                replace(outcome, seconds=seconds)
                if isinstance(outcome, RunSummary)
                else RunSummary(exit_code=int(outcome), seconds=seconds)
            )
            level = {"ok": logging.INFO, "partial": logging.WARNING}.get(
                summary.status, logging.ERROR
            )
            log.log(
                level,
                "worker.run_finished",
                status=summary.status,
                exit_code=summary.exit_code,
                seconds=round(seconds, 3),
                records_pulled=summary.records_pulled,
                accounts_changed=summary.accounts_changed,
                failures=summary.failures,
                api_calls=summary.api_calls,
            )
        finally:
            self._running.clear()
        self.metrics.record(summary)
        if not self._stopping:
            log.info("worker.next_run", next_run=_iso(self.next_run_time))
        structlog.contextvars.clear_contextvars()

    def _on_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning(
                "worker.run_skipped",
                reason="the previous run is still in progress",
                scheduled=_iso(event.scheduled_run_times[-1]),
                next_run=_iso(self.next_run_time),
            )
        elif event.code == EVENT_JOB_MISSED:
            log.warning(
                "worker.run_missed",
                reason=f"could not start within {self._grace} s of its time",
                scheduled=_iso(event.scheduled_run_time),
                next_run=_iso(self.next_run_time),
            )


@dataclass(frozen=True)
class FullPullDecision:
    """Whether a scheduled run reads everything again, and why (both go to the log)."""

    full: bool
    reason: str
    last_full: RunRecord | None = None
    next_due: dt.date | None = None  # the first day a run is full again, when it is known


def decide_full_pull(
    last_full: RunRecord | None, every_days: int, today: dt.date, zone: dt.tzinfo
) -> FullPullDecision:
    """Full when periodic full pulls are on and the last full pull (a completed real run, see
    `StateStore.runs.last_full_pull`) started `every_days` or more calendar days before `today` in
    the schedule's zone, or there is none. Days, not hours: a weekly full pull on a daily
    02:00 schedule stays on the same weekday even though each run starts a few seconds late."""
    if every_days == 0:
        return FullPullDecision(
            False, "periodic full pulls are off (full_pull_every_days: 0)", last_full
        )
    if last_full is None:
        return FullPullDecision(True, "no completed real run in the history read everything")
    started = last_full.started_at.astimezone(zone).date()
    age = (today - started).days
    due = started + dt.timedelta(days=every_days)
    if age >= every_days:
        reason = f"the last full pull is {age} days old; one is due every {every_days} days"
        return FullPullDecision(True, reason, last_full, due)
    reason = f"the last full pull is {age} days old, less than {every_days}"
    return FullPullDecision(False, reason, last_full, due)


def full_pull_due(
    state_url: str,
    schedule: ScheduleSettings,
    *,
    dry_run: bool,
    now: dt.datetime | None = None,
) -> bool:
    """Whether this run of the worker is a full pull, read from the state store's run history
    and logged (`worker.full_pull_due` or `worker.full_pull_not_due`). A dry run decides the
    same way, but never counts as the full pull that resets the clock: a dry-run worker reads
    everything at every run once a full pull is due, until a real run does one.

    A store that cannot be read leaves the run incremental, with a warning: the run itself
    then reports what is wrong with the store, with its own exit code.
    """
    every_days = schedule.full_pull_every_days
    last_full: RunRecord | None = None
    if every_days:
        try:
            with StateStore.open(state_url) as state:
                last_full = state.runs.last_full_pull()
        except (StateError, SQLAlchemyError) as error:
            log.warning("worker.full_pull_undecided", error=str(error), incremental=True)
            return False
    today = (now or dt.datetime.now(dt.UTC)).astimezone(schedule.zone).date()
    decision = decide_full_pull(last_full, every_days, today, schedule.zone)
    log.info(
        "worker.full_pull_due" if decision.full else "worker.full_pull_not_due",
        reason=decision.reason,
        full_pull_every_days=every_days,
        last_full_run_id=decision.last_full.run_id if decision.last_full else None,
        last_full_started_at=_iso(decision.last_full.started_at if decision.last_full else None),
        next_due=decision.next_due.isoformat() if decision.next_due else None,
        dry_run=dry_run,
        resets_clock=decision.full and not dry_run,
    )
    return decision.full


def run_worker(
    config_path: Path,
    *,
    run_once: RunOnce,
    schedule: ScheduleSettings,
    metrics: MetricsSettings,
    stop_event: threading.Event | None = None,
    run_now: bool = False,
) -> int:
    """Run `run_once` on the schedule until SIGTERM, SIGINT (main thread only) or `stop_event`;
    finish the run in progress and return 0. Return 3 when the health endpoint cannot listen.
    """
    stop = stop_event or threading.Event()
    run_metrics = RunMetrics(max_age=dt.timedelta(hours=metrics.max_age_hours))
    server: HealthServer | None = None
    if metrics.enabled:
        try:
            server = HealthServer(run_metrics, metrics.host, metrics.port).start()
        except OSError as error:
            log.error(
                "worker.failed",
                error=f"cannot listen on {metrics.host}:{metrics.port}: {error.strerror or error}",
            )
            return FATAL_EXIT_CODE
    worker = Worker(
        run_once,
        schedule.trigger(),
        timezone=schedule.zone,
        misfire_grace_seconds=schedule.misfire_grace_minutes * 60,
        metrics=run_metrics,
    )
    try:
        with stop_signals() as received:

            def started() -> None:
                log.info(
                    "worker.started",
                    config=str(config_path),
                    cron=schedule.cron,
                    timezone=schedule.timezone,
                    full_pull_every_days=schedule.full_pull_every_days,
                    next_run=_iso(worker.next_run_time),
                    health_url=server.url if server else None,
                    pid=os.getpid(),
                )

            worker.start(run_now=run_now, on_ready=started)
            while not (received or stop.is_set()):
                stop.wait(0.2)  # short, so that a signal is seen soon after it arrives
            log.info(
                "worker.stopping",
                reason=f"signal {received[0]}" if received else "stop requested",
                run_in_progress=worker.running,
            )
            worker.stop()
    finally:
        if server is not None:
            server.stop()
    log.info("worker.stopped")
    return 0


@contextmanager
def stop_signals() -> Iterator[list[str]]:
    """SIGTERM and SIGINT append their name to the yielded list, for the duration; the previous
    handlers come back afterwards. Off the main thread (where Python cannot install handlers)
    the list stays empty.

    The handler only appends to a list: it runs between two bytecodes of the main thread, which
    may hold a lock that setting an Event or writing a log line would need.
    """
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)

    previous = {number: signal.signal(number, handle) for number in STOP_SIGNALS}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _quiet_apscheduler() -> None:
    """APScheduler logs through the standard library, which nobody configures here: its
    warnings would land on stderr as plain text among the JSON lines. The worker logs what
    matters (skipped, missed, failed runs) itself."""
    logger = logging.getLogger("apscheduler")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
