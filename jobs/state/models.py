"""The state store's tables: what each run did, where each source's cursor stands, which records
were quarantined, what happened to each Account, and the daily history of scores.

These models are the schema's single description; the migrations in `migrations/versions/` must
build exactly the same tables (a test compares them), because a nightly worker upgrades its own
database and must never find a column the code does not expect.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names: Alembic's batch mode (SQLite) can only alter a named constraint, and
# PostgreSQL's own names would differ from SQLite's, so both databases get these.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES: Final = ("running", "succeeded", "partial", "failed", "abandoned")
"""A run is `running` until it finishes as `succeeded`, `partial` (finished, with quarantined or
failed records) or `failed`; a `running` row whose process is gone is marked `abandoned`."""

FINISHED_STATUSES: Final = ("succeeded", "partial", "failed")
COMPLETED_STATUSES: Final = ("succeeded", "partial")
"""A completed run has done all its work, so the next run may start from its watermarks."""

RUN_ID = String(64)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A point in time, always tz-aware UTC in Python.

    PostgreSQL keeps `timestamp with time zone`; SQLite keeps text without a zone. So values are
    converted to UTC before they are stored and marked UTC when they are read, and a naive
    datetime is refused: its meaning would depend on the machine's clock settings.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a time zone (UTC)")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC without a zone
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    """One sync run, written when it starts and again, with its counts, when it ends."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in RUN_STATUSES)), name="status"
        ),
    )

    run_id: Mapped[str] = mapped_column(RUN_ID, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    as_of: Mapped[dt.date] = mapped_column(Date)
    data_as_of: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    config_fingerprint: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    accounting: Mapped[dict[str, dict[str, int]] | None] = mapped_column(JSON)
    # The late-payment model's backtest and gate verdict (since 0008; None: model off).
    model: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)


class Watermark(Base):
    """Where a source's stream stands: the next run pulls what changed after `cursor`."""

    __tablename__ = "watermarks"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(RUN_ID, ForeignKey("runs.run_id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SourceRecord(Base):
    """A record an incremental source pulled: with the changes of a run it makes the ledger."""

    __tablename__ = "source_records"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    location: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str] = mapped_column(RUN_ID, ForeignKey("runs.run_id"))


class WrittenValue(Base):
    """What arsync last wrote to one Account field: a different value there is a person's."""

    __tablename__ = "written_values"

    account_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    field: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    run_id: Mapped[str] = mapped_column(RUN_ID, ForeignKey("runs.run_id"))


class QuarantineRow(Base):
    """A record a run left out, with its location, the rule it broke and why."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(RUN_ID, ForeignKey("runs.run_id"), index=True)
    record_type: Mapped[str] = mapped_column(Text)
    record_id: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))


class ReconciliationRow(Base):
    """A customer whose balance a run found out of line with the ERP's own (since 0007):
    unreconciled, or missing from the ledger; amounts as exact decimal text, major units."""

    __tablename__ = "reconciliations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(RUN_ID, ForeignKey("runs.run_id"), index=True)
    customer_id: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    arsync_balance: Mapped[str] = mapped_column(Text)
    erp_balance: Mapped[str] = mapped_column(Text)
    difference: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    figure: Mapped[str] = mapped_column(Text)


class Outcome(Base):
    """What happened to one record in a run (`jobs.outcomes`): an Account, invoice record or
    Task written, failed (with the org's code), planned; an Account unmatched or held back."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(RUN_ID, ForeignKey("runs.run_id"), index=True)
    object: Mapped[str] = mapped_column(Text)  # v0009, as the three below
    key: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(Text)
    record_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    fields: Mapped[str] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)


class ScoreSnapshot(Base):
    """A customer's score on a day; the day's last completed run wins (an upsert)."""

    __tablename__ = "score_snapshots"

    snapshot_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(RUN_ID, ForeignKey("runs.run_id"))
    health_score: Mapped[int] = mapped_column(Integer)
    risk_tier: Mapped[str] = mapped_column(Text)
    open_balance: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    overdue_balance: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    segment: Mapped[str | None] = mapped_column(Text)  # since revision 0002
    # Since revision 0006: what the run read from the CRM and scored. NULL when it was not
    # read (a snapshot of before 0006, or no promise or dispute source in the mapping).
    promise_status: Mapped[str | None] = mapped_column(Text)  # none, pending, kept, broken
    promise_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    promise_date: Mapped[dt.date | None] = mapped_column(Date)
    crm_dispute_open: Mapped[bool | None] = mapped_column(Boolean)
    owner_id: Mapped[str | None] = mapped_column(String(18))  # the Account's OwnerId
    owner_name: Mapped[str | None] = mapped_column(Text)  # None when User cannot be read


class RunLock(Base):
    """Who holds the sync lock, and until when: one row per lock name.

    No foreign key to `runs`: the lock is taken before the run row exists.
    """

    __tablename__ = "run_lock"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(RUN_ID)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
