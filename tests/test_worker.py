"""`arsync worker`: the schedule, no overlapping runs, clean stops, failures survived, and the
operators' /healthz and /metrics over real HTTP.

Nothing here sleeps on the wall clock for long: cron times are checked on the trigger with fixed
datetimes, and the scheduler tests use a 0.1 s interval with deadlines of a few seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from structlog.testing import capture_logs
from typer.testing import CliRunner

from arsync.yamlfile import ConfigError, load_model
from jobs.cli import app
from jobs.health import HealthServer, RunMetrics, RunSummary, probe
from jobs.state import FULL_PULL, FinishedRun, StateStore
from jobs.worker import Worker, full_pull_due, run_worker, stop_signals
from jobs.worker_settings import MetricsSettings, ScheduleSettings

ROOT = Path(__file__).resolve().parents[1]
UTC = dt.UTC
DEADLINE = 5.0  # seconds; every wait below ends long before this when the code is right


def wait_for(condition: Callable[[], bool], timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(0.01)


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in list(logs) if entry["event"] == name]


# --- the schedule -------------------------------------------------------------------------


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def next_fire(schedule: ScheduleSettings, now: dt.datetime) -> dt.datetime:
    fire: dt.datetime = schedule.trigger().get_next_fire_time(None, now)
    return fire.astimezone(UTC)


def test_the_default_schedule_is_02_00_utc_every_day() -> None:
    schedule = ScheduleSettings()

    assert next_fire(schedule, utc(2026, 1, 15, 12, 0)) == utc(2026, 1, 16, 2, 0)
    assert next_fire(schedule, utc(2026, 1, 16, 1, 59)) == utc(2026, 1, 16, 2, 0)


def test_the_cron_is_read_in_its_time_zone_summer_and_winter() -> None:
    berlin = ScheduleSettings(cron="0 2 * * *", timezone="Europe/Berlin")

    assert next_fire(berlin, utc(2026, 1, 15, 12, 0)) == utc(2026, 1, 16, 1, 0)  # CET, +1
    assert next_fire(berlin, utc(2026, 7, 15, 12, 0)) == utc(2026, 7, 16, 0, 0)  # CEST, +2


def test_days_of_the_week_are_numbered_as_in_cron() -> None:
    """APScheduler 3 counts weekdays from Monday; cron from Sunday (0 and 7)."""
    weekdays = ScheduleSettings(cron="30 6 * * 1-5", timezone="America/New_York")
    sundays = ScheduleSettings(cron="0 0 * * 0")
    also_sundays = ScheduleSettings(cron="0 0 * * 7")

    friday_after_the_run = utc(2026, 1, 16, 12, 0)  # 07:00 in New York
    assert next_fire(weekdays, friday_after_the_run) == utc(2026, 1, 19, 11, 30)  # Monday, EST
    assert next_fire(sundays, friday_after_the_run) == utc(2026, 1, 18, 0, 0)
    assert next_fire(also_sundays, friday_after_the_run) == utc(2026, 1, 18, 0, 0)


def test_jitter_and_grace_reach_the_trigger_and_the_job() -> None:
    schedule = ScheduleSettings(jitter_seconds=30, misfire_grace_minutes=5)

    assert schedule.trigger().jitter == 30
    worker = Worker(
        lambda: 0, schedule.trigger(), timezone=schedule.zone, misfire_grace_seconds=300
    )
    worker.start()
    try:
        assert worker.job.misfire_grace_time == 300
        assert (worker.job.coalesce, worker.job.max_instances) == (True, 1)
    finally:
        worker.stop()


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 2 * *", "has 4 fields; expected 5: minute hour day-of-month month day-of-week"),
        ("61 2 * * *", "the last value (61) is higher than the maximum value (59)"),
        ("0 2 * * 8", "day of week '8': expected 0-7 (0 and 7 are Sunday) or sun..sat"),
        ("0 2 1 * 1", "restricts both the day of the month and the day of the week"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_an_invalid_cron_is_refused_saying_why(cron: str, expected: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ScheduleSettings(cron=cron)

    assert expected in str(raised.value)
    assert raised.value.errors()[0]["loc"] == ("cron",)


def test_an_unknown_time_zone_is_refused_saying_what_is_expected() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Berlinn'; expected an"):
        ScheduleSettings(timezone="Europe/Berlinn")


def test_schedule_problems_name_the_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text('cron: "0 2 * *"\ntimezone: Mars/Olympus\ncorn: 1\n', encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_model(ScheduleSettings, path)

    problems = [str(problem) for problem in raised.value.problems]
    assert problems[0].startswith(f"{path}:1: cron: cron '0 2 * *' has 4 fields")
    assert problems[1].startswith(f"{path}:2: timezone: unknown time zone 'Mars/Olympus'")
    assert problems[2].startswith(f"{path}:3: corn: unknown key 'corn' (did you mean 'cron'?)")


def test_metrics_are_off_by_default_and_the_port_is_checked() -> None:
    assert MetricsSettings() == MetricsSettings(enabled=False, host="127.0.0.1", port=9108)
    with pytest.raises(ValidationError, match="less than or equal to 65535"):
        MetricsSettings(port=70000)


# --- the scheduler ------------------------------------------------------------------------


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as captured:
        yield captured


def fast_worker(run_once: Callable[[], int | RunSummary]) -> Worker:
    return Worker(
        run_once,
        IntervalTrigger(seconds=0.1, timezone=UTC),
        timezone=UTC,
        misfire_grace_seconds=60,
    )


def test_runs_never_overlap_a_fire_during_a_run_is_skipped(logs: list[dict[str, Any]]) -> None:
    lock, release = threading.Lock(), threading.Event()
    state = {"active": 0, "most": 0, "runs": 0}

    def run_once() -> int:
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
        if state["runs"] == 0:
            release.wait(DEADLINE)  # the first run blocks until the test has seen fires skipped
        with lock:
            state["active"] -= 1
            state["runs"] += 1
        return 0

    worker = fast_worker(run_once)
    worker.start()
    try:
        wait_for(lambda: len(events(logs, "worker.run_skipped")) >= 3)
        assert worker.running
        release.set()
        wait_for(lambda: state["runs"] >= 3)
    finally:
        release.set()
        worker.stop()

    assert state["most"] == 1
    skipped = events(logs, "worker.run_skipped")[0]
    assert skipped["reason"] == "the previous run is still in progress"
    assert worker.metrics.registry.get_sample_value("arsync_runs_total", {"status": "ok"}) >= 3


def test_a_run_that_raises_is_logged_and_the_worker_goes_on(logs: list[dict[str, Any]]) -> None:
    calls: list[int] = []

    def run_once() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the ERP said no")
        return 0

    worker = fast_worker(run_once)
    worker.start()
    try:
        wait_for(lambda: len(events(logs, "worker.run_finished")) >= 1)
    finally:
        worker.stop()

    failed = events(logs, "worker.run_failed")
    assert len(failed) == 1
    assert failed[0]["exc_info"] is True
    assert events(logs, "worker.run_finished")[0]["status"] == "ok"
    assert [e["event"] for e in logs][:4] == [
        "worker.run_started",
        "worker.run_failed",
        "worker.next_run",
        "worker.run_started",
    ]
    registry = worker.metrics.registry
    assert registry.get_sample_value("arsync_runs_total", {"status": "failed"}) == 1
    assert registry.get_sample_value("arsync_runs_total", {"status": "ok"}) >= 1


def test_sigterm_finishes_the_run_in_progress_then_exits_0(logs: list[dict[str, Any]]) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed on the main thread")
    started, finished = threading.Event(), threading.Event()

    def run_once() -> int:
        started.set()
        wait_for(lambda: bool(events(logs, "worker.stopping")))  # still running when it stops
        finished.set()
        return 0

    def terminate() -> None:
        if started.wait(DEADLINE):
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=terminate)
    killer.start()
    code = run_worker(
        Path("arsync.yaml"),
        run_once=run_once,
        schedule=ScheduleSettings(),
        metrics=MetricsSettings(),
        run_now=True,
    )
    killer.join()

    assert code == 0
    assert finished.is_set()
    order = [e["event"] for e in logs if e["event"].startswith("worker.")]
    assert order == [
        "worker.started",
        "worker.run_started",
        "worker.stopping",
        "worker.run_finished",
        "worker.stopped",
    ]
    stopping = events(logs, "worker.stopping")[0]
    assert (stopping["reason"], stopping["run_in_progress"]) == ("signal SIGTERM", True)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_the_signal_handler_only_takes_note() -> None:
    """What SIGTERM and SIGINT do, called directly (also where the main thread is busy)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed on the main thread")
    with stop_signals() as received:
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        handler(signal.SIGINT, None)
        handler(signal.SIGTERM, None)
    assert received == ["SIGINT", "SIGTERM"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_worker_off_the_main_thread_stops_on_its_event_and_serves_health(
    logs: list[dict[str, Any]],
) -> None:
    stop = threading.Event()
    summary = RunSummary(
        exit_code=0, seconds=0, records_pulled=42, accounts_changed=5, failures=0, api_calls=3
    )
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(
            run_worker(
                Path("arsync.yaml"),
                run_once=lambda: summary,
                schedule=ScheduleSettings(cron="0 2 * * *", timezone="Europe/Berlin"),
                metrics=MetricsSettings(enabled=True, port=0),
                stop_event=stop,
                run_now=True,
            )
        )
    )
    thread.start()
    try:
        wait_for(lambda: bool(events(logs, "worker.next_run")))
        url = events(logs, "worker.started")[0]["health_url"]
        status, health = get_json(f"{url}/healthz")
        metrics = scrape(f"{url}/metrics")
    finally:
        stop.set()
        thread.join(DEADLINE)

    assert codes == [0]
    assert status == 200
    assert (health["status"], health["last_run_status"]) == ("ok", "ok")
    next_run = dt.datetime.fromisoformat(health["next_run"])
    in_berlin = next_run.astimezone(ZoneInfo("Europe/Berlin"))
    assert (in_berlin.hour, in_berlin.minute) == (2, 0)
    assert metrics["arsync_records_pulled"] == 42
    assert metrics["arsync_accounts_changed"] == 5
    assert metrics["arsync_api_calls"] == 3
    assert metrics["arsync_next_run_timestamp_seconds"] == next_run.timestamp()
    with pytest.raises(urllib.error.URLError):  # the endpoint went away with the worker
        open_url(f"{url}/healthz", timeout=1)


def test_a_taken_port_stops_the_worker_at_start(logs: list[dict[str, Any]]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = run_worker(
            Path("arsync.yaml"),
            run_once=lambda: 0,
            schedule=ScheduleSettings(),
            metrics=MetricsSettings(enabled=True, port=port),
            stop_event=threading.Event(),
        )

    assert code == 3
    assert f"cannot listen on 127.0.0.1:{port}" in events(logs, "worker.failed")[0]["error"]


# --- /healthz and /metrics ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = utc(2026, 11, 20, 2, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def open_url(url: str, timeout: float = DEADLINE) -> Any:
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - the test's own server


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with open_url(url) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def scrape(url: str) -> dict[str, float]:
    """Every sample of the exposition, keyed by name and labels as Prometheus writes them."""
    with open_url(url) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(clock: Clock) -> Iterator[tuple[RunMetrics, str]]:
    metrics = RunMetrics(max_age=dt.timedelta(hours=26), clock=clock)
    metrics.set_next_run(utc(2026, 11, 21, 2, 0))
    with HealthServer(metrics, "127.0.0.1", 0) as server:
        yield metrics, server.url


def test_before_any_run_health_is_ok_and_says_when_the_first_is_due(
    served: tuple[RunMetrics, str],
) -> None:
    _, url = served

    status, body = get_json(f"{url}/healthz")

    assert status == 200
    assert body == {
        "status": "ok",
        "last_success": None,
        "last_run_status": None,
        "last_run_exit_code": None,
        "last_run_finished": None,
        "running": False,
        "next_run": "2026-11-21T02:00:00+00:00",
    }
    metrics = scrape(f"{url}/metrics")
    assert metrics['arsync_runs_total{status="ok"}'] == 0
    assert metrics['arsync_runs_total{status="failed"}'] == 0
    assert metrics["arsync_last_success_timestamp_seconds"] == 0
    assert metrics["arsync_healthy"] == 1


def test_a_good_run_shows_in_health_and_metrics(
    served: tuple[RunMetrics, str], clock: Clock
) -> None:
    metrics, url = served
    clock.advance(minutes=3)
    metrics.record(RunSummary(0, 12.5, 4476, 60, 0, 7))

    status, body = get_json(f"{url}/healthz")
    samples = scrape(f"{url}/metrics")

    assert status == 200
    assert (body["status"], body["last_run_status"]) == ("ok", "ok")
    assert body["last_success"] == "2026-11-20T02:03:00+00:00"
    assert samples["arsync_last_success_timestamp_seconds"] == clock.now.timestamp()
    assert samples["arsync_last_run_exit_code"] == 0
    assert samples['arsync_runs_total{status="ok"}'] == 1
    assert samples["arsync_records_pulled"] == 4476
    assert samples["arsync_accounts_changed"] == 60
    assert samples["arsync_record_failures"] == 0
    assert samples["arsync_api_calls"] == 7
    assert samples["arsync_run_duration_seconds"] == 12.5
    assert samples["arsync_run_in_progress"] == 0


def test_a_partial_run_is_healthy_but_counted_apart(served: tuple[RunMetrics, str]) -> None:
    metrics, url = served
    metrics.record(RunSummary(1, 3.0, 100, 9, 2, 4))

    status, body = get_json(f"{url}/healthz")
    samples = scrape(f"{url}/metrics")

    assert status == 200
    assert (body["last_run_status"], body["last_run_exit_code"]) == ("partial", 1)
    assert samples['arsync_runs_total{status="partial"}'] == 1
    assert samples["arsync_record_failures"] == 2


def test_a_failed_run_makes_health_503_until_a_good_one(
    served: tuple[RunMetrics, str], clock: Clock
) -> None:
    metrics, url = served
    metrics.record(RunSummary(0, 1.0, 10, 1, 0, 1))
    first_success = clock.now.isoformat()
    clock.advance(days=1)
    metrics.record(RunSummary(3, 0.5))

    status, body = get_json(f"{url}/healthz")
    samples = scrape(f"{url}/metrics")

    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["reason"] == "the last run failed with exit code 3"
    assert (body["last_run_status"], body["last_success"]) == ("failed", first_success)
    assert samples["arsync_last_run_exit_code"] == 3
    assert samples['arsync_runs_total{status="failed"}'] == 1
    assert samples["arsync_records_pulled"] == 0
    assert samples["arsync_healthy"] == 0

    metrics.record(RunSummary(0, 1.0))
    assert get_json(f"{url}/healthz")[0] == 200


def test_a_stale_last_success_makes_health_503(
    served: tuple[RunMetrics, str], clock: Clock
) -> None:
    metrics, url = served
    metrics.record(RunSummary(0, 1.0))
    clock.advance(hours=25, minutes=59)
    assert get_json(f"{url}/healthz")[0] == 200

    clock.advance(minutes=2)
    status, body = get_json(f"{url}/healthz")

    assert status == 503
    assert body["reason"] == "the last successful run ended 26.0 h ago, more than 26.0 h"


def test_no_run_for_longer_than_the_max_age_after_start_is_503(
    served: tuple[RunMetrics, str], clock: Clock
) -> None:
    _, url = served
    clock.advance(hours=27)

    status, body = get_json(f"{url}/healthz")

    assert status == 503
    assert body["reason"] == (
        "no successful run in the 27.0 h since the worker started, more than 26.0 h"
    )


def test_a_run_in_progress_shows_and_other_paths_are_404(served: tuple[RunMetrics, str]) -> None:
    metrics, url = served
    metrics.run_started()

    assert get_json(f"{url}/healthz")[1]["running"] is True
    assert scrape(f"{url}/metrics")["arsync_run_in_progress"] == 1
    with pytest.raises(urllib.error.HTTPError) as raised:
        open_url(f"{url}/")
    assert raised.value.code == 404


def test_the_container_probe_follows_healthz(served: tuple[RunMetrics, str]) -> None:
    metrics, url = served
    assert probe(f"{url}/healthz") == 0

    metrics.record(RunSummary(2, 0.1))
    assert probe(f"{url}/healthz") == 1

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert probe(f"http://127.0.0.1:{port}/healthz") == 0  # nothing listens: metrics are off


# --- the periodic full pull -----------------------------------------------------------------

NOW = utc(2026, 6, 15, 2, 0, 2)  # a Monday's 02:00 run, started two seconds late


def record_run(
    state_url: str,
    run_id: str,
    days_ago: int,
    *,
    full: bool = True,
    status: str = "succeeded",
    dry_run: bool = False,
) -> None:
    """A run as the pipeline records it, started `days_ago` days before NOW at 02:00:03 (so a
    week-old one is a second short of seven times 24 hours). Even a failed one says whether it
    read everything, so that only its status can keep it from counting."""
    started = utc(2026, 6, 15, 2, 0, 3) - dt.timedelta(days=days_ago)
    with StateStore.open(state_url) as store:
        store.begin_run(
            run_id,
            dry_run=dry_run,
            as_of=started.date(),
            config_fingerprint="f" * 64,
            started_at=started,
        )
        if status != "running":
            store.finish_run(
                FinishedRun(
                    run_id,
                    status=status,
                    finished_at=started + dt.timedelta(minutes=3),
                    counts={"invoices": 10, FULL_PULL: int(full)},
                    error="RetriableError: the ERP answered 500" if status == "failed" else None,
                )
            )


def decide(
    state_url: str, logs: list[dict[str, Any]], every_days: int = 7, *, dry_run: bool = False
) -> tuple[bool, dict[str, Any]]:
    """The worker's decision for a run at NOW, and the one event that logged it."""
    schedule = ScheduleSettings(full_pull_every_days=every_days)
    full = full_pull_due(state_url, schedule, dry_run=dry_run, now=NOW)
    decided = [e for e in list(logs) if str(e["event"]).startswith("worker.full_pull")]
    assert len(decided) == 1, decided
    return full, decided[0]


def test_with_no_run_in_the_history_the_run_is_a_full_pull(
    state_url: str, logs: list[dict[str, Any]]
) -> None:
    full, logged = decide(state_url, logs)

    assert full is True
    assert logged["event"] == "worker.full_pull_due"
    assert logged["reason"] == "no completed real run in the history read everything"
    assert logged["last_full_run_id"] is None
    assert (logged["full_pull_every_days"], logged["resets_clock"]) == (7, True)


def test_a_full_pull_3_days_ago_leaves_the_run_incremental(
    state_url: str, logs: list[dict[str, Any]]
) -> None:
    record_run(state_url, "full-3", 3)
    record_run(state_url, "incremental-1", 1, full=False)

    full, logged = decide(state_url, logs)

    assert full is False
    assert logged["event"] == "worker.full_pull_not_due"
    assert logged["reason"] == "the last full pull is 3 days old, less than 7"
    assert logged["last_full_run_id"] == "full-3"
    assert logged["last_full_started_at"] == "2026-06-12T02:00:03+00:00"
    assert logged["next_due"] == "2026-06-19"


@pytest.mark.parametrize(("days_ago", "expected"), [(8, True), (7, True), (6, False)])
def test_a_full_pull_a_week_or_more_ago_makes_the_run_full(
    state_url: str, logs: list[dict[str, Any]], days_ago: int, expected: bool
) -> None:
    """By calendar days: the one a week ago started a second later in the day than this run,
    and still counts as seven days old."""
    record_run(state_url, "full-old", days_ago)
    record_run(state_url, "incremental-1", 1, full=False)  # incremental runs never reset it

    full, logged = decide(state_url, logs)

    assert full is expected
    assert logged["last_full_run_id"] == "full-old"
    if expected:
        assert logged["event"] == "worker.full_pull_due"
        assert logged["reason"] == (
            f"the last full pull is {days_ago} days old; one is due every 7 days"
        )


def test_with_the_setting_off_no_run_is_ever_full(
    state_url: str, logs: list[dict[str, Any]]
) -> None:
    record_run(state_url, "full-long-ago", 400)

    full, logged = decide(state_url, logs, every_days=0)

    assert full is False
    assert logged["event"] == "worker.full_pull_not_due"
    assert logged["reason"] == "periodic full pulls are off (full_pull_every_days: 0)"
    assert logged["next_due"] is None


def test_with_the_setting_off_even_an_empty_history_stays_incremental(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """Off means the store is not even read: a store that does not exist is not created."""
    url = f"sqlite:///{tmp_path / 'none' / 'arsync.db'}"

    full, _ = decide(url, logs, every_days=0)

    assert full is False
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("status", ["failed", "running", "abandoned"])
def test_a_full_run_that_did_not_complete_does_not_reset_the_clock(
    state_url: str, logs: list[dict[str, Any]], status: str
) -> None:
    record_run(state_url, "full-8", 8)
    record_run(
        state_url, "full-but-not-done", 1, status="failed" if status == "failed" else "running"
    )
    if status == "abandoned":  # the next run to begin marks a run without its lock abandoned
        record_run(state_url, "incremental-0", 0, full=False)
    with StateStore.open(state_url) as store:
        recorded = store.runs.get("full-but-not-done")
    assert recorded is not None
    assert recorded.status == status

    full, logged = decide(state_url, logs)

    assert full is True
    assert logged["last_full_run_id"] == "full-8"


def test_a_partial_full_run_resets_the_clock(state_url: str, logs: list[dict[str, Any]]) -> None:
    """Records quarantined or Accounts not written: still, everything was read."""
    record_run(state_url, "full-8", 8)
    record_run(state_url, "full-partial-2", 2, status="partial")

    full, logged = decide(state_url, logs)

    assert full is False
    assert logged["last_full_run_id"] == "full-partial-2"


def test_a_dry_run_decides_alike_but_its_full_pull_never_resets_the_clock(
    state_url: str, logs: list[dict[str, Any]]
) -> None:
    record_run(state_url, "full-8", 8)
    record_run(state_url, "dry-full-1", 1, dry_run=True)

    full, logged = decide(state_url, logs, dry_run=True)

    assert full is True
    assert logged["last_full_run_id"] == "full-8"
    assert (logged["dry_run"], logged["resets_clock"]) == (True, False)


def test_runs_recorded_before_full_pulls_were_counted_do_not_count(
    state_url: str, logs: list[dict[str, Any]]
) -> None:
    with StateStore.open(state_url) as store:
        store.begin_run(
            "old", dry_run=False, as_of=NOW.date(), config_fingerprint="f" * 64, started_at=NOW
        )
        store.finish_run(
            FinishedRun("old", status="succeeded", finished_at=NOW, counts={"invoices": 9})
        )

    full, _ = decide(state_url, logs)

    assert full is True


def test_an_unreadable_store_leaves_the_run_incremental_with_a_warning(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    broken = tmp_path / "arsync.db"
    broken.write_bytes(b"this is not a database" * 100)

    full = full_pull_due(f"sqlite:///{broken}", ScheduleSettings(), dry_run=False, now=NOW)

    assert full is False
    warned = events(logs, "worker.full_pull_undecided")
    assert len(warned) == 1
    assert str(broken) in warned[0]["error"]


def test_the_days_are_in_the_schedules_time_zone(
    state_url: str, logs: list[dict[str, Any]]
) -> None:
    """23:30 UTC on the 7th is already the 8th in Berlin: a week before the 15th there."""
    with StateStore.open(state_url) as store:
        started = utc(2026, 6, 7, 23, 30)
        store.begin_run(
            "late",
            dry_run=False,
            as_of=started.date(),
            config_fingerprint="f" * 64,
            started_at=started,
        )
        store.finish_run(
            FinishedRun("late", status="succeeded", finished_at=started, counts={FULL_PULL: 1})
        )
    berlin = ScheduleSettings(timezone="Europe/Berlin")
    utc_schedule = ScheduleSettings()

    assert full_pull_due(state_url, berlin, dry_run=False, now=NOW) is True  # 7 days
    assert full_pull_due(state_url, utc_schedule, dry_run=False, now=NOW) is True  # 8 days
    assert (
        full_pull_due(state_url, berlin, dry_run=False, now=utc(2026, 6, 14, 21, 59)) is False
    )  # 23:59 on the 14th in Berlin: 6 days


def test_the_full_pull_setting_defaults_to_weekly_and_refuses_what_is_not_days() -> None:
    assert ScheduleSettings().full_pull_every_days == 7
    assert ScheduleSettings(full_pull_every_days=0).full_pull_every_days == 0
    for wrong in (None, -1, True, "weekly", 7.5):
        with pytest.raises(ValidationError) as raised:
            ScheduleSettings(full_pull_every_days=wrong)
        assert raised.value.errors()[0]["loc"] == ("full_pull_every_days",)
        shown = "null" if wrong is None else repr(wrong)
        assert (
            f"full_pull_every_days {shown}: expected a whole number of days, at least 0 "
            "(7: a full pull every week; 0: never, only `arsync run --full` by hand)"
        ) in str(raised.value)


# --- the command --------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_worker_command_refuses_to_start_without_an_org_to_write_to(project: Path) -> None:
    result = CliRunner().invoke(app, ["worker", "--config", str(project / "config/arsync.yaml")])

    assert result.exit_code == 2
    assert "no salesforce: section" in result.output


def test_worker_command_once_now_runs_the_sync_then_stops_on_sigterm(project: Path) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed on the main thread")
    plan = project / "out/plan.csv"

    def terminate() -> None:
        end = time.monotonic() + 20
        while not plan.exists() and time.monotonic() < end:
            time.sleep(0.02)
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):  # the worker's own
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate)
    killer.start()
    result = CliRunner().invoke(
        app,
        [
            "--log-format",
            "json",
            "worker",
            "--once-now",
            "--dry-run",
            "--config",
            str(project / "config/arsync.yaml"),
        ],
    )
    killer.join()

    assert result.exit_code == 0, result.output
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    finished = events(logs, "worker.run_finished")
    assert len(finished) == 1
    assert finished[0]["status"] == "ok"
    assert finished[0]["records_pulled"] == 60 + 2455 + 1925 + 36  # the sample's records
    assert finished[0]["accounts_changed"] == 60
    # No real run in the history: full, said so before the run, which reads everything.
    decided = events(logs, "worker.full_pull_due")
    assert len(decided) == 1
    assert decided[0]["reason"] == "no completed real run in the history read everything"
    assert (decided[0]["dry_run"], decided[0]["resets_clock"]) == (True, False)
    assert events(logs, "sync.started")[0]["incremental"] is False
    with StateStore.open(f"sqlite:///{project / 'state/arsync.db'}") as state:
        (recorded,) = state.runs.recent()
        assert (recorded.dry_run, recorded.counts[FULL_PULL]) == (True, 1)
        assert state.runs.last_full_pull() is None  # a dry run never resets the clock
    assert events(logs, "worker.stopped")
    assert "Salesforce: not connected" in result.output


def test_a_run_that_found_the_lock_taken_is_skipped_not_failed() -> None:
    metrics = RunMetrics(max_age=dt.timedelta(hours=26))
    metrics.record(RunSummary(exit_code=0, seconds=1.0))

    metrics.record(RunSummary(exit_code=4, seconds=0.1))

    status, body = metrics.health()
    assert status == HTTPStatus.OK
    assert body["last_run_status"] == "ok"
    assert RunSummary(exit_code=4, seconds=0).status == "skipped"
