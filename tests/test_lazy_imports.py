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
)


def test_importing_the_cli_loads_nothing_that_only_some_runs_need() -> None:
    code = (
        f"import sys, jobs.cli; print(' '.join(m for m in {ONLY_SOME_RUNS!r} if m in sys.modules))"
    )
    loaded = subprocess.run(  # noqa: S603 - this interpreter, this test's own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()

    assert loaded == []
