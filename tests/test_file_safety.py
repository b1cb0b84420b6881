"""Files arsync writes and reads: the state database owner-only, never recreated over an empty
file, refused with a fix when damaged; export files only from inside the export folder."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from arsync.errors import SourceConfigError
from arsync.privatefiles import make_private_dirs, write_private
from arsync.yamlfile import load_model
from connector.erp.files.mapping import FileMapping
from connector.erp.files.source import FileSource
from connector.erp.tokenstore import RefreshTokenStore
from jobs.cli import app
from jobs.state import StateError, StateStore

ROOT = Path(__file__).resolve().parents[1]
SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    """The usual umask, so that a file made without care would be 0644 and a folder 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped config, mappings and sample data; its state goes to state/."""
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def cli(project: Path, *args: str) -> tuple[int, str]:
    """Exit code, and everything printed on stdout and stderr; an exception the CLI did not
    turn into an exit code (a traceback, for a user) fails the test."""
    result = CliRunner().invoke(app, [*args, "--config", str(project / "config/arsync.yaml")])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.stdout + result.stderr


def said(output: str, text: str) -> bool:
    """Whether `text` was printed, however the console wrapped or folded its lines."""
    return "".join(text.split()) in "".join(output.split())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def state_db(project: Path) -> Path:
    return project / "state" / "arsync.db"  # the default: ../state/arsync.db from config/


# --------------------------------------------------------------------------- modes


def test_a_dry_run_makes_the_state_database_0600_in_a_new_folder_0700(project: Path) -> None:
    project.chmod(0o755)

    code, output = cli(project, "run", "--dry-run")

    assert code == 0, output
    assert mode(project / "state") == 0o700
    assert mode(state_db(project)) == 0o600
    assert mode(project) == 0o755  # the folder arsync did not create is left as it was
    assert not [p.name for p in (project / "state").iterdir() if p.name.startswith(".")]


def test_an_existing_state_folder_keeps_its_mode_and_the_new_file_is_0600(project: Path) -> None:
    (project / "state").mkdir(mode=0o755)

    code, output = cli(project, "run", "--dry-run")

    assert code == 0, output
    assert mode(project / "state") == 0o755
    assert mode(state_db(project)) == 0o600


def test_the_wal_and_shm_files_of_an_open_store_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "state" / "arsync.db"
    with StateStore.open(f"sqlite:///{path}") as store, store.locks.hold("run-1"):
        sidecars = {p.name: mode(p) for p in path.parent.iterdir() if p != path}

    assert sidecars == {"arsync.db-wal": 0o600, "arsync.db-shm": 0o600}
    assert mode(path) == 0o600


def test_every_missing_folder_is_made_0700_and_existing_ones_are_left(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    make_private_dirs(tmp_path / "a" / "b" / "c")

    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
    assert mode(tmp_path) == 0o755


def test_write_private_never_replaces_an_existing_file_when_asked_not_to(tmp_path: Path) -> None:
    target = tmp_path / "kept"
    target.write_text("first", encoding="utf-8")

    made = write_private(target, lambda p: p.write_text("second", encoding="utf-8"), replace=False)

    assert made is False
    assert target.read_text(encoding="utf-8") == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]  # no temporary file left


def test_a_refresh_token_kept_in_a_new_folder_is_0600_in_0700(tmp_path: Path) -> None:
    store = RefreshTokenStore("${QBO_REFRESH_TOKEN}", tmp_path / "state" / "qbo-token", "QBO")

    store.save("rotated-token")

    assert (tmp_path / "state" / "qbo-token").read_text(encoding="utf-8") == "rotated-token"
    assert mode(tmp_path / "state" / "qbo-token") == 0o600
    assert mode(tmp_path / "state") == 0o700
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["qbo-token"]


def test_first_opens_racing_on_a_new_file_all_succeed_on_one_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'arsync.db'}"
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def opener() -> None:
        start.wait()
        try:
            StateStore.open(url).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert mode(tmp_path / "state" / "arsync.db") == 0o600
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["arsync.db"]


# --------------------------------------------------------------------------- the export folder


def _secret_file(project: Path) -> Path:
    outside = project / "outside"
    outside.mkdir()
    secret = outside / "credentials.csv"
    secret.write_text(f"{SECRET}\nsecond line\n", encoding="utf-8")
    return secret


def _assert_secret_nowhere(project: Path, output: str) -> None:
    assert SECRET not in output
    assert "wJalrXUtnFEMI" not in output
    for path in (project / "state").iterdir():  # the database and any -wal beside it
        assert b"wJalrXUtnFEMI" not in path.read_bytes(), path.name
    for path in (project / "out").glob("*") if (project / "out").exists() else []:
        assert "wJalrXUtnFEMI" not in path.read_text(encoding="utf-8"), path.name


def _last_run_error(project: Path) -> str:
    with StateStore.open(f"sqlite:///{state_db(project)}") as store:
        (run,) = store.runs.recent()
    assert run.status == "failed"
    return run.error or ""


def test_a_symlink_out_of_the_export_folder_is_refused_without_echoing_it(project: Path) -> None:
    secret = _secret_file(project)
    link = project / "examples/sample/customers.csv"
    link.unlink()
    link.symlink_to(secret)

    code, output = cli(project, "run", "--dry-run")

    assert code == 2, output
    _assert_secret_nowhere(project, output)
    assert said(output, "The data does not fit the settings")
    assert said(output, "files.customers.path 'customers.csv' leads outside the export folder")
    assert said(output, str((project / "examples/sample").resolve()))
    assert "leads outside the export folder" in _last_run_error(project)


def test_a_mapping_file_name_with_dot_dot_is_refused_without_echoing_it(project: Path) -> None:
    _secret_file(project)
    mapping_path = project / "mappings/erp/generic_csv.yaml"
    mapping = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
    mapping["files"]["invoices"]["path"] = "../../outside/credentials.csv"
    mapping_path.write_text(yaml.safe_dump(mapping), encoding="utf-8")

    code, output = cli(project, "run", "--dry-run")

    assert code == 2, output
    _assert_secret_nowhere(project, output)
    assert said(output, "files.invoices.path '../../outside/credentials.csv' leads outside")
    assert "leads outside the export folder" in _last_run_error(project)


def _source(folder: Path, edit: dict[str, object]) -> FileSource:
    mapping_path = folder.parent / "mapping.yaml"
    mapping = yaml.safe_load((ROOT / "mappings/erp/generic_csv.yaml").read_text(encoding="utf-8"))
    mapping.update(edit)
    mapping_path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return FileSource(folder, load_model(FileMapping, mapping_path))


def test_a_manifest_symlinked_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(ROOT / "examples/sample", folder)
    (tmp_path / "elsewhere.json").write_text('{"exported_at": "2030-01-01T00:00:00+00:00"}')
    (folder / "export_manifest.json").unlink()
    (folder / "export_manifest.json").symlink_to(tmp_path / "elsewhere.json")

    with pytest.raises(SourceConfigError) as raised:
        _source(folder, {}).data_as_of()

    assert str(raised.value).startswith(
        "the column mapping's manifest 'export_manifest.json' leads outside the export folder "
        f"{folder.resolve()}"
    )
    assert "2030" not in str(raised.value)


def test_an_absolute_file_name_outside_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(ROOT / "examples/sample", folder)
    outside = tmp_path / "customers.csv"
    shutil.copy(folder / "customers.csv", outside)
    source = _source(folder, {"manifest": str(outside)})

    with pytest.raises(SourceConfigError, match=r"manifest '/.*' leads outside the export folder"):
        source.data_as_of()


def test_symlinks_that_stay_inside_the_folder_and_a_symlinked_folder_are_read(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real-export"
    shutil.copytree(ROOT / "examples/sample", real)
    (real / "customers.csv").rename(real / "customers-2026-11-20.csv")
    (real / "customers.csv").symlink_to("customers-2026-11-20.csv")
    (tmp_path / "export").symlink_to(real, target_is_directory=True)
    source = _source(tmp_path / "export", {})

    customers = [item for item in source.pull() if type(item.record).__name__ == "Customer"]

    lines = (real / "customers-2026-11-20.csv").read_text(encoding="utf-8").splitlines()
    assert len(customers) == len(lines) - 1 == 60
    assert source.data_as_of() is not None


# --------------------------------------------------------------------------- damaged or empty


@pytest.mark.parametrize(
    "command", [("run", "--dry-run"), ("plan",), ("runs",), ("runs", "show", "x")]
)
def test_a_state_database_of_random_bytes_stops_with_exit_3_and_the_fix(
    project: Path, command: tuple[str, ...]
) -> None:
    path = state_db(project)
    path.parent.mkdir()
    junk = random.Random(11).randbytes(16384)
    path.write_bytes(junk)

    code, output = cli(project, *command)

    assert code == 3, output
    assert said(output, f"the state database {path} is damaged (file is not a database)")
    assert said(output, "Restore it from a backup")
    assert said(output, "move it aside together with its -wal and -shm files")
    assert "Traceback" not in output
    assert path.read_bytes() == junk


def test_a_truncated_state_database_stops_with_exit_3_and_the_fix(project: Path) -> None:
    code, output = cli(project, "run", "--dry-run")
    assert code == 0, output
    path = state_db(project)
    whole = path.read_bytes()
    assert len(whole) > 8192
    path.write_bytes(whole[: len(whole) // 2])

    code, output = cli(project, "runs")

    assert code == 3, output
    assert said(output, f"the state database {path} is damaged (database disk image is malformed)")
    assert said(output, "Restore it from a backup")
    assert path.stat().st_size == len(whole) // 2


@pytest.mark.parametrize("command", [("run", "--dry-run"), ("runs",)])
def test_an_empty_state_database_is_refused_not_recreated(
    project: Path, command: tuple[str, ...]
) -> None:
    path = state_db(project)
    path.parent.mkdir()
    path.touch()

    code, output = cli(project, *command)

    assert code == 3, output
    assert said(output, f"the state database {path} is empty (0 bytes)")
    assert said(output, "will not start a new history over an existing file")
    assert said(output, "delete the file (or move it away) and run again")
    assert path.stat().st_size == 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["arsync.db"]
    assert not (project / "out" / "plan.csv").exists()  # the run did not start


def test_damage_a_query_finds_after_the_open_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "arsync.db"
    StateStore.open(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'runs'"
        ).fetchone()
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    connection.close()
    with path.open("r+b") as handle:  # the runs table's root page: garbage
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)

    store = StateStore.open(f"sqlite:///{path}")  # the open does not read that table
    try:
        with pytest.raises(StateError) as raised:
            store.runs.recent()
    finally:
        store.close()

    assert str(raised.value).startswith(f"the state database {path} is damaged (")
    assert "Restore it from a backup" in str(raised.value)
