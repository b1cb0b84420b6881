"""Schema of `config/scoring.yaml`: the knobs finance tunes without touching code."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from arsync.located import LocatedError

BucketKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgingBucket(_Strict):
    """Open money whose days past due are at most `max_days_overdue` (and above the last one)."""

    key: BucketKey
    label: str
    max_days_overdue: int | None = Field(
        description="inclusive upper bound of days past due; empty for the last, open bucket"
    )


DEFAULT_BUCKETS = (
    AgingBucket(key="current", label="Current", max_days_overdue=0),
    AgingBucket(key="d1_30", label="1-30 days overdue", max_days_overdue=30),
    AgingBucket(key="d31_60", label="31-60 days overdue", max_days_overdue=60),
    AgingBucket(key="d61_90", label="61-90 days overdue", max_days_overdue=90),
    AgingBucket(key="d91_120", label="91-120 days overdue", max_days_overdue=120),
    AgingBucket(key="over_120", label="Over 120 days overdue", max_days_overdue=None),
)


class BehaviourSettings(_Strict):
    """Windows over which payment behaviour is measured, by the date an invoice was paid."""

    long_window_days: int = Field(default=365, gt=0, description="the 'last 12 months' window")
    short_window_days: int = Field(default=90, gt=0, description="the recent window")
    on_time_grace_days: int = Field(
        default=0, ge=0, description="paid this many days after the due date still counts on time"
    )

    @model_validator(mode="after")
    def _short_inside_long(self) -> BehaviourSettings:
        if self.short_window_days >= self.long_window_days:
            raise ValueError("short_window_days must be shorter than long_window_days")
        return self


class KpiSettings(_Strict):
    dso_period_days: int = Field(default=90, gt=0, description="sales period of DSO and ADD")
    cei_period_days: int = Field(default=90, gt=0, description="period of the CEI")
    countback_months: int = Field(
        default=24, gt=0, description="months of sales the countback DSO may walk back through"
    )


class ScoringSettings(_Strict):
    aging_buckets: tuple[AgingBucket, ...] = DEFAULT_BUCKETS
    behaviour: BehaviourSettings = BehaviourSettings()
    kpis: KpiSettings = KpiSettings()

    @model_validator(mode="after")
    def _buckets_cover_every_day(self) -> ScoringSettings:
        buckets = self.aging_buckets
        if len(buckets) < 2:
            raise LocatedError(
                "needs a 'current' bucket and at least one overdue one", "aging_buckets"
            )
        if buckets[0].max_days_overdue != 0:
            raise LocatedError(
                "the first bucket must be the current one (max_days_overdue: 0)",
                "aging_buckets",
                0,
                "max_days_overdue",
            )
        last = len(buckets) - 1
        if buckets[last].max_days_overdue is not None:
            raise LocatedError(
                "the last bucket must be open-ended (max_days_overdue: null)",
                "aging_buckets",
                last,
                "max_days_overdue",
            )
        for index in range(1, last):
            bound, previous = buckets[index].max_days_overdue, buckets[index - 1].max_days_overdue
            if bound is None or previous is None or bound <= previous:
                raise LocatedError(
                    f"bounds must rise strictly: expected a number above the previous bucket's "
                    f"{previous}; only the last bucket is open-ended",
                    "aging_buckets",
                    index,
                    "max_days_overdue",
                )
        seen: set[str] = set()
        for index, bucket in enumerate(buckets):
            if bucket.key in seen:
                raise LocatedError(
                    f"duplicate bucket key {bucket.key!r}", "aging_buckets", index, "key"
                )
            seen.add(bucket.key)
        return self
