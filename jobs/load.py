"""The run's load stage: pull the ERP's records, validate them into a ledger, account for
every row read, reconcile with the ERP's balances, and settle the as-of date.

`load_ledger` is the stage `jobs.pipeline.run_sync` calls first and the one `arsync report`
and `arsync backtest` share; `pull_into` is the pull alone, which the connector tests drive.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

import structlog
from pydantic import ValidationError

from arsync.errors import FatalError
from arsync.frames import StreamCount
from arsync.ledger import Ledger, LedgerBuilder
from arsync.quarantine import Quarantine, QuarantineEntry
from arsync.records import (
    MONEY_PLACES_CONTEXT,
    CanonicalRecord,
    CreditMemo,
    Customer,
    Invoice,
    Payment,
)
from connector.erp.base import Cursors, FrameSource, Pulled, Rejected, Source
from jobs.as_of_check import as_of_warning
from jobs.exit_codes import ExitCode
from jobs.progress import Reporter, Silent
from jobs.reconciliation import BalanceCheck, check_balances
from jobs.settings import RunSettings
from jobs.sources import build_source
from jobs.state import StateStore

log = structlog.get_logger(__name__)


def pull_ledger(source: Source, currencies: frozenset[str], progress: Reporter) -> LedgerBuilder:
    """Every record the source yields, into a builder; bad ones straight to the quarantine."""
    return pull_into(source, currencies, progress).builder


@dataclass
class Pull:
    """What one pull produced: the builder, and what an incremental source leaves to keep."""

    builder: LedgerBuilder
    pulled: list[Pulled] = field(default_factory=list)
    incremental: bool = False  # only changes were pulled, on top of the kept records
    forgotten: list[tuple[str, str]] = field(default_factory=list)  # kept, now quarantined
    read: dict[str, int] = field(default_factory=dict)  # rows read per stream, by the source
    extra_quarantined: dict[str, int] = field(default_factory=dict)  # damaged rows' lines

    def accounting(self) -> dict[str, StreamCount]:
        """Every stream's rows, read by the source and placed by the builder (after build);
        a stream whose buckets do not add up to what was read is `unaccounted`."""
        placed = self.builder.accounting()
        streams = dict.fromkeys([*self.read, *placed])
        counts = {}
        for stream in streams:
            count = placed.get(stream, StreamCount())
            counts[stream] = StreamCount(
                read=self.read.get(stream, 0),
                ledger=count.ledger,
                quarantined=count.quarantined + self.extra_quarantined.get(stream, 0),
                merged=count.merged,
            )
        return counts


_RECORD_MODELS: dict[str, type[CanonicalRecord]] = {
    "customer": Customer,
    "invoice": Invoice,
    "payment": Payment,
    "credit_memo": CreditMemo,
}
RECORD_TYPES = {model: name for name, model in _RECORD_MODELS.items()}


def pull_into(
    source: Source,
    currencies: frozenset[str],
    progress: Reporter,
    since: Cursors | None = None,
    kept: list[tuple[str, dict[str, Any], str]] | None = None,
) -> Pull:
    """Pull into a builder. A columnar source hands over record frames; any other yields
    records. With `since`, the source yields only changes: they replace the kept records of
    the same type and id, and the builder gets the whole ledger all the same. Two copies of a
    record within one pull both reach the builder, whose duplicate rule judges them."""
    if isinstance(source, FrameSource):
        builder = LedgerBuilder(currencies=currencies, money_places=source.money_places())
        return _pull_frames(source, builder, progress)
    read: Counter[str] = Counter()
    kept_payloads = {
        (kind, str(payload.get("id"))): (kind, payload, location)
        for kind, payload, location in kept or []
    }
    rejects: list[QuarantineEntry] = []
    pulled: list[Pulled] = []
    forgotten: list[tuple[str, str]] = []
    for item in progress.track(
        source.pull(since), f"Reading {source.name}", **_bar(source, "records")
    ):
        if isinstance(item, QuarantineEntry):
            rejects.append(item)
            read[item.record_type] += 1
            # A changed record that is now bad must not be scored in its old, kept form.
            stale = kept_payloads.pop((item.record_type, item.record_id or ""), None)
            if stale is not None:
                forgotten.append((item.record_type, item.record_id or ""))
            continue
        pulled.append(item)
        kept_payloads.pop((RECORD_TYPES[type(item.record)], item.record.id), None)
    # The pull's money places are known once it is over; the builder keeps them.
    places = source.money_places()
    builder = LedgerBuilder(currencies=currencies, money_places=places)
    for entry in rejects:
        builder.reject(entry, entry.record_type)
    kept_records = {key: _kept(*found, places) for key, found in kept_payloads.items()}
    for item in [*kept_records.values(), *pulled]:
        builder.add(item.record, item.location, item.part_locations)
        _count_read(read, item)
    return Pull(
        builder, pulled if source.incremental else [], since is not None, forgotten, dict(read)
    )


def _kept(kind: str, payload: dict[str, Any], location: str, places: int) -> Pulled:
    """A record kept from an earlier pull, validated at this pull's money places; one with
    more places than those (its columns' declared scale was narrowed since) cannot be kept."""
    try:
        record = _RECORD_MODELS[kind].model_validate(
            payload, context={MONEY_PLACES_CONTEXT: places}
        )
    except ValidationError as error:
        raise FatalError(
            f"the {kind} {payload.get('id')!r} kept from the last run does not fit this "
            f"pull's money ({places} decimal places, from the source's money columns): "
            f"{error.errors()[0]['msg']}; run with --full to read every record again"
        ) from None
    return Pulled(record, location)


def _pull_frames(source: FrameSource, builder: LedgerBuilder, progress: Reporter) -> Pull:
    extra: Counter[str] = Counter()
    for item in progress.track(
        source.pull_frames(), f"Reading {source.name}", **_bar(source, "files")
    ):
        if isinstance(item, Rejected):
            builder.reject(item.entry, item.stream)
            extra[item.stream] += item.rows - 1
        else:
            builder.add_frame(item)
        del item  # a whole file's frame: not kept alive while the next file is read
    return Pull(builder, read=source.rows_read(), extra_quarantined=dict(extra))


class _Bar(TypedDict):
    unit: str
    total: Callable[[], int | None]
    done: Callable[[], int | None]


def _bar(source: Source, unit: str) -> _Bar:
    """A pull's progress: in the unit of the source's extent (else `unit`, one per item),
    against the total it knows, which it may learn during the pull."""
    extent = source.extent()

    def total() -> int | None:
        now = source.extent()
        return now.total if now is not None else None

    return _Bar(unit=extent.unit if extent else unit, total=total, done=source.done)


def _file_order(streams: list[str]) -> Callable[[QuarantineEntry], tuple[int, int]]:
    """Sort key of an entry located `file:line`: the file's place among `streams`, the line."""
    place = {stream: index for index, stream in enumerate(streams)}

    def key(entry: QuarantineEntry) -> tuple[int, int]:
        stream, _, line = entry.location.rpartition(":")
        return place.get(stream, len(place)), int(line) if line.isdigit() else 0

    return key


def _count_read(read: Counter[str], item: Pulled) -> None:
    """A record read, and its applications: the streams `LedgerBuilder.add` files them under."""
    kind = RECORD_TYPES[type(item.record)]
    read[kind] += 1
    if isinstance(item.record, Payment | CreditMemo):
        read[f"{kind}_application"] += len(item.record.applications)


@dataclass(frozen=True)
class LoadedLedger:
    """A pulled and validated ledger, its quarantine, and the dates it is scored for."""

    ledger: Ledger
    quarantine: Quarantine
    data_as_of: dt.datetime | None
    as_of: dt.date
    source_name: str = "files"
    cursors: dict[str, str] = field(default_factory=dict)  # capped at the run's start
    pulled: list[Pulled] = field(default_factory=list)  # an incremental source's, to keep
    incremental: bool = False
    forgotten: list[tuple[str, str]] = field(default_factory=list)  # (type, id) to drop
    accounting: dict[str, StreamCount] = field(default_factory=dict)  # rows, per stream
    as_of_warning: str | None = None  # the as-of date lies outside the data (jobs.as_of_check)
    balances: BalanceCheck = field(default_factory=BalanceCheck)  # against the ERP's own

    @property
    def exit_code(self) -> ExitCode:
        partial = self.quarantine.kept_aside() or self.balances.problems
        return ExitCode.PARTIAL if partial else ExitCode.OK


class UnaccountedRowsError(FatalError):
    """Rows read that are neither in the ledger, nor quarantined, nor merged: a fault of
    arsync's own, and a run that would write figures the ERP does not agree with."""


def check_accounting(accounting: dict[str, StreamCount]) -> None:
    """Every row read is in the ledger, the quarantine or merged into its twin; else stop."""
    wrong = {stream: count for stream, count in accounting.items() if count.unaccounted}
    if not wrong:
        return
    detail = "; ".join(
        f"{stream}: {c.read:,} read, {c.ledger:,} in the ledger + {c.quarantined:,} quarantined "
        f"+ {c.merged:,} merged"
        for stream, c in wrong.items()
    )
    raise UnaccountedRowsError(
        f"the rows read do not add up, so nothing is written: {detail}. This is a fault in "
        "arsync; please report it with the export's row counts."
    )


def load_ledger(
    settings: RunSettings,
    as_of: dt.date | None = None,
    progress: Reporter | None = None,
    today: dt.date | None = None,
    *,
    started_event: str = "sync.started",
    state: StateStore | None = None,
    full: bool = False,
    started_at: dt.datetime | None = None,
) -> LoadedLedger:
    """Pull and validate the ledger; log `started_event`, each quarantined record, the counts.

    The as-of date is, in order: the one asked for, the date the ERP data is current to, today.
    With a state store and an incremental source, only what changed since the source's
    watermarks is pulled (unless `full`), on top of the records kept from earlier runs.
    """
    progress = progress or Silent()
    started_at = started_at or dt.datetime.now(dt.UTC)
    source = build_source(settings)
    data_as_of = source.data_as_of()
    since: dict[str, str] | None = None
    kept: list[tuple[str, dict[str, Any], str]] = []
    if state is not None and source.incremental and not full:
        since = state.cursors.watermarks(source.name) or None
        kept = state.cursors.records(source.name) if since else []
    log.info(
        started_event,
        source=source.name,
        as_of=as_of.isoformat() if as_of else None,
        data_as_of=data_as_of.isoformat() if data_as_of else None,
        incremental=since is not None,
        kept_records=len(kept),
    )

    pull = pull_into(source, settings.app.currencies, progress, since, kept)
    # An API source learns how current its data is while it pulls (the server's time).
    data_as_of = data_as_of or source.data_as_of()
    as_of = as_of or (data_as_of.date() if data_as_of else today or started_at.date())
    outside = as_of_warning(as_of, pull.builder.first_issue_date(), data_as_of)
    with progress.step("Validating the ledger"):
        ledger = pull.builder.build(as_of=as_of, date_window=settings.app.ledger.dates)
    quarantine = pull.builder.quarantine
    if isinstance(source, FrameSource):  # in the order of the files and their lines
        quarantine.sort(key=_file_order(list(pull.read)))
    accounting = pull.accounting()
    for entry in quarantine:
        log.warning(
            "ledger.record_quarantined",
            record_type=entry.record_type,
            record_id=entry.record_id,
            location=entry.location,
            rule=entry.rule,
            reason=entry.reason,
            action=entry.action.value,
        )
    log.info(
        "ledger.built",
        as_of=as_of.isoformat(),
        data_as_of=data_as_of.isoformat() if data_as_of else None,
        **ledger.counts(),
        quarantined=len(quarantine),
        pulled=len(pull.pulled) if source.incremental else None,
    )
    log.info(
        "ledger.accounted",
        streams={stream: count.as_dict() for stream, count in accounting.items()},
        read=sum(c.read for c in accounting.values()),
        unaccounted=sum(c.unaccounted for c in accounting.values()),
    )
    check_accounting(accounting)
    with progress.step("Reconciling with the ERP"):
        balances = check_balances(source, ledger, as_of, data_as_of, settings.app.reconciliation)
    if outside is not None:
        log.warning("ledger.as_of_outside_data", as_of=as_of.isoformat(), reason=outside)
    cursors = {
        stream: cap_cursor(cursor, started_at) for stream, cursor in source.cursors().items()
    }
    return LoadedLedger(
        ledger,
        quarantine,
        data_as_of,
        as_of,
        source.name,
        cursors,
        pull.pulled,
        pull.incremental,
        pull.forgotten,
        accounting,
        outside,
        balances,
    )


def cap_cursor(cursor: str, started_at: dt.datetime) -> str:
    """A cursor no later than the run's start: a change stamped in the future (a clock ahead
    of ours) must not make the next run skip what happens until then."""
    try:
        moment = dt.datetime.fromisoformat(cursor)
    except ValueError:
        return cursor
    limit = started_at if moment.tzinfo else started_at.astimezone(dt.UTC).replace(tzinfo=None)
    if moment <= limit:
        return cursor
    # Written as the source wrote it: text cursors compare as text (SQLite stores a space).
    return limit.isoformat(sep=" " if " " in cursor else "T")
