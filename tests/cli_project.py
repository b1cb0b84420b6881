"""A project folder whose `arsync run` writes to the sample's fake org and records in the test's
state store, and the CLI run in it: shared by the end-to-end tests of runs that fail, are killed
or are rerun (test_run_safety.py, test_failed_push.py and their neighbours). The `org` and
`project` fixtures (tests/conftest.py) make one of each per test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from fakes.salesforce import FakeSalesforce
from sample_org import salesforce_yaml, without_balance_report
from sfdx import ROOT
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from jobs.cli import app
from jobs.state import StateStore

COLLECTION_SIZE = 10  # 59 matched Accounts: 6 Collections calls, so a push can die half-way
PASSWORD_VARIABLE = "ARSYNC_TEST_STATE_PASSWORD"


@dataclass(frozen=True)
class Project:
    folder: Path
    state_url: str  # with its password, for the test's own StateStore
    env: dict[str, str]  # the secrets the CLI reads from the environment

    @property
    def config(self) -> Path:
        return self.folder / "config/arsync.yaml"

    def store(self) -> StateStore:
        return StateStore.open(self.state_url)


def make_project(folder: Path, fake: FakeSalesforce, state_url: str) -> Project:
    """The shipped config, examples and mappings, with the fake org and the state store."""
    for name in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / name, folder / name)
    without_balance_report(folder)
    url = make_url(state_url)
    env = {"SF_ACCESS_TOKEN": fake.issue_token()}
    if url.password:  # only a reference may be written in the YAML: the value goes in the env
        env[PASSWORD_VARIABLE] = str(url.password)
        url = url.set(password=f"${{{PASSWORD_VARIABLE}}}")
    yaml_url = url.render_as_string(hide_password=False)
    config = folder / "config/arsync.yaml"
    config.write_text(
        config.read_text()
        + f'\nstate:\n  url: "{yaml_url}"\n'
        + salesforce_yaml(fake, f"  collection_size: {COLLECTION_SIZE}\n")
    )
    return Project(folder, state_url, env)


def cli(project: Project, *args: str) -> tuple[int, str, BaseException | None]:
    try:
        result = CliRunner().invoke(
            app,
            ["--log-format", "json", *args, "--config", str(project.config)],
            env=project.env,
        )
    finally:
        structlog.reset_defaults()  # the CLI logged into the runner's stream, closed by now
    return result.exit_code, result.output, result.exception


def composite_ids(calls: list[Any]) -> list[str]:
    """The Accounts in these Collections calls that reached the org (answered 200)."""
    return [
        record["id"] for call in calls if call.status == 200 for record in call.json()["records"]
    ]
