"""Acceptance: the report of the sample, with a few days of score history, in headless
Chromium. The charts' figures (the `data-*` attributes of the SVG elements, read after
rendering) must match the CSV files written beside the page, the phone layout must not scroll
sideways, and screenshots at desktop and phone width go to the repository's out/ folder.

Needs Debian's chromium and chromium-driver (`bash .ci/chromium` installs them, as root) and
the selenium package (the dev extra). Without them the test is skipped, except in CI
(CI=true), where it fails: CI must not pass without having looked at the page.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report_history import seed_snapshots
from typer.testing import CliRunner

from jobs.cli import app
from jobs.load import load_ledger
from jobs.progress import Silent
from jobs.settings import load_run_settings

pytestmark = pytest.mark.model  # these test the model's step in a run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "out"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP, PHONE = 1280, 390
DAYS_BACK = (60, 31, 14, 7, 0)  # the snapshot days, counted back from the sample's as-of date


def _missing_browser() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing: `bash .ci/chromium` installs Debian's {package} (as root)"
    try:
        import selenium  # noqa: F401, PLC0415 - only this test drives a browser
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`arsync report` on a copy of the sample whose state store holds five snapshot days."""
    project = tmp_path_factory.mktemp("project")
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / folder, project / folder)
    settings = load_run_settings(project / "config/arsync.yaml")
    loaded = load_ledger(settings, None, Silent(), None)
    days = [loaded.as_of - dt.timedelta(days=n) for n in DAYS_BACK]
    seed_snapshots(settings.app.state.url, loaded.ledger, settings, days, crm=True)

    result = CliRunner().invoke(app, ["report", "--config", str(project / "config/arsync.yaml")])

    assert result.exit_code == 0, result.output
    return project / "out"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _show(driver: Any, page: Path, width: int) -> None:
    """The page at `width` CSS pixels (the window itself cannot be narrower than ~500)."""
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.get(page.as_uri())


def _screenshot(driver: Any, path: Path, width: int) -> None:
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


READ_CHARTS = """
const data = (selector, root, pick) => [...root.querySelectorAll(selector)].map(pick);
const charts = {};
for (const svg of document.querySelectorAll('svg[data-chart]')) {
  charts[svg.dataset.chart] = {
    bars: data('rect[data-value]', svg,
      r => [r.dataset.label, Number(r.dataset.value), r.getAttribute('fill')]),
    points: data('circle[data-series]', svg,
      c => [c.dataset.series, c.dataset.x, Number(c.dataset.value)]),
    titles: data('text.axis-title', svg, t => t.textContent),
  };
}
const migration = data('td[data-count]', document,
  td => [td.dataset.from, td.dataset.to, Number(td.dataset.count)]);
const tiles = Object.fromEntries(data('[data-kpi]', document,
  t => [t.dataset.kpi, t.querySelector('.value').textContent.trim()]));
const owners = data('tr[data-owner-row]', document,
  tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()));
const ownerTotal = data('tr[data-owner-total] td', document, td => td.textContent.trim());
return {charts, migration, tiles, owners, ownerTotal};
"""


def test_the_charts_match_the_csv_files(browser: Any, written: Path) -> None:
    _show(browser, written / "report.html", DESKTOP)
    seen = browser.execute_script(READ_CHARTS)
    _screenshot(browser, SCREENSHOTS / "report-desktop.png", DESKTOP)

    (kpis,) = _rows(written / "portfolio_kpis.csv")
    open_balance, at_risk = float(kpis["open_balance"]), float(kpis["money_at_risk"])
    charts = seen["charts"]
    assert set(charts) == {
        "trend-money", "trend-dso", "aging", "tiers", "scores", "movers", "cash", "calibration",
    }  # fmt: skip
    cash = sum(value for _, value, _ in charts["cash"]["bars"])
    assert 0 < cash <= open_balance
    tiers = {label: value for label, value, _ in charts["tiers"]["bars"]}
    assert list(tiers) == ["low", "medium", "high", "critical"]
    assert sum(tiers.values()) == pytest.approx(open_balance, abs=0.005)
    assert tiers["high"] + tiers["critical"] == pytest.approx(at_risk, abs=0.005)
    assert at_risk <= open_balance
    for tier, value in tiers.items():
        assert value == float(kpis[f"tier_{tier}_open"])
    colours = {label: fill for label, _, fill in charts["tiers"]["bars"]}
    assert len(set(colours.values())) == 4  # one colour per tier
    aging = sum(value for _, value, _ in charts["aging"]["bars"])
    assert aging == pytest.approx(open_balance, abs=0.005)
    scores = sum(value for _, value, _ in charts["scores"]["bars"])
    assert scores == int(kpis["customers"])
    worklist = _rows(written / "worklist.csv")
    overdue = sum(float(row["overdue_balance"]) for row in worklist)
    assert overdue == pytest.approx(float(kpis["overdue_balance"]), abs=0.005)

    trends = _rows(written / "trends.csv")
    assert len(trends) == len(DAYS_BACK)
    assert [row["source"] for row in trends] == ["snapshot"] * len(DAYS_BACK)
    for series, column in (
        ("Open", "open_balance"),
        ("Overdue", "overdue_balance"),
        ("Money at risk", "money_at_risk"),
    ):
        points = [(x, v) for name, x, v in charts["trend-money"]["points"] if name == series]
        assert points == [(row["snapshot_date"], float(row[column])) for row in trends], series
    dso = [v for name, _, v in charts["trend-dso"]["points"] if name == "DSO"]
    assert dso == pytest.approx([float(row["dso"]) for row in trends])
    # The last snapshot is the as-of day: its figures are the report's.
    assert float(trends[-1]["open_balance"]) == open_balance
    assert float(trends[-1]["money_at_risk"]) == at_risk
    for row in trends:
        assert float(row["money_at_risk"]) <= float(row["open_balance"])

    migration = _rows(written / "tier_migration.csv")
    cells = {(a, b): n for a, b, n in seen["migration"]}
    assert cells == {(r["from_tier"], r["to_tier"]): int(r["accounts"]) for r in migration}
    assert sum(cells.values()) == int(kpis["customers"])  # the sample's accounts, both days
    assert {r["from_date"] for r in migration} == {trends[1]["snapshot_date"]}  # 31 days back

    assert charts["trend-money"]["titles"] == ["Amount (USD)", "Snapshot day"]
    assert charts["tiers"]["titles"] == ["Open (USD)", "Risk tier"]
    assert seen["tiles"]["open_balance"] == f"{open_balance:,.2f}"
    assert seen["tiles"]["money_at_risk"] == f"{at_risk:,.2f}"

    # Promises and owners: from the latest snapshot (the as-of day), as the CSVs have them.
    assert kpis["crm_snapshot_date"] == trends[-1]["snapshot_date"]
    for status in ("pending", "kept", "broken"):
        promised = float(kpis[f"promises_{status}_promised"])
        assert seen["tiles"][f"promises_{status}"] == f"{promised:,.2f}"
    assert int(kpis["promises_kept_accounts"]) > 0
    assert float(kpis["promises_broken_promised"]) == pytest.approx(
        250.50 * int(kpis["promises_broken_accounts"])
    )
    owners = _rows(written / "owners.csv")
    assert {row["snapshot_date"] for row in owners} == {kpis["crm_snapshot_date"]}
    assert [cells[0] for cells in seen["owners"]] == [row["owner"] for row in owners]
    assert {row["owner"] for row in owners} == {
        "Ann O'Neil",
        "Bob <Smith>",
        "005Hs00000HidAAA",
        "(none)",
    }
    for cells, row in zip(seen["owners"], owners, strict=True):
        assert cells[1:] == [
            f"{int(row['accounts']):,}",
            f"{int(row['accounts_with_overdue']):,}",
            *(
                f"{float(row[c]):,.2f}"
                for c in ("open_balance", "overdue_balance", "money_at_risk")
            ),
        ]
        assert float(row["money_at_risk"]) <= float(row["open_balance"])
    total = {
        c: sum(float(row[c]) for row in owners)
        for c in ("accounts", "accounts_with_overdue", "open_balance", "overdue_balance")
    }
    total["money_at_risk"] = sum(float(row["money_at_risk"]) for row in owners)
    assert total["accounts"] == int(kpis["customers"])
    assert total["open_balance"] == pytest.approx(open_balance, abs=0.005)
    assert total["money_at_risk"] == pytest.approx(at_risk, abs=0.005)
    assert total["overdue_balance"] == pytest.approx(float(kpis["overdue_balance"]), abs=0.005)
    assert seen["ownerTotal"] == [
        f"{int(total['accounts']):,}",
        f"{int(total['accounts_with_overdue']):,}",
        f"{total['open_balance']:,.2f}",
        f"{total['overdue_balance']:,.2f}",
        f"{total['money_at_risk']:,.2f}",
    ]


def test_the_phone_layout_does_not_scroll_sideways(browser: Any, written: Path) -> None:
    _show(browser, written / "report.html", PHONE)
    layout = browser.execute_script(
        """
        const tiles = [...document.querySelectorAll('.tile')].map(t => t.getBoundingClientRect());
        return {
          viewport: window.innerWidth,
          scrollWidth: document.documentElement.scrollWidth,
          bodyScrollWidth: document.body.scrollWidth,
          tileLefts: [...new Set(tiles.map(t => Math.round(t.left)))],
          tileRights: Math.max(...tiles.map(t => t.right)),
          charts: [...document.querySelectorAll('svg.chart')]
            .map(s => s.getBoundingClientRect().right),
        };
        """
    )
    _screenshot(browser, SCREENSHOTS / "report-phone.png", PHONE)

    assert layout["viewport"] == PHONE
    assert layout["scrollWidth"] <= PHONE
    assert layout["bodyScrollWidth"] <= PHONE
    assert len(layout["tileLefts"]) == 1  # the tiles stack in one column
    assert layout["tileRights"] <= PHONE
    assert max(layout["charts"]) <= PHONE
    assert (SCREENSHOTS / "report-phone.png").stat().st_size > 10_000
