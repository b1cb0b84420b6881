"""The schema of the `schedule:` and `metrics:` sections of `config/arsync.yaml`.

They are checked when the file is loaded, so that a worker with a cron expression it cannot read
or a time zone it does not know stops at once with the file, line and key, instead of failing at
two in the morning. This module imports nothing of ours: `jobs/settings.py` imports it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator

CRON_FIELDS = "minute hour day-of-month month day-of-week"
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Cron numbers the days of the week from Sunday (0, and 7 again); APScheduler 3 from Monday.
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class _Section(BaseModel):
    """Unknown keys are errors: a misspelt key must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSettings(_Section):
    """When `arsync worker` runs: a five-field cron expression read in an IANA time zone."""

    cron: str = Field(
        default="0 2 * * *",
        description=f"{CRON_FIELDS}, as in crontab (0 or 7 is Sunday); or @daily, @hourly, ...",
    )
    timezone: str = Field(default="UTC", description="IANA time zone name, e.g. Europe/Berlin")
    misfire_grace_minutes: int = Field(
        default=60, ge=1, description="a run that could not start this late is skipped"
    )
    jitter_seconds: int = Field(
        default=0, ge=0, description="start up to this many seconds after the cron time"
    )
    full_pull_every_days: int = Field(
        default=7,
        description="a scheduled run reads everything again (and so sees the records deleted "
        "in the ERP) when the last full pull is this many days old; 0 turns it off",
    )

    @field_validator("cron")
    @classmethod
    def _cron_is_readable(cls, value: str) -> str:
        trigger = cron_trigger(value, dt.UTC)  # raises ValueError naming what is wrong
        if trigger.get_next_fire_time(None, dt.datetime.now(dt.UTC)) is None:
            raise ValueError(f"cron {value!r} never fires: no date matches it")
        return value

    @field_validator("full_pull_every_days", mode="before")
    @classmethod
    def _days_are_whole_and_not_negative(cls, value: object) -> object:
        # Before pydantic's own check, which would take `true` for 1 and say nothing of `null`.
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            shown = "null" if value is None else repr(value)
            raise ValueError(
                f"full_pull_every_days {shown}: expected a whole number of days, at least 0 "
                "(7: a full pull every week; 0: never, only `arsync run --full` by hand)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        zone_info(value)
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zone_info(self.timezone)

    def trigger(self) -> CronTrigger:
        """The APScheduler trigger that fires at the cron times in the configured zone."""
        return cron_trigger(self.cron, self.zone, jitter_seconds=self.jitter_seconds)


class MetricsSettings(_Section):
    """The operators' HTTP endpoint: /healthz and Prometheus /metrics. Off unless enabled."""

    enabled: bool = False
    host: str = Field(
        default="127.0.0.1", description="address to listen on; 0.0.0.0 inside a container"
    )
    port: int = Field(default=9108, ge=0, le=65535, description="0 picks a free port")
    max_age_hours: float = Field(
        default=26,
        gt=0,
        description="/healthz answers 503 when the last good run is older than this; "
        "longer than the time between two scheduled runs",
    )


def zone_info(name: str) -> zoneinfo.ZoneInfo:
    """The named IANA zone, or a ValueError saying what was expected."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name such as UTC, Europe/Berlin "
            "or America/New_York"
        ) from None


def crontab_fields(expression: str) -> dict[str, str]:
    """A crontab expression as APScheduler 3 CronTrigger arguments, or a ValueError.

    Like `CronTrigger.from_crontab`, with two differences that matter to an operator: days of
    the week are numbered as cron numbers them (0 and 7 are Sunday; APScheduler 3 counts from
    Monday, so `1-5` would otherwise mean Tuesday to Saturday), and restricting both the day of
    the month and the day of the week is refused, because cron runs on either day while
    APScheduler would run only on days that match both.
    """
    text = CRON_MACROS.get(expression.strip().lower(), expression)
    values = text.split()
    if len(values) != 5:
        raise ValueError(
            f"cron {expression!r} has {len(values)} fields; expected 5: {CRON_FIELDS} "
            "(e.g. '0 2 * * *' for 02:00 every day)"
        )
    minute, hour, day, month, day_of_week = values
    try:
        fields = {
            "minute": minute,
            "hour": hour,
            "day": day,
            "month": month,
            "day_of_week": _day_of_week(day_of_week),
        }
        CronTrigger(**fields, timezone=dt.UTC)
    except ValueError as error:
        raise ValueError(
            f"cron {expression!r} is not valid: {error}; the 5 fields are {CRON_FIELDS} "
            "(e.g. '0 2 * * *' for 02:00 every day, '30 6 * * 1-5' for 06:30 on weekdays)"
        ) from None
    if day != "*" and day_of_week != "*":
        raise ValueError(
            f"cron {expression!r} restricts both the day of the month and the day of the week; "
            "restrict one of them (cron runs on either day, this scheduler only on days matching "
            "both)"
        )
    return fields


def cron_trigger(expression: str, zone: dt.tzinfo, *, jitter_seconds: int = 0) -> CronTrigger:
    """The trigger for a crontab expression (see `crontab_fields`), in `zone`."""
    return CronTrigger(**crontab_fields(expression), timezone=zone, jitter=jitter_seconds or None)


def _day_of_week(field: str) -> str:
    """Cron's day-of-week field as weekday names, which APScheduler 3 reads as cron means them."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        spec, slash, step_text = part.partition("/")
        if slash and not step_text.isdigit():
            raise ValueError(f"day of week {part!r}: the step must be a whole number")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"day of week {part!r}: the step must be at least 1")
        if spec == "*":
            first, last = 0, 6
        elif "-" in spec:
            start, _, end = spec.partition("-")
            first, last = _day_number(start), _day_number(end, end_of_range=True)
        else:
            first = _day_number(spec)
            last = 6 if slash else first
        if first > last:
            raise ValueError(f"day of week {part!r}: the range runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    # Monday first, Sunday last: the order APScheduler 3 numbers them in.
    return ",".join(_CRON_DAYS[day] for day in sorted(days, key=lambda day: (day + 6) % 7))


def _day_number(text: str, *, end_of_range: bool = False) -> int:
    name = text.strip().lower()
    if name.isdigit() and int(name) <= 7:
        return int(name)
    if name in _CRON_DAYS:
        number = _CRON_DAYS.index(name)
        return 7 if end_of_range and number == 0 else number  # mon-sun: Sunday closes the week
    raise ValueError(f"day of week {text!r}: expected 0-7 (0 and 7 are Sunday) or sun..sat")
