"""The wheel a `pip install arsync` user gets carries what `arsync init` writes and the type
markers; tests/test_readme_commands.py installs it in a fresh venv and runs the quickstart."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("arsync", "connector", "scoring", "jobs")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(  # noqa: S603 - this interpreter's pip, on this repository
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("arsync-*.whl")
    return built


def test_the_wheel_carries_the_defaults_and_the_type_markers(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())

    for default in ("config/arsync.yaml", "mappings/salesforce_account.yaml"):
        assert f"jobs/defaults/{default}" in names
    assert "jobs/defaults/examples/sample/invoices.csv" in names
    assert {f"{package}/py.typed" for package in PACKAGES} <= names
    assert not [name for name in names if name.startswith("tests/")]
