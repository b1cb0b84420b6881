"""The report's files: the CSV tables beside report.html, written with `safe_frame` so ERP text
never runs as a spreadsheet formula.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from arsync.csv_safety import safe_frame
from jobs.report.build import Report
from jobs.report.page import render_html


def portfolio_row(report: Report) -> pd.DataFrame:
    """portfolio_kpis.csv: the as-of date, the reporting currency, the portfolio KPIs, the open
    receivables per aging bucket (`aging_<key>`) and per risk tier (`tier_<tier>_open`,
    `tier_<tier>_accounts`), the snapshot day the trends compare with, and, when the latest
    snapshot recorded them, the promises (`promises_<status>_accounts`, `_promised`) and the
    day they are from (`crm_snapshot_date`)."""
    kpis = report.portfolio.copy()
    kpis.insert(0, "reporting_currency", report.reporting_currency)
    kpis.insert(0, "as_of_date", report.as_of.isoformat())
    for row in report.aging.to_dict("records"):
        kpis[f"aging_{row['key']}"] = float(row["amount"])
    for row in report.tier_balances.to_dict("records"):
        kpis[f"tier_{row['risk_tier']}_open"] = float(row["open_balance"])
        kpis[f"tier_{row['risk_tier']}_accounts"] = int(row["accounts"])
    kpis["compared_snapshot_date"] = report.base_day.isoformat() if report.base_day else ""
    kpis["crm_snapshot_date"] = report.crm_day.isoformat() if report.crm_day else ""
    if report.promises is not None:
        for row in report.promises.to_dict("records"):
            status = row["promise_status"]
            kpis[f"promises_{status}_accounts"] = int(row["accounts"])
            kpis[f"promises_{status}_promised"] = float(row["promised"])
    return kpis


def owner_rows(report: Report) -> pd.DataFrame:
    """owners.csv: the breakdown per Account owner, the snapshot day on every row."""
    if report.owners is None or report.crm_day is None:
        return pd.DataFrame(columns=["snapshot_date", "owner"])
    rows = report.owners.copy()
    rows.insert(0, "snapshot_date", report.crm_day.isoformat())
    return rows


def migration_rows(report: Report) -> pd.DataFrame:
    """tier_migration.csv: one row per (from tier, to tier), the two days on every row."""
    columns = ["from_date", "to_date", "from_tier", "to_tier", "accounts"]
    if report.migration is None or report.migration_from is None or report.migration_to is None:
        return pd.DataFrame(columns=columns)
    long = pd.DataFrame(
        [
            {"from_tier": str(a), "to_tier": str(b), "accounts": int(report.migration.loc[a, b])}
            for a in report.migration.index
            for b in report.migration.columns
        ]
    )
    long.insert(0, "to_date", report.migration_to.isoformat())
    long.insert(0, "from_date", report.migration_from.isoformat())
    return long[columns]


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """The CSV files and report.html in `out_dir`.

    worklist.csv, portfolio_kpis.csv (one row: `portfolio_row`), worst_movers.csv,
    trends.csv (the trend days), tier_migration.csv, currencies.csv (open per document
    currency), owners.csv (`owner_rows`; only when the latest snapshot recorded owners) and
    report.html.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "worklist": out_dir / "worklist.csv",
        "portfolio_kpis": out_dir / "portfolio_kpis.csv",
        "worst_movers": out_dir / "worst_movers.csv",
        "trends": out_dir / "trends.csv",
        "tier_migration": out_dir / "tier_migration.csv",
        "currencies": out_dir / "currencies.csv",
    }
    if report.owners is not None:
        paths["owners"] = out_dir / "owners.csv"
    paths["report"] = out_dir / "report.html"
    # safe_frame: names and other ERP text must not run as formulas in a spreadsheet.
    safe_frame(report.worklist).to_csv(paths["worklist"], index=False)
    safe_frame(portfolio_row(report)).to_csv(paths["portfolio_kpis"], index=False)
    safe_frame(report.worst_movers).to_csv(paths["worst_movers"], index=False)
    trend = report.trend.assign(
        snapshot_date=[d.isoformat() for d in report.trend["snapshot_date"]]
    )
    safe_frame(trend).to_csv(paths["trends"], index=False)
    safe_frame(migration_rows(report)).to_csv(paths["tier_migration"], index=False)
    safe_frame(report.currencies).to_csv(paths["currencies"], index=False)
    if report.owners is not None:
        safe_frame(owner_rows(report)).to_csv(paths["owners"], index=False)
    paths["report"].write_text(render_html(report), encoding="utf-8")
    return paths
