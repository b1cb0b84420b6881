"""The circuit breaker: a run whose figures look like a broken export stops before it writes.

A file with many of its rows quarantined, or a portfolio whose open balance jumps between two
runs, is far more often a changed export format, a cut-off file or a wrong mapping than a real
change; written to Salesforce, it would put wrong figures in front of every rep. So before any
write the run checks the limits of `safety:` in arsync.yaml. Past one, a real run stops (exit 3)
unless the operator says the change is meant (`--accept-large-change`); a dry run plans and
warns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import pandas as pd
import structlog

from arsync.errors import FatalError
from arsync.frames import StreamCount
from arsync.money import exponent
from jobs.settings import SafetySettings
from jobs.state import StateStore

log = structlog.get_logger(__name__)

PORTFOLIO_OPEN = "portfolio_open_minor"  # the run count a later run compares its balance with
QUARANTINED_SHARE = "quarantined_share"
OPEN_BALANCE_CHANGE = "open_balance_change"


@dataclass(frozen=True)
class Trip:
    """One limit passed: which check, on what, and the figures, for the message and the log."""

    cause: str  # QUARANTINED_SHARE or OPEN_BALANCE_CHANGE
    subject: str  # the stream ("invoices.csv"), or "portfolio"
    share: float  # what was observed: the share quarantined, or the balance's relative move
    limit: float
    message: str  # one sentence naming the cause and the figures
    figures: dict[str, int | float | str | None] = field(default_factory=dict)


class LargeChangeError(FatalError):
    """The circuit breaker tripped on a real run: nothing was written to Salesforce."""

    def __init__(self, trips: list[Trip]) -> None:
        self.trips = trips
        causes = "; ".join(trip.message for trip in trips)
        super().__init__(
            f"the circuit breaker tripped, so nothing was written to Salesforce: {causes}. "
            "`arsync plan` shows the plan and the quarantine; if the change is real, rerun with "
            "--accept-large-change"
        )


def check_breaker(
    accounting: Mapping[str, StreamCount],
    open_now_minor: int,
    open_before_minor: int | None,
    settings: SafetySettings,
    *,
    currency: str = "USD",
    before_run: str | None = None,
) -> list[Trip]:
    """Every limit this run passes: per stream, the share of its rows quarantined; for the
    portfolio, the open balance's move against the last completed run that wrote (None: there
    is none, or it predates the figure, and so no balance check). At a limit is within it."""
    trips: list[Trip] = []
    limit = settings.max_quarantined_share
    for stream, count in accounting.items():
        if limit is None:
            break
        read = count.read or count.ledger + count.quarantined + count.merged
        if read == 0 or Fraction(count.quarantined, read) <= Fraction(str(limit)):
            continue
        share = count.quarantined / read
        trips.append(
            Trip(
                QUARANTINED_SHARE,
                stream,
                share,
                limit,
                f"{stream}: {count.quarantined:,} of {read:,} rows quarantined "
                f"({_percent(share, limit)}, more than the {_limit(limit)} of "
                "safety.max_quarantined_share)",
                {"rows_read": read, "rows_quarantined": count.quarantined},
            )
        )
    change_limit = settings.max_open_balance_change
    if change_limit is not None and open_before_minor is not None:
        trip = _balance_trip(open_now_minor, open_before_minor, change_limit, currency, before_run)
        if trip is not None:
            trips.append(trip)
    return trips


def _balance_trip(
    now: int, before: int, limit: float, currency: str, before_run: str | None
) -> Trip | None:
    moved = abs(now - before)
    if moved == 0 or (before != 0 and Fraction(moved, abs(before)) <= Fraction(str(limit))):
        return None
    share = (now - before) / abs(before) if before else float("inf")
    places = exponent(currency)
    since = f" since run {before_run}" if before_run else ""
    change = _percent(share, limit, sign="+") if before else "from nothing"
    return Trip(
        OPEN_BALANCE_CHANGE,
        "portfolio",
        share,
        limit,
        f"the portfolio's open balance moved from {before / 10**places:,.{places}f} to "
        f"{now / 10**places:,.{places}f} {currency} ({change}){since}, more than the "
        f"{_limit(limit)} of safety.max_open_balance_change",
        {
            "open_balance_before_minor": before,
            "open_balance_now_minor": now,
            "currency": currency,
            "before_run": before_run,
        },
    )


def _percent(share: float, limit: float, sign: str = "") -> str:
    """A share with one decimal, or as many more as it takes not to read as the limit."""
    for places in range(1, 5):
        text = f"{share:{sign}.{places}%}"
        if f"{abs(share):.{places}%}" != f"{limit:.{places}%}":
            break
    return text


def _limit(limit: float) -> str:
    return f"{limit * 100:.6g}%"  # 0.05 -> "5%", 0.125 -> "12.5%"


def written_balance(state: StateStore | None) -> tuple[int | None, str | None]:
    """The portfolio open balance of the last completed run that wrote to Salesforce, and that
    run's id: the figures the CRM shows now. (None, None) without one, or when it predates
    the figure."""
    last = state.runs.last_success() if state is not None else None
    if last is None or PORTFOLIO_OPEN not in last.counts:
        return None, None
    return last.counts[PORTFOLIO_OPEN], last.run_id


def enforce(trips: list[Trip], *, dry_run: bool, accepted: bool) -> None:
    """Log each trip; stop a real run that did not accept them, before it writes anything."""
    for trip in trips:
        log.warning(
            "safety.tripped",
            cause=trip.cause,
            subject=trip.subject,
            share=round(trip.share, 6) if math.isfinite(trip.share) else None,  # JSON has no inf
            limit=trip.limit,
            dry_run=dry_run,
            accepted=accepted,
            message=trip.message,
            **trip.figures,
        )
    if trips and not dry_run and not accepted:
        raise LargeChangeError(trips)


def portfolio_open_minor(scores: pd.DataFrame, currency: str) -> int:
    """Every customer's open balance summed, in whole minor units of the reporting currency
    (the scores hold major units, rounded to the currency's places): exact, and comparable
    between runs as an integer."""
    if scores.empty:
        return 0
    major = scores["open_balance"].astype("float64").fillna(0.0)
    return int((major * 10 ** exponent(currency)).round().sum())
