"""The rules one record can check alone, on whole columns of a `RecordFrame`.

They are the rules of the pydantic models in `arsync.records` (a hypothesis test holds the two
to the same verdict on every row), applied with column operations so that millions of rows
need no Python object each. A bad row gets one quarantine entry naming all its problems, each
by the column the source's user knows (`RecordFrame.label`), in the words pydantic uses.

Money in reasons is written as a Decimal prints with two decimals, more only when they are
significant: `600.00`, `0.125`, `12.3456`. The frame holds units of 10**-places (its
`RecordFrame.places`), so the scale the export wrote (`600.0`, `600.000`) is gone by the time
a rule sees it; the digits allowed before the point are those its places leave (18 - places).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from arsync.frames import MONEY_FIELDS, RecordFrame, conform, locations
from arsync.money import MONEY_UNITS_LIMIT, whole_digits
from arsync.quarantine import Action, QuarantineEntry
from arsync.records import DeliveryMode, InvoiceStatus, PaymentMethod

# What pydantic's str_strip_whitespace strips (Rust's char::is_whitespace, the Unicode
# White_Space set): Python's str.strip() and pyarrow's default also strip U+001C..U+001F.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
MAX_ID_LENGTH = 255
MONEY_LIMIT = MONEY_UNITS_LIMIT  # see arsync.money: the 18 digits int64 units can hold
MAX_TERMS_DAYS = 365
DEFAULT_TERMS_DAYS = 30
DOCUMENT_TYPES = ("payment", "credit_memo")
_CURRENCY = re.compile(r"[A-Z]{3}")

# The earliest and latest days a datetime64[ns] column (the Ledger's) can hold.
NS_EARLIEST = dt.date(1677, 9, 22)
NS_LATEST = dt.date(2262, 4, 11)


# --------------------------------------------------------------------------- formatting


def format_money(units: int, places: int) -> str:
    """Units of 10**-places as the Decimal amount reads: two decimals, more only when
    significant."""
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(int(units)), 10**places)
    decimals = f"{fraction:0{places}d}"[:places].rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{decimals}"


def format_date(value: Any) -> str:
    """A date cell (numpy datetime64 of any unit, a Timestamp, a date) as YYYY-MM-DD."""
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    return str(np.datetime_as_string(np.datetime64(value, "s"), unit="D"))


def _show(value: Any) -> str:
    return repr(str(value))


# --------------------------------------------------------------------------- one column


@dataclass(frozen=True)
class _Problem:
    """Rows breaking one rule of one field, and the rule in words for row i (after the label)."""

    field: str
    mask: np.ndarray
    text: Callable[[int], str]
    missing: bool = False  # said "is empty" (a labelled column) or "is missing"


@dataclass
class _Column:
    """One field's normalised values, where they are usable, and what is wrong where not."""

    values: pd.Series
    valid: np.ndarray
    problems: list[_Problem] = field(default_factory=list)


def _present(raw: pd.Series) -> np.ndarray:
    return np.asarray(raw.notna().to_numpy(), dtype=bool)


def _missing(name: str, raw: pd.Series, required: bool) -> list[_Problem]:
    if not required:
        return []
    return [_Problem(name, ~_present(raw), lambda _i: "", missing=True)]


def _strings(name: str, raw: pd.Series, *, required: bool, max_length: int | None) -> _Column:
    """Stripped text; required or id text needs a character, ids at most 255 of them."""
    values = raw.str.strip(WHITESPACE)
    present = _present(raw)
    length = _lengths(values, max_length or MAX_ID_LENGTH)
    originals = raw.array  # read for bad rows only
    problems = _missing(name, raw, required)
    short = present & (length < 1)
    problems.append(
        _Problem(
            name,
            short,
            lambda i: f": String should have at least 1 character (got {originals[i]!r})",
        )
    )
    long = np.zeros(len(raw), dtype=bool)
    if max_length is not None:
        long = present & (length > max_length)
        problems.append(
            _Problem(
                name,
                long,
                lambda i: (
                    f": String should have at most {max_length} characters (got {originals[i]!r})"
                ),
            )
        )
    return _Column(values, present & ~short & ~long, problems)


def _lengths(values: pd.Series, cap: int) -> np.ndarray:
    """Characters per cell (0 where missing). Arrow text is measured in bytes, which are never
    fewer than its characters, and counted in characters only where the bytes pass `cap`:
    ids are short, and counting UTF-8 characters of millions of them is what cost."""
    array = values.array
    if not (
        isinstance(values.dtype, pd.ArrowDtype)
        or getattr(values.dtype, "storage", None) == "pyarrow"
    ):
        return np.asarray(values.str.len().to_numpy(dtype="int64", na_value=0), dtype=np.int64)
    arrow = array.__arrow_array__()
    size = np.array(
        pc.fill_null(pc.binary_length(arrow), 0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    over = np.flatnonzero(size > cap)
    if len(over):
        size[over] = np.asarray(pc.utf8_length(arrow.take(over)).to_numpy(), dtype=np.int64)
    return size


def _record_id(name: str, raw: pd.Series, *, required: bool) -> _Column:
    return _strings(name, raw, required=required, max_length=MAX_ID_LENGTH)


def _text(name: str, raw: pd.Series) -> _Column:
    """Free text: stripped, an empty string allowed (the model keeps it)."""
    return _Column(raw.str.strip(WHITESPACE), _present(raw))


def _name(name: str, raw: pd.Series) -> _Column:
    return _strings(name, raw, required=True, max_length=None)


def _currency(name: str, raw: pd.Series) -> _Column:
    """Three letters after Python's strip() and upper() (the model's BeforeValidator), checked
    per distinct value: a ledger has a handful of currencies, and Python's upper() is the
    model's (U+00DF becomes SS, which pyarrow's would not do)."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    upper = [str(u).strip().upper() for u in uniques]
    good = np.array([_CURRENCY.fullmatch(u) is not None for u in upper] + [False])
    normal = pd.array(upper, dtype="string").take(codes, allow_fill=True)
    values = pd.Series(normal, index=raw.index, dtype="string")
    present = codes >= 0
    bad = present & ~good[codes]
    originals = raw.array  # read for bad rows only
    problems = _missing(name, raw, required=True)
    problems.append(
        _Problem(
            name,
            bad,
            lambda i: f": String should match pattern '^[A-Z]{{3}}$' (got {originals[i]!r})",
        )
    )
    return _Column(values, present & ~bad, problems)


def _money(name: str, raw: pd.Series, *, required: bool, positive: bool, places: int) -> _Column:
    """At most the digits before the point that the frame's `places` leave; non-negative, or
    positive where the model says."""
    present = _present(raw)
    units = raw.to_numpy(dtype="int64", na_value=0)
    too_big = present & (np.abs(units) >= MONEY_LIMIT)
    sign = present & ~too_big & ((units <= 0) if positive else (units < 0))
    bound = "greater than 0" if positive else "greater than or equal to 0"
    problems = _missing(name, raw, required)
    problems.append(
        _Problem(
            name,
            too_big,
            lambda i: (
                f": Decimal input should have no more than {whole_digits(places)} digits "
                f"before the decimal point (got {format_money(units[i], places)})"
            ),
        )
    )
    problems.append(
        _Problem(
            name,
            sign,
            lambda i: f": Input should be {bound} (got {format_money(units[i], places)})",
        )
    )
    return _Column(raw, present & ~too_big & ~sign, problems)


def _terms(name: str, raw: pd.Series) -> _Column:
    """0 to 365 days; missing means the model's default, 30."""
    present = _present(raw)
    days = raw.to_numpy(dtype="int64", na_value=DEFAULT_TERMS_DAYS)
    low = present & (days < 0)
    high = present & (days > MAX_TERMS_DAYS)
    problems = [
        _Problem(
            name, low, lambda i: f": Input should be greater than or equal to 0 (got {days[i]})"
        ),
        _Problem(
            name,
            high,
            lambda i: f": Input should be less than or equal to {MAX_TERMS_DAYS} (got {days[i]})",
        ),
    ]
    values = pd.Series(days, index=raw.index, dtype="Int64")
    return _Column(values, ~low & ~high, problems)


def _choices(members: Sequence[str]) -> str:
    quoted = [repr(m) for m in members]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def _enum(
    name: str,
    raw: pd.Series,
    *,
    members: Sequence[str],
    default: str | None = None,
    required: bool = False,
) -> _Column:
    """One of the enum's values, exactly: the models do not strip or fold the case of enums."""
    present = _present(raw)
    bad = present & ~np.asarray(raw.isin(list(members)).to_numpy(), dtype=bool)
    originals = raw.array  # read for bad rows only
    choices = _choices(members)
    problems = _missing(name, raw, required)
    problems.append(
        _Problem(name, bad, lambda i: f": Input should be {choices} (got {originals[i]!r})")
    )
    values = raw if default is None else raw.fillna(default)
    valid = (present | (default is not None)) & ~bad
    return _Column(values, valid, problems)


def _date(name: str, raw: pd.Series, *, required: bool) -> _Column:
    return _Column(raw, _present(raw), _missing(name, raw, required))


def _flag(name: str, raw: pd.Series) -> _Column:
    """Yes/no; missing means the model's default, no."""
    return _Column(raw.fillna(False), np.ones(len(raw), dtype=bool))


def _members(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


_ID = partial(_record_id, required=True)
_OPTIONAL_ID = partial(_record_id, required=False)
_REQUIRED_DATE = partial(_date, required=True)
_NON_NEGATIVE = partial(_money, required=True, positive=False)
_POSITIVE = partial(_money, required=True, positive=True)
_Rule = Callable[..., _Column]  # (name, column), and `places=` for money

RULES: dict[str, dict[str, _Rule]] = {
    "customer": {
        "id": _ID,
        "name": _name,
        "currency": _currency,
        "credit_limit": partial(_money, required=False, positive=False),
        "payment_terms_days": _terms,
        "industry": _text,
        "invoice_delivery": partial(_enum, members=_members(DeliveryMode)),
        "payment_method": partial(_enum, members=_members(PaymentMethod)),
        "parent_id": _OPTIONAL_ID,
        "crm_account_id": _OPTIONAL_ID,
    },
    "invoice": {
        "id": _ID,
        "number": _text,
        "customer_id": _ID,
        "issue_date": _REQUIRED_DATE,
        "due_date": _REQUIRED_DATE,
        "currency": _currency,
        "total": _NON_NEGATIVE,
        "open_balance": _NON_NEGATIVE,
        "status": partial(_enum, members=_members(InvoiceStatus), default=InvoiceStatus.OPEN.value),
        "disputed": _flag,
        "dispute_reason": _text,
        "last_modified": partial(_date, required=False),
    },
    "payment": {
        "id": _ID,
        "customer_id": _ID,
        "received_date": _REQUIRED_DATE,
        "currency": _currency,
        "amount": _POSITIVE,
        "method": partial(_enum, members=_members(PaymentMethod)),
    },
    "credit_memo": {
        "id": _ID,
        "customer_id": _ID,
        "date": _REQUIRED_DATE,
        "currency": _currency,
        "amount": _POSITIVE,
        "reason": _text,
    },
    "application": {
        "document_type": partial(_enum, members=DOCUMENT_TYPES, required=True),
        "document_id": _ID,
        "invoice_id": _ID,
        "amount": _POSITIVE,
        "applied_date": partial(_date, required=False),
    },
}
# The date fields of each kind, for the date window.
# The dates the window guards: those the ledger ages and scores by. An invoice's last_modified
# stamp never reaches the Ledger, and a placeholder there (1970) must not cost a good invoice.
DATE_FIELDS: dict[str, tuple[str, ...]] = {
    "customer": (),
    "invoice": ("issue_date", "due_date"),
    "payment": ("received_date",),
    "credit_memo": ("date",),
    "application": ("applied_date",),
}
# The document date an application falls back on when it has no date of its own.
DOCUMENT_DATE = {"payment": "received_date", "credit_memo": "date"}


# --------------------------------------------------------------------------- whole records


def _equal(left: pd.Series, right: pd.Series) -> np.ndarray:
    return np.asarray((left == right).fillna(False).to_numpy(), dtype=bool)


def _units(column: _Column) -> np.ndarray:
    return np.asarray(column.values.to_numpy(dtype="int64", na_value=0))


def _cross_problems(kind: str, columns: dict[str, _Column], places: int) -> list[_Problem]:
    """The models' model_validator rules, where the fields they compare are usable. The model
    stops at the first; all are named here (the verdict is the same)."""
    if kind == "customer":
        own = columns["id"].valid & columns["parent_id"].valid
        own &= _equal(columns["parent_id"].values, columns["id"].values)
        return [_Problem("parent_id", own, lambda _i: ": customer is its own parent")]
    if kind != "invoice":
        return []
    issue = columns["issue_date"].values.to_numpy()
    due = columns["due_date"].values.to_numpy()
    both = columns["issue_date"].valid & columns["due_date"].valid
    early = both & np.asarray(
        (columns["due_date"].values < columns["issue_date"].values).fillna(False), dtype=bool
    )
    total, balance = _units(columns["total"]), _units(columns["open_balance"])
    amounts = columns["total"].valid & columns["open_balance"].valid
    status = columns["status"]
    paid = status.valid & columns["open_balance"].valid & (balance != 0)
    paid &= np.asarray((status.values == InvoiceStatus.PAID.value).fillna(False), dtype=bool)
    return [
        _Problem(
            "due_date",
            early,
            lambda i: (
                f": due date {format_date(due[i])} is before issue date {format_date(issue[i])}"
            ),
        ),
        _Problem(
            "open_balance",
            amounts & (balance > total),
            lambda i: (
                f": open balance {format_money(balance[i], places)} exceeds invoice total "
                f"{format_money(total[i], places)}"
            ),
        ),
        _Problem(
            "status",
            paid,
            lambda i: f": status is paid but open balance is {format_money(balance[i], places)}",
        ),
    ]


def _render(batch: RecordFrame, problem: _Problem, row: int) -> str:
    label = batch.label(problem.field)
    if problem.missing:
        return f"{label} is empty" if problem.field in batch.labels else f"{label} is missing"
    return label + problem.text(row)


def record_type(kind: str, document_type: Any) -> str:
    """The quarantine's name for a row: its kind, an application by its document's kind."""
    if kind != "application":
        return kind
    known = isinstance(document_type, str) and document_type in DOCUMENT_TYPES
    return f"{document_type}_application" if known else kind


def record_ids(kind: str, frame: pd.DataFrame) -> list[str | None]:
    """Each row's id for the quarantine; an application's is DOCUMENT->INVOICE."""
    if kind != "application":
        return [None if pd.isna(v) else str(v) for v in frame["id"].str.strip(WHITESPACE)]
    ids: list[str | None] = []
    for document, invoice in zip(
        frame["document_id"].str.strip(WHITESPACE),
        frame["invoice_id"].str.strip(WHITESPACE),
        strict=True,
    ):
        doc = None if pd.isna(document) else str(document)
        if pd.isna(invoice):
            ids.append(doc)
        else:
            ids.append(f"{'?' if doc is None else doc}->{invoice}")
    return ids


def entries_for(
    kind: str,
    frame: pd.DataFrame,
    rule: str,
    reasons: Sequence[str],
    action: Action = Action.REJECTED,
) -> list[QuarantineEntry]:
    """One quarantine entry per row of `frame`, in its order, with the reason of each."""
    ids = record_ids(kind, frame)
    types = (
        frame["document_type"].to_numpy(dtype=object)
        if kind == "application"
        else [kind] * len(frame)
    )
    places = locations(frame).fillna("").to_numpy(dtype=object)
    return [
        QuarantineEntry(
            record_type=record_type(kind, document_type),
            record_id=record_id,
            location=str(location),
            rule=rule,
            reason=reason,
            action=action,
        )
        for record_id, document_type, location, reason in zip(
            ids, types, places, reasons, strict=True
        )
    ]


def check_records(batch: RecordFrame) -> tuple[pd.DataFrame, list[QuarantineEntry]]:
    """The rows that pass their model's rules, normalised as the model normalises them (text
    stripped, currency upper-cased, terms 30, status open and disputed no when missing), and
    one `invalid_record` entry per other row. Columns beyond the kind's fields, and the index,
    are kept as they were."""
    frame = conform(batch.kind, batch.frame)
    rules = RULES[batch.kind]
    columns = {
        name: rule(name, frame[name], places=batch.places)
        if name in MONEY_FIELDS
        else rule(name, frame[name])
        for name, rule in rules.items()
    }
    problems = [p for column in columns.values() for p in column.problems]
    problems += _cross_problems(batch.kind, columns, batch.places)
    bad = np.zeros(len(frame), dtype=bool)
    for problem in problems:
        bad |= problem.mask
    normalised = frame.assign(**{name: column.values for name, column in columns.items()})
    if not bad.any():
        return normalised, []
    reasons: dict[int, list[str]] = {}
    for problem in problems:
        for row in np.flatnonzero(problem.mask):
            reasons.setdefault(int(row), []).append(_render(batch, problem, int(row)))
    rows = np.flatnonzero(bad)
    entries = entries_for(
        batch.kind,
        normalised.iloc[rows],
        "invalid_record",
        ["; ".join(reasons[int(row)]) for row in rows],
    )
    return normalised.iloc[np.flatnonzero(~bad)], entries


def over_applied_reason(label: str, applied: int, amount: int, places: int) -> str:
    """The model's words for a document whose applications exceed it (units of
    10**-places)."""
    return (
        f"{label}: applications total {format_money(applied, places)} exceeds the amount "
        f"{format_money(amount, places)}"
    )


def applied_units(documents: pd.DataFrame, applications: pd.DataFrame) -> np.ndarray:
    """Per document row, the sum of the applications whose document it is (by type and id)."""
    if documents.empty:
        return np.zeros(0, dtype="int64")
    sums = applications.groupby(["document_type", "document_id"], sort=False, observed=True)[
        "amount"
    ].sum()
    keys = pd.MultiIndex.from_arrays([documents["document_type"], documents["id"]])
    return np.asarray(sums.reindex(keys).to_numpy(dtype="int64", na_value=0))


def check_over_applied(
    batch: RecordFrame, applications: pd.DataFrame
) -> tuple[pd.DataFrame, list[QuarantineEntry]]:
    """Payments or credit memos (checked rows) whose `applications` (checked rows) sum above
    their amount: the model's `_not_over_applied`, which needs both frames."""
    documents = batch.frame.assign(document_type=batch.kind)
    applied = applied_units(documents, applications)
    amount = documents["amount"].to_numpy(dtype="int64", na_value=0)
    over = applied > amount
    label = batch.label("amount")
    reasons = [
        over_applied_reason(label, applied[i], amount[i], batch.places)
        for i in np.flatnonzero(over)
    ]
    entries = entries_for(batch.kind, batch.frame[over], "invalid_record", reasons)
    return batch.frame[~over], entries


# --------------------------------------------------------------------------- the date window


class DateWindow(BaseModel):
    """The dates a ledger accepts; a date outside is a typo or a placeholder (0202, 9999), and
    would age an invoice by centuries or overflow the Ledger's datetime64[ns].

    `latest` defaults to `years_after_as_of` after the as-of date. Without an as-of date,
    to the latest day datetime64[ns] holds, so a build without one still never crashes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    earliest: dt.date = dt.date(1990, 1, 1)
    latest: dt.date | None = None
    years_after_as_of: int = Field(default=1, ge=0, le=200)

    @model_validator(mode="after")
    def _holdable(self) -> DateWindow:
        if self.earliest < NS_EARLIEST:
            raise ValueError(f"earliest must be {NS_EARLIEST} or later")
        if self.latest is not None and not self.earliest <= self.latest <= NS_LATEST:
            raise ValueError(f"latest must be between earliest and {NS_LATEST}")
        return self

    def bounds(self, as_of: dt.date | None) -> tuple[dt.date, dt.date]:
        """The first and last accepted day, both included."""
        if self.latest is not None:
            return self.earliest, self.latest
        if as_of is None:
            return self.earliest, NS_LATEST
        year = as_of.year + self.years_after_as_of
        # 29 February has no twin in most years: the day before it.
        day = min(as_of.day, 28) if as_of.month == 2 and as_of.day == 29 else as_of.day
        latest = dt.date(min(year, NS_LATEST.year), as_of.month, day)
        return self.earliest, min(latest, NS_LATEST)


def dates_out_of_window(
    kind: str,
    frame: pd.DataFrame,
    bounds: tuple[dt.date, dt.date],
    label: Callable[[int, str], str],
) -> tuple[np.ndarray, dict[int, str]]:
    """Rows with a date field outside the window, and for each (by position) every such field
    in words: "column 'Due Date': 9999-12-31 is outside the accepted dates ...". `label`
    names field `name` of row `row`: rows of one frame may come from batches that differ."""
    earliest, latest = bounds
    out = np.zeros(len(frame), dtype=bool)
    reasons: dict[int, list[str]] = {}
    window = f"{earliest.isoformat()} to {latest.isoformat()}"
    for name in DATE_FIELDS[kind]:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        days = column.to_numpy(dtype="datetime64[s]")
        low, high = np.datetime64(earliest, "s"), np.datetime64(latest + dt.timedelta(days=1), "s")
        bad = ~np.isnat(days) & ((days < low) | (days >= high))
        out |= bad
        for row in np.flatnonzero(bad):
            reasons.setdefault(int(row), []).append(
                f"{label(int(row), name)}: {format_date(days[row])} is outside the accepted "
                f"dates {window}"
            )
    return out, {row: "; ".join(texts) for row, texts in reasons.items()}
