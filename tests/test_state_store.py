"""The state store, on SQLite and on a real PostgreSQL (the `state_url` fixture runs each test on
both): the run lifecycle, all-or-nothing finishing, watermarks, the sync lock, abandoned runs,
the score history, and the migrations."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from arsync.errors import FatalError
from arsync.quarantine import QuarantineEntry
from jobs.settings import StateSettings
from jobs.state import (
    FinishedRun,
    LockHeldError,
    NextPull,
    RunStateError,
    StateError,
    StateStore,
    StateUrlError,
)
from jobs.state.db import describe, make_engine, parse_url
from jobs.state.migrate import alembic_config, current, head, upgrade
from jobs.state.models import Base

AS_OF = dt.date(2026, 11, 20)
T0 = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
FINGERPRINT = "a" * 64
CURSOR = ("files", "invoices")
# For the tests of one backend's own mechanism: `state_url` with one of its two params.
ONLY_SQLITE = pytest.mark.parametrize("state_url", ["sqlite"], indirect=True)
ONLY_POSTGRES = pytest.mark.parametrize("state_url", ["postgresql"], indirect=True)


@pytest.fixture
def store(state_url: str) -> Iterator[StateStore]:
    opened = StateStore.open(state_url)
    yield opened
    opened.close()


def begin(store: StateStore, run_id: str, at: dt.datetime = T0, *, dry_run: bool = False) -> None:
    store.begin_run(
        run_id, dry_run=dry_run, as_of=AS_OF, config_fingerprint=FINGERPRINT, started_at=at
    )


def finish(store: StateStore, run_id: str, status: str = "succeeded", **produced: Any) -> None:
    store.finish_run(
        FinishedRun(
            run_id,
            status=status,
            finished_at=T0 + dt.timedelta(minutes=5),
            counts=produced.pop("counts", {"customers": 2}),
            **produced,
        )
    )


def outcome(customer_id: str | None, status: str = "written", **more: Any) -> dict[str, Any]:
    return {
        "object": "Account",
        "key": customer_id,
        "customer_id": customer_id,
        "action": "update",
        "record_id": f"001{customer_id}",
        "status": status,
        "fields": "AR_Open_Balance__c",
        "error_code": None,
        "message": None,
        **more,
    }


def snapshot(customer_id: str, day: dt.date = AS_OF, **more: Any) -> dict[str, Any]:
    return {
        "snapshot_date": day,
        "customer_id": customer_id,
        "health_score": 70,
        "risk_tier": "medium",
        "open_balance": 1200.5,
        "overdue_balance": 300.0,
        "segment": "smb",
        **more,
    }


QUARANTINED = QuarantineEntry("invoice", "INV-7", "invoices.csv:8", "no_due_date", "due date empty")


def test_a_run_is_recorded_when_it_begins_and_again_when_it_ends(store: StateStore) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    store.begin_run(
        "3f9c2a1b7d40",
        dry_run=False,
        as_of=AS_OF,
        config_fingerprint=FINGERPRINT,
        started_at=T0.astimezone(berlin),
        data_as_of=dt.datetime(2026, 11, 20, 23, tzinfo=dt.UTC),
    )

    running = store.runs.get("3f9c2a1b7d40")
    assert running is not None
    assert running.status == "running"
    assert running.started_at == T0
    assert running.started_at.tzinfo == dt.UTC  # read back in UTC, whatever zone it was given in
    assert running.finished_at is None
    assert (running.host, running.pid) == (socket.gethostname(), os.getpid())
    assert running.counts == {}
    assert running.data_as_of == dt.datetime(2026, 11, 20, 23, tzinfo=dt.UTC)
    assert store.runs.last_success() is None

    finish(
        store,
        "3f9c2a1b7d40",
        "partial",
        counts={"customers": 60, "quarantined": 1},
        quarantine=[QUARANTINED],
        outcomes=[outcome("C1"), outcome("C2", "failed", error_code="STRING_TOO_LONG")],
    )

    done = store.runs.get("3f9c")  # a unique prefix is enough
    assert done is not None
    assert done.run_id == "3f9c2a1b7d40"
    assert (done.status, done.completed) == ("partial", True)
    assert done.finished_at == T0 + dt.timedelta(minutes=5)
    assert done.counts == {"customers": 60, "quarantined": 1}
    assert done.config_fingerprint == FINGERPRINT
    assert store.runs.last_success() == done
    assert store.runs.quarantine_of("3f9c2a1b7d40") == [QUARANTINED]
    assert [o["customer_id"] for o in store.runs.outcomes_of("3f9c2a1b7d40")] == ["C1", "C2"]
    assert store.runs.outcomes_of("3f9c2a1b7d40", status="failed") == [
        {
            "object": "Account",
            "key": "C2",
            "customer_id": "C2",
            "action": "update",
            "record_id": "001C2",
            "status": "failed",
            "fields": "AR_Open_Balance__c",
            "error_code": "STRING_TOO_LONG",
            "message": None,
        }
    ]


def test_runs_are_listed_newest_first_and_found_by_a_unique_prefix(store: StateStore) -> None:
    for minutes, run_id in enumerate(["ab1000", "ab2000", "cd3000"]):
        begin(store, run_id, T0 + dt.timedelta(minutes=minutes))
        finish(store, run_id, "failed" if run_id == "cd3000" else "succeeded", error="boom")

    assert [run.run_id for run in store.runs.recent()] == ["cd3000", "ab2000", "ab1000"]
    assert [run.run_id for run in store.runs.recent(limit=1)] == ["cd3000"]
    last = store.runs.last_success()
    assert last is not None
    assert last.run_id == "ab2000"  # the failed run is newer, but not a success
    assert store.runs.get("zz") is None
    assert store.runs.get("") is None
    with pytest.raises(RunStateError, match="ambiguous"):
        store.runs.get("ab")


def test_dry_runs_are_never_the_last_success(store: StateStore) -> None:
    begin(store, "real")
    finish(store, "real")
    begin(store, "dry", T0 + dt.timedelta(hours=1), dry_run=True)
    finish(store, "dry")

    last = store.runs.last_success()
    assert last is not None
    assert last.run_id == "real"


def test_finish_run_is_all_or_nothing(store: StateStore) -> None:
    begin(store, "first")
    finish(store, "first", next_pull=NextPull({CURSOR: "2026-11-19T00:00:00Z"}))
    begin(store, "second")
    outcomes = [outcome(f"C{i}") for i in range(500)]
    outcomes[250]["customer_id"] = None  # NOT NULL: the insert fails half-way through

    with pytest.raises(StateError, match="nothing of it was saved"):
        finish(
            store,
            "second",
            next_pull=NextPull({CURSOR: "2026-11-20T00:00:00Z"}),
            quarantine=[QUARANTINED],
            outcomes=outcomes,
            snapshots=[snapshot("C1")],
        )

    run = store.runs.get("second")
    assert run is not None
    assert (run.status, run.finished_at, run.counts) == ("running", None, {})
    assert store.cursors.watermark(*CURSOR) == "2026-11-19T00:00:00Z"
    assert store.runs.quarantine_of("second") == []
    assert store.runs.outcomes_of("second") == []
    assert store.history.snapshots(AS_OF).empty

    # Nothing is left half-done, so the same run can still be recorded in full.
    outcomes[250]["customer_id"] = "C250"
    finish(store, "second", next_pull=NextPull({CURSOR: "2026-11-20T00:00:00Z"}), outcomes=outcomes)
    assert len(store.runs.outcomes_of("second")) == 500
    assert store.cursors.watermark(*CURSOR) == "2026-11-20T00:00:00Z"


def test_finish_run_failing_in_its_last_part_keeps_nothing_of_the_others(
    store: StateStore,
) -> None:
    """The parts write in turn (run, outcomes, snapshots, written values, then the cursors),
    in one transaction: a kept record the database refuses (no location) undoes them all."""
    begin(store, "first")
    finish(store, "first", next_pull=NextPull({CURSOR: "2026-11-19T00:00:00Z"}))
    begin(store, "second")
    refused = {
        "source": "files",
        "record_type": "invoice",
        "record_id": "INV-1",
        "payload": {"id": "INV-1"},
        "location": None,  # NOT NULL
    }

    with pytest.raises(StateError, match="nothing of it was saved"):
        finish(
            store,
            "second",
            outcomes=[outcome("C1")],
            snapshots=[snapshot("C1")],
            written=[("001C1", "AR_Risk_Tier__c", "Low")],
            next_pull=NextPull({CURSOR: "2026-11-20T00:00:00Z"}, records=[refused]),
        )

    run = store.runs.get("second")
    assert run is not None
    assert (run.status, run.finished_at) == ("running", None)
    assert store.runs.outcomes_of("second") == []
    assert store.history.snapshots(AS_OF).empty
    assert store.written.values() == {}
    assert store.cursors.records("files") == []
    assert store.cursors.watermark(*CURSOR) == "2026-11-19T00:00:00Z"


@pytest.mark.parametrize(
    ("status", "dry_run", "moves"),
    [
        ("succeeded", False, True),
        ("partial", False, True),
        ("failed", False, False),
        ("succeeded", True, False),  # a dry run wrote nothing: the next run still owes it all
    ],
)
def test_watermarks_move_only_when_a_real_run_completes(
    store: StateStore, status: str, dry_run: bool, moves: bool
) -> None:
    assert store.cursors.watermark(*CURSOR) is None
    begin(store, "before")
    finish(store, "before", next_pull=NextPull({CURSOR: "old", ("files", "payments"): "p-old"}))
    begin(store, "now", dry_run=dry_run)

    finish(store, "now", status, next_pull=NextPull({CURSOR: "new"}), quarantine=[QUARANTINED])

    assert store.cursors.watermark(*CURSOR) == ("new" if moves else "old")
    assert store.cursors.watermark("files", "payments") == "p-old"  # a stream not given stays put
    assert store.runs.quarantine_of("now") == [QUARANTINED]  # recorded whatever the status


def test_a_run_is_finished_once(store: StateStore) -> None:
    with pytest.raises(RunStateError, match="never begun"):
        finish(store, "ghost")
    begin(store, "once")
    finish(store, "once")
    with pytest.raises(RunStateError, match="succeeded, not running"):
        finish(store, "once", "failed")
    with pytest.raises(RunStateError, match="already recorded"):
        begin(store, "once")
    with pytest.raises(ValueError, match="finishes as one of"):
        finish(store, "once", "running")


def test_naive_datetimes_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="time zone"):
        begin(store, "naive", dt.datetime(2026, 11, 21, 2, 0))  # noqa: DTZ001 - the point


def test_runs_whose_process_is_gone_are_marked_abandoned(state_url: str) -> None:
    first, second = StateStore.open(state_url), StateStore.open(state_url)
    try:
        begin(first, "crashed")  # never finished, and no lock held
        with first.locks.hold("locked"):
            begin(first, "locked", T0 + dt.timedelta(minutes=1))
            begin(second, "next", T0 + dt.timedelta(minutes=2))

            crashed, locked = first.runs.get("crashed"), first.runs.get("locked")
            assert crashed is not None
            assert locked is not None
            assert crashed.status == "abandoned"
            assert crashed.error is not None
            assert "when run locked began" in crashed.error
            assert locked.status == "running"  # its lock is held: it is alive

        with pytest.raises(RunStateError, match="abandoned, not running"):
            finish(first, "crashed")
    finally:
        first.close()
        second.close()


def test_a_second_lock_is_refused_and_names_the_holder(state_url: str) -> None:
    # Two stores: on PostgreSQL two connections, as two processes would have.
    first, second = StateStore.open(state_url), StateStore.open(state_url)
    try:
        with first.locks.hold("holder-run"):
            with pytest.raises(LockHeldError) as refused, second.locks.hold("other-run"):
                pytest.fail("two syncs at once")
            message = str(refused.value)
            assert "holder-run" in message
            assert socket.gethostname() in message
            assert f"pid {os.getpid()}" in message
            assert "since 20" in message
            assert isinstance(refused.value, FatalError)  # the CLI stops the run, exit 3
            assert refused.value.run_id == "holder-run"

            with second.locks.hold("nightly-report", name="report"):  # another name, another lock
                pass

        with second.locks.hold("other-run"):  # released at the end of the block
            pass
    finally:
        first.close()
        second.close()


CONTENDER = """
import sys
import structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
from jobs.state import LockHeldError, StateStore
store = StateStore.open(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # all go at once
try:
    with store.locks.hold(sys.argv[2]):
        print("got", flush=True)
        sys.stdin.readline()  # hold the lock until every racer has answered
except LockHeldError as error:
    print("refused", error.run_id, flush=True)
"""


def test_of_processes_starting_together_exactly_one_gets_the_lock(state_url: str) -> None:
    StateStore.open(state_url).close()  # the schema, before the race
    racers = [
        subprocess.Popen(  # noqa: S603 - this interpreter, this test's own script
            [sys.executable, "-c", CONTENDER, state_url, f"racer-{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for n in range(4)
    ]
    for racer in racers:
        assert racer.stdout is not None
        assert racer.stdout.readline().strip() == "ready"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    answers = []
    for racer in racers:
        assert racer.stdout is not None
        answers.append(racer.stdout.readline().strip())
    for racer in racers:
        racer.communicate("release\n", timeout=60)
    answers.sort()

    assert answers[0] == "got"
    # A loser that asks in the instant between the winner's lock and its lock row cannot name
    # the winner yet ("refused None"); it is refused all the same.
    assert all(answer.startswith("refused ") for answer in answers[1:]), answers


def test_the_lock_is_released_when_the_run_fails(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.locks.hold("failing"):
        raise RuntimeError("the run blew up")
    with store.locks.hold("next"):
        pass


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _lock_row(url: str, **row: Any) -> None:
    engine = make_engine(url)
    values = {
        "name": "sync",
        "run_id": "stale",
        "host": socket.gethostname(),
        "pid": _dead_pid(),
        "acquired_at": T0,
        "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=5),
        **row,
    }
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO run_lock (name, run_id, host, pid, acquired_at, expires_at) "
                "VALUES (:name, :run_id, :host, :pid, :acquired_at, :expires_at)"
            ),
            values,
        )
    engine.dispose()


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param({}, id="dead-pid-on-this-host"),
        pytest.param(
            {"pid": os.getpid(), "expires_at": T0}, id="lease-expired-though-process-alive"
        ),
        pytest.param({"host": "elsewhere", "expires_at": T0}, id="lease-expired-on-another-host"),
    ],
)
def test_a_stale_lock_is_taken_over(store: StateStore, state_url: str, stale: Any) -> None:
    _lock_row(state_url, **stale)
    begin(store, "stale")  # the dead run's row, still 'running'

    with store.locks.hold("fresh"):
        begin(store, "fresh", T0 + dt.timedelta(hours=1))

    stale_run = store.runs.get("stale")
    assert stale_run is not None
    assert stale_run.status == "abandoned"


@ONLY_SQLITE  # PostgreSQL asks the server whether the holder's session is alive
def test_a_live_holder_on_another_host_keeps_the_lock_on_sqlite(state_url: str) -> None:
    expected = r"run stale on host worker-2 \(pid 4242\)"
    with StateStore.open(state_url) as store:
        _lock_row(state_url, host="worker-2", pid=4242)
        with pytest.raises(LockHeldError, match=expected), store.locks.hold("mine"):
            pytest.fail("the lock of a live run on another host was taken")


@ONLY_POSTGRES  # the advisory lock is PostgreSQL's
def test_postgres_lock_dies_with_its_holder(state_url: str) -> None:
    first, second = StateStore.open(state_url), StateStore.open(state_url)
    engine = make_engine(state_url)
    try:
        held = first.locks.hold("crashing")
        held.__enter__()
        # The holder's connection drops, as when its process is killed: the server frees the lock,
        # while the run_lock row still names the dead holder. Only that session is ended.
        key = first.locks._advisory_key("sync") & 0xFFFF_FFFF_FFFF_FFFF
        with engine.begin() as connection:
            killed = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks"  # waits up to 10 s
                    " WHERE locktype = 'advisory' AND granted"
                    " AND classid::bigint = :high AND objid::bigint = :low AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"high": key >> 32, "low": key & 0xFFFF_FFFF},
            ).all()
        assert killed == [(True,)]

        with (
            second.locks.hold("next"),
            pytest.raises(LockHeldError, match="held by run next"),
            first.locks.hold("third"),
        ):
            pytest.fail("two holders at once")
        held.__exit__(None, None, None)  # the dead holder's clean-up leaves the new row alone
        with second.locks.hold("after"):
            pass
    finally:
        engine.dispose()
        first.close()
        second.close()


def test_snapshots_are_upserted_by_day_and_customer(store: StateStore) -> None:
    next_day = AS_OF + dt.timedelta(days=1)
    begin(store, "morning")
    finish(store, "morning", snapshots=[snapshot("C1"), snapshot("C2", open_balance=12.345)])
    begin(store, "rerun", T0 + dt.timedelta(hours=1))
    finish(
        store,
        "rerun",
        snapshots=[
            snapshot("C1", health_score=40, risk_tier="high", segment=None),
            snapshot("C1", next_day, health_score=35),
            snapshot("C1", next_day, health_score=30),  # the same key twice: the last one wins
        ],
    )

    history = store.history.snapshots(since=AS_OF)
    assert list(history.columns) == [
        "snapshot_date",
        "customer_id",
        "run_id",
        "health_score",
        "risk_tier",
        "open_balance",
        "overdue_balance",
        "segment",
        "promise_status",
        "promise_amount",
        "promise_date",
        "crm_dispute_open",
        "owner_id",
        "owner_name",
    ]
    rows = history.to_dict("records")
    assert [(r["snapshot_date"].date(), r["customer_id"], r["run_id"]) for r in rows] == [
        (AS_OF, "C1", "rerun"),
        (AS_OF, "C2", "morning"),
        (next_day, "C1", "rerun"),
    ]
    assert [r["health_score"] for r in rows] == [40, 70, 30]
    assert rows[0]["risk_tier"] == "high"
    assert pd.isna(rows[0]["segment"])  # a str column: a missing value is NaN
    assert rows[1]["open_balance"] == 12.35  # to the cent, half away from zero
    assert str(history["health_score"].dtype) == "int64"
    assert str(history["open_balance"].dtype) == "float64"
    assert len(store.history.snapshots(since=next_day)) == 1
    assert store.history.snapshots(since=next_day + dt.timedelta(days=1)).empty


def test_outcomes_and_snapshots_straight_from_dataframes(store: StateStore) -> None:
    """The pipeline's frames hold NaN for 'no value' and numpy numbers: both are accepted."""
    outcomes = pd.DataFrame([outcome("C1"), outcome("C2", record_id=float("nan"))])
    scores = pd.DataFrame([snapshot("C1", segment=np.nan, health_score=np.int64(55))])
    begin(store, "frames")
    finish(
        store,
        "frames",
        outcomes=outcomes.to_dict("records"),
        snapshots=scores.to_dict("records"),
        counts={"customers": np.int64(2)},
    )

    assert store.runs.outcomes_of("frames")[1]["record_id"] is None
    (row,) = store.history.snapshots(AS_OF).to_dict("records")
    assert row["health_score"] == 55
    assert pd.isna(row["segment"])
    run = store.runs.get("frames")
    assert run is not None
    assert run.counts == {"customers": 2}


def test_a_database_of_the_first_schema_upgrades_to_the_latest(state_url: str) -> None:
    engine = make_engine(state_url)
    try:
        upgrade(engine, "0001")
        assert current(engine) == "0001"
        assert "segment" not in {c["name"] for c in inspect(engine).get_columns("score_snapshots")}
        with engine.begin() as connection:  # what a worker of the first version wrote
            connection.execute(
                text(
                    "INSERT INTO runs (run_id, started_at, finished_at, status, dry_run, as_of,"
                    " config_fingerprint, counts, host, pid) VALUES ('old', :started,"
                    " :finished, 'succeeded', :dry, :as_of, :fp, '{\"customers\": 1}', 'h', 1)"
                ),
                {
                    "started": T0,
                    "finished": T0 + dt.timedelta(minutes=1),
                    "dry": False,
                    "as_of": AS_OF,
                    "fp": FINGERPRINT,
                },
            )
            connection.execute(
                text(
                    "INSERT INTO score_snapshots (snapshot_date, customer_id, run_id,"
                    " health_score, risk_tier, open_balance, overdue_balance)"
                    " VALUES (:day, 'C1', 'old', 81, 'low', :open, :overdue)"
                ),
                {"day": AS_OF, "open": 100.1, "overdue": 0},
            )
    finally:
        engine.dispose()

    with StateStore.open(state_url) as store:  # opening upgrades to the latest
        old = store.runs.get("old")
        assert old is not None
        assert (old.status, old.counts, old.started_at) == ("succeeded", {"customers": 1}, T0)
        (row,) = store.history.snapshots(AS_OF).to_dict("records")
        assert (row["customer_id"], row["health_score"], row["open_balance"]) == ("C1", 81, 100.1)
        assert pd.isna(row["segment"])  # no segment before revision 0002

    engine = make_engine(state_url)
    try:
        assert current(engine) == head() == "0009"
    finally:
        engine.dispose()


def test_snapshots_keep_what_the_run_read_from_the_crm(store: StateStore) -> None:
    begin(store, "crm")
    finish(
        store,
        "crm",
        snapshots=[
            snapshot(
                "C1",
                promise_status="pending",
                promise_amount=np.float64(250.125),
                promise_date=pd.Timestamp("2026-11-25"),
                crm_dispute_open=np.bool_(True),
                owner_id="005000000000001AAA",
                owner_name="Ann Lee",
            ),
            snapshot(
                "C2",
                promise_status="none",
                promise_amount=float("nan"),
                promise_date=pd.NaT,
                crm_dispute_open=False,
                owner_id="005000000000002AAA",
                owner_name=None,  # User not readable
            ),
            snapshot("C3"),  # nothing read: all None
        ],
    )

    one, two, three = store.history.snapshots(AS_OF, AS_OF).to_dict("records")

    assert (one["promise_status"], one["promise_amount"]) == ("pending", 250.13)
    assert one["promise_date"] == dt.date(2026, 11, 25)
    assert one["crm_dispute_open"] is True
    assert (one["owner_id"], one["owner_name"]) == ("005000000000001AAA", "Ann Lee")
    assert (two["promise_status"], two["crm_dispute_open"]) == ("none", False)
    assert pd.isna(two["promise_amount"])
    assert two["promise_date"] is None
    assert pd.isna(two["owner_name"])  # a str column: a missing value is NaN
    unread = ("promise_status", "promise_amount", "promise_date", "owner_id", "owner_name")
    assert all(pd.isna(three[name]) for name in unread)
    assert three["crm_dispute_open"] is None  # not False: nothing was read
    assert store.history.snapshots(AS_OF + dt.timedelta(days=1)).empty
    assert len(store.history.snapshots(AS_OF - dt.timedelta(days=1), AS_OF)) == 3


def test_revision_0006_adds_the_crm_columns_and_keeps_older_snapshots(state_url: str) -> None:
    """A store at 0005 with a snapshot upgrades: the new columns exist, the old row is NULL
    there; the downgrade drops them again (batch mode on SQLite)."""
    crm_columns = {
        "promise_status",
        "promise_amount",
        "promise_date",
        "crm_dispute_open",
        "owner_id",
        "owner_name",
    }
    engine = make_engine(state_url)
    try:
        upgrade(engine, "0005")
        assert not crm_columns & {c["name"] for c in inspect(engine).get_columns("score_snapshots")}
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO runs (run_id, started_at, finished_at, status, dry_run, as_of,"
                    " config_fingerprint, counts, host, pid) VALUES ('v5', :started,"
                    " :finished, 'succeeded', :dry, :as_of, :fp, '{}', 'h', 1)"
                ),
                {"started": T0, "finished": T0, "dry": False, "as_of": AS_OF, "fp": FINGERPRINT},
            )
            connection.execute(
                text(
                    "INSERT INTO score_snapshots (snapshot_date, customer_id, run_id,"
                    " health_score, risk_tier, open_balance, overdue_balance, segment)"
                    " VALUES (:day, 'C1', 'v5', 60, 'medium', 10, 5, 'smb')"
                ),
                {"day": AS_OF},
            )
        upgrade(engine, "0006")
        columns = {c["name"]: c for c in inspect(engine).get_columns("score_snapshots")}
        assert crm_columns <= set(columns)
        assert all(columns[name]["nullable"] for name in crm_columns)
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT segment, promise_status, promise_amount, promise_date,"
                    " crm_dispute_open, owner_id, owner_name FROM score_snapshots"
                )
            ).one()
        assert tuple(row) == ("smb", None, None, None, None, None, None)
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0005")
        names = {c["name"] for c in inspect(engine).get_columns("score_snapshots")}
        assert not crm_columns & names
        assert "segment" in names
    finally:
        engine.dispose()


def test_revision_0009_keeps_the_account_outcomes_as_outcomes_of_every_object(
    state_url: str,
) -> None:
    """The outcomes kept before invoice records and Tasks had theirs there are Account
    updates: each gets its object, its key (the customer) and its action."""
    engine = make_engine(state_url)
    try:
        upgrade(engine, "0008")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO runs (run_id, started_at, finished_at, status, dry_run, as_of,"
                    " config_fingerprint, counts, host, pid) VALUES ('v8', :started,"
                    " :finished, 'succeeded', :dry, :as_of, :fp, '{}', 'h', 1)"
                ),
                {"started": T0, "finished": T0, "dry": False, "as_of": AS_OF, "fp": FINGERPRINT},
            )
            connection.execute(
                text(
                    "INSERT INTO outcomes (run_id, customer_id, account_id, status, fields)"
                    " VALUES ('v8', 'C1', '001C1', 'written', 'AR_Open_Balance__c'),"
                    " ('v8', 'C2', NULL, 'unmatched', '')"
                )
            )
        upgrade(engine, "0009")
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    'SELECT object, "key", customer_id, action, record_id, status'
                    " FROM outcomes ORDER BY id"
                )
            ).all()
        assert [tuple(row) for row in rows] == [
            ("Account", "C1", "C1", "update", "001C1", "written"),
            ("Account", "C2", "C2", "update", None, "unmatched"),
        ]
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0008")
        names = {c["name"] for c in inspect(engine).get_columns("outcomes")}
        assert "account_id" in names
        assert not {"object", "key", "action", "record_id"} & names
    finally:
        engine.dispose()


def test_the_migrations_build_exactly_the_models(store: StateStore, state_url: str) -> None:
    """`alembic check`: a model changed without a migration fails here."""
    engine = make_engine(state_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_opening_twice_is_harmless(state_url: str) -> None:
    with StateStore.open(state_url), StateStore.open(state_url) as again:
        assert again.runs.recent() == []


# --- URLs and settings: no database needed --------------------------------------------------


def test_postgres_urls_go_to_psycopg_3_and_passwords_stay_hidden() -> None:
    url = parse_url("postgresql://arsync:s3cret@db:5432/arsync")
    assert url.drivername == "postgresql+psycopg"
    assert "s3cret" not in describe(url)
    assert describe(url) == "postgresql+psycopg://arsync:***@db:5432/arsync"
    assert parse_url("postgres://u@db/x").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:///state/arsync.db").drivername == "sqlite"


def test_a_password_reference_is_read_from_the_environment() -> None:
    url = parse_url(
        "postgresql://arsync:${ARSYNC_DB_PASSWORD}@db/arsync", {"ARSYNC_DB_PASSWORD": "pw"}
    )
    assert url.password == "pw"
    with pytest.raises(StateUrlError, match="ARSYNC_DB_PASSWORD is not set") as missing:
        parse_url("postgresql://arsync:${ARSYNC_DB_PASSWORD}@db/arsync", {})
    assert "***" in str(missing.value)


@pytest.mark.parametrize("url", ["mysql://u:s3cret@db/x", "postgresql://u:s3cret@db:port/x", "::"])
def test_unusable_urls_are_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(StateUrlError) as refused:
        StateStore.open(url)
    assert "s3cret" not in str(refused.value)


@ONLY_POSTGRES  # SQLite has no password
def test_a_wrong_password_is_reported_without_the_password(state_url: str) -> None:
    wrong = make_url(state_url).set(password="not-the-password-42")
    with pytest.raises(StateError) as refused:
        StateStore.open(wrong.render_as_string(hide_password=False))
    assert "not-the-password-42" not in str(refused.value)
    assert "password authentication failed" in str(refused.value)


def test_a_sqlite_file_gets_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    with StateStore.open(f"sqlite:///{path}") as store:
        assert store.url == f"sqlite:///{path}"
    assert path.exists()


def test_state_settings_take_a_relative_sqlite_path_from_the_config_folder() -> None:
    config = Path("/etc/arsync")
    assert StateSettings().resolved(config).url == "sqlite:////etc/state/arsync.db"
    assert StateSettings().lock_lease_hours == 6
    shared = StateSettings(url="postgresql://arsync:${ARSYNC_DB_PASSWORD}@db/arsync")
    assert shared.resolved(config) == shared
    absolute = StateSettings(url="sqlite:////var/lib/arsync/state.db")
    assert absolute.resolved(config) == absolute


def test_state_settings_refuse_a_password_written_in_the_yaml() -> None:
    with pytest.raises(ValueError, match="secrets come from the environment"):
        StateSettings(url="postgresql://arsync:s3cret@db/arsync")


def test_a_completed_run_keeps_an_incremental_sources_records_and_a_full_pull_replaces_them(
    state_url: str,
) -> None:
    with StateStore.open(state_url) as store:
        first = _record("run-a", "customer", "C1") + _record("run-a", "customer", "C2")
        _finish(
            store,
            "run-a",
            "succeeded",
            next_pull=NextPull(records=first, replace_records_of="quickbooks"),
        )
        _finish(
            store,
            "run-b",
            "succeeded",
            next_pull=NextPull(records=_record("run-b", "customer", "C2", "new")),
        )
        _finish(
            store, "run-c", "failed", next_pull=NextPull(records=_record("run-c", "customer", "C3"))
        )

        kept = store.cursors.records("quickbooks")

        assert [(kind, payload["id"], payload["name"]) for kind, payload, _ in kept] == [
            ("customer", "C1", "C1"),
            ("customer", "C2", "new"),
        ]
        _finish(
            store,
            "run-d",
            "succeeded",
            next_pull=NextPull(
                records=_record("run-d", "customer", "C9"), replace_records_of="quickbooks"
            ),
        )
        assert [payload["id"] for _, payload, _ in store.cursors.records("quickbooks")] == ["C9"]


def _record(
    run_id: str, kind: str, record_id: str, name: str | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "source": "quickbooks",
            "record_type": kind,
            "record_id": record_id,
            "payload": {"id": record_id, "name": name or record_id},
            "location": f"quickbooks:Customer/{record_id}",
        }
    ]


def _finish(
    store: StateStore, run_id: str, status: str, *, dry_run: bool = False, **kept: Any
) -> None:
    store.begin_run(
        run_id,
        dry_run=dry_run,
        as_of=dt.date(2026, 6, 30),
        config_fingerprint="f" * 64,
        started_at=dt.datetime(2026, 6, 30, tzinfo=dt.UTC),
    )
    store.finish_run(
        FinishedRun(
            run_id,
            status=status,
            finished_at=dt.datetime(2026, 6, 30, 1, tzinfo=dt.UTC),
            counts={},
            **kept,
        )
    )


def test_written_values_are_kept_for_every_real_run_a_failed_one_too(state_url: str) -> None:
    """What Salesforce confirmed is in the org whatever became of the run: a failed run's
    writes must not read as a person's edits to the next run (issue 15)."""
    with StateStore.open(state_url) as store:
        _finish(store, "run-w1", "succeeded", written=[("001A", "AR_Risk_Tier__c", "Low")])
        _finish(store, "run-w2", "failed", written=[("001A", "AR_Risk_Tier__c", "High")])
        _finish(store, "run-w3", "partial", written=[("001B", "AR_Open_Balance__c", 12.5)])
        _finish(
            store,
            "run-w4",
            "succeeded",
            dry_run=True,
            written=[("001B", "AR_Open_Balance__c", 99.0)],
        )

        assert store.written.values() == {
            ("001A", "AR_Risk_Tier__c"): "High",
            ("001B", "AR_Open_Balance__c"): 12.5,
        }
