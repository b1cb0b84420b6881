"""What the end-to-end benchmarks share: this checkout's CLI, the sample export it writes, the
shipped settings pointed at it, child processes timed with their own peak RSS, medians.

Beside the benchmarks (bench/ is first on the path when one runs as `python bench/NAME.py`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[1]
ARSYNC = (sys.executable, "-m", "jobs.cli")  # the `arsync` command, of this checkout
T = TypeVar("T")


def checkout_env() -> dict[str, str]:
    """This checkout first on the path, ahead of an editable install of another tree."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def arsync(arguments: Sequence[str]) -> None:
    """This checkout's CLI, quietly; a failure stops the benchmark with its output."""
    command = [*ARSYNC, *arguments]
    subprocess.run(command, check=True, cwd=ROOT, env=checkout_env(), capture_output=True)  # noqa: S603


def sample_export(folder: Path, customers: int, seed: int = 7) -> tuple[Path, float | None]:
    """`folder/customers-N/export`, written by `arsync sample-data` unless one is there
    already; with the seconds it took (None: the one there was reused)."""
    export = folder / f"customers-{customers}" / "export"
    if (export / "export_manifest.json").exists():
        return export, None
    started = time.perf_counter()
    arsync(
        ["sample-data", "--customers", str(customers), "--seed", str(seed), "--out", str(export)]
    )
    return export, time.perf_counter() - started


def shipped_project(folder: Path, export: Path, salesforce: dict[str, Any] | None = None) -> Path:
    """The shipped config and mappings, copied to `folder/project`, pointed at the export,
    with their own out/ and state/ in `folder`; with the `salesforce:` section given, else
    offline (the plan made without an org). The config file's path."""
    project = folder / "project"
    shutil.rmtree(project, ignore_errors=True)
    for name in ("config", "mappings"):
        shutil.copytree(ROOT / name, project / name)
    config = project / "config/arsync.yaml"
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["source"]["path"] = str(export)
    settings["output"] = {"dir": str(folder / "out")}
    settings["state"] = {"url": f"sqlite:///{folder / 'state/arsync.db'}"}
    if salesforce is None:
        settings.pop("salesforce", None)
    else:
        settings["salesforce"] = salesforce
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return config


@dataclass(frozen=True)
class Child:
    """One child process: its wall time, its own peak RSS, where its output went."""

    seconds: float
    peak_mib: float
    stdout: Path
    stderr: Path


def run_child(command: list[str], name: Path, ok: tuple[int, ...] = (0,)) -> Child:
    """Run one child to its end, output to `name`.stdout and .stderr; its wall time and its
    own peak RSS (from os.wait4, so no other process's)."""
    stdout, stderr = name.with_suffix(".stdout"), name.with_suffix(".stderr")
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=checkout_env(), stdout=out, stderr=err)  # noqa: S603
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        tail = stderr.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(command)} exited {code}:\n{tail}")
    peak = usage.ru_maxrss / 2**20 if sys.platform == "darwin" else usage.ru_maxrss / 2**10
    return Child(seconds, peak, stdout, stderr)


def median_by(items: Sequence[T], key: Callable[[T], float]) -> T:
    """The item in the middle by `key` (the lower middle of an even number): a real trial,
    so its other figures belong with the one it is the median of."""
    return sorted(items, key=key)[(len(items) - 1) // 2]
