"""Shared test set-up."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import structlog
from hypothesis import settings
from hypothesis_budget import DEFAULT_EXAMPLES, examples

if TYPE_CHECKING:
    from cli_project import Project
    from fakes.salesforce import FakeSalesforce

from jobs.logging import unroute_standard_logging

# CI: the same examples on every run (a red build is reproducible, a green one is not luck), no
# example database to keep, no deadline on a shared 2-core machine, a share of the examples
# (tests/hypothesis_budget.py). Elsewhere: random examples, as many as each property asks.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    max_examples=examples(DEFAULT_EXAMPLES),
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """The CLI points structlog at the stream of the test that ran it; undo that afterwards,
    so no later test logs into a closed stream."""
    yield
    structlog.reset_defaults()
    unroute_standard_logging()
    structlog.contextvars.clear_contextvars()


@pytest.fixture(autouse=True)
def _model_only_where_tested(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The late-payment model's step (backtest, gate, fit) costs a run 2-3 s per ledger, and
    most tests run many ledgers that are about something else: those run without it, as a
    run with `model: {enabled: false}` does. A test marked `model` runs it as shipped
    (tests/test_model_scores.py, the report's model section, the CLI's end to end)."""
    if request.node.get_closest_marker("model") is None:
        monkeypatch.setattr("jobs.late_risk.wanted", lambda _settings: False)


POSTGRES_URL_VARIABLE = "ARSYNC_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty state database: a SQLite file, or a fresh schema of the PostgreSQL server named by
    ARSYNC_TEST_POSTGRES_URL (`bash .ci/postgres` starts one and prints it), dropped afterwards.

    Without that variable the PostgreSQL cases are skipped, except in CI, where they fail: CI
    must never pass without having tested the database the workers use in production.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'arsync.db'}"
        return
    base = os.environ.get(POSTGRES_URL_VARIABLE)
    if not base:
        reason = (
            f"{POSTGRES_URL_VARIABLE} is not set: the PostgreSQL state-store tests need a server "
            f'(export {POSTGRES_URL_VARIABLE}="$(bash .ci/postgres)" starts one, as root)'
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield from _postgres_schema(base)


def _postgres_schema(base: str) -> Iterator[str]:
    """A schema of its own for one test, reached by putting it first on the search path."""
    from sqlalchemy import text  # noqa: PLC0415 - only the PostgreSQL cases need it
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from jobs.state.db import make_engine  # noqa: PLC0415

    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for the SQL ERP source to read: a SQLite file (not created yet), or a
    fresh schema of the PostgreSQL server named by ARSYNC_TEST_POSTGRES_URL, dropped afterwards.

    Skipped without that variable, failed in CI, like `state_url`: the SQL source is used on
    PostgreSQL warehouses, so CI must test it there."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    base = os.environ.get(POSTGRES_URL_VARIABLE)
    if not base:
        reason = (
            f"{POSTGRES_URL_VARIABLE} is not set: the SQL source's PostgreSQL tests need a server "
            f'(export {POSTGRES_URL_VARIABLE}="$(bash .ci/postgres)" starts one, as root)'
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield from _postgres_schema(base)


@pytest.fixture
def org() -> Iterator[FakeSalesforce]:
    """The sample's fake org (tests/sample_org.py), running."""
    from sample_org import new_org  # noqa: PLC0415 - loaded by the tests that use an org only

    fake = new_org()
    with fake.running():
        yield fake


@pytest.fixture
def project(tmp_path: Path, org: FakeSalesforce, state_url: str) -> Project:
    """A project in `tmp_path` writing to `org` and recording in `state_url` (cli_project.py)."""
    from cli_project import make_project  # noqa: PLC0415 - the CLI's stack, for these tests only

    return make_project(tmp_path, org, state_url)
