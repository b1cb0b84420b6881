"""The generator's noisy profile: short, noisy delays, most customers late now and then."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from test_sample_data import FRAMES, assert_invariants, payment_lateness
from typer.testing import CliRunner

from jobs.cli import SampleProfile, app
from jobs.sample_data import PROFILES, SampleLedger, generate_ledger

END = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def noisy() -> SampleLedger:
    return generate_ledger(200, seed=42, end_date=END, profile="noisy")


@pytest.fixture(scope="module")
def default() -> SampleLedger:
    return generate_ledger(200, seed=42, end_date=END)


def test_most_customers_pay_late_sometimes_by_a_few_days(noisy: SampleLedger) -> None:
    lateness = payment_lateness(noisy)
    late = lateness[lateness["days_late"] > 0]
    ever_late = lateness.groupby("customer_id")["days_late"].max() > 0
    assert ever_late.mean() > 0.7
    assert late["days_late"].median() < 15
    assert late["days_late"].between(1, 20).mean() > 0.8
    early = lateness["days_late"] < 0
    week_early = lateness["days_late"] < -7
    assert early.any()
    assert week_early.mean() < 0.05  # early beyond the payment run: a few


def test_customers_persist_less_than_in_the_default_profile(
    noisy: SampleLedger, default: SampleLedger
) -> None:
    """How much of the lateness is the customer's: the spread of the customers' late shares."""

    def spread(ledger: SampleLedger) -> float:
        lateness = payment_lateness(ledger)
        per_customer = (
            (lateness["days_late"] > 0).groupby(lateness["customer_id"]).agg(["mean", "size"])
        )
        return float(per_customer.loc[per_customer["size"] >= 10, "mean"].std())

    assert spread(noisy) < 0.8 * spread(default)


def test_the_noisy_ledger_is_consistent(noisy: SampleLedger) -> None:
    assert_invariants(noisy, END)


def test_same_seed_gives_the_same_noisy_ledger(noisy: SampleLedger) -> None:
    again = generate_ledger(200, seed=42, end_date=END, profile="noisy")
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(noisy, name), getattr(again, name))
    pd.testing.assert_series_equal(noisy.archetypes, again.archetypes)


def test_the_profile_changes_only_when_customers_pay(
    noisy: SampleLedger, default: SampleLedger
) -> None:
    pd.testing.assert_frame_equal(noisy.customers, default.customers)
    pd.testing.assert_series_equal(noisy.invoices["total_minor"], default.invoices["total_minor"])
    assert not noisy.applications.equals(default.applications)


def test_the_default_profile_is_the_unnamed_one(default: SampleLedger) -> None:
    named = generate_ledger(200, seed=42, end_date=END, profile="default")
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(named, name), getattr(default, name))


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="profile must be one of"):
        generate_ledger(5, seed=1, end_date=END, profile="quiet")


def test_the_cli_offers_the_generator_profiles(tmp_path: Path) -> None:
    assert tuple(profile.value for profile in SampleProfile) == PROFILES
    runner = CliRunner()
    written = {}
    for profile in PROFILES:
        out = tmp_path / profile
        arguments = ["sample-data", "--customers", "20", "--out", str(out), "--profile", profile]
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
        written[profile] = (out / "payment_applications.csv").read_bytes()
    assert written["default"] != written["noisy"]
    refused = runner.invoke(app, ["sample-data", "--out", str(tmp_path / "x"), "--profile", "x"])
    assert refused.exit_code == 2
