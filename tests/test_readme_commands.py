"""Every command in the README's shell blocks is run here, as written, and its result checked.

`make test` is the one exception: CI runs it (`.ci/run`), and running it from inside its own
tests would recurse; the test below checks that CI does run it.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.salesforce import FakeSalesforce
from sample_org import project_for, sample_org
from typer.testing import CliRunner

from jobs.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)


def block_commands(block: str) -> list[str]:
    """A shell block's commands: comments dropped, `&&` chains split."""
    found = []
    for line in block.splitlines():
        command = line.split(" #", 1)[0].strip()
        found += [part.strip() for part in command.split("&&") if part.strip()]
    return found


def block_with(command: str) -> str:
    [block] = [block for block in BLOCKS if command in block_commands(block)]
    return block


COVERED = {
    "make run",
    "make test",
    "python3 -m venv arsync-env",
    ". arsync-env/bin/activate",
    "pip install dist/arsync-*.whl",
    "mkdir my-ar",
    "cd my-ar",
    "arsync init",
    "arsync run --dry-run",
    "arsync validate",
    "arsync source check",
    "arsync salesforce check",
    "arsync plan --show 5",
    "arsync run",
    "arsync worker --once-now --dry-run",
    "arsync report",
    "arsync backtest",
}


def test_every_readme_command_is_one_this_file_runs() -> None:
    assert {command for block in BLOCKS for command in block_commands(block)} == COVERED


def arsync(command: str, **env: str) -> tuple[int, str]:
    """A README `arsync ...` line, in this process, in the current folder."""
    words = shlex.split(command)
    assert words[0] == "arsync"
    result = CliRunner().invoke(app, words[1:], env=env or None)
    return result.exit_code, result.output


@pytest.fixture
def initialised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder `arsync init` wrote, as the current folder."""
    monkeypatch.chdir(tmp_path)
    assert arsync("arsync init")[0] == 0
    return tmp_path


def test_make_run_plans_the_sample_offline() -> None:
    clean = {k: v for k, v in os.environ.items() if k not in {"ARSYNC_CONFIG", "MAKEFLAGS"}}
    done = subprocess.run(
        ["make", "-s", "run"],  # noqa: S607 - make from PATH, as the README says
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Salesforce: not connected" in done.stdout
    assert "60 customers" in done.stdout


def test_make_test_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")

    assert "export CI=true" in ci
    assert ci.rstrip().splitlines()[-1] == "make test"


@pytest.fixture(scope="module")
def wheel_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with dist/arsync-*.whl in it, as `make wheel` leaves it."""
    folder = tmp_path_factory.mktemp("quickstart")
    subprocess.run(  # noqa: S603 - this interpreter's pip, on this repository
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", "dist", str(ROOT)],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder


def test_the_quickstart_without_the_repository_runs_as_written(wheel_folder: Path) -> None:
    script = block_with("arsync init")
    clean = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "ARSYNC_CONFIG"}}
    clean["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    done = subprocess.run(  # noqa: S603 - bash running the README's own block
        ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607 - bash from PATH
        cwd=wheel_folder,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    project = wheel_folder / "my-ar"
    assert (project / "salesforce/sfdx-project.json").is_file()
    with (project / "out/plan.csv").open(encoding="utf-8", newline="") as plan:
        assert len({row["customer_id"] for row in csv.DictReader(plan)}) == 60
    assert "Salesforce: not connected" in done.stdout


def test_connecting_the_erp_validate_then_source_check(initialised: Path) -> None:
    validate, source_check = block_commands(block_with("arsync validate"))

    code, output = arsync(validate)
    assert code == 0, output
    assert "ok config/arsync.yaml" in output

    code, output = arsync(source_check)
    assert code == 0, output
    assert "ok files: read 60 customers, 2,455 invoices" in output


@pytest.fixture
def org() -> Iterator[FakeSalesforce]:
    with sample_org() as fake:
        yield fake


def test_connecting_salesforce_check_plan_run(
    tmp_path: Path, org: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_for(tmp_path, org))
    check, plan, run = block_commands(block_with("arsync salesforce check"))
    token = org.issue_token()

    code, output = arsync(check, SF_ACCESS_TOKEN=token)
    assert code == 0, output
    assert "written are writable and fit the mapped values" in " ".join(output.split())

    code, output = arsync(plan, SF_ACCESS_TOKEN=token)
    assert code == 0, output
    assert org.count("composite") + org.count("bulk_create") == 0
    assert "Current" in output
    assert "would change" in output

    code, output = arsync(run, SF_ACCESS_TOKEN=token)
    assert code == 0, output
    assert org.count("composite") + org.count("bulk_create") > 0
    assert "Accounts: 1 unmatched, 59 written" in output


def test_the_worker_runs_once_now_then_stops_on_sigterm(initialised: Path) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed on the main thread")
    [command] = block_commands(block_with("arsync worker --once-now --dry-run"))
    plan = initialised / "out/plan.csv"

    def terminate() -> None:
        end = time.monotonic() + 30
        while not plan.exists() and time.monotonic() < end:
            time.sleep(0.02)
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate)
    killer.start()
    code, output = arsync(command)
    killer.join()

    assert code == 0, output
    assert "Salesforce: not connected" in output


def test_the_report(initialised: Path) -> None:
    [command] = block_commands(block_with("arsync report"))

    code, output = arsync(command)

    assert code == 0, output
    html = (initialised / "out/report.html").read_text(encoding="utf-8")
    assert "<svg" in html
    assert (initialised / "out/worklist.csv").is_file()


def test_the_backtest(initialised: Path) -> None:
    [command] = block_commands(block_with("arsync backtest"))

    code, output = arsync(command)

    assert code == 0, output
    assert "Gate: the model " in output
    assert (initialised / "out/late_payment.csv").is_file()
