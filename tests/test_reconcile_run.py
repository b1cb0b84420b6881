"""The run's reconciliation with the ERP's own balances: a customer out of tolerance is not
written and says why; a portfolio out of its limit stops a real run before any write."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

import jobs.load
from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.ledger import Ledger
from arsync.reconcile import computed_balances
from connector.erp.base import Cursors, PulledItem, Source
from jobs.cli import app
from jobs.exit_codes import ExitCode
from jobs.load import load_ledger
from jobs.pipeline import run_sync
from jobs.reconciliation import UnreconciledPortfolioError
from jobs.settings import OutputSettings, ReconciliationSettings, RunSettings, load_run_settings
from jobs.state import StateStore

ROOT = Path(__file__).resolve().parents[1]
OFF = "C00007"  # the customer whose ERP balance differs from arsync's


class WithControl(Source):
    """The sample's files source, reporting the balances `control` holds once pulled."""

    name = "files"

    def __init__(self, inner: Source, control: ControlBalances) -> None:
        self.inner, self.control = inner, control

    def pull(self, since: Cursors | None = None) -> Iterator[PulledItem]:
        return self.inner.pull(since)

    def data_as_of(self) -> dt.datetime | None:
        return self.inner.data_as_of()

    def control_balances(self) -> ControlBalances | None:
        return self.control


def _settings(tmp_path: Path, **reconciliation: Any) -> RunSettings:
    shipped = load_run_settings(ROOT / "config/arsync.yaml")
    app = shipped.app.model_copy(
        update={
            "output": OutputSettings(dir=tmp_path),
            "reconciliation": ReconciliationSettings(**reconciliation),
        }
    )
    return dataclasses.replace(shipped, app=app)


def _sample_ledger(settings: RunSettings) -> tuple[Ledger, dt.date]:
    loaded = load_ledger(settings)
    return loaded.ledger, loaded.as_of


def _control(ledger: Ledger, as_of: dt.date, shift: dict[str, str]) -> ControlBalances:
    """The ERP's figures: arsync's own, each customer's moved by `shift`."""
    frame = computed_balances(ledger, as_of, Basis.NET)
    balances = tuple(
        ControlBalance(
            row.customer_id,
            row.currency,
            Decimal(row.balance_minor).scaleb(-2) + Decimal(shift.get(row.customer_id, "0")),
        )
        for row in frame.itertuples()
    )
    return ControlBalances("Test ERP balance", Basis.NET, balances, every_customer=True)


def _serve(monkeypatch: pytest.MonkeyPatch, control: ControlBalances) -> None:
    build = jobs.load.build_source
    monkeypatch.setattr(
        jobs.load, "build_source", lambda settings: WithControl(build(settings), control)
    )


def test_a_customer_out_of_tolerance_is_not_planned_and_says_both_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    ledger, as_of = _sample_ledger(settings)
    _serve(monkeypatch, _control(ledger, as_of, {OFF: "12.50", "C00008": "0.01"}))

    with capture_logs() as logs:
        result = run_sync(settings, "run-1")

    assert result.exit_code is ExitCode.PARTIAL
    assert OFF not in set(result.plan["customer_id"])
    assert "C00008" in set(result.plan["customer_id"])  # 0.01 off: within the tolerance
    (held,) = result.crm.outcomes.itertuples()
    assert (held.customer_id, held.status, held.error_code) == (OFF, "unreconciled", "unreconciled")
    assert "differs from Test ERP balance" in held.message
    assert "by -12.50" in held.message
    warned = [e for e in logs if e["event"] == "reconcile.customer_unreconciled"]
    assert [(e["customer_id"], e["difference"]) for e in warned] == [(OFF, "-12.50")]
    finished = next(e for e in logs if e["event"] == "reconcile.finished")
    assert (finished["reconciled"], finished["unreconciled"]) == (len(ledger.customers) - 1, 1)
    with (tmp_path / "reconciliation.csv").open(newline="") as handle:
        rows = {row["customer_id"]: row for row in csv.DictReader(handle)}
    assert rows[OFF]["status"] == "unreconciled"
    assert rows[OFF]["difference"] == "-12.50"
    assert rows["C00008"]["status"] == "reconciled"


def test_a_run_that_reconciles_writes_every_customer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    ledger, as_of = _sample_ledger(settings)
    _serve(monkeypatch, _control(ledger, as_of, {}))

    result = run_sync(settings, "run-1")

    assert result.exit_code is ExitCode.OK
    assert set(result.plan["customer_id"]) == set(ledger.customers["customer_id"])
    assert result.loaded is not None
    assert result.loaded.balances.counts()["reconcile_reconciled"] == len(ledger.customers)


def test_a_portfolio_out_of_its_limit_stops_a_real_run_before_salesforce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, max_portfolio_share=0.001)
    ledger, as_of = _sample_ledger(settings)
    _serve(monkeypatch, _control(ledger, as_of, {OFF: "-250000"}))
    app = settings.app.model_copy(update={"salesforce": object()})
    real = dataclasses.replace(settings, app=app)

    def connect(_: object) -> Any:
        raise AssertionError("Salesforce must not be reached")

    with pytest.raises(UnreconciledPortfolioError, match=r"USD: arsync .* against Test ERP"):
        run_sync(real, "run-1", dry_run=False, connect=connect)

    # A dry run plans all the same and says so by its exit code.
    dry = run_sync(settings, "run-2")
    assert dry.exit_code is ExitCode.PARTIAL


def test_a_replayed_past_day_is_not_compared_with_todays_balances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    ledger, as_of = _sample_ledger(settings)
    _serve(monkeypatch, _control(ledger, as_of, {OFF: "12.50"}))
    with capture_logs() as logs:
        result = run_sync(settings, "run-1", as_of=as_of - dt.timedelta(days=30))
    skipped = next(e for e in logs if e["event"] == "reconcile.skipped")
    assert "before the ERP data" in skipped["reason"]
    assert OFF in set(result.plan["customer_id"])


def _project(tmp_path: Path) -> Path:
    config = tmp_path / "arsync.yaml"
    config.write_text(
        f"""
source:
  kind: files
  path: {ROOT / "examples/sample"}
  mapping: {ROOT / "mappings/erp/generic_csv.yaml"}
crm_mapping: {ROOT / "mappings/salesforce_account.yaml"}
scoring: {ROOT / "config/scoring.yaml"}
fx_rates: {{EUR: 1.08}}
output: {{dir: {tmp_path / "out"}}}
state: {{url: "sqlite:///{tmp_path / "state.db"}"}}
""",
        encoding="utf-8",
    )
    return config


def test_the_cli_says_who_was_held_back_and_runs_show_keeps_both_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _project(tmp_path)
    settings = load_run_settings(config)
    ledger, as_of = _sample_ledger(settings)
    _serve(monkeypatch, _control(ledger, as_of, {OFF: "1234.5"}))
    runner = CliRunner()

    run = runner.invoke(app, ["run", "--dry-run", "--config", str(config)])

    assert run.exit_code == ExitCode.PARTIAL, run.output
    assert (
        f"Reconciled with Test ERP balance: {len(ledger.customers) - 1} customers agree, "
        "1 do not and are not written." in run.output
    )
    with StateStore.open(settings.app.state.url) as state:
        (record,) = state.runs.recent()
        (kept,) = state.runs.reconciliation_of(record.run_id)
        assert record.counts["reconcile_unreconciled"] == 1
    assert kept["customer_id"] == OFF
    assert kept["difference"] == "-1234.50"
    assert kept["figure"] == "Test ERP balance"

    shown = runner.invoke(app, ["runs", "show", record.run_id, "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "Not reconciled with Test ERP balance: 1 customer" in shown.output
    assert "-1,234.50" in shown.output


def test_the_report_lists_the_customers_out_of_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs.report.run import run_report  # noqa: PLC0415 - the report stack, for this test only

    settings = _settings(tmp_path)
    ledger, as_of = _sample_ledger(settings)
    _serve(monkeypatch, _control(ledger, as_of, {OFF: "99.99"}))

    result = run_report(settings, history=False)

    html = result.outputs["report"].read_text(encoding="utf-8")
    total = len(ledger.customers)
    assert (
        f"Reconciled with Test ERP balance: {total - 1:,} customers agree, 1 do not and are not "
        "written." in html
    )
    row = html[html.index(f"<td>{OFF}</td>") :].split("</tr>", 1)[0]
    assert '<td class="num">-99.99</td>' in row
    assert "<td>unreconciled</td>" in row


def test_a_parent_whose_roll_up_sums_an_unreconciled_child_is_held_too() -> None:
    from factories import build, customer, invoice  # noqa: PLC0415

    from arsync.mapping import CrmMapping  # noqa: PLC0415
    from arsync.reconcile import reconcile  # noqa: PLC0415
    from jobs.reconciliation import BalanceCheck  # noqa: PLC0415

    ledger, _ = build(
        customer("P"),
        customer("C", parent_id="P"),
        customer("G", parent_id="C"),
        customer("X"),
        invoice("I1", "10", customer_id="G", issued="2026-06-01", due="2026-07-01"),
    )
    control = ControlBalances(
        "Test", Basis.NET, (ControlBalance("G", "USD", Decimal("11")),), every_customer=True
    )
    check = BalanceCheck(
        reconcile(
            ledger,
            dt.date(2026, 6, 30),
            control,
            tolerance=Decimal("0.01"),
            max_portfolio_share=1,
        )
    )
    plain = CrmMapping.model_validate({"fields": {"AR_Open_Balance__c": {"from": "open_balance"}}})
    rolled = CrmMapping.model_validate(
        {"fields": {"AR_Group_Open__c": {"from": "rollup_open_balance"}}}
    )
    assert check.held(ledger, plain) == {"G"}
    assert check.held(ledger, rolled) == {"G", "C", "P"}
