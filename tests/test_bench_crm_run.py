"""bench/bench_crm_run.py on the bundled sample: its stages add up, the fake's time is its own,
and the rerun writes nothing (the bench's 50,000 figures rest on these)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from csv_rows import read_rows
from sfdx import ROOT

SAMPLE = ROOT / "examples/sample"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_crm_run", ROOT / "bench/bench_crm_run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_bench_times_every_stage_of_a_real_run_and_its_rerun(tmp_path: Path) -> None:
    bench = _bench()
    customers = read_rows(SAMPLE / "customers.csv")
    fake = bench.sample_org(customers)
    config = bench.project(tmp_path, SAMPLE, fake)
    with fake.running():
        first = bench.measure("first run", config, fake, tmp_path / "first.jsonl")
        rerun = bench.measure("rerun", config, fake, tmp_path / "rerun.jsonl")

    assert first.exit_code == 0
    assert first.accounts_written == len(customers)
    assert rerun.accounts_written == 0
    stages = set(bench.WRAPPED) - {"load_ledger", "judge_late_risk"}  # the model is off in tests
    assert stages | {"load", "reconcile", "between"} == set(first.stages)
    assert sum(s.seconds for s in first.stages.values()) == pytest.approx(first.seconds)
    assert sum(s.fake_seconds for s in first.stages.values()) == pytest.approx(first.fake_seconds)
    # The fake answers the read and the write, and nothing else.
    assert first.stages["open_and_read"].fake_seconds > 0
    assert first.stages["write_crm"].fake_seconds > 0
    assert first.stages["score_accounts"].fake_seconds == 0
    assert 0 < first.fake_seconds < first.seconds
    assert first.peak_mib >= first.start_mib > 0
    # The run's high-water mark is the highest of its stages', its gaps' and its end's.
    assert first.peak_mib >= max(s.peak_mib for s in first.stages.values() if s.peak_mib)
