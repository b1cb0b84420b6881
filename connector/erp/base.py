"""The shared base of every ERP source: a few declared attributes and one `pull` method."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import partial
from itertools import chain
from typing import Any, ClassVar, TypeVar

import structlog
from pydantic import ValidationError

from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.errors import FatalError, SkippableError
from arsync.frames import RecordFrame
from arsync.money import DEFAULT_MONEY_PLACES
from arsync.quarantine import QuarantineEntry
from arsync.records import CanonicalRecord, CreditMemo, Customer, Invoice, Payment
from connector.erp.paging import NextLink, Offset, P, Page, PageNumber, Paginator, pages
from connector.erp.validation import money, rejected, text


@dataclass(frozen=True, slots=True)
class Pulled:
    """A record and where it came from; `part_locations` align with its applications."""

    record: CanonicalRecord
    location: str
    part_locations: tuple[str, ...] = ()


PulledItem = Pulled | QuarantineEntry


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row a columnar source could not read, the stream it was read from, and how many rows
    it stands for (a CSV row that swallowed lines through an unbalanced quote stands for one
    per line), for the row accounting."""

    entry: QuarantineEntry
    stream: str
    rows: int = 1


log = structlog.get_logger(__name__)
Cursors = Mapping[str, str]  # stream name -> where the next incremental pull starts
T = TypeVar("T")
E = TypeVar("E")  # one entity, row or object as a source reads it


def keep_freshest(kept: dict[str, T], key: str, copy: T, older: Callable[[T, T], bool]) -> None:
    """Keep `copy` under `key` unless the copy already kept is newer (`older(copy, kept)`): of
    two reads of one record (the changed ones and the open ones) the later stamp wins, and on
    a tie the later read."""
    before = kept.get(key)
    if before is None or not older(copy, before):
        kept[key] = copy


def last_at_end(items: Iterator[PulledItem]) -> Iterator[PulledItem]:
    """The items, the last one held back until the pull is over: a progress bar looks after
    each item, so its last look then sees every count final, records read after the last item
    (a skipped record, a zero credit memo, a supplier held back) included."""
    held: list[PulledItem] = []
    for item in items:
        yield from held
        held = [item]
    yield from held


@dataclass(frozen=True, slots=True)
class Extent:
    """How much the next pull reads, known before it starts: a progress bar's total."""

    total: int
    unit: str  # "bytes" (files), "records" or "pages" (APIs)


class Source(ABC):
    """Yields canonical records, or quarantine entries for what it could not read.

    A source checks only what one record can tell; the ledger-wide rules are applied to every
    source alike by `arsync.ledger.LedgerBuilder`.
    """

    name: ClassVar[str]
    incremental: ClassVar[bool] = False  # can pull only what changed since a cursor

    @abstractmethod
    def pull(self, since: Cursors | None = None) -> Iterator[PulledItem]:
        """Every record of the ledger, in any order; with `since`, an incremental source
        yields only the records of each stream changed after that stream's cursor."""

    def extent(self) -> Extent | None:
        """How much this pull reads, as far as the source knows it now: a progress bar's
        total. Asked before the pull and after each item, so it must be cheap: the files'
        sizes, or an API's record counts as each stream reports its own. None: unknown."""
        return None

    def done(self) -> int | None:
        """During a pull, how much of `extent()` is read; None: one per item yielded."""
        return None

    def cursors(self) -> dict[str, str]:
        """After a pull, each stream's new cursor (the latest change seen); empty for a
        source that always pulls everything."""
        return {}

    def money_places(self) -> int:
        """After a pull, the decimal places its records were validated at and its frames keep
        (`arsync.frames`), one value for the whole pull: the builder's. 4 unless the source
        knows its amounts have fewer (the SQL source, from its columns' declared scale)."""
        return DEFAULT_MONEY_PLACES

    @abstractmethod
    def data_as_of(self) -> dt.datetime | None:
        """When the ERP data was current, if the source knows; None if it does not."""

    def control_balances(self) -> ControlBalances | None:
        """After a pull: each customer's balance as the ERP itself reports it, which the
        balance arsync computes must match before it is written (`arsync.reconcile`). Asked
        once the documents are read, so that both describe the same moment as nearly as
        the API allows. None: the ERP has no such figure, or none is configured."""
        return None


class IncrementalSource(Source):
    """The shared base of the sources that pull only what changed: what each declares is
    the streams it keeps a cursor for (`streams`) and how it reads them (`_pull`); the base
    keeps, once for all of them, each stream's cursor (moved by `_move_cursor` to the newest
    change seen), the counts behind the progress bar (`_totals` as each stream reports them,
    `_read` as records arrive; `_tracked_read` does both per record, from the stamp a source
    names), the moment the data is of (`_as_of`), and the pull's last item held back until
    every count is final."""

    incremental: ClassVar[bool] = True
    streams: ClassVar[tuple[str, ...]]  # the streams a cursor may be kept for, by name

    def __init__(self) -> None:
        self._cursors: dict[str, str] = {}
        self._latest: dict[str, dt.datetime] = {}  # stream -> its cursor as a time
        self._totals: dict[str, int] = {}  # stream -> its records, as the ERP counts them
        self._read: Counter[str] = Counter()  # stream -> its records read so far
        self._as_of: dt.datetime | None = None

    def data_as_of(self) -> dt.datetime | None:
        return self._as_of

    def cursors(self) -> dict[str, str]:
        """Per stream the latest change seen; a stream with no change keeps the cursor it
        was pulled with."""
        return dict(self._cursors)

    def extent(self) -> Extent | None:
        """The records of the streams counted so far (each stream's count arrives with its
        first page); a finished stream counts what was read."""
        return Extent(sum(self._totals.values()), "records") if self._totals else None

    def done(self) -> int | None:
        """Records read, each once, whether they became a record, a quarantine entry or
        nothing (a skipped document)."""
        return self._read.total()

    def pull(self, since: Cursors | None = None) -> Iterator[PulledItem]:
        """Every stream changed since its cursor (all of it without one); the last item
        comes once the pull is over, when every count is final."""
        wanted = dict(since or {})
        tracked = self._tracked()
        self._cursors = {stream: wanted[stream] for stream in tracked if stream in wanted}
        self._latest = {}
        self._totals = {}
        self._read = Counter()
        self._as_of = None
        return last_at_end(self._pull(wanted))

    @abstractmethod
    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        """The pull itself, its counts and cursors reset."""

    def _tracked_read(
        self,
        stream: str,
        entities: Iterable[E],
        stamp: Callable[[E], dt.datetime | None],
        text: Callable[[E], str | None] | None = None,
        *,
        final: bool = True,
    ) -> Iterator[E]:
        """The entities of one read of `stream`, as the Singer SDK advances a stream's state
        from each record's replication key: each counted in the stream's read and moving its
        cursor to its `stamp` (kept as its `text`, the ERP's own spelling, when given) before
        it is yielded. A read counts on top of the stream's earlier reads in this pull; when
        it is over, the stream's total is what was read (a count taken before a change is
        not), unless more of the stream is still to come (`final=False`)."""
        for entity in entities:
            self._read[stream] += 1
            self._move_cursor(stream, stamp(entity), None if text is None else text(entity))
            yield entity
        if final:
            self._totals[stream] = self._read[stream]

    def _log_reread(self, stream: str, invoices: int, read: int | None = None) -> None:
        """One line for the open invoices an incremental pull read again beside the changed
        ones (`read`: the stream's records read, by default all of this pull's)."""
        log.info(
            "erp.open_invoices_reread",
            erp=self.name,
            read=self._read[stream] if read is None else read,
            invoices=invoices,
        )

    def _tracked(self) -> tuple[str, ...]:
        """The streams whose cursors this pull keeps: a cursor of any other is dropped, so a
        stream that gains a stamp again later starts with a full read."""
        return self.streams

    def _move_cursor(
        self, stream: str, moment: dt.datetime | None, text: str | None = None
    ) -> None:
        """Move the stream's cursor to `moment` when it is later than the cursor; written as
        `text` (the ERP's own spelling) or by `_format_cursor`."""
        if moment is None:
            return
        latest = self._latest.get(stream)
        if latest is None and stream in self._cursors:
            latest = self._cursor_time(stream, self._cursors[stream])
        if latest is None or moment > latest:
            self._latest[stream] = moment
            self._cursors[stream] = self._format_cursor(moment) if text is None else text
        else:
            self._latest[stream] = latest

    def _cursor_time(self, stream: str, cursor: str) -> dt.datetime:
        """A stored cursor as a time, to compare stamps with: by default ISO 8601 in UTC."""
        return utc_cursor(stream, cursor)

    def _format_cursor(self, moment: dt.datetime) -> str:
        return moment.isoformat()


class Paging(Enum):
    """How a stream's pages are found (`connector.erp.paging`): `page=N`, an offset, each
    page's next link, or an offset up to the query's row cap continued in key windows."""

    PAGE_NUMBER = "page number"
    OFFSET = "offset"
    NEXT_LINK = "next link"
    KEY_WINDOW = "key window"


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream of an API source, declared once as the Singer SDK does: what the base needs
    to read it (`ApiSource._read_stream`, `_records`) besides the source's `_fetch` of a page."""

    name: str  # the endpoint or entity, and the key of its cursor
    record_type: str  # its records' type in the quarantine ("transaction": each names its own)
    key: str  # the field holding a record's id
    cursor: str  # the ERP's change stamp the stream's cursor follows
    paging: Paging
    # ERP entity, the source's lookups -> a record, a Pulled, or why it is skipped (a Skip,
    # None); None: the source maps the stream itself (a payment split, a credit memo).
    mapping: Callable[[Any, Any], object] | None = None


class ApiSource(IncrementalSource):
    """The shared base of the ERP API sources: an incremental source that declares its
    streams (`declared`, from which `streams` follows) and that words, once for all of them,
    the read of a stream (`_read_stream`: pages by its declared paging, each entity counted and
    moving the cursor; `_records`: each mapped by its declared mapping, caught on its own),
    and the control balances they read for the reconciliation. A source writes how to fetch
    one page (`_fetch`) and its special cases."""

    declared: ClassVar[tuple[Stream, ...]] = ()
    first_offset: ClassVar[int] = 0  # where `Paging.OFFSET` counts from
    _lookups: Any = None  # the second argument of every declared mapping

    def __init_subclass__(cls, **kwargs: object) -> None:
        """A source that declares its streams keeps cursors for them by name."""
        super().__init_subclass__(**kwargs)
        if "declared" in cls.__dict__:
            cls.streams = tuple(stream.name for stream in cls.declared)

    def _fetch(self, stream: Stream, request: Any, position: Any) -> Page[Any]:
        """One page of `stream` at `position` (what `request` asks: a filter, ids...)."""
        raise NotImplementedError(f"{self.name} does not fetch pages of {stream.name}")

    def _page_size(self) -> int:
        """How many entities a page of this ERP holds (an offset's step)."""
        raise NotImplementedError(f"{self.name} does not say its page size")

    def _paginator(self, stream: Stream, request: Any) -> Paginator[Any]:
        """The paginator of the stream's declared paging (a next link's first address is the
        source's `_first_link`; a key window's cap its `_row_cap`)."""
        if stream.paging is Paging.NEXT_LINK:
            return NextLink(self._first_link(stream, request))
        if stream.paging is Paging.PAGE_NUMBER:
            return PageNumber(self._page_size())
        cap = self._row_cap() if stream.paging is Paging.KEY_WINDOW else None
        return Offset(self._page_size(), start=self.first_offset, cap=cap)

    def _first_link(self, stream: Stream, request: Any) -> str:
        raise NotImplementedError(f"{self.name} pages {stream.name} by no link")

    def _row_cap(self) -> int | None:
        return None

    def _page_total(self, stream: Stream, request: Any, page: Page[Any]) -> int | None:
        """The records of the whole read, as the ERP counts them on its first page; None:
        it does not say."""
        return None

    def _paged(
        self, stream: str, fetch: Callable[[P], Page[T]], paginator: Paginator[P]
    ) -> Iterator[Page[T]]:
        """Every page of one read of `stream`, `fetch` asked for each position `paginator`
        names: the one paging loop of the API sources (`connector.erp.paging.pages`), each
        page logged as `erp.page_fetched` under this source's name, a server that would
        page forever stopped with a `FatalError`."""
        return pages(fetch, paginator, erp=self.name, stream=stream)

    def _items(
        self, stream: Stream, request: Any = None, paginator: Paginator[Any] | None = None
    ) -> Iterator[Any]:
        """The entities of one read, uncounted: every page `_fetch` brings by the stream's
        paging; the first page's count (`_page_total`) is the stream's total, on top of
        what earlier reads of the stream in this pull brought."""
        before = self._read[stream.name]
        paging = paginator or self._paginator(stream, request)
        fetch = partial(self._fetch, stream, request)
        for number, page in enumerate(self._paged(stream.name, fetch, paging), 1):
            total = self._page_total(stream, request, page) if number == 1 else None
            if total is not None:
                self._totals[stream.name] = before + total
            yield from page.items

    def _read_stream(
        self, stream: Stream, request: Any = None, *, final: bool = True
    ) -> Iterator[Any]:
        """The entities of one read of `stream`, each counted and moving its cursor."""
        entities = self._items(stream, request)
        yield from self._tracked_read(
            stream.name, entities, self._stamp, self._stamp_text, final=final
        )

    def _change_stamp(self, entity: Any) -> dt.datetime | None:
        """The entity's change stamp; a SkippableError when it cannot be read."""
        raise NotImplementedError(f"{self.name} reads no change stamp")

    def _stamp(self, entity: Any) -> dt.datetime | None:
        """The entity's change stamp, the cursor's; None when it cannot be read (the record
        itself is quarantined for it)."""
        try:
            return self._change_stamp(entity)
        except SkippableError:
            return None

    def _stamp_text(self, entity: Any) -> str | None:
        """The stamp as the ERP spells it, kept as the cursor; None: `_format_cursor`."""
        return None

    def _older(self, entity: Any, than: Any) -> bool:
        """Whether `entity` carries an earlier change stamp than `than` (no stamp is
        earliest; a stamp that cannot be read decides nothing)."""
        try:
            stamp, other = self._change_stamp(entity), self._change_stamp(than)
        except SkippableError:
            return False
        return other is not None and (stamp is None or stamp < other)

    def _freshest(self, stream: Stream, *reads: Iterable[Any]) -> dict[str, Any]:
        """Each entity of `reads` (the changed ones, the open ones) once, by id: of two
        copies the later stamp wins, on a tie the later read; the re-read logged."""
        kept: dict[str, Any] = {}
        for entity in chain(*reads):
            keep_freshest(kept, str(self._record_id(stream, entity)), entity, self._older)
        self._log_reread(stream.name, len(kept))
        return kept

    def _record_id(self, stream: Stream, entity: Any) -> object:
        return entity.get(stream.key)

    def _location(self, stream: Stream, entity: Any) -> str:
        return f"{self.name}:{stream.name}/{self._record_id(stream, entity)}"

    def _records(self, stream: Stream, entities: Iterable[Any]) -> Iterator[PulledItem]:
        """Each entity mapped by the stream's declared mapping (`_record`)."""
        for entity in entities:
            item = self._record(stream, entity)
            if item is not None:
                yield item

    def _record(
        self,
        stream: Stream,
        entity: Any,
        convert: Callable[[Any, Any], object] | None = None,
        record_type: str | None = None,
    ) -> PulledItem | None:
        """One entity mapped (by `convert`, else the stream's mapping) with the source's
        lookups, on its own (`_caught`): Pulled at its `_location`, its quarantine entry,
        or None for a document the mapping skips (`_skipped` logs why)."""
        where = self._location(stream, entity)
        mapped = convert or stream.mapping
        if mapped is None:
            raise NotImplementedError(f"{self.name} maps {stream.name} itself")
        build = partial(mapped, entity, self._lookups)
        made = self._caught(record_type or stream, self._record_id(stream, entity), where, build)
        if isinstance(made, Pulled | QuarantineEntry):
            return made
        if isinstance(made, Customer | Invoice | Payment | CreditMemo):
            return Pulled(made, where)
        self._skipped(stream, entity, made)
        return None

    def _skipped(self, stream: Stream, entity: Any, why: Any) -> None:
        """A document the mapping skips (a draft, a cancelled pair), with its status."""
        log.info(
            "erp.record_skipped",
            source=self.name,
            record=self._location(stream, entity).removeprefix(f"{self.name}:"),
            status=text(entity, "status"),
            reason=why.value,
        )

    def _control_list(
        self,
        figure: str,
        balances: Iterable[ControlBalance],
        *,
        calls: int,
        every_customer: bool = False,
        **context: object,
    ) -> ControlBalances:
        """The ERP's balances read for the reconciliation (each source's own figure, on the
        net basis: every API figure nets unapplied cash and credit), logged once."""
        listed = tuple(balances)
        log.info(
            "erp.control_balances_read",
            erp=self.name,
            customers=len(listed),
            calls=calls,
            **context,
        )
        return ControlBalances(figure, Basis.NET, listed, every_customer=every_customer)

    def _control_skipped(self, record: str, reason: str) -> ControlBalance | None:
        """A customer left out of the control balances, and why: never taken as 0 (None, the
        balance read of it)."""
        log.debug("erp.control_balance_skipped", erp=self.name, record=record, reason=reason)
        return None

    def _warn_if_credit_used_elsewhere(
        self, entity: Mapping[str, object], record: Payment | CreditMemo, location: str
    ) -> None:
        """Credit whose `RemainingCredit` (QuickBooks, Xero) is below what the applications
        leave was also refunded in cash or used in a way arsync does not read: neither
        applied nor still available, so the unapplied amount arsync keeps overstates it."""
        remaining = entity.get("RemainingCredit")
        if remaining is not None and money(remaining, "RemainingCredit") < record.unapplied:
            log.warning(
                "erp.credit_used_elsewhere",
                erp=self.name,
                record=location,
                remaining_credit=str(remaining),
                unapplied=str(record.unapplied),
            )

    # Canonical field -> the ERP's own name for it, to word quarantine reasons in its terms.
    fields: ClassVar[Mapping[str, str]] = {}

    def _convert(
        self,
        record_type: str | Stream,
        record_id: object,
        location: str,
        build: Callable[[], CanonicalRecord],
    ) -> PulledItem:
        """One record mapped by `build` (a call of the ERP's mapping): Pulled at `location`,
        or, when the mapping refuses it, its quarantine entry (`_caught`)."""
        made = self._caught(record_type, record_id, location, build)
        return made if isinstance(made, QuarantineEntry) else Pulled(made, location)

    def _caught(
        self,
        record_type: str | Stream,
        record_id: object,
        location: str,
        build: Callable[[], T],
    ) -> T | QuarantineEntry:
        """What `build` makes of one record (a record, a Skip, a payment split...), or the
        record's quarantine entry when it raises a SkippableError or pydantic's
        ValidationError: the one place an API source turns a bad record into quarantine, the
        reason worded once (`connector.erp.validation.rejected`) in the ERP's `fields`, under
        the record type its stream declares (or one named here). Each record is caught on its
        own, so one bad record never takes the rest of a page, of a payment's lines or of a
        link query with it; any other exception is not caught."""
        try:
            return build()
        except (SkippableError, ValidationError) as error:
            kind = record_type.record_type if isinstance(record_type, Stream) else record_type
            return rejected(kind, record_id, location, error, self.fields)


def parse_cursor(stream: str, cursor: str) -> dt.datetime:
    """A stored cursor as the time it names, zone-less when it names no zone (re-formatting
    it keeps anything else out of a query); not a time: fatal, saying how to go on."""
    try:
        return dt.datetime.fromisoformat(cursor)
    except ValueError:
        raise FatalError(
            f"the {stream} cursor {cursor!r} is not an ISO 8601 timestamp; clear it for a full pull"
        ) from None


def utc_cursor(stream: str, cursor: str) -> dt.datetime:
    """A stored cursor as an aware UTC time (a naive one is UTC)."""
    moment = parse_cursor(stream, cursor)
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


class FrameSource(Source):
    """A source that hands over whole columns: record frames per file or stream, and the rows
    it could not read, so that no Python object is made per record on the way to the ledger.
    It counts what it read, for the row accounting."""

    @abstractmethod
    def pull_frames(self) -> Iterator[RecordFrame | Rejected]:
        """Every record of the ledger as frames, and each row it could not read."""

    @abstractmethod
    def rows_read(self) -> dict[str, int]:
        """After `pull_frames`: the data rows of each stream (the frames' STREAM values)."""
