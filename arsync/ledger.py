"""The validated ledger: canonical records as typed DataFrames, money in integer minor units.

`LedgerBuilder` is the one place where the rules that need the whole ledger are applied
(duplicate ids, unknown customers, documents or invoices, unknown currencies, over-applied
invoices, dates outside a sane window), whatever the source. It works on columns: sources hand
it `RecordFrame`s (`add_frame`) or records one by one (`add`, gathered into frames when it
builds), and every rule is a column operation, so millions of rows cost seconds, not a
Python object each. Every row that reaches it ends in exactly one place, counted per stream
(`accounting`): the ledger, the quarantine (with its location and reason), or folded into an
identical copy (`merged`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pandas.api.types import pandas_dtype

from arsync import parallel
from arsync.codes import positions, rows_by_code, shared_codes
from arsync.digest import frames_digest
from arsync.frames import (
    FIELDS,
    KINDS,
    RECORD_KINDS,
    STREAM,
    RecordFrame,
    StreamCount,
    application_rows,
    locations,
    money_units,
    record_row,
    rows_to_frame,
)
from arsync.money import (
    DEFAULT_MONEY_PLACES,
    MAX_MINOR_PLACES,
    MONEY_DIGITS,
    MONEY_UNITS_LIMIT,
    exponent,
)
from arsync.quarantine import Action, Quarantine, QuarantineEntry
from arsync.record_rules import (
    DOCUMENT_DATE,
    DOCUMENT_TYPES,
    DateWindow,
    check_records,
    dates_out_of_window,
    entries_for,
    format_date,
    format_money,
    over_applied_reason,
)
from arsync.records import CanonicalRecord, CreditMemo, Payment

CUSTOMER_COLUMNS = {
    "customer_id": "string",
    "name": "string",
    "currency": "string",
    "credit_limit_minor": "Int64",
    "payment_terms_days": "int64",
    "industry": "string",
    "invoice_delivery": "string",
    "payment_method": "string",
    "parent_id": "string",
    "crm_account_id": "string",
}
INVOICE_COLUMNS = {
    "invoice_id": "string",
    "number": "string",
    "customer_id": "string",
    "issue_date": "datetime64[ns]",
    "due_date": "datetime64[ns]",
    "currency": "string",
    "total_minor": "int64",
    "open_minor": "int64",
    "status": "string",
    "disputed": "bool",
    "dispute_reason": "string",
}
PAYMENT_COLUMNS = {
    "payment_id": "string",
    "customer_id": "string",
    "received_date": "datetime64[ns]",
    "currency": "string",
    "amount_minor": "int64",
    "unapplied_minor": "int64",
    "method": "string",
}
CREDIT_MEMO_COLUMNS = {
    "credit_memo_id": "string",
    "customer_id": "string",
    "date": "datetime64[ns]",
    "currency": "string",
    "amount_minor": "int64",
    "unapplied_minor": "int64",
}
APPLICATION_COLUMNS = {
    "document_type": "string",  # "payment" or "credit_memo"
    "document_id": "string",
    "customer_id": "string",
    "invoice_id": "string",
    "amount_minor": "int64",
    "applied_date": "datetime64[ns]",
}


def typed_frame(rows: Iterable[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    """A frame with exactly these columns and dtypes, also when there are no rows."""
    frame = pd.DataFrame(list(rows), columns=list(columns))
    return frame.astype(columns)


@dataclass(frozen=True, eq=False)  # DataFrames have no single truth value to compare by
class Ledger:
    """Everything scoring needs, already validated; amounts in each document's own currency."""

    customers: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame
    credit_memos: pd.DataFrame
    applications: pd.DataFrame
    # Per application, its invoice's row in `invoices`: set by the builder, which has the ids
    # as integers already; otherwise found once, on first use. Not an init field, so a
    # `dataclasses.replace` with other frames never carries a stale one over.
    _invoice_rows: np.ndarray | None = field(default=None, init=False, repr=False)

    @classmethod
    def empty(cls) -> Ledger:
        return LedgerBuilder().build()

    def application_invoice_rows(self) -> np.ndarray:
        """For each application, the row of its invoice in `invoices`, or -1: the lookup
        scoring makes most, hashed once per ledger rather than once per use."""
        rows = self._invoice_rows
        if rows is None:
            rows = positions(self.invoices["invoice_id"], self.applications["invoice_id"])
            object.__setattr__(self, "_invoice_rows", rows)
        return rows

    def fingerprint(self) -> str:
        """A digest of the five frames (columns, dtypes, values, row order): equal for equal
        ledgers, read from the columns' memory (`arsync.digest`), for a cache keyed on a
        ledger, such as the late-payment model's verdicts."""
        return frames_digest(
            (name, getattr(self, name))
            for name in ("customers", "invoices", "payments", "credit_memos", "applications")
        )

    def counts(self) -> dict[str, int]:
        return {
            "customers": len(self.customers),
            "invoices": len(self.invoices),
            "payments": len(self.payments),
            "credit_memos": len(self.credit_memos),
            "applications": len(self.applications),
        }


# Columns the builder keeps beside a kind's fields while it works.
_POSITION = "_position"  # arrival order within the kind: the order of the output and reasons
_BATCH = "_batch"  # which batch the row came in, for its labels
_PARTS = "_parts"  # an added document's applications, so that copies compare with them
_COPY = "_copy"  # an added document's application row: its document row's _position (else -1)
_APPLIED = "_applied"  # a document's applications, summed (in the pull's money units)
_DOCUMENT = "_document"  # an application's document: its row in the kept documents
_INVOICE = "_invoice"  # an application's invoice: its row in the kept invoices
_DOCUMENT_DATE = "_document_date"  # an application's document's date
_CURRENCY = "_currency"  # an application's document's currency
_MONEY = {  # the money fields of each kind with a currency of its own
    "customer": ("credit_limit",),
    "invoice": ("total", "open_balance"),
    "payment": ("amount",),
    "credit_memo": ("amount",),
}
_SUM_LIMIT = float(2**62)  # minor units a customer's amounts may add up to: half of int64
_KEY = "_key"  # a row's id as an integer (see _with_keys)
_PARENT_KEY = "_parent_key"
_CUSTOMER_KEY = "_customer_key"
_INVOICE_KEY = "_invoice_key"
_DOC_KEY = "_document_key"
_INTERNAL: dict[str, dict[str, str]] = {
    kind: {
        _POSITION: "int64",
        _BATCH: "int64",
        **({_PARTS: "string"} if kind in DOCUMENT_TYPES else {}),
        **({_COPY: "int64"} if kind == "application" else {}),
    }
    for kind in KINDS
}
_RANK = {kind: rank for rank, kind in enumerate(KINDS)}
_WORDS = {kind: kind.replace("_", " ") for kind in KINDS}


def _flags(values: Any) -> np.ndarray:
    """A boolean mask as a numpy array, missing as False."""
    if isinstance(values, pd.Series):
        if values.dtype == bool:
            return np.asarray(values.to_numpy())
        return np.asarray(values.to_numpy(dtype=bool, na_value=False))
    return np.asarray(values, dtype=bool)


def _units(values: pd.Series) -> np.ndarray:
    return np.asarray(values.to_numpy(dtype="int64", na_value=0))


def minor_units(units: pd.Series, currencies: pd.Series, places: int) -> pd.Series:
    """Units of 10**-places (a frame's money) in each currency's minor units, rounded half up
    (away from zero) as `arsync.money.to_minor` rounds a Decimal; a missing amount stays
    missing (Int64)."""
    minor = pd.Series(_minor(_units(units), currencies, places), dtype="Int64")
    return minor.mask(units.isna().to_numpy()) if units.hasnans else minor


def _minor(values: np.ndarray, currencies: pd.Series, places: int) -> np.ndarray:
    """`minor_units` of amounts that are all there, as int64."""
    codes, uniques = pd.factorize(currencies, use_na_sentinel=True)
    exponents = [exponent(str(u)) for u in uniques]
    if len(set(exponents)) <= 1 and (codes >= 0).all():  # one minor unit for every row
        return _rescale(values, places, exponents[0] if exponents else 2)
    minor = _rescale(values, places, 2)  # a missing currency: 2 places
    for code, minor_places in enumerate(exponents):
        if minor_places != 2:
            mine = codes == code
            minor[mine] = _rescale(values[mine], places, minor_places)
    return minor


def _rescale(values: np.ndarray, places: int, minor_places: int) -> np.ndarray:
    """Units of 10**-places as units of 10**-minor_places, rounded half away from zero. Up
    is exact in int64 for every amount the builder keeps: `_fits_minor` quarantines those
    whose minor units would pass 18 digits."""
    if minor_places >= places:
        return np.asarray(values * 10 ** (minor_places - places))
    divisor = 10 ** (places - minor_places)
    return np.asarray(np.sign(values) * ((np.abs(values) + divisor // 2) // divisor))


def _distinct(streams: pd.Series) -> set[str]:
    """The streams in a column: usually one, found by comparing, not hashing, 2M cells."""
    if len(streams) <= 1_000:
        return {str(stream) for stream in streams.tolist()}
    if _flags(streams == streams.iloc[0]).all():
        return {str(streams.iloc[0])}
    return {str(s) for s in pd.unique(streams)}


class _Found:
    """The build's findings, put in arrival order within each kind at the end."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, int, QuarantineEntry]] = []

    def add(self, kind: str, positions: Iterable[int], entries: list[QuarantineEntry]) -> None:
        rank = _RANK[kind]
        self.entries += [(rank, int(p), e) for p, e in zip(positions, entries, strict=True)]

    def rejected_ids(self, record_type: str) -> set[str]:
        return {
            e.record_id
            for _, _, e in self.entries
            if e.record_type == record_type and e.action is Action.REJECTED and e.record_id
        }

    def in_order(self) -> list[QuarantineEntry]:
        return [e for _, _, e in sorted(self.entries, key=lambda item: item[:2])]


@dataclass
class LedgerBuilder:
    """Collects rows from a source, then applies the ledger-wide rules in `build`.

    `currencies` are the ones the run can convert (the reporting currency and those with an
    FX rate); None accepts any, for tests and tools that never convert. `money_places` are
    the pull's (`arsync.frames`): every frame added keeps them, every record added was
    validated at them. After `build`,
    `merged` lists every identical copy folded into the first, as (kind, id, kept at, merged
    from), and `accounting()` where each stream's rows went.
    """

    currencies: Collection[str] | None = None
    money_places: int = DEFAULT_MONEY_PLACES
    quarantine: Quarantine = field(default_factory=Quarantine)
    merged: list[tuple[str, str, str, str]] = field(default_factory=list)
    _batches: dict[str, list[pd.DataFrame]] = field(
        default_factory=lambda: {kind: [] for kind in KINDS}
    )
    _rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {kind: [] for kind in KINDS}
    )
    _labels: list[dict[str, str]] = field(default_factory=lambda: [{}])
    _next: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    _streams: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in KINDS})
    _counts: dict[str, StreamCount] = field(default_factory=dict)
    _built: bool = False
    _found: _Found = field(default_factory=_Found)

    # ------------------------------------------------------------------ collecting

    def add_frame(self, batch: RecordFrame) -> None:
        """Keep a batch: its bad rows go to the quarantine now, the rest waits for `build`.
        A row without a stream is counted under its kind's name."""
        kind, frame = batch.kind, batch.frame
        if batch.places != self.money_places:
            raise ValueError(
                f"a {kind} frame keeps money to {batch.places} places, the pull to "
                f"{self.money_places}: one pull's frames share one scale"
            )
        start = self._take(kind, len(frame))
        extra: dict[str, Any] = {
            _POSITION: np.arange(start, start + len(frame), dtype="int64"),
            _BATCH: np.int64(len(self._labels)),
        }
        if kind in DOCUMENT_TYPES:
            extra[_PARTS] = pd.Series(pd.NA, index=frame.index, dtype="string")
        if kind == "application":
            extra[_COPY] = np.int64(-1)
        streams = frame[STREAM] if STREAM in frame.columns else None
        if streams is None or streams.isna().any():
            given = pd.Series(pd.NA, index=frame.index) if streams is None else streams
            extra[STREAM] = given.astype("string").fillna(kind)
        self._labels.append(dict(batch.labels))
        self._keep_checked(
            RecordFrame(kind, frame.assign(**extra), batch.labels, self.money_places)
        )

    def add(
        self,
        record: CanonicalRecord,
        location: str,
        part_locations: tuple[str, ...] = (),
        stream: str | None = None,
        application_stream: str | None = None,
    ) -> None:
        """Keep a record; `part_locations` are where its applications came from, if apart.

        The record is counted under `stream`, by default its kind ("invoice"); a document's
        applications under `application_stream`, by default "payment_application" or
        "credit_memo_application" (their record type in the quarantine).
        """
        kind = RECORD_KINDS[type(record)]
        places = self.money_places
        row = record_row(record, location, stream or kind, places)
        row[_POSITION] = self._take(kind, 1)
        row[_BATCH] = 0
        self._rows[kind].append(row)
        if isinstance(record, Payment | CreditMemo):
            # Copies of a document are identical only with the same applications.
            row[_PARTS] = repr(
                [
                    (a.invoice_id, money_units(a.amount, places), a.applied_date)
                    for a in record.applications
                ]
            )
            parts_stream = application_stream or f"{kind}_application"
            parts = application_rows(record, location, part_locations, parts_stream, places)
            for part in parts:
                part[_POSITION] = self._take("application", 1)
                part[_BATCH] = 0
                part[_COPY] = row[_POSITION]
            self._rows["application"] += parts

    def reject(self, entry: QuarantineEntry, stream: str | None = None) -> None:
        """A row the source could not read: quarantined, and counted under `stream` (by
        default the entry's record type)."""
        self.quarantine.add(entry)
        self._count(stream or entry.record_type).quarantined += 1

    def accounting(self) -> dict[str, StreamCount]:
        """Per stream, where the rows that reached the builder went: complete after `build`;
        `read` is left at 0 for the source to fill in."""
        return {stream: replace(count) for stream, count in self._counts.items()}

    def _take(self, kind: str, count: int) -> int:
        start = self._next[kind]
        self._next[kind] = start + count
        return start

    def _count(self, stream: str) -> StreamCount:
        return self._counts.setdefault(stream, StreamCount())

    def _tally(self, streams: pd.Series, bucket: str) -> None:
        if len(_distinct(streams)) == 1:  # the usual batch: one file, no text to hash
            tallies = {str(streams.iloc[0]): len(streams)}
        else:
            tallies = {str(s): int(n) for s, n in streams.value_counts(dropna=False).items()}
        for stream, count in tallies.items():
            counts = self._count(stream)
            setattr(counts, bucket, getattr(counts, bucket) + count)

    def _keep_checked(self, batch: RecordFrame) -> None:
        valid, entries = check_records(batch)
        self.quarantine.extend(entries)
        if entries:
            bad = ~np.isin(batch.frame[_POSITION].to_numpy(), valid[_POSITION].to_numpy())
            self._tally(batch.frame[STREAM][bad], "quarantined")
        self._keep(batch.kind, valid)

    def _keep(self, kind: str, frame: pd.DataFrame) -> None:
        self._streams[kind].update(_distinct(frame[STREAM]))
        self._batches[kind].append(frame)

    def _collected(self, kind: str) -> pd.DataFrame:
        """Every checked row of `kind`, in arrival order, with the builder's own columns.
        Rows `add` took are pydantic records, valid and normalised already: they skip the
        one-record rules (which would pass them, at a cost every small test pays)."""
        if self._rows[kind]:
            self._keep(kind, rows_to_frame(kind, self._rows[kind], _INTERNAL[kind]))
            self._rows[kind] = []
        parts, self._batches[kind] = self._batches[kind], []
        if not parts:
            return _empty(kind)
        frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        frame = _retyped(frame, _INTERNAL[kind])
        if not frame[_POSITION].is_monotonic_increasing:
            frame = frame.sort_values(_POSITION, kind="stable")
        return frame.reset_index(drop=True)

    def first_issue_date(self) -> dt.date | None:
        """The earliest issue date of the invoices that passed their own rules so far, before
        the ledger's rules and its date window: the day the data's history starts."""
        days = [frame["issue_date"].min() for frame in self._batches["invoice"]]
        days += [row.get("issue_date") for row in self._rows["invoice"]]
        known = [pd.Timestamp(day) for day in days if day is not None and not pd.isna(day)]
        return min(known).date() if known else None

    # ------------------------------------------------------------------ building

    def build(self, as_of: dt.date | None = None, date_window: DateWindow | None = None) -> Ledger:
        """Apply the ledger-wide rules and make the Ledger.

        `as_of` sets the window's default end (a year later) and reports invoices issued
        after it (kept, `Action.REPORTED`). Runs once: the quarantine then holds its findings.
        """
        if self._built:
            raise RuntimeError("LedgerBuilder.build runs once; make a new builder to rebuild")
        self._built = True
        bounds = (date_window or DateWindow()).bounds(as_of)
        self._found = _Found()
        frames = {kind: self._collected(kind) for kind in KINDS}
        for kind in KINDS[:-1]:
            frames[kind] = self._in_window(kind, frames[kind], bounds)
        frames = _with_keys(frames)

        customers = self._unique("customer", frames["customer"])[0]
        customers = self._known_currency("customer", customers)
        customers = self._fits_minor("customer", customers)
        customers = self._sums_fit(customers, frames)
        customers = self._parents(customers)
        rejected = self.quarantine.rejected_ids("customer") | self._found.rejected_ids("customer")
        invoices = self._unique("invoice", frames["invoice"])[0]
        invoices = self._known_currency("invoice", invoices)
        invoices = self._fits_minor("invoice", invoices)
        invoices = self._known_customer("invoice", invoices, customers, rejected)
        if as_of is not None:
            self._report_issued_later(invoices, as_of)

        documents: dict[str, pd.DataFrame] = {}
        applications: list[pd.DataFrame] = []
        for kind in DOCUMENT_TYPES:
            docs, merged, _ = self._unique(kind, frames[kind])
            parts = self._own_copies(kind, frames[f"{kind}_application"], docs, merged)
            docs = docs.assign(**{_APPLIED: _sums(_rows_of(docs, parts[_DOC_KEY]), parts, docs)})
            docs = self._not_over_applied(kind, docs)
            docs = self._known_currency(kind, docs)
            docs = self._fits_minor(kind, docs)
            docs = self._known_customer(kind, docs, customers, rejected)
            documents[kind] = docs
            parts = self._in_window("application", parts, bounds)
            applications.append(self._applied_to_invoices(kind, parts, docs, invoices))
        nonempty = [part for part in applications if len(part)] or applications[:1]
        kept = self._within_invoice_totals(
            nonempty[0] if len(nonempty) == 1 else pd.concat(nonempty, ignore_index=True),
            invoices,
        )

        self.quarantine.extend(self._found.in_order())
        for frame in (customers, invoices, *documents.values(), kept):
            self._tally(frame[STREAM], "ledger")
        rows = _rows_of(invoices, kept[_INVOICE_KEY])
        # Each working frame is let go as soon as its Ledger frame exists: the peak is then
        # one kind's two copies, not the whole ledger's.
        del frames, applications, nonempty, parts, docs
        places = self.money_places
        built = {"customers": _customer_frame(customers, places)}
        del customers
        built["invoices"] = _invoice_frame(invoices, places)
        del invoices
        built["payments"] = _document_frame("payment", documents.pop("payment"), places)
        built["credit_memos"] = _document_frame("credit_memo", documents.pop("credit_memo"), places)
        built["applications"] = _application_frame(kept, places)
        del kept
        ledger = Ledger(**built)
        object.__setattr__(ledger, "_invoice_rows", rows)
        return ledger

    def _drop(
        self, kind: str, frame: pd.DataFrame, bad: np.ndarray, rule: str, reasons: list[str]
    ) -> pd.DataFrame:
        """Quarantine the `bad` rows (one reason each, in order) and return the others."""
        if not bad.any():
            return frame
        rows = frame[bad]
        self._found.add(kind, rows[_POSITION], entries_for(kind, rows, rule, reasons))
        self._tally(rows[STREAM], "quarantined")
        return frame[~bad].reset_index(drop=True)

    def _in_window(
        self, kind: str, frame: pd.DataFrame, bounds: tuple[dt.date, dt.date]
    ) -> pd.DataFrame:
        """Every date inside the window: a bad year is a finding, never an overflow."""
        batches = frame[_BATCH].to_numpy()

        def label(row: int, name: str) -> str:
            return self._labels[int(batches[row])].get(name, name)

        out, reasons = dates_out_of_window(kind, frame, bounds, label)
        texts = [reasons[int(row)] for row in np.flatnonzero(out)]
        return self._drop(kind, frame, out, "date_out_of_range", texts)

    def _unique(self, kind: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, set[int], set[int]]:
        """Identical copies (locations aside) fold into the first, listed in `merged`; copies
        that disagree are all quarantined. Returns the rows kept, and the positions of the
        copies merged and of those quarantined. Applications have no id and are never folded:
        one amount applied twice to an invoice can be two real applications, and the
        over-applied rules catch the case where it cannot."""
        keys = frame[_KEY].to_numpy()
        copies = np.bincount(keys, minlength=1)[keys] > 1 if len(keys) else keys > 0
        if not copies.any():
            return frame, set(), set()
        dup = frame[copies].reset_index(drop=True)
        ids = dup["id"]
        first = ~_flags(dup[_KEY].duplicated(keep="first"))
        firsts = dup[first].set_index("id")
        aligned = firsts.reindex(ids).reset_index(drop=True)
        compare = [name for name in FIELDS[kind] if name != "id"]
        compare += [_PARTS] if kind in DOCUMENT_TYPES else []
        same = np.ones(len(dup), dtype=bool)
        for name in compare:
            mine, theirs = dup[name], aligned[name]
            same &= _flags(mine == theirs) | (_flags(mine.isna()) & _flags(theirs.isna()))
        identical = _flags(pd.Series(same).groupby(dup[_KEY].to_numpy()).transform("all"))
        merged, conflicting = identical & ~first, ~identical
        if merged.any():
            kept_at = locations(firsts).reindex(ids[merged])
            self.merged += [
                (kind, str(record_id), str(kept), str(location))
                for record_id, kept, location in zip(
                    ids[merged], kept_at, locations(dup)[merged], strict=True
                )
            ]
            self._tally(dup[STREAM][merged], "merged")
        if conflicting.any():
            bad = dup[conflicting]
            groups = locations(bad).groupby(bad["id"], sort=False)
            where = groups.agg(lambda places: ", ".join(str(x) for x in places))
            sizes = groups.size()
            reasons = [
                f"id {record_id!r} appears {sizes[record_id]} times with different values "
                f"({where[record_id]}); none is scored"
                for record_id in bad["id"]
            ]
            entries = entries_for(kind, bad, "conflicting_duplicate_id", reasons)
            self._found.add(kind, bad[_POSITION], entries)
            self._tally(bad[STREAM], "quarantined")
        gone = dup[_POSITION][merged | conflicting].to_numpy()
        keep = ~np.isin(frame[_POSITION].to_numpy(), gone)
        return (
            frame[keep].reset_index(drop=True),
            set(dup[_POSITION][merged].tolist()),
            set(dup[_POSITION][conflicting].tolist()),
        )

    def _known_currency(self, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
        if self.currencies is None:
            return frame
        bad = ~_flags(frame["currency"].isin(list(self.currencies)))
        known = ", ".join(sorted(self.currencies))
        reasons = [
            f"currency {currency} has no FX rate in the settings (known: {known})"
            for currency in frame["currency"][bad]
        ]
        return self._drop(kind, frame, bad, "unknown_currency", reasons)

    def _fits_minor(self, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Amounts whose currency's minor unit has more places than the pull keeps must still
        fit int64 in that unit: a numeric(18,2) amount of 16 digits before the point is
        10**19 fils in Kuwaiti dinars (3 places). Applications are never above their
        document's amount, so they fit when it does."""
        if self.money_places >= MAX_MINOR_PLACES:
            return frame
        codes, uniques = pd.factorize(frame["currency"], use_na_sentinel=True)
        up = [max(exponent(str(u)) - self.money_places, 0) for u in uniques]
        if not any(up):
            return frame
        limit = np.array([MONEY_UNITS_LIMIT // 10**shift for shift in up], dtype="int64")
        mine = limit[np.maximum(codes, 0)]
        known = codes >= 0
        bad = np.zeros(len(frame), dtype=bool)
        words: dict[int, list[str]] = {}
        for name in _MONEY[kind]:
            units = _units(frame[name])
            over = known & (np.abs(units) >= mine)
            bad |= over
            for row in np.flatnonzero(over):
                currency = str(frame["currency"].iloc[row])
                whole = MONEY_DIGITS - exponent(currency)
                words.setdefault(int(row), []).append(
                    f"{self._label(frame, int(row), name)} "
                    f"{format_money(units[row], self.money_places)} has more than {whole} "
                    f"digits before the point, too many for {currency} in its minor unit "
                    f"({exponent(currency)} places)"
                )
        reasons = ["; ".join(words[int(row)]) for row in np.flatnonzero(bad)]
        return self._drop(kind, frame, bad, "invalid_record", reasons)

    def _sums_fit(
        self, customers: pd.DataFrame, frames: Mapping[str, pd.DataFrame]
    ) -> pd.DataFrame:
        """A customer whose invoices and documents could add up past int64 in its minor units
        is quarantined (its documents follow it as of a quarantined customer): scoring adds
        them up, and a sum that wrapped around would land on the Account as a wrong number.
        Measured in float64 on the amounts as read, with a margin of a factor of two."""
        totals: list[tuple[pd.Series, pd.Series]] = []
        for kind, name in (("invoice", "total"), ("payment", "amount"), ("credit_memo", "amount")):
            frame = frames[kind]
            if len(frame):
                size = np.abs(_units(frame[name]).astype("float64")) * self._to_minor(frame)
                kept = size < 1.5 * MONEY_UNITS_LIMIT  # a larger one is refused on its own
                totals.append((pd.Series(size[kept]), frame["customer_id"][kept]))
        if not totals or sum(float(t.sum()) for t, _ in totals) < _SUM_LIMIT:
            return customers  # the whole ledger adds up: so does every customer
        # Only now the ids as the sums' index: two million Python strings, for a rare case.
        by_customer = (
            pd.concat([pd.Series(t.to_numpy(), index=ids.to_numpy()) for t, ids in totals])
            .groupby(level=0)
            .sum()
        )
        over = by_customer[by_customer >= _SUM_LIMIT]
        bad = customers["id"].isin(over.index.astype("string")).to_numpy()
        reasons = [
            f"its invoices, payments and credit memos add up to about {over[str(c)]:.3g} in "
            f"minor units (cents, fils), more than arsync adds exactly ({_SUM_LIMIT:.3g})"
            for c in customers["id"][bad]
        ]
        return self._drop("customer", customers, bad, "amounts_too_large", reasons)

    def _to_minor(self, frame: pd.DataFrame) -> np.ndarray | float:
        """Per row, what turns the frame's units into its currency's minor units (roughly)."""
        shifts = [exponent(c) for c in _distinct(frame["currency"].fillna(""))]
        if len(set(shifts)) == 1:
            return 10.0 ** (shifts[0] - self.money_places)
        places = frame["currency"].fillna("").map(lambda c: exponent(str(c))).to_numpy()
        return np.asarray(10.0 ** (places.astype("float64") - self.money_places))

    def _known_customer(
        self, kind: str, frame: pd.DataFrame, customers: pd.DataFrame, rejected: set[str]
    ) -> pd.DataFrame:
        bad = _rows_of(customers, frame[_CUSTOMER_KEY]) < 0
        reasons = [
            f"customer {customer_id!r} "
            + ("was quarantined" if customer_id in rejected else "is not in the customer data")
            for customer_id in frame["customer_id"][bad]
        ]
        return self._drop(kind, frame, bad, "unknown_customer", reasons)

    def _parents(self, customers: pd.DataFrame) -> pd.DataFrame:
        """An unknown parent is cleared and reported; the customer stays."""
        parents = customers[_PARENT_KEY]
        bad = (parents.to_numpy() >= 0) & (_rows_of(customers, parents) < 0)
        if not bad.any():
            return customers
        rows = customers[bad]
        reasons = [
            f"parent customer {parent!r} is not in the customer data; kept without a parent"
            for parent in rows["parent_id"]
        ]
        entries = entries_for("customer", rows, "unknown_parent", reasons, Action.CORRECTED)
        self._found.add("customer", rows[_POSITION], entries)
        return customers.assign(parent_id=customers["parent_id"].mask(bad))

    def _report_issued_later(self, invoices: pd.DataFrame, as_of: dt.date) -> None:
        """An invoice issued after the as-of date stays (aging skips it until then), but the
        user is told: it usually means a wrong date or an export ahead of the as-of date."""
        later = _flags(invoices["issue_date"] > pd.Timestamp(as_of))
        if not later.any():
            return
        rows = invoices[later]
        reasons = [
            f"issued {format_date(issued)}, after the as-of date {as_of.isoformat()}: kept in "
            "the ledger, not aged until it is issued"
            for issued in rows["issue_date"].to_numpy()
        ]
        entries = entries_for("invoice", rows, "issued_after_as_of", reasons, Action.REPORTED)
        self._found.add("invoice", rows[_POSITION], entries)

    def _own_copies(
        self, kind: str, applications: pd.DataFrame, documents: pd.DataFrame, merged: set[int]
    ) -> pd.DataFrame:
        """The applications `add` took from a document belong to that copy of it: those of a
        merged copy are merged with it, those of a copy left out are quarantined with it."""
        copy = applications[_COPY].to_numpy()
        if not (copy >= 0).any():
            return applications
        is_merged = np.isin(copy, list(merged))
        lost = (copy >= 0) & ~is_merged & ~np.isin(copy, documents[_POSITION].to_numpy())
        if is_merged.any():
            rows = applications[is_merged]
            kept_at = locations(documents.set_index("id")).reindex(rows["document_id"])
            self.merged += [
                ("application", f"{document}->{invoice}", str(kept), str(location))
                for document, invoice, kept, location in zip(
                    rows["document_id"], rows["invoice_id"], kept_at, locations(rows), strict=True
                )
            ]
            self._tally(rows[STREAM], "merged")
        reasons = [
            f"{_WORDS[kind]} {document!r} was quarantined, and these applications with it"
            for document in applications["document_id"][lost]
        ]
        applications = self._drop("application", applications, lost, "unknown_document", reasons)
        keep = ~np.isin(applications[_COPY].to_numpy(), list(merged))
        return applications[keep].reset_index(drop=True)

    def _not_over_applied(self, kind: str, documents: pd.DataFrame) -> pd.DataFrame:
        """A document whose applications exceed it: the model's rule, needing both frames."""
        applied, amount = documents[_APPLIED].to_numpy(), _units(documents["amount"])
        over = applied > amount
        reasons = [
            over_applied_reason(
                self._label(documents, int(row), "amount"),
                applied[row],
                amount[row],
                self.money_places,
            )
            for row in np.flatnonzero(over)
        ]
        return self._drop(kind, documents, over, "invalid_record", reasons)

    def _label(self, frame: pd.DataFrame, row: int, name: str) -> str:
        return self._labels[int(frame[_BATCH].to_numpy()[row])].get(name, name)

    def _rejected_at(self, kind: str) -> dict[str, str]:
        """Each rejected record of `kind`: where (its first location), for reasons."""
        at: dict[str, str] = {}
        for entry in [*self.quarantine, *(e for _, _, e in self._found.entries)]:
            if entry.record_type == kind and entry.action is Action.REJECTED and entry.record_id:
                at.setdefault(entry.record_id, entry.location)
        return at

    def _where(self, kind: str) -> str:
        """Where the documents of `kind` came from, for a reason: their streams."""
        data = f"the {_WORDS[kind]} data"
        names = sorted(data if stream == kind else stream for stream in self._streams[kind])
        return " or ".join(names) if names else data

    def _applied_to_invoices(
        self,
        kind: str,
        applications: pd.DataFrame,
        documents: pd.DataFrame,
        invoices: pd.DataFrame,
    ) -> pd.DataFrame:
        """Applications of a kept document to a kept invoice of the same customer and currency,
        in the Ledger's order (by document, then as they came); the others quarantined. Each
        gets its document's customer, currency and date (its own date, if none)."""
        unknown = _rows_of(documents, applications[_DOC_KEY]) < 0
        reasons = []
        if unknown.any():
            at = self._rejected_at(kind)
            where = self._where(kind)
            reasons = [
                f"{_WORDS[kind]} {document_id!r} "
                + (
                    f"was quarantined ({at[document_id]})"
                    if document_id in at
                    else f"is not in {where}"
                )
                for document_id in applications["document_id"][unknown]
            ]
        applications = self._drop("application", applications, unknown, "unknown_document", reasons)
        missing = _rows_of(invoices, applications[_INVOICE_KEY]) < 0
        reasons = [
            f"applied to invoice {invoice_id!r}, which is not in the invoice data or was "
            "quarantined"
            for invoice_id in applications["invoice_id"][missing]
        ]
        applications = self._drop("application", applications, missing, "unknown_invoice", reasons)

        document = _rows_of(documents, applications[_DOC_KEY])
        invoice = _rows_of(invoices, applications[_INVOICE_KEY])
        owner = invoices[_CUSTOMER_KEY].to_numpy()[invoice]
        foreign = owner != documents[_CUSTOMER_KEY].to_numpy()[document]
        if foreign.any():
            reasons = [
                f"applied to invoice {invoice_id!r} of customer {theirs!r}, not of {ours!r}"
                for invoice_id, theirs, ours in zip(
                    applications["invoice_id"][foreign],
                    _taken(invoices["customer_id"], invoice[foreign]),
                    _taken(documents["customer_id"], document[foreign]),
                    strict=True,
                )
            ]
            applications = self._drop(
                "application", applications, foreign, "foreign_invoice", reasons
            )
            document, invoice = document[~foreign], invoice[~foreign]

        billed = _taken(invoices["currency"], invoice)
        paid = _taken(documents["currency"], document)
        mismatch = _flags(billed != paid)
        if mismatch.any():
            reasons = [
                f"{ours} applied to invoice {invoice_id!r} in {theirs}"
                for invoice_id, theirs, ours in zip(
                    applications["invoice_id"][mismatch],
                    billed[mismatch],
                    paid[mismatch],
                    strict=True,
                )
            ]
            applications = self._drop(
                "application", applications, mismatch, "currency_mismatch", reasons
            )
            document, invoice = document[~mismatch], invoice[~mismatch]
            paid = paid[~mismatch].reset_index(drop=True)

        date = _taken(documents[DOCUMENT_DATE[kind]], document)
        applications = applications.assign(
            customer_id=_taken(documents["customer_id"], document),
            applied_date=applications["applied_date"].fillna(date),
        )
        applications[_DOCUMENT], applications[_INVOICE] = document, invoice
        applications[_CURRENCY], applications[_DOCUMENT_DATE] = paid, date
        order = np.lexsort((applications[_POSITION].to_numpy(), document))
        if (np.diff(order) == 1).all():
            return applications
        return applications.iloc[order].reset_index(drop=True)

    def _within_invoice_totals(
        self, applications: pd.DataFrame, invoices: pd.DataFrame
    ) -> pd.DataFrame:
        """Payments and credit memos applied to one invoice may not sum above its total. They
        count in the order they were applied (applied date, then the document's date, then
        arrival); those that take the sum above the total are quarantined, the earlier ones
        stay, so an invoice is never paid more than once over."""
        places = self.money_places
        amount = _units(applications["amount"])
        invoice = applications[_INVOICE].to_numpy()
        total = _units(invoices["total"])
        applied = np.zeros(len(invoices), dtype="int64")
        np.add.at(applied, invoice, amount)
        suspects = np.flatnonzero((applied > total)[invoice])
        if not len(suspects):
            return applications
        order = suspects[
            np.lexsort(
                (
                    applications[_POSITION].to_numpy()[suspects],
                    applications[_DOCUMENT_DATE].to_numpy()[suspects],
                    applications["applied_date"].to_numpy()[suspects],
                )
            )
        ]
        running = pd.Series(amount[order]).groupby(invoice[order]).cumsum().to_numpy()
        over = np.zeros(len(applications), dtype=bool)
        over[order] = running > total[invoice[order]]
        sums = np.zeros(len(applications), dtype="int64")
        sums[order] = running
        reasons = [
            f"applies {format_money(amount[row], places)} to invoice {invoice_id!r}, which "
            f"brings what is applied to it to {format_money(sums[row], places)}, above its "
            f"total {format_money(total[invoice[row]], places)}"
            for row, invoice_id in zip(
                np.flatnonzero(over), applications["invoice_id"][over], strict=True
            )
        ]
        return self._drop("application", applications, over, "over_applied_invoice", reasons)


def _with_keys(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Integer keys for the ids the rules match: one code per distinct id, shared by every
    column that refers to it, so that duplicates, lookups and membership are integer array
    operations. Text is hashed once per column, never per rule, and the four groups of ids
    (customers, invoices, each kind of document) on two threads. The applications are split
    by document kind ("payment_application"), each keyed against its own documents."""
    applications = frames["application"]
    kinds = applications["document_type"]
    mine = {kind: _flags(kinds == kind) for kind in DOCUMENT_TYPES}
    groups = [
        (
            frames["customer"]["id"],
            frames["customer"]["parent_id"],
            *(frames[kind]["customer_id"] for kind in ("invoice", *DOCUMENT_TYPES)),
        ),
        (frames["invoice"]["id"], applications["invoice_id"]),
        *(
            (frames[kind]["id"], _rows_where(applications["document_id"], mine[kind]))
            for kind in DOCUMENT_TYPES
        ),
    ]
    rows = sum(len(column) for group in groups for column in group)
    (customers, parents, *owners), (invoices, targets), *documents = parallel.each(
        lambda group: shared_codes(*group), groups, rows=rows
    )
    keyed = {
        "customer": frames["customer"].assign(**{_KEY: customers, _PARENT_KEY: parents}),
        "invoice": frames["invoice"].assign(**{_KEY: invoices, _CUSTOMER_KEY: owners[0]}),
    }
    applications = applications.assign(**{_INVOICE_KEY: targets})
    for kind, owner, (own, theirs) in zip(DOCUMENT_TYPES, owners[1:], documents, strict=True):
        keyed[kind] = frames[kind].assign(**{_KEY: own, _CUSTOMER_KEY: owner})
        parts = _rows_where(applications, mine[kind])
        keyed[f"{kind}_application"] = parts.assign(**{_DOC_KEY: theirs})
    return keyed


_Rows = TypeVar("_Rows", pd.DataFrame, pd.Series)


def _rows_where(rows: _Rows, mine: np.ndarray) -> _Rows:
    """rows[mine] with a fresh index: all of them or a slice (no copy) when the rows are one
    run, as each kind's applications are when they come from a file of their own."""
    if mine.all():
        return rows.reset_index(drop=True)
    where = np.flatnonzero(mine)
    if len(where) == 0:
        return rows.iloc[:0]
    if where[-1] - where[0] + 1 == len(where):
        return rows.iloc[where[0] : where[-1] + 1].reset_index(drop=True)
    return rows[mine].reset_index(drop=True)


def _rows_of(frame: pd.DataFrame, keys: pd.Series | np.ndarray) -> np.ndarray:
    """For each key, the row of `frame` (unique keys) that holds it, or -1."""
    return rows_by_code(frame[_KEY].to_numpy(), np.asarray(keys, dtype="int64"))


def _taken(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """values.iloc[rows] with a fresh index (arrow-backed text stays arrow: no Python objects)."""
    return values.take(rows).reset_index(drop=True)


def _sums(rows: np.ndarray, applications: pd.DataFrame, documents: pd.DataFrame) -> np.ndarray:
    """Per document, the amounts of the applications whose row `rows` names (-1: none)."""
    sums = np.zeros(len(documents), dtype="int64")
    known = rows >= 0
    np.add.at(sums, rows[known], _units(applications["amount"])[known])
    return sums


def _customer_frame(customers: pd.DataFrame, places: int) -> pd.DataFrame:
    columns = {
        "customer_id": customers["id"],
        "name": customers["name"],
        "currency": customers["currency"],
        "credit_limit_minor": minor_units(customers["credit_limit"], customers["currency"], places),
        "payment_terms_days": customers["payment_terms_days"],
        "industry": customers["industry"],
        "invoice_delivery": customers["invoice_delivery"],
        "payment_method": customers["payment_method"],
        "parent_id": customers["parent_id"],
        "crm_account_id": customers["crm_account_id"],
    }
    return _typed(columns, CUSTOMER_COLUMNS)


def _invoice_frame(invoices: pd.DataFrame, places: int) -> pd.DataFrame:
    currency = invoices["currency"]
    columns = {
        "invoice_id": invoices["id"],
        "number": invoices["number"],
        "customer_id": invoices["customer_id"],
        "issue_date": invoices["issue_date"],
        "due_date": invoices["due_date"],
        "currency": currency,
        "total_minor": pd.Series(_minor(_units(invoices["total"]), currency, places)),
        "open_minor": pd.Series(_minor(_units(invoices["open_balance"]), currency, places)),
        "status": invoices["status"],
        "disputed": invoices["disputed"],
        "dispute_reason": invoices["dispute_reason"],
    }
    return _typed(columns, INVOICE_COLUMNS)


def _document_frame(kind: str, documents: pd.DataFrame, places: int) -> pd.DataFrame:
    """Payments or credit memos; unapplied is the amount less everything the document
    declares as applied, so rejecting an application never turns applied cash into
    unapplied cash."""
    currency = documents["currency"]
    amount = _units(documents["amount"])
    columns: dict[str, pd.Series] = {
        f"{kind}_id": documents["id"],
        "customer_id": documents["customer_id"],
        DOCUMENT_DATE[kind]: documents[DOCUMENT_DATE[kind]],
        "currency": currency,
        "amount_minor": pd.Series(_minor(amount, currency, places)),
        "unapplied_minor": pd.Series(
            _minor(amount - documents[_APPLIED].to_numpy(), currency, places)
        ),
    }
    if kind == "payment":
        columns["method"] = documents["method"]
        return _typed(columns, PAYMENT_COLUMNS)
    return _typed(columns, CREDIT_MEMO_COLUMNS)


def _application_frame(applications: pd.DataFrame, places: int) -> pd.DataFrame:
    """Payments' applications, then credit memos', each kind by document, then as they came;
    in the document's currency and with its customer."""
    columns = {
        "document_type": applications["document_type"],
        "document_id": applications["document_id"],
        "customer_id": applications["customer_id"],
        "invoice_id": applications["invoice_id"],
        "amount_minor": pd.Series(
            _minor(_units(applications["amount"]), applications[_CURRENCY], places)
        ),
        "applied_date": applications["applied_date"],
    }
    return _typed(columns, APPLICATION_COLUMNS)


def _typed(columns: dict[str, pd.Series], dtypes: dict[str, str]) -> pd.DataFrame:
    """The Ledger frame: these columns (positionally aligned), at the Ledger's dtypes."""
    return pd.DataFrame(
        {
            name: (
                values
                if str(values.dtype) == dtypes[name]
                else values.astype(pandas_dtype(dtypes[name]))
            )
            .reset_index(drop=True)
            .array
            for name, values in columns.items()
        }
    )


def _retyped(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """`frame` with these columns at these dtypes, converting only those that differ, one by
    one (a DataFrame.astype with a dict costs a concat)."""
    differ = {name: dtype for name, dtype in dtypes.items() if str(frame[name].dtype) != dtype}
    if not differ:
        return frame
    return frame.assign(
        **{name: frame[name].astype(pandas_dtype(dtype)) for name, dtype in differ.items()}
    )


@functools.cache
def _empty_frame(kind: str) -> pd.DataFrame:
    return rows_to_frame(kind, [], _INTERNAL[kind])


def _empty(kind: str) -> pd.DataFrame:
    """No rows of `kind`: made once (a frame with a dozen typed columns costs milliseconds,
    and most small ledgers lack some kind); copy-on-write keeps the shared one intact."""
    return _empty_frame(kind).copy(deep=False)
