"""The circuit breaker: a run past a limit stops before it writes, unless told the change is
meant; a dry run plans and warns. The pure check first, then `arsync run` end to end against
the fake org on a copy of the bundled sample."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from csv_rows import read_rows, write_rows
from fakes.salesforce import FakeSalesforce
from sample_org import project_for, sample_org
from structlog.testing import capture_logs
from typer.testing import CliRunner

from arsync.frames import StreamCount
from jobs.breaker import (
    OPEN_BALANCE_CHANGE,
    PORTFOLIO_OPEN,
    QUARANTINED_SHARE,
    LargeChangeError,
    check_breaker,
    enforce,
    portfolio_open_minor,
)
from jobs.cli import app
from jobs.settings import SafetySettings
from jobs.state import StateStore

DEFAULTS = SafetySettings()  # 5% of a stream's rows, 30% of the open balance


# --- the pure check ---------------------------------------------------------------------------


def counts(**streams: tuple[int, int]) -> dict[str, StreamCount]:
    """{stream: (rows read, rows quarantined)}, the rest in the ledger."""
    return {
        name.replace("_", "."): StreamCount(read=read, ledger=read - bad, quarantined=bad)
        for name, (read, bad) in streams.items()
    }


def test_a_stream_at_the_quarantine_limit_passes_and_one_row_more_trips() -> None:
    at_limit = check_breaker(counts(invoices_csv=(2000, 100)), 0, None, DEFAULTS)
    over = check_breaker(counts(invoices_csv=(2000, 101)), 0, None, DEFAULTS)

    assert at_limit == []
    [trip] = over
    assert (trip.cause, trip.subject, trip.limit) == (QUARANTINED_SHARE, "invoices.csv", 0.05)
    assert trip.share == pytest.approx(101 / 2000)
    assert trip.message == (
        "invoices.csv: 101 of 2,000 rows quarantined (5.1%, more than the 5% of "
        "safety.max_quarantined_share)"
    )
    assert trip.figures == {"rows_read": 2000, "rows_quarantined": 101}


def test_a_share_just_over_the_limit_never_reads_as_the_limit() -> None:
    [trip] = check_breaker(counts(invoices_csv=(20_000, 1_001)), 0, None, DEFAULTS)

    assert "(5.005%, more than the 5% of" in trip.message


def test_each_stream_is_judged_on_its_ownread_rows() -> None:
    # 60 bad rows are 0.6% of all rows, but 60% of the customers file.
    trips = check_breaker(
        counts(invoices_csv=(9900, 0), customers_csv=(100, 60)), 0, None, DEFAULTS
    )

    assert [trip.subject for trip in trips] == ["customers.csv"]


def test_a_stream_without_rows_never_trips() -> None:
    empty = {"invoices.csv": StreamCount(), "payments.csv": StreamCount(read=0)}

    assert check_breaker(empty, 0, None, DEFAULTS) == []


def test_without_a_read_count_the_rows_are_those_accounted_for() -> None:
    partial = {"invoices.csv": StreamCount(ledger=90, quarantined=8, merged=2)}

    [trip] = check_breaker(partial, 0, None, DEFAULTS)

    assert trip.figures == {"rows_read": 100, "rows_quarantined": 8}


@pytest.mark.parametrize(
    ("now", "trips"),
    [
        (130_000, False),  # +30.0%: at the limit
        (130_001, True),
        (70_000, False),  # -30.0%
        (69_999, True),
        (100_000, False),
    ],
)
def test_the_open_balance_may_move_up_to_the_limit_either_way(now: int, trips: bool) -> None:
    found = check_breaker({}, now, 100_000, DEFAULTS)

    assert bool(found) is trips
    if trips:
        assert found[0].cause == OPEN_BALANCE_CHANGE


def test_the_balance_trip_names_both_figures_the_move_and_the_run() -> None:
    [trip] = check_breaker({}, 140_000_00, 100_000_00, DEFAULTS, before_run="3f9c2a1b7d40")

    assert trip.message == (
        "the portfolio's open balance moved from 100,000.00 to 140,000.00 USD (+40.0%) since "
        "run 3f9c2a1b7d40, more than the 30% of safety.max_open_balance_change"
    )
    assert trip.figures == {
        "open_balance_before_minor": 100_000_00,
        "open_balance_now_minor": 140_000_00,
        "currency": "USD",
        "before_run": "3f9c2a1b7d40",
    }


def test_amounts_are_shown_in_the_reporting_currency_places() -> None:
    [trip] = check_breaker({}, 50_000, 100_000, DEFAULTS, currency="JPY")

    assert "from 100,000 to 50,000 JPY (-50.0%)" in trip.message


def test_the_first_run_has_no_balance_to_compare_with() -> None:
    assert check_breaker({}, 10**12, None, DEFAULTS) == []


def test_a_balance_from_nothing_trips_and_nothing_to_nothing_does_not() -> None:
    assert check_breaker({}, 0, 0, DEFAULTS) == []
    [trip] = check_breaker({}, 500, 0, DEFAULTS)
    assert "from 0.00 to 5.00 USD (from nothing)" in trip.message


def test_a_check_set_to_null_is_off() -> None:
    off = SafetySettings(max_quarantined_share=None, max_open_balance_change=None)

    assert check_breaker(counts(invoices_csv=(10, 10)), 10**9, 1, off) == []


def test_the_limits_are_settings() -> None:
    loose = SafetySettings(max_quarantined_share=0.5, max_open_balance_change=1.0)

    assert check_breaker(counts(invoices_csv=(10, 5)), 200, 100, loose) == []
    with pytest.raises(ValueError, match="less than or equal to 1"):
        SafetySettings(max_quarantined_share=1.5)


def test_the_portfolio_balance_is_summed_in_whole_minor_units() -> None:
    scores = pd.DataFrame({"open_balance": [0.1, 0.2, 1234.57, float("nan")]})

    assert portfolio_open_minor(scores, "USD") == 123_487
    assert portfolio_open_minor(scores.iloc[:0], "USD") == 0
    assert portfolio_open_minor(pd.DataFrame({"open_balance": [1500.0]}), "JPY") == 1500


def test_a_dry_run_warns_and_a_real_run_stops_unless_accepted() -> None:
    [trip] = check_breaker({}, 200, 100, DEFAULTS)

    with capture_logs() as logs:
        enforce([trip], dry_run=True, accepted=False)
        enforce([trip], dry_run=False, accepted=True)
        with pytest.raises(LargeChangeError, match="nothing was written to Salesforce") as error:
            enforce([trip], dry_run=False, accepted=False)
        enforce([], dry_run=False, accepted=False)

    assert error.value.trips == [trip]
    assert "--accept-large-change" in str(error.value)
    tripped = [e for e in logs if e["event"] == "safety.tripped"]
    assert [(e["dry_run"], e["accepted"]) for e in tripped] == [
        (True, False),
        (False, True),
        (False, False),
    ]
    assert tripped[0]["open_balance_before_minor"] == 100
    assert tripped[0]["open_balance_now_minor"] == 200


def test_a_trip_from_nothing_logs_no_infinity() -> None:
    [trip] = check_breaker({}, 200, 0, DEFAULTS)

    with capture_logs() as logs:
        enforce([trip], dry_run=True, accepted=False)

    assert logs[0]["share"] is None


# --- end to end: arsync run against the fake org ----------------------------------------------


@pytest.fixture
def org() -> Iterator[FakeSalesforce]:
    with sample_org() as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, org: FakeSalesforce) -> Path:
    return project_for(tmp_path, org)


@dataclasses.dataclass
class Ran:
    code: int
    output: str
    events: list[dict[str, Any]]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == name]


def run(project: Path, org: FakeSalesforce, *args: str) -> Ran:
    result = CliRunner().invoke(
        app,
        ["--log-format", "json", *args, "--config", str(project / "config/arsync.yaml")],
        env={"SF_ACCESS_TOKEN": org.issue_token()},
    )
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return Ran(result.exit_code, result.output, events)


def writes(org: FakeSalesforce) -> list[str]:
    """Every request that could change the org (the login aside)."""
    return [call.kind for call in org.calls if call.method != "GET" and call.kind != "login"]


def open_balances(org: FakeSalesforce) -> dict[str, Any]:
    return {key: account.get("AR_Open_Balance__c") for key, account in org.accounts.items()}


def last_written(project: Path) -> dict[str, int]:
    with StateStore.open(f"sqlite:///{project / 'state/arsync.db'}") as state:
        last = state.runs.last_success()
    assert last is not None
    return last.counts


def grow_open_invoices(project: Path, factor: float) -> None:
    """Every open invoice's amount and balance times `factor`: the portfolio moves with it."""
    path = project / "examples/sample/invoices.csv"
    rows = read_rows(path)
    for row in rows:
        if float(row["Balance Due"]) > 0:
            for column in ("Amount", "Balance Due"):
                row[column] = f"{float(row[column]) * factor:.2f}"
    write_rows(path, rows)


def break_amounts(project: Path, every: int) -> int:
    """Text in the amount of every `every`-th invoice row; how many rows were broken."""
    path = project / "examples/sample/invoices.csv"
    rows = read_rows(path)
    for row in rows[::every]:
        row["Amount"] = "twelve"
    write_rows(path, rows)
    return len(rows[::every])


def money(minor: int) -> str:
    return f"{minor / 100:,.2f}"


def test_a_40_percent_move_stops_the_real_run_before_any_write(
    project: Path, org: FakeSalesforce
) -> None:
    first = run(project, org, "run")
    assert first.code == 0, first.output
    before = last_written(project)[PORTFOLIO_OPEN]
    assert before > 0
    grow_open_invoices(project, 1.4)
    org.calls.clear()
    balances = open_balances(org)

    stopped = run(project, org, "run")

    assert stopped.code == 3, stopped.output
    [trip] = stopped.of("safety.tripped")
    now = trip["open_balance_now_minor"]
    assert now == pytest.approx(before * 1.4, rel=1e-4)
    assert (trip["cause"], trip["dry_run"], trip["accepted"]) == (OPEN_BALANCE_CHANGE, False, False)
    assert trip["open_balance_before_minor"] == before
    assert "The run stopped: the circuit breaker tripped" in stopped.output
    assert f"moved from {money(before)} to {money(now)} USD (+40.0%)" in stopped.output
    assert "--accept-large-change" in stopped.output
    assert writes(org) == []
    assert open_balances(org) == balances
    with StateStore.open(f"sqlite:///{project / 'state/arsync.db'}") as state:
        [recorded, _] = state.runs.recent(2)
    assert recorded.status == "failed"
    assert recorded.error is not None
    assert "LargeChangeError" in recorded.error
    assert last_written(project)[PORTFOLIO_OPEN] == before  # the baseline stays


def test_accept_large_change_writes_and_becomes_the_new_baseline(
    project: Path, org: FakeSalesforce
) -> None:
    assert run(project, org, "run").code == 0
    before = last_written(project)[PORTFOLIO_OPEN]
    grow_open_invoices(project, 1.4)
    balances = open_balances(org)

    accepted = run(project, org, "run", "--accept-large-change")

    assert accepted.code == 0, accepted.output
    [trip] = accepted.of("safety.tripped")
    assert trip["accepted"] is True
    assert "Circuit breaker tripped, and written through (--accept-large-change)" in accepted.output
    assert "composite" in writes(org)
    changed = open_balances(org)
    assert changed != balances
    assert sum(float(v or 0) for v in changed.values()) > 1.3 * sum(
        float(v or 0) for v in balances.values()
    )
    now = last_written(project)[PORTFOLIO_OPEN]
    assert now == trip["open_balance_now_minor"] != before
    assert last_written(project)["breaker_trips"] == 1
    again = run(project, org, "run")  # compared with the accepted run now
    assert (again.code, again.of("safety.tripped")) == (0, [])


def test_a_dry_run_plans_warns_and_exits_1(project: Path, org: FakeSalesforce) -> None:
    assert run(project, org, "run").code == 0
    grow_open_invoices(project, 1.4)
    org.calls.clear()

    planned = run(project, org, "run", "--dry-run")

    assert planned.code == 1, planned.output
    [trip] = planned.of("safety.tripped")
    assert (trip["dry_run"], trip["accepted"]) == (True, False)
    assert "Circuit breaker: a real run would stop here" in planned.output
    assert "(+40.0%)" in planned.output
    assert writes(org) == []
    plan = read_rows(project / "out/plan.csv")
    assert {row["field"] for row in plan} >= {"AR_Open_Balance__c"}  # it still planned
    finished = planned.of("sync.finished")[0]
    assert (finished["status"], finished["dry_run"]) == ("partial", True)


def test_too_many_bad_invoice_rows_stop_the_first_real_run(
    project: Path, org: FakeSalesforce
) -> None:
    broken = break_amounts(project, every=15)  # 164 of 2,455 rows: 6.7%

    stopped = run(project, org, "run")

    assert stopped.code == 3, stopped.output
    trips = {trip["subject"]: trip for trip in stopped.of("safety.tripped")}
    invoices = trips["invoices.csv"]
    assert (invoices["rows_quarantined"], invoices["rows_read"]) == (broken, 2455)
    assert f"invoices.csv: {broken} of 2,455 rows quarantined (6.7%" in stopped.output
    assert writes(org) == []


def test_a_looser_limit_in_arsync_yaml_lets_the_same_run_write(
    project: Path, org: FakeSalesforce
) -> None:
    break_amounts(project, every=15)
    config = project / "config/arsync.yaml"
    config.write_text(config.read_text() + "safety:\n  max_quarantined_share: 0.5\n")

    ran = run(project, org, "run")

    assert ran.code == 1, ran.output  # partial: records were quarantined
    assert ran.of("safety.tripped") == []
    assert "composite" in writes(org)


def test_an_unknown_safety_key_is_a_settings_error(project: Path, org: FakeSalesforce) -> None:
    config = project / "config/arsync.yaml"
    config.write_text(config.read_text() + "safety:\n  max_quarantine_share: 0.1\n")

    ran = run(project, org, "run", "--dry-run")

    assert ran.code == 2
    assert "safety.max_quarantine_share" in ran.output
