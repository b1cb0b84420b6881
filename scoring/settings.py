"""Schema of `config/scoring.yaml`: the knobs finance tunes without touching code."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


class ScoringSettings(_Strict):
    aging_buckets: tuple[AgingBucket, ...] = DEFAULT_BUCKETS

    @model_validator(mode="after")
    def _buckets_cover_every_day(self) -> ScoringSettings:
        buckets = self.aging_buckets
        if len(buckets) < 2:
            raise ValueError("aging_buckets needs a 'current' bucket and at least one overdue one")
        if buckets[0].max_days_overdue != 0:
            raise ValueError("the first aging bucket must be the current one (max_days_overdue: 0)")
        if buckets[-1].max_days_overdue is not None:
            raise ValueError("the last aging bucket must be open-ended (max_days_overdue: null)")
        bounds = [b.max_days_overdue for b in buckets[:-1]]
        closed = [b for b in bounds if b is not None]
        if len(closed) != len(bounds) or closed != sorted(set(closed)):
            raise ValueError("aging bucket bounds must rise strictly, with only the last open")
        keys = [b.key for b in buckets]
        if len(set(keys)) != len(keys):
            raise ValueError("aging bucket keys must be unique")
        return self
