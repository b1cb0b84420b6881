"""`arsync backtest`: the late-payment model tried on the tenant's own history, out of time.

The ledger is pulled and checked as a run pulls it (`load_ledger`, nothing is written to the
CRM or the state store); `scoring.late_model.backtest` then trains on the past of each origin
and scores the month after it. The figures are logged once (`backtest.finished`) and printed by
the CLI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog

from jobs.pipeline import LoadedLedger, load_ledger
from jobs.progress import Reporter, Silent
from jobs.settings import RunSettings
from scoring.late_model import Backtest, Gate, backtest, gate

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BacktestRun:
    loaded: LoadedLedger
    result: Backtest
    gate: Gate
    grace_days: int


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
    model = settings.scoring.model
    with progress.step("Training and testing the late-payment model"):
        result = backtest(
            loaded.ledger,
            loaded.as_of,
            origins=origins or model.origins,
            grace_days=grace,
            bands=model.bands,
        )
    decision = gate(result, model)
    log.info(
        "backtest.finished",
        origins=len(result.origins),
        examples=result.examples,
        auc=round(result.model.auc, 4),
        baseline_auc=round(result.baseline.auc, 4),
        brier=round(result.model.brier, 4),
        ece=round(result.model.ece, 4),
        basis=decision.basis,
        reason=decision.reason,
    )
    return BacktestRun(loaded, result, decision, grace)
