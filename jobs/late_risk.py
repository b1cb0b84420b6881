"""The late-payment model's step of a run: backtest it on the tenant's own history, gate it,
and, when it passes, score the customers with invoices due in the next 30 days.

Every run does this before scoring (`model.enabled`), so the Account says on which basis its
score stands, and the run record keeps the figures that decided it. `arsync backtest` runs the
same step and prints it. The training is timed apart from the run, as the bench reports it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import structlog

from arsync.ledger import Ledger
from scoring.late_model import (
    Backtest,
    Gate,
    backtest,
    customer_risk,
    fit_latest,
    gate,
    labelled,
    row_hashes,
)
from scoring.late_payment import snapshot, snapshots
from scoring.settings import ScoringSettings

log = structlog.get_logger(__name__)
_TIER_FIGURES = ("share", "probability", "late_share")


@dataclass(frozen=True)
class LateRisk:
    """What the step found: the backtest, the gate's verdict, the model's word per customer
    (`risk`, `customer_risk`'s columns: also when the gate refused it, for `arsync backtest`
    to show) and how long training and testing took."""

    result: Backtest
    gate: Gate
    risk: pd.DataFrame | None  # None: too little history to train on
    seconds: float

    def logged(self) -> dict[str, Any]:
        """The verdict as `model.judged` logs it."""
        return {
            "basis": self.gate.basis,
            "reason": self.gate.reason,
            "origins": len(self.result.origins),
            "examples": self.result.examples,
            "auc": _figure(self.result.model.auc),
            "baseline_auc": _figure(self.result.baseline.auc),
            "ece": _figure(self.result.model.ece),
            "customers_scored": 0 if self.risk is None else len(self.risk),
            "seconds": round(self.seconds, 3),
        }

    @property
    def gated_risk(self) -> pd.DataFrame | None:
        """The model's per-customer word when the gate lets it stand in for the rules."""
        return self.risk if self.gate.basis == "model" else None

    def summary(self) -> dict[str, Any]:
        """The figures a run record keeps and `runs show` prints (JSON-ready)."""
        model, baseline = self.result.model, self.result.baseline
        return {
            **self.logged(),
            "brier": _figure(model.brier),
            "baseline_brier": _figure(baseline.brier),
            "baseline_ece": _figure(baseline.ece),
            "tiers": _tier_rows(self.result.tiers),
            "customer_tiers": _tier_rows(self.result.customer_tiers),
            "calibration": calibration_bins(self.result.predictions),
        }


def wanted(settings: ScoringSettings) -> bool:
    """Whether a run (or the report) tests the model: `model.enabled`. One place to ask, so
    that the tests of other stages can run without the model's seconds per ledger."""
    return settings.model.enabled


def judge_late_risk(
    ledger: Ledger,
    as_of: dt.date,
    settings: ScoringSettings,
    *,
    origins: int | None = None,
    taken: pd.DataFrame | None = None,
) -> LateRisk:
    """Backtest over `origins` months (default: the settings'), gate, and score `as_of`'s
    invoices due in the next 30 days with the model trained on all that is known then.
    `taken`: the `snapshots` already built for these settings.

    The model is deterministic, so the same ledger, day and settings give the same verdict:
    the last few are kept in this process (a rerun, the report after the run, `arsync
    worker` running twice on unchanged data) instead of being trained again."""
    key = _key(ledger, as_of, settings, origins)
    known = _JUDGED.get(key)
    if known is not None:
        _JUDGED.move_to_end(key)
        log.info("model.judged", **known.logged(), reused=True)
        return known
    judged = _judge(ledger, as_of, settings, origins=origins, taken=taken)
    _JUDGED[key] = judged
    while len(_JUDGED) > _KEPT:
        _JUDGED.popitem(last=False)
    log.info("model.judged", **judged.logged(), reused=False)
    return judged


def _judge(
    ledger: Ledger,
    as_of: dt.date,
    settings: ScoringSettings,
    *,
    origins: int | None,
    taken: pd.DataFrame | None,
) -> LateRisk:
    started = time.perf_counter()
    grace = settings.behaviour.on_time_grace_days
    model = settings.model
    if taken is None:
        taken = snapshots(ledger, as_of, grace_days=grace)
    pool = labelled(ledger, as_of, grace_days=grace, taken=taken)  # once, for both
    hashes = row_hashes(pool) if len(pool) > model.max_training_rows else None
    result = backtest(
        ledger,
        as_of,
        origins=origins or model.origins,
        grace_days=grace,
        bands=model.bands,
        max_rows=model.max_training_rows,
        pool=pool,
        hashes=hashes,
    )
    decision = gate(result, model)
    latest = fit_latest(
        ledger, as_of, grace_days=grace, max_rows=model.max_training_rows, pool=pool, hashes=hashes
    )
    risk = None
    if latest is not None:
        risk = customer_risk(latest, snapshot(ledger, as_of, grace_days=grace), model.bands)
    return LateRisk(result, decision, risk, time.perf_counter() - started)


_KEPT = 4  # verdicts kept per process: each holds its backtest's predictions
_JUDGED: OrderedDict[str, LateRisk] = OrderedDict()


def _key(ledger: Ledger, as_of: dt.date, settings: ScoringSettings, origins: int | None) -> str:
    """A digest of everything a verdict depends on: every frame of the ledger (values and
    columns), the day, the origins and the scoring settings."""
    digest = hashlib.sha256()
    for frame in (
        ledger.customers,
        ledger.invoices,
        ledger.payments,
        ledger.credit_memos,
        ledger.applications,
    ):
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(f"{as_of.isoformat()}|{origins}|{settings.model_dump_json()}".encode())
    return digest.hexdigest()


def risk_as_of(ledger: Ledger, day: dt.date, settings: ScoringSettings) -> pd.DataFrame | None:
    """The model's per-customer word on an earlier `day`, trained on what was known then: the
    report's worst movers compare two days on the same basis. None: too little to train on."""
    grace = settings.behaviour.on_time_grace_days
    model = fit_latest(ledger, day, grace_days=grace, max_rows=settings.model.max_training_rows)
    if model is None:
        return None
    return customer_risk(model, snapshot(ledger, day, grace_days=grace), settings.model.bands)


def calibration_bins(predictions: pd.DataFrame, bins: int = 10) -> list[dict[str, Any]]:
    """Per equal-width probability bin with examples: the mean probability and the share
    paid late, the points of a calibration plot (the diagonal is perfect calibration)."""
    if predictions.empty:
        return []
    probability = predictions["probability"].to_numpy(dtype="float64")
    late = predictions["late"].to_numpy(dtype="float64")
    which = (probability * bins).astype("int64").clip(0, bins - 1)
    examples = np.bincount(which, minlength=bins)
    probabilities = np.bincount(which, probability, minlength=bins)
    lates = np.bincount(which, late, minlength=bins)
    return [
        {
            "low": index / bins,
            "high": (index + 1) / bins,
            "examples": int(examples[index]),
            "probability": _figure(float(probabilities[index] / examples[index])),
            "late_share": _figure(float(lates[index] / examples[index])),
        }
        for index in np.flatnonzero(examples)
    ]


def _tier_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A `tier_table` as JSON-ready rows."""
    return [
        {
            "tier": str(row["tier"]),
            "examples": int(row["examples"]),
            **{name: _figure(float(row[name])) for name in _TIER_FIGURES},
        }
        for row in table.to_dict("records")
    ]


def _figure(value: float) -> float | None:
    """A metric rounded for people and JSON; None where it is undefined (NaN)."""
    return None if math.isnan(value) else round(value, 4)
