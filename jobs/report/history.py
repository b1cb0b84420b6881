"""The score history the report draws its trends from: read from the state store, once.

The only I/O of the report's history. A missing SQLite file, or a store that cannot be opened,
is no history (the page says why), never a failed report: the report is how people look at the
data, and a store that is down must not hide today's figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import structlog

from jobs.state.errors import StateError
from jobs.state.history import SNAPSHOT_CRM_COLUMNS
from scoring.trends import TIER_TOTAL_COLUMNS, nearest_day

log = structlog.get_logger(__name__)

TREND_WINDOW_DAYS = 365  # the trends look back this far from the as-of date
MIGRATION_DAYS = 30  # tier migration and the tiles' change: against about this long ago


def _empty_totals() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in TIER_TOTAL_COLUMNS})


def _empty_tiers() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype="object"), "risk_tier": []})


LATEST_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "risk_tier",
    "open_balance",
    "overdue_balance",
    *SNAPSHOT_CRM_COLUMNS,
)


def _empty_latest() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in LATEST_COLUMNS})


@dataclass(frozen=True)
class History:
    """Per day and tier totals up to the as-of date, and each account's tier on the two days
    the migration compares (`then_day`, the day nearest `MIGRATION_DAYS` back, and `now_day`,
    the latest); `latest` is each account's row of `now_day`, with what that day's run read
    from the CRM (`LATEST_COLUMNS`; None where it read nothing); `note` says why there is no
    history when there is none."""

    totals: pd.DataFrame = field(default_factory=_empty_totals)
    then_day: dt.date | None = None
    now_day: dt.date | None = None
    then_tiers: pd.DataFrame = field(default_factory=_empty_tiers)
    now_tiers: pd.DataFrame = field(default_factory=_empty_tiers)
    note: str | None = None
    latest: pd.DataFrame = field(default_factory=_empty_latest)

    @property
    def days(self) -> list[dt.date]:
        """The snapshot days, oldest first."""
        dates = pd.to_datetime(self.totals["snapshot_date"]).dt.date
        return sorted(set(dates))


def read_history(
    url: str,
    as_of: dt.date,
    *,
    window_days: int = TREND_WINDOW_DAYS,
    migration_days: int = MIGRATION_DAYS,
) -> History:
    """The history in the store at `url`, from `window_days` before `as_of` to `as_of`."""
    from jobs.state.db import parse_url  # noqa: PLC0415 - SQLAlchemy: the report's history only
    from jobs.state.store import StateStore  # noqa: PLC0415

    try:
        parsed = parse_url(url)
    except StateError as error:
        return _none(str(error))
    database = parsed.database or ""
    local = parsed.get_backend_name() == "sqlite" and not database.startswith("file:")
    if local and database and not Path(database).is_file():
        return _none(
            "no score history yet: the trends appear once `arsync run` has recorded "
            f"scores in the state store ({Path(database).name})"
        )
    try:
        with StateStore.open(url) as store:
            totals = store.history.tier_totals(as_of - dt.timedelta(days=window_days), as_of)
            days = sorted(set(pd.to_datetime(totals["snapshot_date"]).dt.date))
            now_day = days[-1] if days else None
            then_day = (
                nearest_day(days, now_day - dt.timedelta(days=migration_days), before=now_day)
                if now_day
                else None
            )
            now_tiers = store.history.tiers(now_day) if now_day else _empty_tiers()
            latest = (
                store.history.snapshots(now_day, now_day)[list(LATEST_COLUMNS)]
                if now_day
                else _empty_latest()
            )
            then_tiers = store.history.tiers(then_day) if then_day else _empty_tiers()
    except StateError as error:
        log.warning("report.history_unavailable", error=str(error))
        return _none(f"the score history could not be read: {error}")
    if not days:
        return _none("no score history in the trend window: no run recorded scores by then")
    log.info(
        "report.history_read",
        days=len(days),
        first=days[0].isoformat(),
        latest=days[-1].isoformat(),
        migration_from=then_day.isoformat() if then_day else None,
    )
    return History(totals, then_day, now_day, then_tiers, now_tiers, latest=latest)


def _none(note: str) -> History:
    return History(note=note)
