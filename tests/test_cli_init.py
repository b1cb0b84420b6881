"""`arsync init` writes a folder that runs as it is: the settings, mappings and sample export."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from jobs.scaffold import DEFAULT_FOLDERS, default_files

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--log-format", "json", *args])
    return result.exit_code, result.output


def test_init_writes_every_default_file_byte_for_byte(tmp_path: Path) -> None:
    code, output = invoke("init", str(tmp_path / "new"))

    assert code == 0, output
    written = sorted(
        str(path.relative_to(tmp_path / "new")) for path in (tmp_path / "new").rglob("*")
    )
    files = [name for name in written if (tmp_path / "new" / name).is_file()]
    assert files == default_files()
    assert "config/arsync.yaml" in files
    assert "mappings/salesforce_account.yaml" in files
    assert "examples/sample/invoices.csv" in files
    for name in files:
        assert (tmp_path / "new" / name).read_bytes() == (ROOT / name).read_bytes(), name
    assert "arsync run --dry-run" in output


def test_init_then_a_dry_run_in_that_folder_scores_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert invoke("init")[0] == 0
    code, output = invoke("run", "--dry-run")

    assert code == 0, output
    with (tmp_path / "out/plan.csv").open(encoding="utf-8", newline="") as plan:
        accounts = {row["customer_id"] for row in csv.DictReader(plan)}
    with (tmp_path / "examples/sample/customers.csv").open(encoding="utf-8") as customers:
        assert len(accounts) == sum(1 for _ in csv.DictReader(customers)) == 60
    assert (tmp_path / "state/arsync.db").is_file()


def test_init_never_overwrites_an_edited_file_unless_forced(tmp_path: Path) -> None:
    assert invoke("init", str(tmp_path))[0] == 0
    edited = tmp_path / "config/scoring.yaml"
    edited.write_text("# mine\n", encoding="utf-8")
    (tmp_path / "examples/sample/invoices.csv").unlink()

    code, output = invoke("init", str(tmp_path))

    assert code == 2
    assert "config/scoring.yaml" in output
    assert "--force" in output
    assert edited.read_text(encoding="utf-8") == "# mine\n"
    assert not (tmp_path / "examples/sample/invoices.csv").exists()  # nothing written at all

    assert invoke("init", str(tmp_path), "--force")[0] == 0
    assert edited.read_bytes() == (ROOT / "config/scoring.yaml").read_bytes()


def test_a_missing_config_points_at_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    code, output = invoke("run", "--dry-run")

    assert code == 2
    assert "arsync init" in output


def test_the_wheel_carries_every_folder_init_copies() -> None:
    """pyproject's force-include puts each default folder under jobs/defaults/."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]

    assert included == {folder: f"jobs/defaults/{folder}" for folder in DEFAULT_FOLDERS}
