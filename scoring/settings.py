"""Schema of `config/scoring.yaml`: the knobs finance tunes without touching code."""

from __future__ import annotations

import difflib
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

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


class FlagSettings(_Strict):
    """When a fact about a customer is worth a flag (each flag comes with its reason text)."""

    deterioration_prior_max_days_late: float = Field(
        default=5, description="punctual before: average days beyond terms at most this"
    )
    deterioration_recent_min_days_late: float = Field(
        default=15, description="late now: average days beyond terms (recent window) at least this"
    )
    deterioration_min_paid_invoices: int = Field(
        default=2, ge=1, description="paid invoices needed in each window to judge"
    )
    anomaly_robust_z: float = Field(
        default=5, gt=0, description="|amount - median| / (1.4826 * MAD) above this is unusual"
    )
    anomaly_min_invoices: int = Field(default=6, ge=3, description="history needed to judge")
    lingering_days_overdue: int = Field(
        default=90, ge=1, description="an open invoice this many days past due lingers"
    )


class HealthWeights(_Strict):
    """Points each component can take off the score of 100, in proportion to the weights."""

    lateness: float = Field(default=30, ge=0)
    overdue: float = Field(default=25, ge=0)
    aged_debt: float = Field(default=15, ge=0)
    trend: float = Field(default=10, ge=0)
    missed_due_dates: float = Field(default=10, ge=0)
    credit: float = Field(default=5, ge=0)
    disputes: float = Field(default=5, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> HealthWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one weight must be above 0")
        return self


RISK_TIERS = ("low", "medium", "high", "critical")


class RiskTiers(_Strict):
    """A score at or above a threshold gets that tier; below `high`, the tier is critical."""

    low: int = Field(default=75, ge=0, le=100)
    medium: int = Field(default=55, ge=0, le=100)
    high: int = Field(default=35, ge=0, le=100)

    @model_validator(mode="after")
    def _falling(self) -> RiskTiers:
        if not self.low > self.medium > self.high:
            raise ValueError("thresholds must fall: low > medium > high")
        return self


class HealthSettings(_Strict):
    weights: HealthWeights = HealthWeights()
    lateness_full_days: float = Field(
        default=60, gt=0, description="average days beyond terms that costs the whole weight"
    )
    trend_full_days: float = Field(
        default=30, gt=0, description="days of slipping (recent vs before) that cost it all"
    )
    aged_days_overdue: int = Field(
        default=90, ge=1, description="open money this many days past due is aged debt"
    )
    credit_warning_share: float = Field(
        default=0.8, ge=0, lt=1, description="credit used from which the credit component starts"
    )
    min_paid_invoices: int = Field(
        default=3, ge=0, description="fewer paid invoices in the long window: a new customer"
    )
    neutral_penalty: float = Field(
        default=0.3, ge=0, le=1, description="share of a history component a new customer loses"
    )
    past_disputes: bool = Field(
        default=True,
        description="the disputes component also weighs the share of the last year's invoices "
        "that were disputed, not only the open balance in dispute",
    )
    tiers: RiskTiers = RiskTiers()


Scalar = str | int | float | bool | None
Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"]
Condition = Scalar | list[Scalar] | dict[Operator, Scalar | list[Scalar]]


class _Rule(_Strict):
    _columns_context: ClassVar[str]
    when: dict[str, Condition] = Field(
        default_factory=dict,
        description="column -> value, list of values, or {gt: 5}; all must hold; empty: always",
    )

    @field_validator("when")
    @classmethod
    def _known_columns(
        cls, when: dict[str, Condition], info: ValidationInfo
    ) -> dict[str, Condition]:
        context = info.context or {}
        known: list[str] | None = context.get(cls._columns_context)
        kinds: dict[str, str] = context.get("column_kinds", {})
        for column, condition in when.items():
            if known is not None and column not in known:
                hint = difflib.get_close_matches(column, known, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise LocatedError(
                    f"unknown column {column!r}{suggestion}; expected one of: {', '.join(known)}",
                    column,
                )
            if isinstance(condition, dict):
                for operator, value in condition.items():
                    _check_ordering(column, operator, value, kinds.get(column))
        return when


_ORDERING = frozenset({"gt", "gte", "lt", "lte"})
_NUMERIC_KINDS = frozenset({"money", "number", "integer"})


def _check_ordering(column: str, operator: str, value: object, kind: str | None) -> None:
    """gt/gte/lt/lte compare with one value, of the column's own kind."""
    if operator not in _ORDERING:
        return
    if value is None or isinstance(value, list | bool):
        raise LocatedError(
            f"{column}: {operator} needs a single number or date, not {value!r}", column, operator
        )
    if kind in _NUMERIC_KINDS and isinstance(value, str):
        raise LocatedError(
            f"{column} holds numbers, but {operator} compares it with the text {value!r} "
            "(write 1000, not 1,000)",
            column,
            operator,
        )


def condition_values(condition: Condition) -> list[Scalar]:
    """The values a condition compares with by equality (for checking they can occur)."""
    if isinstance(condition, list):
        return list(condition)
    if isinstance(condition, dict):
        found: list[Scalar] = []
        for operator, value in condition.items():
            if operator in {"eq", "ne", "in", "not_in"}:
                found += value if isinstance(value, list) else [value]
        return found
    return [condition]


class SegmentRule(_Rule):
    _columns_context: ClassVar[str] = "segment_columns"
    segment: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]


class Stage(_Strict):
    """A collections stage: where the oldest open invoice stands."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
    max_days_overdue: int | None


class Action(StrEnum):
    NONE = "none"
    PRE_DUE_REMINDER = "pre_due_reminder"
    DUNNING_1 = "dunning_1"
    DUNNING_2 = "dunning_2"
    DUNNING_3 = "dunning_3"
    CALL_AP_CONTACT = "call_ap_contact"
    ESCALATE_TO_OWNER = "escalate_to_owner"
    CREDIT_HOLD = "credit_hold"
    PAYMENT_PLAN = "offer_payment_plan"
    RESOLVE_DISPUTE = "resolve_dispute"
    AWAIT_PROMISE = "await_promise"


class PlaybookRule(_Rule):
    _columns_context: ClassVar[str] = "playbook_columns"
    action: Action
    days: int = Field(default=0, description="the action is due this many days after `from`")
    from_: Literal["as_of", "next_due"] = Field(
        default="as_of",
        alias="from",
        description="as_of: the scoring date; next_due: the next due date less the lead time",
    )


class ReminderLead(_Strict):
    """Days before a due date to send a pre-due reminder: earlier for slow channels."""

    default: int = Field(default=3, ge=0)
    paper_invoice: int = Field(default=10, ge=0)
    check_payer: int = Field(default=7, ge=0)


class PrioritySettings(_Strict):
    bucket_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "d1_30": 0.25,
            "d31_60": 0.5,
            "d61_90": 0.75,
            "d91_120": 1.0,
            "over_120": 1.0,
        },
        description="aging bucket key -> share of its money counted at risk",
    )
    tier_multipliers: dict[str, float] = Field(
        default_factory=lambda: {"low": 0.5, "medium": 1.0, "high": 1.5, "critical": 2.0}
    )


class PromiseSettings(_Strict):
    """How a promise to pay recorded in the CRM is judged (docs/scoring.md, "Promises")."""

    grace_days: int = Field(
        default=3, ge=0, description="days after the promised date for the cash to post"
    )
    lookback_days: int = Field(
        default=30,
        ge=0,
        description="without the date the promise was given, payments from this many days "
        "before the promised date count towards it",
    )
    kept_share: float = Field(
        default=0.95, gt=0, le=1, description="share of the promised amount that keeps it"
    )
    broken_points: float = Field(
        default=15, ge=0, le=100, description="points a broken promise takes off the score"
    )
    broken_tier_steps: int = Field(
        default=1, ge=0, le=3, description="risk tiers a broken promise adds, at least"
    )
    hold_action: bool = Field(
        default=True,
        description="a pending promise holds the next action until its date (plus grace)",
    )


DEFAULT_STAGES = (
    Stage(name="pre_due", max_days_overdue=0),
    Stage(name="dunning_1", max_days_overdue=15),
    Stage(name="dunning_2", max_days_overdue=30),
    Stage(name="dunning_3", max_days_overdue=60),
    Stage(name="escalation", max_days_overdue=90),
    Stage(name="final", max_days_overdue=None),
)


def _segment(name: str, **when: Condition) -> SegmentRule:
    return SegmentRule(segment=name, when=when)


DEFAULT_SEGMENTS = (
    _segment("new", is_new=True),
    _segment("disputing", disputed_balance={"gt": 0}),
    _segment("disputing", crm_dispute_open=True),
    _segment("high_exposure", credit_utilisation={"gte": 1}),
    _segment("high_exposure", open_balance={"gte": 250_000}),
    _segment("deteriorating", flag_deteriorating=True),
    _segment("chronic_late", days_late_p75_12m={"gt": 15}),
    _segment("slow_but_steady", days_late_p75_12m={"gt": 3}),
    _segment("slow_but_steady", on_time_share_12m={"lt": 0.8}),
    _segment("prompt"),
)


def _play(action: Action, days: int = 0, start: str = "as_of", **when: Condition) -> PlaybookRule:
    return PlaybookRule.model_validate(
        {"action": action, "days": days, "from": start, "when": when}
    )


DEFAULT_PLAYBOOK = (
    _play(Action.NONE, collection_stage="none"),
    _play(Action.RESOLVE_DISPUTE, disputed_balance={"gt": 0}),
    _play(Action.RESOLVE_DISPUTE, crm_dispute_open=True),
    _play(Action.CREDIT_HOLD, collection_stage="final", risk_tier=["high", "critical"]),
    _play(Action.ESCALATE_TO_OWNER, collection_stage="final"),
    _play(Action.PAYMENT_PLAN, collection_stage="escalation", segment="chronic_late"),
    _play(Action.ESCALATE_TO_OWNER, 1, collection_stage="escalation"),
    _play(Action.CALL_AP_CONTACT, 1, collection_stage="dunning_3"),
    _play(Action.DUNNING_2, collection_stage="dunning_2"),
    _play(Action.DUNNING_1, 5, collection_stage="dunning_1", segment="prompt"),
    _play(Action.DUNNING_1, collection_stage="dunning_1"),
    _play(Action.NONE, collection_stage="pre_due", segment="prompt"),
    _play(Action.PRE_DUE_REMINDER, 0, "next_due", collection_stage="pre_due"),
    _play(Action.NONE),
)


class ModelSettings(_Strict):
    """The late-payment model: its tiers and the quality gate it must pass, out of time on
    the tenant's own history, before its probability may stand in for the rule score."""

    enabled: bool = Field(
        default=True,
        description="backtest and gate the model on every run; false: the rule score only",
    )
    bands: tuple[float, float, float] = Field(
        default=(0.05, 0.55, 0.7),
        description="upper probability edges of the low, medium and high tiers (critical above)",
    )
    origins: int = Field(default=6, ge=1, le=36, description="monthly origins the backtest tests")
    min_examples: int = Field(
        default=200, ge=1, description="out-of-time invoices below which the gate says no"
    )
    auc_margin: float = Field(
        default=0.01, ge=0, le=0.5, description="AUC the model must beat the baseline's by"
    )
    max_ece: float = Field(
        default=0.05, gt=0, le=1, description="the calibration error the model may have at most"
    )
    max_training_rows: int = Field(
        default=100_000,
        ge=100,
        description="examples a fit trains on at most, sampled evenly (time and memory)",
    )

    @model_validator(mode="after")
    def _rising_bands(self) -> ModelSettings:
        low, medium, high = self.bands
        if not 0 < low < medium < high < 1:
            raise ValueError(f"bands must rise strictly between 0 and 1 (got {list(self.bands)})")
        return self


class ScoringSettings(_Strict):
    aging_buckets: tuple[AgingBucket, ...] = DEFAULT_BUCKETS
    behaviour: BehaviourSettings = BehaviourSettings()
    kpis: KpiSettings = KpiSettings()
    flags: FlagSettings = FlagSettings()
    health: HealthSettings = HealthSettings()
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    segments: tuple[SegmentRule, ...] = DEFAULT_SEGMENTS
    reminder_lead_days: ReminderLead = ReminderLead()
    playbook: tuple[PlaybookRule, ...] = DEFAULT_PLAYBOOK
    priority: PrioritySettings = PrioritySettings()
    promises: PromiseSettings = PromiseSettings()
    model: ModelSettings = ModelSettings()

    def _check_rule_values(self) -> None:
        """A misspelt segment, stage or tier in a rule would silently never match."""
        known = _known_values(self)
        for section, rules in (("segments", self.segments), ("playbook", self.playbook)):
            for index, rule in enumerate(rules):
                for column, condition in rule.when.items():
                    allowed = known.get(column)
                    if allowed is None:
                        continue
                    for value in condition_values(condition):
                        if value is not None and str(value) not in allowed:
                            raise LocatedError(
                                f"{column} is never {value!r}; expected one of: "
                                f"{', '.join(sorted(allowed))}",
                                section,
                                index,
                                "when",
                                column,
                            )

    @model_validator(mode="after")
    def _consistent(self) -> ScoringSettings:
        buckets = self.aging_buckets
        if buckets[0].max_days_overdue != 0:
            raise LocatedError(
                "the first bucket must be the current one (max_days_overdue: 0)",
                "aging_buckets",
                0,
                "max_days_overdue",
            )
        _check_rising([b.max_days_overdue for b in buckets], "aging_buckets")
        _check_unique([b.key for b in buckets], "aging_buckets", "key")
        _check_rising([s.max_days_overdue for s in self.stages], "stages")
        _check_unique([s.name for s in self.stages], "stages", "name")
        for section, rules in (("segments", self.segments), ("playbook", self.playbook)):
            if rules[-1].when:
                raise LocatedError(
                    "the last rule must have no `when`, so that every customer gets one",
                    section,
                    len(rules) - 1,
                    "when",
                )
        self._check_rule_values()
        for tier in self.priority.tier_multipliers:
            if tier not in RISK_TIERS:
                raise LocatedError(
                    f"unknown risk tier {tier!r}; expected one of: {', '.join(RISK_TIERS)}",
                    "priority",
                    "tier_multipliers",
                    tier,
                )
        keys = {b.key for b in buckets}
        for key in self.priority.bucket_weights:
            if key not in keys:
                raise LocatedError(
                    f"unknown aging bucket {key!r}; expected one of: {', '.join(keys)}",
                    "priority",
                    "bucket_weights",
                    key,
                )
        return self


def _known_values(settings: ScoringSettings) -> dict[str, set[str]]:
    return {
        "segment": {rule.segment for rule in settings.segments},
        "collection_stage": {stage.name for stage in settings.stages} | {"none"},
        "risk_tier": set(RISK_TIERS),
    }


def _check_rising(bounds: list[int | None], section: str) -> None:
    """Upper bounds that rise strictly, with only the last one open-ended (null)."""
    if len(bounds) < 2:
        raise LocatedError("needs at least two entries", section)
    last = len(bounds) - 1
    if bounds[last] is not None:
        raise LocatedError(
            "the last entry must be open-ended (max_days_overdue: null)",
            section,
            last,
            "max_days_overdue",
        )
    for index in range(1, last):
        bound, previous = bounds[index], bounds[index - 1]
        if bound is None or previous is None or bound <= previous:
            raise LocatedError(
                f"bounds must rise strictly: expected a number above the previous entry's "
                f"{previous}; only the last entry is open-ended",
                section,
                index,
                "max_days_overdue",
            )


def _check_unique(names: list[str], section: str, key: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise LocatedError(f"duplicate {key} {name!r}", section, index, key)
        seen.add(name)
