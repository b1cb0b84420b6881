"""The late-payment model's features, outcomes, fit and backtest (issue 14, first part)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import build, customer, invoice, payment
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from typer.testing import CliRunner

from arsync.ledger import Ledger
from jobs.cli import app
from jobs.sample_data.generate import generate_ledger
from scoring.late_model import (
    DEFAULT_BANDS,
    REASON_CODES,
    Backtest,
    LateModel,
    Metrics,
    _median,
    _pushing,
    backtest,
    calibration_error,
    customer_risk,
    fit_latest,
    gate,
    metrics,
    row_hashes,
    sampled,
    tier_table,
)
from scoring.late_payment import (
    FEATURES,
    _by_customer_and_total,
    _quantile,
    outcomes,
    snapshot,
    snapshot_dates,
    snapshots,
)
from scoring.settings import ModelSettings

ROOT = Path(__file__).resolve().parents[1]
END = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return generate_ledger(40, seed=11, end_date=END)


def cut_at(ledger: Ledger, day: dt.date) -> Ledger:
    """The ledger as it stood on `day`: nothing issued, received or applied later, and each
    invoice's open balance with the later applications added back."""
    cutoff = pd.Timestamp(day)
    applications = ledger.applications
    later = applications[applications["applied_date"] > cutoff]
    back = later.groupby("invoice_id")["amount_minor"].sum()
    invoices = ledger.invoices[ledger.invoices["issue_date"] <= cutoff].copy()
    added = back.reindex(invoices["invoice_id"]).fillna(0).astype("int64").to_numpy()
    invoices["open_minor"] = invoices["open_minor"].to_numpy() + added
    return dataclasses.replace(
        ledger,
        invoices=invoices.reset_index(drop=True),
        applications=applications[applications["applied_date"] <= cutoff].reset_index(drop=True),
        payments=ledger.payments[ledger.payments["received_date"] <= cutoff].reset_index(drop=True),
        credit_memos=ledger.credit_memos[ledger.credit_memos["date"] <= cutoff].reset_index(
            drop=True
        ),
    )


@settings(max_examples=examples(15))
@given(offset=st.integers(min_value=120, max_value=600))
def test_no_feature_uses_data_after_the_snapshot_date(ledger: Ledger, offset: int) -> None:
    day = END - dt.timedelta(days=offset)

    full = snapshot(ledger, day)
    cut = snapshot(cut_at(ledger, day), day)

    assert len(full) > 0
    pd.testing.assert_frame_equal(
        full.sort_values("invoice_id").reset_index(drop=True),
        cut.sort_values("invoice_id").reset_index(drop=True),
    )


def test_the_snapshots_of_a_backtest_are_each_days_snapshot(ledger: Ledger) -> None:
    days = snapshot_dates(ledger, END, 30, 3)

    together = snapshots(ledger, END, grace_days=3)

    apart = pd.concat([snapshot(ledger, day, grace_days=3) for day in days], ignore_index=True)
    assert len(days) > 10
    pd.testing.assert_frame_equal(together, apart, check_exact=True)


@pytest.mark.parametrize("q", [0.5, 0.75])
def test_a_groups_quantile_of_whole_days_is_pandas_quantile(q: float) -> None:
    rng = np.random.default_rng(8)
    group = rng.integers(0, 40, size=500)
    days = rng.integers(0, 90, size=500) * (rng.random(500) < 0.7)

    ours = _quantile(group, days, 45, q)

    theirs = pd.Series(days.astype("float64")).groupby(group).quantile(q)
    np.testing.assert_array_equal(ours[theirs.index], theirs.to_numpy())
    assert np.isnan(ours[40:]).all()  # groups without days


@pytest.mark.parametrize("largest", [10**6, 2**61])  # one integer key; too large for one
def test_invoices_are_ordered_by_customer_then_total(largest: int) -> None:
    rng = np.random.default_rng(9)
    customer = rng.integers(0, 30, size=400)
    total = rng.integers(0, 1000, size=400)
    total[0] = largest

    order = _by_customer_and_total(customer, total)

    pairs = list(zip(customer[order].tolist(), total[order].tolist(), strict=True))
    assert pairs == sorted(zip(customer.tolist(), total.tolist(), strict=True))


def test_a_snapshot_holds_the_invoices_open_and_due_within_the_horizon(ledger: Ledger) -> None:
    day = END - dt.timedelta(days=200)

    rows = snapshot(ledger, day, horizon_days=30)

    cutoff = pd.Timestamp(day)
    assert (rows["due_date"] > cutoff).all()
    assert (rows["due_date"] <= cutoff + pd.Timedelta(days=30)).all()
    assert list(rows.columns) == ["invoice_id", "customer_id", "due_date", "as_of", *FEATURES]
    assert rows["late_rate_365d"].dropna().between(0, 1).all()


def small_ledger() -> Ledger:
    """C1's invoices: I1 paid on its due date, I2 paid 5 days after it, I3 never paid, I4 due
    after the end; C2 with nothing paid yet."""
    ledger, quarantine = build(
        customer("C1"),
        customer("C2"),
        invoice("I1", "100", "0", issued="2026-01-01", due="2026-02-01", customer_id="C1"),
        invoice("I2", "100", "0", issued="2026-01-01", due="2026-02-10", customer_id="C1"),
        invoice("I3", "100", issued="2026-01-05", due="2026-02-15", customer_id="C1"),
        invoice("I4", "100", issued="2026-02-20", due="2026-03-25", customer_id="C1"),
        invoice("I5", "300", issued="2026-01-10", due="2026-02-12", customer_id="C2"),
        payment("P1", "100", received="2026-02-01", applied={"I1": "100"}, customer_id="C1"),
        payment("P2", "100", received="2026-02-15", applied={"I2": "100"}, customer_id="C1"),
    )
    assert not list(quarantine)
    return ledger


def test_an_invoice_is_late_when_unpaid_by_its_due_date_plus_grace() -> None:
    ledger = small_ledger()
    rows = snapshot(ledger, dt.date(2026, 1, 20), horizon_days=60)

    late = outcomes(ledger, rows, dt.date(2026, 3, 1), grace_days=3)

    by_invoice = dict(zip(rows["invoice_id"], late, strict=True))
    assert by_invoice["I1"] == 0.0  # paid on the due date
    assert by_invoice["I2"] == 1.0  # paid 5 days after it: beyond the 3 days' grace
    assert by_invoice["I3"] == 1.0  # still open 3 days after it
    assert by_invoice["I5"] == 1.0
    assert "I4" not in by_invoice  # issued after the snapshot
    later = snapshot(ledger, dt.date(2026, 2, 25), horizon_days=60)
    unknown = outcomes(ledger, later, dt.date(2026, 3, 1), grace_days=3)
    assert math.isnan(dict(zip(later["invoice_id"], unknown, strict=True))["I4"])


def test_a_customers_history_counts_late_payments_not_netted_by_early_ones() -> None:
    ledger = small_ledger()

    rows = snapshot(ledger, dt.date(2026, 3, 1), horizon_days=60, grace_days=3)

    [row] = rows.to_dict("records")  # I4, C1's only invoice due in the window
    assert row["invoice_id"] == "I4"
    assert row["late_rate_365d"] == 0.5  # I1 on time, I2 late
    assert row["days_late_mean_365d"] == 2.5  # (0 + 5) / 2
    assert row["paid_365d"] == pytest.approx(math.log1p(2))
    assert row["late_log_odds_all"] == 0.0  # (1 late + 1) / (2 paid + 2): even odds
    assert row["overdue_share_now"] == 0.5  # of I3 (overdue) and I4 (not yet due)
    assert row["terms_days"] == 33
    assert row["amount_ratio"] == 0.0  # the customer's usual amount


def test_the_fit_does_not_depend_on_the_row_order(ledger: Ledger) -> None:
    frames = [snapshot(ledger, END - dt.timedelta(days=60 + 30 * k)) for k in range(1, 12)]
    training = pd.concat(frames, ignore_index=True)
    training["late"] = outcomes(ledger, training, END).to_numpy()
    training = training[training["late"].notna()].reset_index(drop=True)
    shuffled = training.sample(frac=1.0, random_state=3)
    test = snapshot(ledger, END - dt.timedelta(days=60))

    first = LateModel(training, training["late"]).probability(test)
    again = LateModel(training, training["late"]).probability(test)
    reordered = LateModel(shuffled, shuffled["late"]).probability(test)

    assert len(first) > 0
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, reordered, rtol=0, atol=1e-12)


def test_a_fit_past_its_row_cap_trains_on_an_even_sample_whatever_the_row_order(
    ledger: Ledger,
) -> None:
    frames = [snapshot(ledger, END - dt.timedelta(days=60 + 30 * k)) for k in range(1, 12)]
    training = pd.concat(frames, ignore_index=True)
    training["late"] = outcomes(ledger, training, END).to_numpy()
    training = training[training["late"].notna()].reset_index(drop=True)
    shuffled = training.sample(frac=1.0, random_state=5)
    cap = len(training) // 2

    kept = training.loc[sampled(training, cap)]
    kept_shuffled = shuffled.loc[sampled(shuffled, cap)]
    test = snapshot(ledger, END - dt.timedelta(days=60))

    assert len(kept) == cap
    assert sampled(training, len(training)).equals(training.index)
    assert set(zip(kept["as_of"], kept["invoice_id"], strict=True)) == set(
        zip(kept_shuffled["as_of"], kept_shuffled["invoice_id"], strict=True)
    )
    shares = kept["as_of"].value_counts() / training["as_of"].value_counts()
    assert shares.min() > 0.2  # every snapshot keeps a share near half
    np.testing.assert_allclose(
        LateModel(training, training["late"], cap).probability(test),
        LateModel(shuffled, shuffled["late"], cap).probability(test),
        rtol=0,
        atol=1e-12,
    )


def test_sampling_by_hashes_taken_once_picks_the_rows_hashing_each_subset_picks(
    ledger: Ledger,
) -> None:
    frames = [snapshot(ledger, END - dt.timedelta(days=60 + 30 * k)) for k in range(1, 12)]
    pool = pd.concat(frames, ignore_index=True)
    hashes = row_hashes(pool)
    subset = pool[pool["as_of"] < pool["as_of"].max()]
    cap = len(subset) // 3

    assert sampled(subset, cap, hashes).equals(sampled(subset, cap))
    assert len(sampled(subset, cap, hashes)) == cap


def test_the_imputers_statistic_is_the_median_of_the_present_values() -> None:
    from sklearn.impute import SimpleImputer  # noqa: PLC0415 - as the model loads it

    rng = np.random.default_rng(4)
    values = np.round(rng.normal(size=(1001, 4)) * 50, 1)
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, 3] = np.nan  # a feature never seen: 0, as keep_empty_features has it

    ours = SimpleImputer(strategy=_median, add_indicator=True, keep_empty_features=True)
    theirs = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)

    np.testing.assert_array_equal(ours.fit(values).statistics_, theirs.fit(values).statistics_)
    np.testing.assert_array_equal(ours.transform(values), theirs.transform(values))


def test_reasons_are_the_positive_terms_largest_first_ties_as_a_series_sorts_them() -> None:
    by_code = pd.DataFrame(
        [[0.5, -1.0, 2.0, 0.0, 0.1], [0.3, 0.3, 0.0, 0.7, 0.3], [-1.0, -2.0, 0.0, 0.0, -0.5]],
        columns=["DISPUTES", "LATE_PAYER", "MISSED_DUE_DATES", "OVERDUE_BALANCE", "PAYING_LATER"],
    )

    expected = [
        [str(c) for c, v in row.sort_values(ascending=False).items() if v > 0]
        for _, row in by_code.iterrows()
    ]

    assert _pushing(by_code) == expected
    assert expected[0] == ["MISSED_DUE_DATES", "DISPUTES", "PAYING_LATER"]
    assert expected[2] == []


def test_every_feature_has_a_reason_code_entry() -> None:
    assert set(REASON_CODES) == set(FEATURES)


def test_the_backtest_beats_the_past_late_rate_and_its_outer_tiers_are_ordered(
    ledger: Ledger,
) -> None:
    result = backtest(ledger, END, origins=6)

    assert len(result.origins) == 6
    assert result.origins == tuple(sorted(result.origins))
    assert result.examples == len(result.predictions) > 100
    assert result.model.auc > 0.75
    assert 0 <= result.model.brier < 0.25
    assert result.model.auc > result.baseline.auc  # on this ledger; the gate will say so
    shares = result.tiers.set_index("tier")["late_share"]
    assert shares["low"] < shares["high"] < shares["critical"]
    assert result.tiers["examples"].sum() == result.examples
    # Out of time: no prediction comes from a model that saw its own outcome.
    assert (result.predictions["as_of"] >= pd.Timestamp(result.origins[0])).all()


def test_calibration_error_weights_each_bins_gap_by_its_examples() -> None:
    probability = np.array([0.1, 0.1, 0.9, 0.9])
    late = np.array([0.0, 1.0, 1.0, 1.0])

    # Bin 1: mean 0.1, late share 0.5 (gap 0.4); bin 9: 0.9 against 1.0 (gap 0.1).
    assert calibration_error(late, probability) == pytest.approx((0.4 * 2 + 0.1 * 2) / 4)
    assert metrics(late, probability).brier == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)
    assert metrics(late, probability).auc == pytest.approx(5 / 6)


def test_tiers_are_bands_of_the_probability() -> None:
    probability = np.array([0.03, 0.3, 0.6, 0.8, 0.9])  # bands 0.05, 0.55, 0.7
    late = np.array([0.0, 0.0, 1.0, 1.0, 1.0])

    table = tier_table(late, probability, DEFAULT_BANDS)

    assert table["tier"].tolist() == ["low", "medium", "high", "critical"]
    assert table["examples"].tolist() == [1, 1, 1, 2]
    assert table["late_share"].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_the_terms_add_up_to_the_linear_models_log_odds(ledger: Ledger) -> None:
    model = fit_latest(ledger, END)
    assert model is not None
    rows = snapshot(ledger, END)

    terms = model.contributions(rows)

    folds = model._pipeline.calibrated_classifiers_
    log_odds = np.mean(
        [fold.estimator.decision_function(rows[list(FEATURES)].to_numpy()) for fold in folds],
        axis=0,
    )
    intercept = np.mean([fold.estimator.steps[-1][1].intercept_[0] for fold in folds])
    np.testing.assert_allclose(terms.sum(axis=1).to_numpy() + intercept, log_odds, atol=1e-9)


def test_a_customers_risk_is_its_riskiest_invoices_with_that_invoices_reasons(
    ledger: Ledger,
) -> None:
    model = fit_latest(ledger, END)
    assert model is not None
    rows = snapshot(ledger, END)

    table = customer_risk(model, rows)

    probability = pd.Series(model.probability(rows), index=rows["customer_id"].to_numpy())
    riskiest = probability.groupby(level=0).max()
    assert table["customer_id"].tolist() == sorted(riskiest.index)
    np.testing.assert_allclose(table["late_probability"], riskiest.loc[table["customer_id"]])
    expected_tiers = np.asarray(["low", "medium", "high", "critical"])[
        np.searchsorted(DEFAULT_BANDS, table["late_probability"], side="right")
    ]
    assert table["tier"].tolist() == expected_tiers.tolist()
    codes = {"NEW_CUSTOMER", "MISSED_DUE_DATES", "PAYING_LATER", "LATE_PAYER"}
    codes |= {"OVERDUE_BALANCE", "DISPUTES", ""}
    assert set(table[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel()) <= codes
    risky = table[table["tier"] == "critical"]
    assert (risky["reason_1"] != "").all()  # a critical customer is told why


def test_a_customer_without_paid_history_is_new_first() -> None:
    rows = snapshot(small_ledger(), dt.date(2026, 1, 20), horizon_days=60)
    training = pd.concat([rows] * 30, ignore_index=True)
    labels = pd.Series(np.arange(len(training)) % 2, index=training.index, dtype="float64")

    table = customer_risk(LateModel(training, labels), rows)

    assert table.set_index("customer_id").loc["C2", "reason_1"] == "NEW_CUSTOMER"


def tried(examples: int, model: Metrics, baseline: Metrics) -> Backtest:
    predictions = pd.DataFrame({"late": np.zeros(examples)})
    return Backtest(
        (dt.date(2026, 1, 1),), predictions, model, baseline, pd.DataFrame(), pd.DataFrame()
    )


@pytest.mark.parametrize(
    ("examples", "model", "basis", "reason"),
    [
        (500, Metrics(0.85, 0.1, 0.03), "model", "AUC 0.850 against the past late rate's 0.800"),
        (150, Metrics(0.85, 0.1, 0.03), "rule", "too little history: 150 invoices"),
        (500, Metrics(0.805, 0.1, 0.03), "rule", "ranks no better than the past late rate"),
        (500, Metrics(float("nan"), 0.1, 0.03), "rule", "ranks no better"),
        (500, Metrics(0.85, 0.1, 0.08), "rule", "not calibrated: ECE 0.080, at most 0.050"),
    ],
)
def test_the_gate_keeps_the_rule_score_unless_the_model_wins_out_of_time(
    examples: int, model: Metrics, basis: str, reason: str
) -> None:
    decision = gate(tried(examples, model, Metrics(0.8, 0.12, 0.04)), ModelSettings())

    assert decision.basis == basis
    assert reason in decision.reason


def test_tier_bands_must_rise_between_0_and_1() -> None:
    with pytest.raises(ValueError, match="bands must rise strictly between 0 and 1"):
        ModelSettings(bands=(0.5, 0.4, 0.9))


def test_arsync_backtest_prints_the_models_figures_beside_the_baseline(tmp_path: Path) -> None:
    import shutil  # noqa: PLC0415

    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)

    result = CliRunner().invoke(
        app, ["backtest", "--config", str(tmp_path / "config/arsync.yaml"), "--origins", "3"]
    )

    assert result.exit_code == 0, result.output
    assert "Backtest as of 2026-11-20: 3 monthly origins" in result.stdout
    model_row = next(line for line in result.stdout.splitlines() if "│ model" in line)
    auc = float(model_row.split("│")[2])
    assert 0.5 < auc <= 1.0
    assert "past late rate" in result.stdout
    assert "critical" in result.stdout
    assert "Gate: the model " in result.stdout
    assert "Pay date: the predicted median is " in result.stdout
    written = pd.read_csv(tmp_path / "out/late_payment.csv")
    assert list(written.columns) == [
        "customer_id", "late_probability", "tier", "reason_1", "reason_2", "reason_3",
        "score_basis",
    ]  # fmt: skip
    assert len(written) > 0
    assert written["late_probability"].between(0, 1).all()
    assert set(written["score_basis"]) <= {"model", "rule"}


def test_a_ledger_without_invoices_has_no_snapshot_to_test() -> None:
    empty, _ = build(customer("C1"))

    assert snapshot_dates(empty, END, 30, 3) == []
    assert backtest(empty, END, origins=6).origins == ()
