"""The CLI starts without what only some runs need: an offline dry run of a files export never
talks to Salesforce, an ERP API or PostgreSQL, renders no report and schedules nothing."""

from __future__ import annotations

import subprocess
import sys

# Each is imported where it is used (see docs/architecture.md, "Packages and their rules").
ONLY_SOME_RUNS = (
    "simple_salesforce",  # the Salesforce client
    "jwt",
    "requests",  # the ERP API sources and Salesforce
    "requests_oauthlib",
    "tenacity",
    "psycopg",  # PostgreSQL state
    "jinja2",  # arsync report
    "apscheduler.schedulers.background",  # arsync worker
    "prometheus_client",
    "connector.crm.salesforce.client",
    "connector.erp.http",
    "jobs.report.build",  # arsync report: jobs/report/__init__.py is empty, options.py light
    "jobs.sample_data",  # arsync sample-data
)


# What every run needs, and `arsync --help`, completion and `--version` do without (issue 16).
ONLY_RUNS = (
    "pandas",
    "numpy",
    "pyarrow",
    "sqlalchemy",
    "alembic",
    "scoring",
    "jobs.pipeline",
    "jobs.load",
)


def loaded_by_importing_the_cli(modules: tuple[str, ...]) -> list[str]:
    code = f"import sys, jobs.cli; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    return subprocess.run(  # noqa: S603 - this interpreter, this test's own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()


def test_importing_the_cli_loads_nothing_that_only_some_runs_need() -> None:
    assert loaded_by_importing_the_cli(ONLY_SOME_RUNS) == []


def test_importing_the_cli_loads_nothing_a_run_needs_so_help_is_quick() -> None:
    assert loaded_by_importing_the_cli(ONLY_RUNS) == []
