"""The as-of stamp and older data, through `arsync run` on the sample and the fake org.

`AR_As_Of__c` says when the ERP data was current. A run on data older than what Salesforce
already shows writes nothing (unless asked to); the stamp never moves back.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_project import cli, make_project
from sample_org import new_org


def _export_time(folder: Path, exported_at: str) -> None:
    manifest = folder / "examples/sample/export_manifest.json"
    data = json.loads(manifest.read_text())
    data["exported_at"] = exported_at
    manifest.write_text(json.dumps(data))


def test_older_data_is_refused_before_any_write_and_the_stamp_never_moves_back(
    tmp_path: Path,
) -> None:
    fake = new_org()
    with fake.running():
        project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state/arsync.db'}")
        assert cli(project, "run")[0] == 0
        account = next(a for a, v in fake.accounts.items() if v.get("AR_As_Of__c"))
        stamp = fake.accounts[account]["AR_As_Of__c"]
        writes = fake.count("composite")

        _export_time(tmp_path, "2026-11-10T23:00:00+00:00")
        refused, output, _ = cli(project, "run")
        writes_after_refusal = fake.count("composite")
        planned, _, _ = cli(project, "run", "--dry-run")
        forced, forced_output, _ = cli(project, "run", "--allow-older-data")
        stamp_after_forced = fake.accounts[account]["AR_As_Of__c"]

        _export_time(tmp_path, "2026-11-21T23:00:00+00:00")
        fresher, _, _ = cli(project, "run")

    assert str(stamp).startswith("2026-11-20T23:00:00")
    assert refused == 3
    assert "older than the data of run" in output
    assert "--allow-older-data" in output
    assert writes_after_refusal == writes
    assert planned == 0  # a dry run shows what the older data would do
    assert forced == 0, forced_output
    assert stamp_after_forced == stamp  # advance_only: the older export leaves it
    assert fresher == 0
    assert str(fake.accounts[account]["AR_As_Of__c"]).startswith("2026-11-21T23:00:00")
    refusals = [r for r in project.store().runs.recent(10) if r.status == "failed"]
    assert len(refusals) == 1
    assert "OlderDataError: the ERP data is as of 2026-11-10T23:00:00+00:00" in str(
        refusals[0].error
    )
