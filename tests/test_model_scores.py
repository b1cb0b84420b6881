"""The late-payment model on the Account (issue 14, items 2 and 3): the gate decides in every
run, the customers it scored take 100 x (1 - p), the probability's band and the model's
reasons, the rest keep the rule score, and the run record keeps the verdict."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from jobs import late_risk
from jobs.cli import app
from jobs.late_risk import judge_late_risk
from jobs.pipeline import SyncResult, run_sync
from jobs.sample_data.generate import generate_ledger
from jobs.settings import OutputSettings, RunSettings, StateSettings, load_run_settings
from jobs.state import StateStore
from scoring.model_scores import apply_late_risk, model_health, tier_by_score
from scoring.promises import BROKEN, penalise_broken_promises
from scoring.settings import HealthSettings, PromiseSettings, ScoringSettings

pytestmark = pytest.mark.model  # these test the model's step in a run

ROOT = Path(__file__).resolve().parents[1]
BANDS = (0.25, 0.5, 0.75)


def features() -> pd.DataFrame:
    """Two customers as `scoring.health.health` leaves them, with what the reasons word."""
    return pd.DataFrame(
        {
            "health_score": [90, 40],
            "risk_tier": ["low", "high"],
            "score_basis": ["history", "history"],
            "reason_1": [None, "OVERDUE_BALANCE: 50% of the open balance is overdue (10.00)"],
            "reason_2": [None, None],
            "reason_3": [None, None],
            "reason_codes": ["", "OVERDUE_BALANCE"],
            "on_time_share_12m": [0.2, 0.5],
            "weighted_days_beyond_terms_12m": [12.0, 3.0],
            "overdue_balance": [50.0, 10.0],
            "open_balance": [100.0, 20.0],
            "paid_invoices_12m": [10, 4],
        },
        index=pd.Index(["C1", "C2"], name="customer_id"),
    )


def risk(probability: float, *codes: str) -> pd.DataFrame:
    padded = [*codes, "", "", ""][:3]
    return pd.DataFrame(
        {
            "customer_id": ["C1"],
            "late_probability": [probability],
            "tier": ["?"],
            **{f"reason_{n}": [padded[n - 1]] for n in (1, 2, 3)},
        }
    )


def test_a_scored_customer_takes_the_models_score_tier_chance_and_reasons() -> None:
    result = apply_late_risk(features(), risk(0.8, "MISSED_DUE_DATES", "LATE_PAYER"), BANDS)

    scored = result.loc["C1"]
    assert scored["health_score"] == 20
    assert scored["risk_tier"] == "critical"
    assert scored["score_basis"] == "model"
    assert scored["late_payment_chance"] == 80.0
    assert scored["reason_1"] == "MISSED_DUE_DATES: 80% of invoices paid late (12 months)"
    assert scored["reason_2"].startswith("LATE_PAYER: ")
    assert scored["reason_3"] is None
    assert scored["reason_codes"] == "MISSED_DUE_DATES,LATE_PAYER"
    other = result.loc["C2"]  # not scored: the rule score, and no chance shown
    assert (other["health_score"], other["risk_tier"], other["score_basis"]) == (
        40,
        "high",
        "history",
    )
    assert np.isnan(other["late_payment_chance"])
    assert other["reason_1"].startswith("OVERDUE_BALANCE: ")


def test_without_the_gates_word_every_customer_keeps_the_rule_score() -> None:
    before = features()
    result = apply_late_risk(before, None, BANDS)

    assert result["health_score"].tolist() == [90, 40]
    assert result["score_basis"].tolist() == ["history", "history"]
    assert result["late_payment_chance"].isna().all()


@pytest.mark.parametrize(
    ("probability", "score", "tier"),
    [(0.0, 100, "low"), (0.245, 76, "low"), (0.25, 75, "medium"), (0.5, 50, "high"),
     (0.7501, 25, "critical"), (1.0, 0, "critical")],
)  # fmt: skip
def test_the_score_is_100_times_one_minus_p_and_the_tier_its_band(
    probability: float, score: int, tier: str
) -> None:
    result = apply_late_risk(features(), risk(probability), BANDS)

    assert result.loc["C1", "health_score"] == score
    assert result.loc["C1", "risk_tier"] == tier
    assert int(model_health(np.array([probability]))[0]) == score


def test_a_lowered_model_score_is_tiered_by_the_bands_a_rule_score_by_the_thresholds() -> None:
    health = HealthSettings()  # rule thresholds 75 / 55 / 35
    score = pd.Series([52, 52])
    basis = pd.Series(["model", "history"])

    assert tier_by_score(score, basis, health, BANDS).tolist() == ["medium", "high"]


def test_a_broken_promise_moves_a_model_score_along_the_bands() -> None:
    frame = apply_late_risk(features(), risk(0.2), BANDS)  # 80, low
    frame = frame.assign(
        promise_status=[BROKEN, "none"],
        promise_amount=[100.0, np.nan],
        promise_date=pd.to_datetime(["2026-11-01", None]),
        promise_paid=[0.0, 0.0],
    )
    settings = PromiseSettings(broken_points=30, broken_tier_steps=1)

    result = penalise_broken_promises(frame, HealthSettings(), settings, BANDS)

    assert result.loc["C1", "health_score"] == 50  # 80 - 30: p 0.5, the high band
    assert result.loc["C1", "risk_tier"] == "high"
    assert result.loc["C1", "reason_codes"].startswith("BROKEN_PROMISE")


def settings_for(tmp_path: Path, **model: object) -> RunSettings:
    shipped = load_run_settings(ROOT / "config/arsync.yaml")
    scoring = shipped.scoring.model_copy(
        update={"model": shipped.scoring.model.model_copy(update=model)}
    )
    app_settings = shipped.app.model_copy(
        update={
            "output": OutputSettings(dir=tmp_path / "out"),
            "state": StateSettings(url=f"sqlite:///{tmp_path / 'state.db'}"),
        }
    )
    return dataclasses.replace(shipped, app=app_settings, scoring=scoring)


def run(settings: RunSettings, run_id: str) -> tuple[SyncResult, dict[str, Any] | None]:
    with StateStore.open(settings.app.state.url) as state:
        result = run_sync(settings, run_id, state=state)
        record = state.runs.get(run_id)
    assert record is not None
    return result, record.model


def test_on_the_sample_the_gate_keeps_the_rule_score_and_the_run_record_says_why(
    tmp_path: Path,
) -> None:
    result, model = run(settings_for(tmp_path), "run-rules")

    scores = result.scores
    assert set(scores["score_basis"]) <= {"history", "provisional"}
    assert scores["late_payment_chance"].isna().all()
    assert model is not None
    assert model["basis"] == "rule"
    assert str(model["reason"]).startswith("the model's probabilities are not calibrated: ECE")
    assert [row["tier"] for row in model["tiers"]] == ["low", "medium", "high", "critical"]
    calibration = model["calibration"]
    assert calibration
    assert all(0 <= point["late_share"] <= 1 for point in calibration)
    plan = pd.read_csv(tmp_path / "out/plan.csv")
    basis = plan[plan["field"] == "AR_Score_Basis__c"]["value"]
    assert set(basis) <= {"History", "Provisional"}


def test_a_model_past_its_gate_scores_the_customers_with_invoices_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, auc_margin=0.0, max_ece=1.0)

    result, model = run(settings, "run-model")
    monkeypatch.setattr(late_risk, "_JUDGED", OrderedDict())  # trained again, not reused
    again, _ = run(settings, "run-model-again")

    assert model is not None
    assert model["basis"] == "model"
    scores = result.scores.set_index("customer_id")
    by_model = scores[scores["score_basis"] == "model"]
    assert len(by_model) == model["customers_scored"] > 0
    assert result.late_risk is not None
    assert result.late_risk.risk is not None
    said = result.late_risk.risk.set_index("customer_id").loc[by_model.index]
    probability = said["late_probability"].to_numpy()
    assert by_model["health_score"].tolist() == model_health(probability).tolist()
    assert by_model["late_payment_chance"].tolist() == np.round(100 * probability, 1).tolist()
    rest = scores[scores["score_basis"] != "model"]
    assert rest["late_payment_chance"].isna().all()
    pd.testing.assert_frame_equal(result.scores, again.scores)  # the same ledger, the same scores


def test_runs_show_prints_the_models_verdict(tmp_path: Path) -> None:
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    config = tmp_path / "config/arsync.yaml"
    config.write_text(config.read_text() + f"\nstate:\n  url: sqlite:///{tmp_path / 's.db'}\n")
    settings = load_run_settings(config)
    with StateStore.open(settings.app.state.url) as state:
        run_sync(settings, "run-shown", state=state)

    shown = CliRunner().invoke(app, ["runs", "show", "run-shown", "--config", str(config)])

    assert shown.exit_code == 0, shown.output
    assert "Late-payment model: did not pass its gate" in shown.stdout
    assert "Backtest tiers" in shown.stdout


def test_the_model_can_be_switched_off(tmp_path: Path) -> None:
    result, model = run(settings_for(tmp_path, enabled=False), "run-off")

    assert model is None
    assert result.late_risk is None
    assert result.scores["late_payment_chance"].isna().all()


def test_the_same_ledger_day_and_settings_reuse_the_verdict_a_change_does_not() -> None:
    ledger = generate_ledger(30, seed=5, end_date=dt.date(2026, 6, 30))
    settings = ScoringSettings()
    day = dt.date(2026, 6, 30)

    with capture_logs() as logs:
        first = judge_late_risk(ledger, day, settings, origins=2)
        again = judge_late_risk(ledger, day, settings, origins=2)
        later = judge_late_risk(ledger, day - dt.timedelta(days=1), settings, origins=2)
        fewer = dataclasses.replace(ledger, payments=ledger.payments.iloc[1:])
        changed = judge_late_risk(fewer, day, settings, origins=2)

    assert again is first
    assert later is not first
    assert changed is not first
    reused = [e["reused"] for e in logs if e["event"] == "model.judged"]
    assert reused == [False, True, False, False]
