"""`arsync report`: worklist, worst movers, distributions, the HTML page and the command."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from factories import build, customer, day, invoice, payment
from typer.testing import CliRunner

from arsync.ledger import Ledger
from arsync.records import CanonicalRecord
from jobs.cli import app
from jobs.report.build import MOVER_COLUMNS, SCORE_BANDS, WORKLIST_COLUMNS, Report, build_report
from jobs.report.files import write_report
from jobs.report.page import HTML_WORKLIST_ROWS, render_html
from jobs.report.text import format_money, format_number, format_share
from jobs.settings import RunSettings, load_run_settings
from scoring import score_accounts

ROOT = Path(__file__).resolve().parents[1]
AS_OF = day("2026-06-30")
EVIL = "<script>alert(1)</script> & Co"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"


@pytest.fixture(scope="module")
def settings() -> RunSettings:
    """The shipped settings: USD reporting, EUR at 1.08, the shipped scoring.yaml."""
    return load_run_settings(ROOT / "config/arsync.yaml")


def history(customer_id: str, currency: str = "USD") -> list[CanonicalRecord]:
    """Three invoices of 1000 paid on their due dates in the first quarter: a punctual payer
    with enough history not to count as new."""
    records: list[CanonicalRecord] = []
    dates = [
        ("2026-01-05", "2026-02-04"),
        ("2026-02-05", "2026-03-07"),
        ("2026-03-05", "2026-04-04"),
    ]
    for number, (issued, due) in enumerate(dates, start=1):
        invoice_id = f"{customer_id}-H{number}"
        records += [
            invoice(
                invoice_id, "1000", "0", issued=issued, due=due, customer_id=customer_id,
                currency=currency,
            ),
            payment(
                f"{customer_id}-P{number}", "1000", received=due, applied={invoice_id: "1000"},
                customer_id=customer_id, currency=currency,
            ),
        ]  # fmt: skip
    return records


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    """As of 2026-06-30, with a 60-day window (since 2026-05-01):

    - C1 Acme: 4000 due 05-01, unpaid: current then, 60 days overdue now. Drops.
    - C2 Beta: 2000 due 04-25, 6 days overdue on 05-01, paid 05-05. Rises, nothing at risk.
    - C3 (a name full of markup): 3000 due 01-31, unpaid: 90 days overdue then, 150 now (aged).
    - C4 Delta: nothing open ever. No change.
    - C5 Échelle (EUR): 1000 EUR issued 05-21, due 06-20: 10 days overdue now (1080 USD).
    """
    records: list[CanonicalRecord] = [
        customer("C1", name="Acme Tools"),
        customer("C2", name="Beta Supplies"),
        customer("C3", name=EVIL),
        customer("C4", name="Delta Corp"),
        customer("C5", name="Échelle SARL", currency="EUR"),
    ]
    for customer_id in ("C1", "C2", "C3", "C4"):
        records += history(customer_id)
    records += history("C5", "EUR")
    records += [
        invoice("C1-L", "4000", issued="2026-04-01", due="2026-05-01", customer_id="C1"),
        invoice("C2-L", "2000", "0", issued="2026-03-26", due="2026-04-25", customer_id="C2"),
        payment("C2-PL", "2000", received="2026-05-05", applied={"C2-L": "2000"}, customer_id="C2"),
        invoice("C3-L", "3000", issued="2026-01-01", due="2026-01-31", customer_id="C3"),
        invoice(
            "C5-L", "1000", issued="2026-05-21", due="2026-06-20", customer_id="C5", currency="EUR"
        ),
    ]
    built, quarantine = build(*records, currencies={"USD", "EUR"})
    assert not list(quarantine)
    return built


@pytest.fixture(scope="module")
def report(ledger: Ledger, settings: RunSettings) -> Report:
    return build_report(ledger, AS_OF, settings, compare_days=60)


def test_worklist_is_the_ranked_customers_in_rank_order(report: Report) -> None:
    worklist = report.worklist

    assert list(worklist.columns) == list(WORKLIST_COLUMNS)
    assert worklist["customer_id"].tolist() == ["C3", "C1", "C5"]
    assert worklist["priority_rank"].tolist() == [1, 2, 3]
    # Priority weight = overdue money x its bucket's weight x the tier's multiplier:
    # C3 3000 over 120 days (1.0), medium (1.0); C1 4000 at 60 days (0.5), low (0.5);
    # C5 1000 EUR = 1080 USD at 10 days (0.25), low (0.5).
    assert worklist["priority_weight"].tolist() == [3000.0, 1000.0, 135.0]
    assert "money_at_risk" not in worklist.columns  # a weight, not money: it may exceed open
    assert worklist["overdue_balance"].tolist() == [3000.0, 4000.0, 1080.0]
    assert worklist["open_balance"].tolist() == [3000.0, 4000.0, 1080.0]
    assert worklist["max_days_overdue"].tolist() == [150, 60, 10]
    assert worklist["risk_tier"].tolist() == ["medium", "low", "low"]
    assert worklist["health_score"].tolist() == [60, 75, 75]
    assert worklist["collection_stage"].tolist() == ["final", "dunning_3", "dunning_1"]
    assert worklist.loc[0, "customer_name"] == EVIL
    assert str(worklist.loc[0, "reason_1"]).startswith("OVERDUE_BALANCE")
    assert str(worklist.loc[0, "reason_2"]).startswith("AGED_DEBT")


def test_worst_movers_are_the_drops_largest_first_ties_by_customer_id(
    report: Report, ledger: Ledger, settings: RunSettings
) -> None:
    movers = report.worst_movers

    assert report.compared_with == day("2026-05-01")
    assert list(movers.columns) == list(MOVER_COLUMNS)
    # C1's invoice went from current to 60 days overdue: 100% overdue costs 25 points. C5's
    # invoice was not issued yet on 05-01: the same 25. C3's debt became aged: 15 more points.
    assert movers[["customer_id", "score_then", "score_now", "change"]].values.tolist() == [
        ["C1", 100, 75, -25],
        ["C5", 100, 75, -25],
        ["C3", 75, 60, -15],
    ]
    assert movers["tier_then"].tolist() == ["low", "low", "low"]
    assert movers["tier_now"].tolist() == ["low", "low", "medium"]
    assert str(movers.loc[0, "top_reason_now"]).startswith("OVERDUE_BALANCE")
    # C2 paid up: its score rose, so it is no mover; C4 did not change.
    then = score_accounts(ledger, report.compared_with, settings.scoring, settings.currencies)
    now = score_accounts(ledger, AS_OF, settings.scoring, settings.currencies)
    c2_then, c2_now = (
        int(s.set_index("customer_id").loc["C2", "health_score"]) for s in (then, now)
    )
    assert c2_now > c2_then
    assert "C2" not in set(movers["customer_id"])
    assert "C4" not in set(movers["customer_id"])


def test_at_most_ten_movers_are_kept(ledger: Ledger, settings: RunSettings) -> None:
    records: list[CanonicalRecord] = []
    for n in range(12):
        customer_id = f"D{n:02d}"
        records += [customer(customer_id), *history(customer_id)]
        records.append(
            invoice(f"{customer_id}-L", "500", issued="2026-04-01", due="2026-05-01",
                    customer_id=customer_id)
        )  # fmt: skip
    many, _ = build(*records)

    movers = build_report(many, AS_OF, settings, compare_days=60).worst_movers

    assert len(movers) == 10
    assert movers["customer_id"].tolist() == [f"D{n:02d}" for n in range(10)]  # ties: by id


def test_the_default_window_is_30_days(ledger: Ledger, settings: RunSettings) -> None:
    assert build_report(ledger, AS_OF, settings).compared_with == day("2026-05-31")
    with pytest.raises(ValueError, match="at least 1"):
        build_report(ledger, AS_OF, settings, compare_days=0)


def test_score_distribution_tiers_and_segments(report: Report) -> None:
    # Scores: C1 75, C2 rose above 90, C3 60, C4 100, C5 75.
    assert list(report.score_bands.index) == list(SCORE_BANDS)
    assert SCORE_BANDS[0] == "0-9"
    assert SCORE_BANDS[-1] == "90-100"
    expected = dict.fromkeys(SCORE_BANDS, 0) | {"60-69": 1, "70-79": 2, "90-100": 2}
    assert report.score_bands.to_dict() == expected
    assert report.tiers.to_dict() == {"low": 4, "medium": 1, "high": 0, "critical": 0}
    # C2 paid one invoice of four 10 days late: slow but steady, though its mean of days
    # beyond terms (2.5) would have called it prompt.
    assert report.segments["prompt"] == 4
    assert report.segments["slow_but_steady"] == 1
    assert int(report.segments.sum()) == 5
    assert report.segments.index[0] == "new"  # in the order of the segment rules


def test_aging_totals_are_in_the_reporting_currency(report: Report) -> None:
    totals = dict(zip(report.aging["key"], report.aging["amount"], strict=True))

    assert totals == {
        "current": 0.0,
        "d1_30": 1080.0,  # C5: 1000 EUR at 1.08
        "d31_60": 4000.0,  # C1
        "d61_90": 0.0,
        "d91_120": 0.0,
        "over_120": 3000.0,  # C3
    }
    assert report.aging["label"].iloc[-1] == "Over 120 days overdue"
    assert report.kpi("open_balance") == sum(totals.values())


def test_the_page_shows_the_kpis_and_escapes_every_name(report: Report) -> None:
    page = render_html(report)

    tiles = dict(
        re.findall(r'<div class="label">(.*?)</div>\s*<div class="value">(.*?)</div>', page)
    )
    # AR 8080 = 4000 + 3000 + 1080, all overdue. Sales in (04-01, 06-30]: C5's 1080.
    # DSO = 8080 / 1080 x 90 = 673.3; best possible 0, so ADD = DSO.
    # Countback: (05-30, 06-30] no sales, 31 days; (04-30, 05-30] 1080, 30 days, 7000 left;
    # (03-30, 04-30] 4000 (C1), 31 days, 3000 left; (02-28, 03-30] 7080 (C2-L and the March
    # invoices), 3000 / 7080 x 30 = 12.7: 104.7 days.
    # CEI: open on 04-01 = 4000 + 3000 + 2000 + 5080 (March invoices paid 04-04) = 14080;
    # (14080 + 1080 - 8080) / (14080 + 1080 - 0) = 46.7%.
    # Money at risk: no account is high or critical. Disputed: none. Promises: not read.
    assert tiles == {
        "Open receivables": "8,080.00",
        "Overdue": "8,080.00",
        "Overdue share": "100.0%",
        "Money at risk": "0.00",
        "DSO": "673.3",
        "Countback DSO": "104.7",
        "ADD": "673.3",
        "CEI": "46.7",
        "Accounts with overdue": "3",
        "Disputed": "0.00",
        "Promises to pay": "\N{EN DASH}",
    }
    assert "of 5 accounts" in page
    assert "customer(s)" not in page
    assert 'class="change' not in page  # no history: no changes on the tiles
    assert "No trends yet: no score history was read." in page
    assert "As of <strong>2026-06-30</strong>" in page
    assert "<strong>USD</strong>" in page
    assert EVIL_ESCAPED in page
    assert EVIL not in page
    assert "<script" not in page  # no script of ours either: a static page
    assert "Échelle SARL" in page
    # Self-contained: nothing fetched from anywhere.
    for reference in ("<link", "src=", "url(", "@import", "href="):
        assert reference not in page, reference


def test_the_page_charts_are_well_formed_svg(report: Report) -> None:
    page = render_html(report)

    charts = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    names = [re.search(r'data-chart="([^"]+)"', chart).group(1) for chart in charts]  # type: ignore[union-attr]
    assert names == ["aging", "tiers", "scores", "cash", "movers"]  # no history: no trends
    for chart in charts:
        root = ET.fromstring(chart)  # noqa: S314 - our own output, parsed to prove it is XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    movers = ET.fromstring(charts[4])  # noqa: S314
    labels = ["".join(t.itertext()) for t in movers.iter("{http://www.w3.org/2000/svg}text")]
    assert "Acme Tools" in labels
    assert "-25 (100 → 75)" in labels
    tiers = ET.fromstring(charts[1])  # noqa: S314
    bars = {
        r.get("data-label"): float(r.get("data-value", "nan"))
        for r in tiers.iter("{http://www.w3.org/2000/svg}rect")
    }
    assert bars == {"low": 5080.0, "medium": 3000.0, "high": 0.0, "critical": 0.0}
    titles = [
        "".join(t.itertext())
        for t in tiers.iter("{http://www.w3.org/2000/svg}text")
        if t.get("class") == "axis-title"
    ]
    assert titles == ["Open (USD)", "Risk tier"]


def test_the_page_without_movers_says_so(report: Report) -> None:
    calm = dataclasses.replace(report, worst_movers=report.worst_movers.iloc[0:0])

    page = render_html(calm)

    assert len(re.findall(r"<svg\b", page)) == 4
    assert "No account's health score fell since 2026-05-01." in page


def test_the_page_shows_the_first_rows_of_a_long_worklist(report: Report) -> None:
    rows = pd.concat([report.worklist] * 20, ignore_index=True)
    rows["priority_rank"] = range(1, len(rows) + 1)
    long = dataclasses.replace(report, worklist=rows, quarantined=2)
    single = dataclasses.replace(report, quarantined=1)

    page = render_html(long)

    worklist = page.split('id="worklist"')[1].split('id="movers"')[0]
    assert worklist.count('<td class="num">50</td>') == 1
    assert '<td class="num">51</td>' not in worklist
    assert f"the first {HTML_WORKLIST_ROWS} shown, all in worklist.csv" in page
    assert "2 records broke a validation rule and are left out" in page
    assert "1 record broke a validation rule and is left out" in render_html(single)
    assert "60 accounts with money overdue" in page


def test_write_report_writes_the_files(report: Report, tmp_path: Path) -> None:
    paths = write_report(report, tmp_path / "reports")

    assert {name: path.name for name, path in paths.items()} == {
        "worklist": "worklist.csv",
        "portfolio_kpis": "portfolio_kpis.csv",
        "worst_movers": "worst_movers.csv",
        "trends": "trends.csv",
        "tier_migration": "tier_migration.csv",
        "currencies": "currencies.csv",
        "report": "report.html",
    }
    worklist = _rows(paths["worklist"])
    assert [r["customer_id"] for r in worklist] == ["C3", "C1", "C5"]
    assert list(worklist[0]) == list(WORKLIST_COLUMNS)
    assert worklist[0]["customer_name"] == EVIL  # CSV keeps the name as it is
    (kpis,) = _rows(paths["portfolio_kpis"])
    assert kpis["as_of_date"] == "2026-06-30"
    assert kpis["reporting_currency"] == "USD"
    assert float(kpis["open_balance"]) == 8080.0
    assert float(kpis["aging_d1_30"]) == 1080.0
    assert kpis["customers_with_overdue"] == "3"
    assert float(kpis["money_at_risk"]) == 0.0
    assert float(kpis["tier_low_open"]) == 5080.0
    assert kpis["tier_medium_accounts"] == "1"
    assert kpis["compared_snapshot_date"] == ""
    (today,) = _rows(paths["trends"])  # no history: the report's own day only
    assert (today["snapshot_date"], today["source"]) == ("2026-06-30", "report")
    assert float(today["open_balance"]) == 8080.0
    assert _rows(paths["tier_migration"]) == []
    currencies = {r["currency"]: r for r in _rows(paths["currencies"])}
    assert float(currencies["EUR"]["open_balance_document"]) == 1000.0
    assert float(currencies["EUR"]["open_balance"]) == 1080.0
    assert float(currencies["USD"]["open_balance"]) == 7000.0
    movers = _rows(paths["worst_movers"])
    assert [(r["customer_id"], r["change"]) for r in movers] == [
        ("C1", "-25"),
        ("C5", "-25"),
        ("C3", "-15"),
    ]
    assert EVIL_ESCAPED in paths["report"].read_text(encoding="utf-8")


def test_formatting_of_missing_figures() -> None:
    assert format_money(float("nan")) == "\N{EN DASH}"
    assert format_money(1234567.8) == "1,234,567.80"
    assert format_money(1234.5, 0) == "1,234"
    assert format_number(None) == "\N{EN DASH}"
    assert format_share(0.41790) == "41.8%"
    assert format_share(pd.NA) == "\N{EN DASH}"


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped config, mappings and sample data, writing to its own out/."""
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def run_logged(*args: str) -> tuple[int, str, list[dict[str, Any]]]:
    result = CliRunner().invoke(app, ["--log-format", "json", *args])
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return result.exit_code, result.output, events


def test_report_command_writes_the_files_beside_the_run_outputs(project: Path) -> None:
    config = str(project / "config/arsync.yaml")
    code, output, _ = run_logged("run", "--dry-run", "--config", config)
    assert code == 0, output

    code, output, events = run_logged("report", "--config", config)

    assert code == 0, output
    out = project / "out"
    for name in ("worklist.csv", "portfolio_kpis.csv", "worst_movers.csv", "report.html"):
        assert (out / name).is_file(), name
    scores = _rows(out / "scores.csv")
    ranked = sorted(
        (r for r in scores if r["priority_rank"]), key=lambda r: int(r["priority_rank"])
    )
    assert ranked
    assert _rows(out / "worklist.csv") == [{c: r[c] for c in WORKLIST_COLUMNS} for r in ranked]
    (kpis,) = _rows(out / "portfolio_kpis.csv")
    assert float(kpis["money_at_risk"]) <= float(kpis["open_balance"])
    # A dry run records no snapshots, and this project's state store holds none.
    assert "No trends yet:" in (out / "report.html").read_text(encoding="utf-8")
    assert "Worklist:" in output
    assert str(out / "report.html") in output
    names = [e["event"] for e in events]
    assert names[0] == "report.started"
    assert names[-1] == "report.written"
    assert "report.built" in names
    assert len({e["run_id"] for e in events}) == 1
    page = (out / "report.html").read_text(encoding="utf-8")
    assert ranked[0]["customer_name"] in page


def test_report_command_options_and_partial_exit(project: Path) -> None:
    invoices = project / "examples/sample/invoices.csv"
    rows = _rows(invoices)
    rows[0]["Due Date"] = ""
    with invoices.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    folder = project / "reports"

    code, output, events = run_logged(
        "report",
        "--config", str(project / "config/arsync.yaml"),
        "--out", str(folder),
        "--as-of", "2026-11-01",
        "--compare-days", "7",
    )  # fmt: skip

    assert code == 1, output
    assert not (project / "out").exists()
    (kpis,) = _rows(folder / "portfolio_kpis.csv")
    assert kpis["as_of_date"] == "2026-11-01"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "score changes since 2026-10-25" in page
    assert re.search(r"\b(1 record broke .* and is|\d+ records broke .* and are) left out", page)
    assert "Quarantine:" in output
    written = next(e for e in events if e["event"] == "report.written")
    assert (written["status"], written["exit_code"]) == ("partial", 1)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


MODEL_SUMMARY: dict[str, Any] = {
    "basis": "rule",
    "reason": "too little history: 120 invoices could be tested out of time, 200 are needed",
    "origins": 6,
    "examples": 120,
    "auc": 0.81,
    "baseline_auc": 0.8,
    "ece": 0.04,
    "customers_scored": 0,
    "tiers": [
        {"tier": "low", "examples": 60, "share": 0.5, "probability": 0.1, "late_share": 0.08},
        {"tier": "critical", "examples": 60, "share": 0.5, "probability": 0.9, "late_share": 0.85},
    ],
    "calibration": [
        {"low": 0.1, "high": 0.2, "examples": 60, "probability": 0.1, "late_share": 0.08},
        {"low": 0.9, "high": 1.0, "examples": 60, "probability": 0.9, "late_share": 0.85},
    ],
}


def test_the_page_shows_the_models_verdict_tiers_and_calibration(report: Report) -> None:
    page = render_html(dataclasses.replace(report, model=MODEL_SUMMARY))

    assert "The model did not pass its gate, so every account keeps the rule score: too" in page
    assert "AUC 0.810 against 0.800" in page
    assert '<td class="num">85.0%</td>' in page  # the critical tier's late share
    charts = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    calibration = next(c for c in charts if 'data-chart="calibration"' in c)
    root = ET.fromstring(calibration)  # noqa: S314 - our own output, parsed to prove it is XML
    points = {
        (c.get("data-series"), c.get("data-x")): float(c.get("data-value", "nan"))
        for c in root.iter("{http://www.w3.org/2000/svg}circle")
    }
    assert points == {
        ("Predicted", "10-20%"): 10.0,
        ("Paid late", "10-20%"): 8.0,
        ("Predicted", "90-100%"): 90.0,
        ("Paid late", "90-100%"): 85.0,
    }
    assert 'id="model"' not in render_html(report)  # model off: no section


def test_the_cash_forecast_is_the_open_money_by_expected_week(report: Report) -> None:
    weeks = report.cash_forecast

    assert len(weeks) == 13
    assert weeks["week_start"].iloc[0] == report.as_of + dt.timedelta(days=1)
    charts = re.findall(r"<svg\b.*?</svg>", render_html(report), flags=re.DOTALL)
    cash = ET.fromstring(next(c for c in charts if 'data-chart="cash"' in c))  # noqa: S314
    bars = [
        float(r.get("data-value", "nan")) for r in cash.iter("{http://www.w3.org/2000/svg}rect")
    ]
    assert bars == weeks["amount"].tolist()
    assert 0 < sum(bars) <= report.kpi("open_balance")
