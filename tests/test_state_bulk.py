"""The state store's bulk writes (`jobs.state.bulk`), on SQLite and PostgreSQL (`state_url`):
rows streamed in chunks and multi-row statements store exactly what the ORM stored, in order,
the later of a repeated key winning (issue 15: 1.6 M written values of a first run)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

from jobs.state import FinishedRun, StateStore
from jobs.state.bulk import CHUNK, ROWS_PER_STATEMENT, json_scalar
from jobs.state.db import make_engine
from jobs.state.models import Run, WrittenValue

T0 = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
# More than one chunk, and not a whole number of statements: every remainder path runs.
ACCOUNTS = (CHUNK + ROWS_PER_STATEMENT + 7) // 4 + 1
FIELDS = ("AR_Open_Balance__c", "AR_Risk_Tier__c", "AR_On_Hold__c", "AR_Last_Payment__c")
SCALARS: list[Any] = [
    "Low",
    "",
    'Zoë "quoted" \\ back\nline\t\u2603 \U0001f600',
    0,
    -7,
    2**70,
    0.1,
    -1234.5,
    1e300,
    5e-324,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    None,
    {"a": [1, 2.5, None], "b": "x"},
    [1, "two"],
]


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_json_scalar_encodes_as_json_dumps(value: Any) -> None:
    assert json_scalar(value) == json.dumps(value)


def test_json_scalar_keeps_sql_null_when_the_column_says_so() -> None:
    assert json_scalar(None, none_as_null=True) is None
    assert json_scalar(0, none_as_null=True) == "0"


def _value(account: int, field: int) -> Any:
    return (account * 1.25, f"Tier {account % 5}", account % 3 == 0, None)[field]


def _run(store: StateStore, run_id: str, **produced: Any) -> None:
    store.begin_run(
        run_id, dry_run=False, as_of=T0.date(), config_fingerprint="f" * 64, started_at=T0
    )
    store.finish_run(FinishedRun(run_id, status="succeeded", finished_at=T0, counts={}, **produced))


def test_many_written_values_are_all_kept_the_last_of_a_repeated_key_winning(
    state_url: str,
) -> None:
    written = [
        (f"001{a:015d}", name, _value(a, f))
        for a in range(ACCOUNTS)
        for f, name in enumerate(FIELDS)
    ]
    again = [(f"001{0:015d}", FIELDS[1], "High"), (f"001{ACCOUNTS - 1:015d}", FIELDS[0], 9.5)]
    with StateStore.open(state_url) as store:
        _run(store, "run-1", written=[*written[:5], ("001X", FIELDS[0], 1.0), *written[5:]])
        _run(store, "run-2", written=[*again, ("001X", FIELDS[0], 2.0), ("001X", FIELDS[0], 3.0)])
        kept = store.written.values()

    expected = {(account, name): value for account, name, value in written}
    expected.update({(account, name): value for account, name, value in again})
    expected[("001X", FIELDS[0])] = 3.0
    assert len(kept) == len(written) + 1 > CHUNK
    assert kept == expected


@pytest.mark.parametrize("state_url", ["sqlite"], indirect=True)
def test_written_values_are_stored_as_the_orm_stored_them(state_url: str, tmp_path: Path) -> None:
    """The same stored JSON, byte for byte, as the ORM's own insert, and JSON null (not SQL
    NULL) for None, so that rows written before and after read alike."""
    written = [(f"001{i:015d}", "AR_Field__c", value) for i, value in enumerate(SCALARS)]
    with StateStore.open(state_url) as store:
        _run(store, "run-1", written=written)
    orm_url = f"sqlite:///{tmp_path / 'orm.db'}"
    StateStore.open(orm_url).close()
    orm = make_engine(orm_url)
    try:
        with Session(orm) as session, session.begin():
            session.add(Run(**_run_columns("run-1")))
            session.flush()
            session.execute(
                insert(WrittenValue),
                [
                    {"account_id": a, "field": f, "value": v, "run_id": "run-1"}
                    for a, f, v in written
                ],
            )
        assert _stored(make_engine(state_url)) == _stored(orm)
    finally:
        orm.dispose()


def _run_columns(run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "started_at": T0,
        "status": "succeeded",
        "dry_run": False,
        "as_of": T0.date(),
        "config_fingerprint": "f" * 64,
        "counts": {},
        "host": "h",
        "pid": 1,
    }


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    query = "SELECT account_id, field, typeof(value), value, run_id FROM written_values"
    try:
        with engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(text(f"{query} ORDER BY 1"))]
    finally:
        engine.dispose()
    assert ("001000000000000015", "AR_Field__c", "text", "null", "run-1") in rows
    return rows


def test_outcomes_and_snapshots_keep_their_order_and_types_across_chunks(
    state_url: str,
) -> None:
    outcomes = [
        {
            "object": "Account",
            "key": f"C{i:06d}",
            "customer_id": f"C{i:06d}",
            "action": "update",
            "record_id": f"001{i:015d}",
            "status": "written",
        }
        for i in range(CHUNK + 3)
    ]
    snapshots = [
        {
            "snapshot_date": T0.date(),
            "customer_id": f"C{i:06d}",
            "health_score": i % 101,
            "risk_tier": "Low",
            "open_balance": i + 0.125,
            "overdue_balance": 0.0,
            "crm_dispute_open": i % 2 == 0,
        }
        for i in range(3)
    ]
    with StateStore.open(state_url) as store:
        _run(store, "run-1", outcomes=outcomes[::-1], snapshots=snapshots)
        kept = store.runs.outcomes_of("run-1")
        history = store.history.snapshots(T0.date())

    assert [row["customer_id"] for row in kept] == [row["customer_id"] for row in outcomes[::-1]]
    assert kept[0] == {
        "object": "Account",
        "key": f"C{CHUNK + 2:06d}",
        "customer_id": f"C{CHUNK + 2:06d}",
        "action": "update",
        "record_id": f"001{CHUNK + 2:015d}",
        "status": "written",
        "fields": "",
        "error_code": None,
        "message": None,
    }
    assert history["open_balance"].tolist() == [0.13, 1.13, 2.13]  # to the cent, half up
    assert history["health_score"].tolist() == [0, 1, 2]
    assert history["crm_dispute_open"].tolist() == [True, False, True]
