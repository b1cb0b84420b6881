"""The score history: one snapshot per day and customer of its scores, balances and what the
run read from the CRM. `arsync report` reads it, read only, for its trends.

The day's last real run wins: `keep` upserts by (snapshot_date, customer_id), inside
`StateStore.finish_run`'s transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Final

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from jobs.state import cells
from jobs.state.bulk import bulk_upsert
from jobs.state.models import ScoreSnapshot
from jobs.state.sessions import Sessions
from scoring.trends import TIER_TOTAL_COLUMNS

SNAPSHOT_CRM_COLUMNS: Final = (
    "promise_status",
    "promise_amount",
    "promise_date",
    "crm_dispute_open",
    "owner_id",
    "owner_name",
)
"""What a run read from the CRM and scored, kept with its snapshots since revision 0006."""
SNAPSHOT_COLUMNS: Final = (
    "snapshot_date",
    "customer_id",
    "run_id",
    "health_score",
    "risk_tier",
    "open_balance",
    "overdue_balance",
    "segment",
    *SNAPSHOT_CRM_COLUMNS,
)
# Per day and tier: the columns `scoring.trends.tier_totals` computes from per-account rows.
SNAPSHOT_TOTAL_COLUMNS: Final = TIER_TOTAL_COLUMNS


class History:
    """The score snapshots of one store, read as DataFrames."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def snapshots(self, since: dt.date, until: dt.date | None = None) -> pd.DataFrame:
        """Score history from `since` on (to `until`, included, when given): one row per day
        and customer, oldest first.

        `snapshot_date` is datetime64, the balances and `promise_amount` float (the reporting
        currency, to the cent), `promise_date` a date; `segment` and the CRM columns
        (`SNAPSHOT_CRM_COLUMNS`) None for snapshots taken before the store kept them.
        """
        columns = [ScoreSnapshot.__table__.c[name] for name in SNAPSHOT_COLUMNS]
        query = select(*columns).where(ScoreSnapshot.snapshot_date >= since)
        if until is not None:
            query = query.where(ScoreSnapshot.snapshot_date <= until)
        query = query.order_by(ScoreSnapshot.snapshot_date, ScoreSnapshot.customer_id)
        with self._sessions.read() as session:
            rows = [tuple(row) for row in session.execute(query)]
        frame = pd.DataFrame.from_records(rows, columns=list(SNAPSHOT_COLUMNS))
        frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
        frame["promise_amount"] = pd.to_numeric(frame["promise_amount"]).astype("float64")
        frame["crm_dispute_open"] = frame["crm_dispute_open"].astype("object")
        return frame.astype(
            {"health_score": "int64", "open_balance": "float64", "overdue_balance": "float64"}
        )

    def tier_totals(self, since: dt.date, until: dt.date) -> pd.DataFrame:
        """The score history from `since` to `until` (both included), summed per day and risk
        tier in the database: (snapshot_date, risk_tier, accounts, open_balance,
        overdue_balance, accounts_with_overdue), oldest first. A year of daily snapshots of
        many accounts stays a few hundred rows on the way to the report.
        """
        snapshot = ScoreSnapshot.__table__.c
        overdue = case((snapshot.overdue_balance > 0, 1), else_=0)
        query = (
            select(
                snapshot.snapshot_date,
                snapshot.risk_tier,
                func.count(),
                func.sum(snapshot.open_balance),
                func.sum(snapshot.overdue_balance),
                func.sum(overdue),
            )
            .where(snapshot.snapshot_date >= since, snapshot.snapshot_date <= until)
            .group_by(snapshot.snapshot_date, snapshot.risk_tier)
            .order_by(snapshot.snapshot_date, snapshot.risk_tier)
        )
        with self._sessions.read() as session:
            rows = [tuple(row) for row in session.execute(query)]
        columns = list(SNAPSHOT_TOTAL_COLUMNS)
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
        frame = frame.astype(
            {
                "risk_tier": "object",
                "accounts": "int64",
                "open_balance": "float64",
                "overdue_balance": "float64",
                "accounts_with_overdue": "int64",
            }
        )
        # SQLite sums the stored cents as floats: back to the cent.
        return frame.round({"open_balance": 2, "overdue_balance": 2})

    def tiers(self, day: dt.date) -> pd.DataFrame:
        """Each account's risk tier on one snapshot day: (customer_id, risk_tier), by id."""
        query = (
            select(ScoreSnapshot.customer_id, ScoreSnapshot.risk_tier)
            .where(ScoreSnapshot.snapshot_date == day)
            .order_by(ScoreSnapshot.customer_id)
        )
        with self._sessions.read() as session:
            rows = [tuple(row) for row in session.execute(query)]
        return pd.DataFrame.from_records(rows, columns=["customer_id", "risk_tier"])


def snapshot_rows(run_id: str, snapshots: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows to upsert, one per (snapshot_date, customer_id), the last given winning:
    converted before the transaction opens, so that it stays short."""
    return list(
        {
            (row["snapshot_date"], row["customer_id"]): row
            for row in (_snapshot_row(run_id, snapshot) for snapshot in snapshots)
        }.values()
    )


def keep(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_upsert(session, ScoreSnapshot, rows, ("snapshot_date", "customer_id"))


def _snapshot_row(run_id: str, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    day = snapshot.get("snapshot_date")
    if isinstance(day, dt.datetime):  # pd.Timestamp too
        day = day.date()
    score: Any = snapshot.get("health_score")
    return {
        "snapshot_date": day,
        "customer_id": cells.text(snapshot.get("customer_id")),
        "run_id": run_id,
        "health_score": None if cells.missing(score) else int(score),
        "risk_tier": cells.text(snapshot.get("risk_tier")),
        "open_balance": cells.money(snapshot.get("open_balance")),
        "overdue_balance": cells.money(snapshot.get("overdue_balance")),
        "segment": cells.text(snapshot.get("segment")),
        "promise_status": cells.text(snapshot.get("promise_status")),
        "promise_amount": cells.money(snapshot.get("promise_amount")),
        "promise_date": cells.day(snapshot.get("promise_date")),
        "crm_dispute_open": cells.flag(snapshot.get("crm_dispute_open")),
        "owner_id": cells.text(snapshot.get("owner_id")),
        "owner_name": cells.text(snapshot.get("owner_name")),
    }
