"""`arsync report`: the collectors' worklist, the portfolio KPIs and the worst movers, as CSV
and as one self-contained HTML page with charts.

`build_report` is pure (a ledger and a date in, a `Report` out, no clock, no files);
`render_html` turns a report into the page; `write_report` writes the files; `run_report` is the
job: pull and validate through `jobs.pipeline`, build, write, and log each step.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import structlog

from arsync.csv_safety import safe_frame
from arsync.ledger import Ledger
from arsync.money import exponent
from jobs.charts import Bar, column_chart, compact_number, row_chart
from jobs.pipeline import LoadedLedger, load_ledger
from jobs.progress import Reporter, Silent
from jobs.report_options import DEFAULT_COMPARE_DAYS
from jobs.settings import RunSettings
from scoring import score_accounts
from scoring.health import TIERS
from scoring.kpis import portfolio_kpis

if TYPE_CHECKING:
    from jinja2 import Environment

log = structlog.get_logger(__name__)

WORKLIST_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "customer_name",
    "priority_rank",
    "money_at_risk",
    "overdue_balance",
    "open_balance",
    "max_days_overdue",
    "risk_tier",
    "health_score",
    "segment",
    "collection_stage",
    "next_action",
    "next_action_label",
    "next_action_date",
    "reason_1",
    "reason_2",
    "reason_3",
    "flags",
)
MOVER_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "customer_name",
    "score_then",
    "score_now",
    "change",
    "tier_then",
    "tier_now",
    "top_reason_now",
)
SCORE_BANDS: tuple[str, ...] = (*(f"{low}-{low + 9}" for low in range(0, 90, 10)), "90-100")
WORST_MOVERS = 10  # the largest drops kept
HTML_WORKLIST_ROWS = 50

TIER_COLORS = {"low": "#2f9e44", "medium": "#e0a800", "high": "#e8590c", "critical": "#c92a2a"}
_AGING_PALETTE = ("#2f9e44", "#94c11f", "#f2c94c", "#f2994a", "#e8590c", "#c92a2a", "#862e2e")
_NOTHING = "\N{EN DASH}"  # shown for a figure that cannot be computed (NaN)


@dataclass(frozen=True)
class Report:
    """Everything the report shows, computed as of `as_of`; money in the reporting currency.

    - `portfolio`: one row, `scoring.kpis.PORTFOLIO_COLUMNS`.
    - `aging`: one row per aging bucket, in the settings' order: key, label, amount.
    - `worklist`: the customers with a priority rank, by rank; `WORKLIST_COLUMNS`.
    - `worst_movers`: the largest score drops since `compared_with`; `MOVER_COLUMNS`.
    - `score_bands`, `tiers`, `segments`: customers per 10-point score band, per risk tier
      (low to critical) and per segment (in the order of the segment rules).
    """

    as_of: dt.date
    compared_with: dt.date
    reporting_currency: str
    portfolio: pd.DataFrame
    aging: pd.DataFrame
    worklist: pd.DataFrame
    worst_movers: pd.DataFrame
    score_bands: pd.Series
    tiers: pd.Series
    segments: pd.Series
    tier_thresholds: tuple[int, int, int]  # the lowest score of low, medium, high
    data_as_of: dt.datetime | None = None
    quarantined: int = 0
    # Per file or stream: rows read, in the ledger, quarantined, merged.
    accounting: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def money_places(self) -> int:
        return exponent(self.reporting_currency)

    def kpi(self, name: str) -> float:
        return float(self.portfolio[name].iloc[0])


def build_report(
    ledger: Ledger,
    as_of: dt.date,
    settings: RunSettings,
    *,
    compare_days: int = DEFAULT_COMPARE_DAYS,
    data_as_of: dt.datetime | None = None,
    quarantined: int = 0,
    accounting: dict[str, dict[str, int]] | None = None,
) -> Report:
    """Score the ledger as of `as_of` and as of `compare_days` earlier, and summarise.

    Scoring rebuilds the balances as of any date, so the earlier scores need no history
    store: the same ledger, scored as of the earlier date.
    """
    if compare_days < 1:
        raise ValueError(f"compare_days must be at least 1, not {compare_days}")
    scoring, currencies = settings.scoring, settings.currencies
    compared_with = as_of - dt.timedelta(days=compare_days)
    now = score_accounts(ledger, as_of, scoring, currencies)
    then = score_accounts(ledger, compared_with, scoring, currencies)
    places = exponent(currencies.reporting)
    aging = pd.DataFrame(
        {
            "key": [b.key for b in scoring.aging_buckets],
            "label": [b.label for b in scoring.aging_buckets],
            "amount": [_money_sum(now[f"aging_{b.key}"], places) for b in scoring.aging_buckets],
        }
    )
    segment_names = list(dict.fromkeys(rule.segment for rule in scoring.segments))
    tiers = scoring.health.tiers
    return Report(
        as_of=as_of,
        compared_with=compared_with,
        reporting_currency=currencies.reporting,
        portfolio=portfolio_kpis(ledger, as_of, scoring, currencies),
        aging=aging,
        worklist=worklist(now),
        worst_movers=worst_movers(now, then),
        score_bands=score_bands(now["health_score"]),
        tiers=_counts(now["risk_tier"], list(TIERS), "risk_tier"),
        segments=_counts(now["segment"], segment_names, "segment"),
        tier_thresholds=(tiers.low, tiers.medium, tiers.high),
        data_as_of=data_as_of,
        quarantined=quarantined,
        accounting=accounting or {},
    )


def worklist(scores: pd.DataFrame) -> pd.DataFrame:
    """The customers with a priority rank (money at risk), best to work first at the top."""
    ranked = scores[scores["priority_rank"].notna()]
    ranked = ranked.sort_values(["priority_rank", "customer_id"], ignore_index=True)
    return ranked[list(WORKLIST_COLUMNS)]


def worst_movers(now: pd.DataFrame, then: pd.DataFrame, limit: int = WORST_MOVERS) -> pd.DataFrame:
    """The `limit` largest score drops from `then` to `now` (rises and no change left out).

    The largest drop comes first; equal drops go by customer id.
    """
    current = now[["customer_id", "customer_name", "health_score", "risk_tier", "reason_1"]]
    current = current.rename(
        columns={
            "health_score": "score_now",
            "risk_tier": "tier_now",
            "reason_1": "top_reason_now",
        }
    )
    earlier = then[["customer_id", "health_score", "risk_tier"]].rename(
        columns={"health_score": "score_then", "risk_tier": "tier_then"}
    )
    movers = current.merge(earlier, on="customer_id", how="inner", validate="one_to_one")
    movers["change"] = movers["score_now"] - movers["score_then"]
    drops = movers[movers["change"] < 0].sort_values(["change", "customer_id"])
    return drops.head(limit).reset_index(drop=True)[list(MOVER_COLUMNS)]


def score_bands(scores: pd.Series) -> pd.Series:
    """Customers per 10-point band: 0-9, 10-19, ..., 80-89 and 90-100 (100 joins the last)."""
    values = scores.to_numpy(dtype="int64")
    bands = np.clip(values // 10, 0, len(SCORE_BANDS) - 1)
    counts = np.bincount(bands, minlength=len(SCORE_BANDS))
    return pd.Series(
        counts.astype("int64"), index=pd.Index(SCORE_BANDS, name="band"), name="customers"
    )


def _counts(values: pd.Series, order: list[str], name: str) -> pd.Series:
    """Customers per value, every name of `order` first (zeros kept), any other after it."""
    counts = values.value_counts()
    names = order + sorted(str(v) for v in counts.index if v not in order)
    result = counts.reindex(names, fill_value=0).astype("int64")
    result.index.name = name
    result.name = "customers"
    return result


def _money_sum(values: pd.Series, places: int) -> float:
    """Major-unit amounts summed in whole minor units, so the total is exact to the cent."""
    factor = float(10**places)
    minor = np.round(values.fillna(0).to_numpy(dtype="float64") * factor).astype("int64")
    return round(int(minor.sum()) / factor, places)


# --- formatting -------------------------------------------------------------------------------


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def format_money(value: object, places: int = 2) -> str:
    """1234567.8 -> '1,234,567.80'; NaN or empty -> a dash."""
    return _NOTHING if _missing(value) else f"{float(str(value)):,.{places}f}"


def format_number(value: object, places: int = 1) -> str:
    """12.345 -> '12.3'; NaN or empty -> a dash."""
    return _NOTHING if _missing(value) else f"{float(str(value)):,.{places}f}"


def format_share(value: object) -> str:
    """A share in [0, 1] as a percentage: 0.4 -> '40.0%'."""
    return _NOTHING if _missing(value) else f"{float(str(value)) * 100:.1f}%"


def _timestamp(value: dt.datetime | None) -> str | None:
    """2026-11-20 23:00 UTC; None stays None."""
    if value is None:
        return None
    zone = value.tzname() or ""
    return f"{value:%Y-%m-%d %H:%M} {zone}".rstrip()


def format_text(value: object) -> str:
    """Empty, None or NaN -> ''; a date -> its ISO form; anything else as str."""
    if _missing(value):
        return ""
    if isinstance(value, dt.date | pd.Timestamp):
        return value.isoformat()[:10]
    return str(value)


# --- HTML ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    note: str = ""


def tiles(report: Report) -> list[Tile]:
    """The KPI tiles at the top of the page, in reading order."""
    places, currency = report.money_places, report.reporting_currency
    customers = int(report.kpi("customers"))
    return [
        Tile("Open receivables", format_money(report.kpi("open_balance"), places), currency),
        Tile("Overdue", format_money(report.kpi("overdue_balance"), places), currency),
        Tile("Overdue share", format_share(report.kpi("overdue_share")), "of open receivables"),
        Tile("DSO", format_number(report.kpi("dso")), "days"),
        Tile("Countback DSO", format_number(report.kpi("dso_countback")), "days"),
        Tile("ADD", format_number(report.kpi("add")), "average days delinquent"),
        Tile("CEI", format_number(report.kpi("cei")), "collection effectiveness, %"),
        Tile(
            "Customers with overdue",
            f"{int(report.kpi('customers_with_overdue')):,}",
            f"of {customers:,} customers",
        ),
    ]


def aging_chart(report: Report) -> str:
    """Columns per aging bucket, green (current) to dark red (oldest)."""
    labels = [str(label) for label in report.aging["label"].tolist()]
    amounts = [float(amount) for amount in report.aging["amount"].tolist()]
    last = len(_AGING_PALETTE) - 1
    colors = [_AGING_PALETTE[round(i * last / max(len(labels) - 1, 1))] for i in range(len(labels))]
    bars = [
        Bar(label, max(amount, 0.0), compact_number(amount), color)
        for label, amount, color in zip(labels, amounts, colors, strict=True)
    ]
    title = f"Open receivables by aging bucket ({report.reporting_currency})"
    return column_chart(bars, title=title)


def score_chart(report: Report) -> str:
    bands = [str(band) for band in report.score_bands.index]
    counts = [int(count) for count in report.score_bands.tolist()]
    bars = [Bar(band, float(count), str(count)) for band, count in zip(bands, counts, strict=True)]
    return column_chart(
        bars,
        title="Customers per health score band",
        axis_format=lambda value: f"{value:g}",
        gap=0.06,
    )


def movers_chart(report: Report) -> str | None:
    """Horizontal bars of the worst drops; None when no score fell."""
    if report.worst_movers.empty:
        return None
    bars = [
        Bar(
            str(row["customer_name"]),
            float(-int(row["change"])),
            f"{int(row['change'])} ({int(row['score_then'])} → {int(row['score_now'])})",
            TIER_COLORS.get(str(row["tier_now"]), TIER_COLORS["critical"]),
        )
        for row in report.worst_movers.to_dict("records")
    ]
    return row_chart(bars, title=f"Largest health score drops since {report.compared_with}")


def _worklist_rows(report: Report) -> list[dict[str, Any]]:
    places = report.money_places
    rows = []
    for record in report.worklist.head(HTML_WORKLIST_ROWS).to_dict("records"):
        rows.append(
            {
                "rank": int(record["priority_rank"]),
                "customer_id": format_text(record["customer_id"]),
                "customer_name": format_text(record["customer_name"]),
                "money_at_risk": format_money(record["money_at_risk"], places),
                "overdue_balance": format_money(record["overdue_balance"], places),
                "open_balance": format_money(record["open_balance"], places),
                "max_days_overdue": int(record["max_days_overdue"]),
                "risk_tier": format_text(record["risk_tier"]),
                "health_score": int(record["health_score"]),
                "segment": format_text(record["segment"]).replace("_", " "),
                "stage": format_text(record["collection_stage"]).replace("_", " "),
                "action": format_text(record["next_action_label"]),
                "action_date": format_text(record["next_action_date"]),
                "reasons": [
                    format_text(record[f"reason_{n}"])
                    for n in (1, 2, 3)
                    if format_text(record[f"reason_{n}"])
                ],
                "flags": format_text(record["flags"]),
            }
        )
    return rows


def _mover_rows(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": format_text(record["customer_id"]),
            "customer_name": format_text(record["customer_name"]),
            "score_then": int(record["score_then"]),
            "score_now": int(record["score_now"]),
            "change": int(record["change"]),
            "tier_then": format_text(record["tier_then"]),
            "tier_now": format_text(record["tier_now"]),
            "reason": format_text(record["top_reason_now"]),
        }
        for record in report.worst_movers.to_dict("records")
    ]


@cache
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined  # noqa: PLC0415 - reports only

    return Environment(
        loader=PackageLoader("jobs", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(report: Report) -> str:
    """The whole report as one HTML page: inline CSS and SVG, nothing fetched from anywhere."""
    from markupsafe import Markup  # noqa: PLC0415 - reports only

    movers = movers_chart(report)
    low, medium, high = report.tier_thresholds
    context = {
        "report": report,
        "tiles": tiles(report),
        "aging_rows": [
            {"label": str(row["label"]), "amount": format_money(row["amount"], report.money_places)}
            for row in report.aging.to_dict("records")
        ],
        "aging_total": format_money(report.kpi("open_balance"), report.money_places),
        # Markup: the chart helpers escape every text they put in the SVG.
        "aging_chart": Markup(aging_chart(report)),  # noqa: S704
        "score_chart": Markup(score_chart(report)),  # noqa: S704
        "movers_chart": Markup(movers) if movers else None,  # noqa: S704
        "tiers": [(str(k), int(v)) for k, v in report.tiers.items()],
        "segments": [(str(k).replace("_", " "), int(v)) for k, v in report.segments.items()],
        "tier_note": f"low {low}+, medium {medium}+, high {high}+, critical below {high}",
        "tier_colors": TIER_COLORS,
        "worklist_rows": _worklist_rows(report),
        "worklist_total": len(report.worklist),
        "mover_rows": _mover_rows(report),
        "data_as_of": _timestamp(report.data_as_of),
    }
    return _environment().get_template("report.html.j2").render(context)


# --- files and the job ------------------------------------------------------------------------


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """worklist.csv, portfolio_kpis.csv, worst_movers.csv and report.html in `out_dir`.

    portfolio_kpis.csv is one row: the as-of date, the reporting currency, the portfolio KPIs
    and the open receivables per aging bucket (`aging_<key>`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "worklist": out_dir / "worklist.csv",
        "portfolio_kpis": out_dir / "portfolio_kpis.csv",
        "worst_movers": out_dir / "worst_movers.csv",
        "report": out_dir / "report.html",
    }
    # safe_frame: names and other ERP text must not run as formulas in a spreadsheet.
    safe_frame(report.worklist).to_csv(paths["worklist"], index=False)
    kpis = report.portfolio.copy()
    kpis.insert(0, "reporting_currency", report.reporting_currency)
    kpis.insert(0, "as_of_date", report.as_of.isoformat())
    for row in report.aging.to_dict("records"):
        kpis[f"aging_{row['key']}"] = float(row["amount"])
    safe_frame(kpis).to_csv(paths["portfolio_kpis"], index=False)
    safe_frame(report.worst_movers).to_csv(paths["worst_movers"], index=False)
    paths["report"].write_text(render_html(report), encoding="utf-8")
    return paths


@dataclass(frozen=True)
class ReportResult:
    loaded: LoadedLedger
    report: Report
    outputs: dict[str, Path]


def run_report(
    settings: RunSettings,
    *,
    out_dir: Path | None = None,
    as_of: dt.date | None = None,
    compare_days: int = DEFAULT_COMPARE_DAYS,
    progress: Reporter | None = None,
    today: dt.date | None = None,
) -> ReportResult:
    """Pull and validate as a sync run does, build the report, write it to `out_dir`.

    `out_dir` defaults to the output folder of the settings.
    """
    progress = progress or Silent()
    started = time.perf_counter()
    loaded = load_ledger(settings, as_of, progress, today, started_event="report.started")
    with progress.step("Scoring and summarising"):
        report = build_report(
            loaded.ledger,
            loaded.as_of,
            settings,
            compare_days=compare_days,
            data_as_of=loaded.data_as_of,
            quarantined=len(loaded.quarantine),
            accounting={s: c.as_dict() for s, c in loaded.accounting.items()},
        )
    log.info(
        "report.built",
        customers=int(report.kpi("customers")),
        worklist=len(report.worklist),
        worst_movers=len(report.worst_movers),
        compared_with=report.compared_with.isoformat(),
    )
    outputs = write_report(report, out_dir or settings.app.output.dir)
    log.info(
        "report.written",
        status=loaded.exit_code.name.lower(),
        exit_code=int(loaded.exit_code),
        seconds=round(time.perf_counter() - started, 3),
        **{f"{name}_file": str(path) for name, path in outputs.items()},
    )
    return ReportResult(loaded, report, outputs)
