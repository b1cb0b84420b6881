"""`arsync --version` names the installed distribution's version and does nothing else."""

from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from jobs.cli import app

REPO = Path(__file__).resolve().parents[1]


def test_version_prints_the_projects_version_and_exits_zero(tmp_path: Path) -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

    result = CliRunner().invoke(app, ["--version", "run", "--config", str(tmp_path / "none.yaml")])

    assert result.exit_code == 0
    assert result.stdout == f"arsync {declared}\n"  # the command after it never ran
