"""`arsync backtest`: the late-payment model tried on the tenant's own history, out of time.

The ledger is pulled and checked as a run pulls it (`load_ledger`, nothing is written to the
CRM or the state store); `scoring.late_model.backtest` then trains on the past of each origin
and scores the month after it. The figures are logged once (`backtest.finished`) and printed by
the CLI. The model trained on all that is known now then scores the invoices due in the next
30 days: `late_payment.csv` in the output folder holds, per customer, what it would say (its
probability, tier and reasons) and whether the gate lets it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import structlog

from jobs.late_risk import judge_late_risk
from jobs.load import LoadedLedger, load_ledger
from jobs.progress import Reporter, Silent
from jobs.settings import RunSettings
from scoring.late_model import Backtest, Gate
from scoring.late_payment import snapshots
from scoring.pay_date import PayDateBacktest, pay_date_backtest

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BacktestRun:
    """What `arsync backtest` found and wrote, for the CLI to print."""

    loaded: LoadedLedger
    result: Backtest
    pay_dates: PayDateBacktest
    gate: Gate
    grace_days: int
    written: Path | None  # late_payment.csv, unless no model could be trained
    customers: int  # rows of it


def run_backtest(
    settings: RunSettings,
    *,
    as_of: dt.date | None = None,
    origins: int | None = None,
    progress: Reporter | None = None,
) -> BacktestRun:
    """Pull the ledger as of `as_of` (default: the data's), backtest the model on it over
    `origins` months (default: the settings') and say whether it passes the gate."""
    progress = progress or Silent()
    loaded = load_ledger(settings, as_of, progress, started_event="backtest.started")
    grace = settings.scoring.behaviour.on_time_grace_days
    months = origins or settings.scoring.model.origins
    with progress.step("Training and testing the late-payment model"):
        taken = snapshots(loaded.ledger, loaded.as_of, grace_days=grace)  # once, for both
        judged = judge_late_risk(
            loaded.ledger, loaded.as_of, settings.scoring, origins=months, taken=taken
        )
        pay_dates = pay_date_backtest(
            loaded.ledger, loaded.as_of, origins=months, grace_days=grace, taken=taken
        )
    result, decision = judged.result, judged.gate
    log.info(
        "backtest.finished",
        origins=len(result.origins),
        examples=result.examples,
        auc=round(result.model.auc, 4),
        baseline_auc=round(result.baseline.auc, 4),
        brier=round(result.model.brier, 4),
        ece=round(result.model.ece, 4),
        pay_date_mae=round(pay_dates.model_mae, 2),
        baseline_pay_date_mae=round(pay_dates.baseline_mae, 2),
        pay_date_coverage=round(pay_dates.coverage, 4),
        basis=decision.basis,
        reason=decision.reason,
    )
    if judged.risk is None:
        return BacktestRun(loaded, result, pay_dates, decision, grace, None, 0)
    table = judged.risk.assign(score_basis=decision.basis)
    out_dir = settings.app.output.dir
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "late_payment.csv"
    table.to_csv(path, index=False, float_format="%.4f")
    log.info("backtest.written", file=str(path), customers=len(table), basis=decision.basis)
    return BacktestRun(loaded, result, pay_dates, decision, grace, path, len(table))
