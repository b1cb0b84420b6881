"""Record frames: the columnar form in which sources hand records to the ledger builder.

A source yields one `RecordFrame` per batch of one record kind: the canonical fields as typed
columns (no Python object per record), each row's location (`invoices.csv:3`, an API id) and
the stream it was read from (the accounting key: a file name, an API stream). The cells have
been parsed to their types by the source; the rules one record can check alone
(`arsync.record_rules`) and the ledger-wide rules (`arsync.ledger`) run on these frames,
vectorised, for every source alike.

Column types, per canonical field type:

| field type | frame dtype | missing |
| --- | --- | --- |
| id, text, enum value, currency code | pandas `string` | `<NA>` |
| money (`Decimal`, `places` at most) | `Int64`, units of 10**-places (`places`) | `<NA>` |
| whole number | `Int64` | `<NA>` |
| date | `datetime64[s]` (years 1 to 9999 fit, so a bad year is a finding, not a crash) | `NaT` |
| date and time | `datetime64[s, UTC]` | `NaT` |
| yes/no | `boolean` | `<NA>` |

Applications (of payments and credit memos to invoices) are their own kind, one row per
application, with the document they belong to (`document_type`, `document_id`).

Money places are a property of the pull, the same for every frame of one source's pull (so
applications and their documents add up unit for unit): 4 for the files and the APIs, which
cannot know better, so amounts below 10**14; the SQL source's from its money columns' declared
scale, so `numeric(18,2)` columns give 2 places and amounts below 10**16 (`arsync.money`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
from pandas.api.types import pandas_dtype

from arsync.money import DEFAULT_MONEY_PLACES
from arsync.records import CanonicalRecord, CreditMemo, Customer, Invoice, Payment

LOCATION = "location"  # where the row came from: "invoices.csv:3", "Invoice 145"
STREAM = "stream"  # what it was read from, the key of the row accounting: "invoices.csv"
# A file row's first line. A file's frames carry it in place of LOCATION: the location
# ("invoices.csv:3") is made from STREAM and LINE only for the rows a finding names, not as
# two million strings nobody reads (see `locations`).
LINE = "line"

KINDS = ("customer", "invoice", "payment", "credit_memo", "application")

# Canonical field -> frame dtype, per kind (the field names of arsync.records, plus the
# application's document columns).
FIELDS: dict[str, dict[str, str]] = {
    "customer": {
        "id": "string",
        "name": "string",
        "currency": "string",
        "credit_limit": "Int64",
        "payment_terms_days": "Int64",
        "industry": "string",
        "invoice_delivery": "string",
        "payment_method": "string",
        "parent_id": "string",
        "crm_account_id": "string",
    },
    "invoice": {
        "id": "string",
        "number": "string",
        "customer_id": "string",
        "issue_date": "datetime64[s]",
        "due_date": "datetime64[s]",
        "currency": "string",
        "total": "Int64",
        "open_balance": "Int64",
        "status": "string",
        "disputed": "boolean",
        "dispute_reason": "string",
        "last_modified": "datetime64[s, UTC]",
    },
    "payment": {
        "id": "string",
        "customer_id": "string",
        "received_date": "datetime64[s]",
        "currency": "string",
        "amount": "Int64",
        "method": "string",
    },
    "credit_memo": {
        "id": "string",
        "customer_id": "string",
        "date": "datetime64[s]",
        "currency": "string",
        "amount": "Int64",
        "reason": "string",
    },
    "application": {
        "document_type": "string",  # "payment" or "credit_memo"
        "document_id": "string",
        "invoice_id": "string",
        "amount": "Int64",
        "applied_date": "datetime64[s]",
    },
}
MONEY_FIELDS = frozenset({"credit_limit", "total", "open_balance", "amount"})
RECORD_KINDS: dict[type[CanonicalRecord], str] = {
    Customer: "customer",
    Invoice: "invoice",
    Payment: "payment",
    CreditMemo: "credit_memo",
}


@dataclass(frozen=True, eq=False)  # DataFrames have no single truth value to compare by
class RecordFrame:
    """One batch of one kind: `frame` has the kind's FIELDS (any subset may be all missing),
    plus LOCATION and STREAM. `labels` name a field the way the source's user knows it
    ("column 'Due Date'"), for reasons; a field without a label is named by itself. Money
    columns hold amount * 10**`places` as integers: exact, vectorised."""

    kind: str
    frame: pd.DataFrame
    labels: dict[str, str] = field(default_factory=dict)
    places: int = DEFAULT_MONEY_PLACES

    def label(self, name: str) -> str:
        return self.labels.get(name, name)


def columns_of(kind: str) -> dict[str, str]:
    """Every column of a frame of `kind` and its dtype: the fields, LOCATION and STREAM."""
    return {**FIELDS[kind], LOCATION: "string", STREAM: "string"}


def locations(frame: pd.DataFrame) -> pd.Series:
    """Each row's location, on the frame's index: its LOCATION where the source gave one,
    else "STREAM:LINE" where it carries a line."""
    given = (
        frame[LOCATION].astype("string")
        if LOCATION in frame.columns
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    if LINE not in frame.columns:
        return given
    made = given.isna() & frame[LINE].notna()
    if not made.any():
        return given
    lines = frame[LINE][made].astype("Int64").astype("string")
    given = given.copy()
    given[made] = frame[STREAM][made].astype("string") + ":" + lines
    return given


def empty_frame(kind: str) -> pd.DataFrame:
    """A frame of `kind` with no rows and every column at its dtype."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns_of(kind).items()})


def conform(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every column of `kind` at its dtype, a missing one all missing; other
    columns are kept. Cheap when the source already typed them."""
    columns = columns_of(kind)
    absent = {
        name: pd.Series(
            pd.NA if dtype in {"string", "Int64", "boolean"} else pd.NaT,
            index=frame.index,
            dtype=dtype,
        )
        for name, dtype in columns.items()
        if name not in frame.columns
    }
    if absent:
        frame = frame.assign(**absent)
    retype = {name: dtype for name, dtype in columns.items() if str(frame[name].dtype) != dtype}
    if retype:  # column by column: a DataFrame.astype with a dict costs a concat
        frame = frame.assign(
            **{name: frame[name].astype(pandas_dtype(dtype)) for name, dtype in retype.items()}
        )
    order = [*columns, *(name for name in frame.columns if name not in columns)]
    return frame if list(frame.columns) == order else frame[order]


def money_units(amount: Decimal | None, places: int) -> int | None:
    """A Decimal amount in units of 10**-places (exact: the record was validated at them)."""
    return None if amount is None else int(amount.scaleb(places))


def record_row(record: CanonicalRecord, location: str, stream: str, places: int) -> dict[str, Any]:
    """One record as a row of its kind's frame (its applications are rows of their own)."""
    row: dict[str, Any] = {}
    for name, dtype in FIELDS[RECORD_KINDS[type(record)]].items():
        value = getattr(record, name)
        money = dtype == "Int64" and name in MONEY_FIELDS
        row[name] = money_units(value, places) if money else value
    row[LOCATION] = location
    row[STREAM] = stream
    return row


def application_rows(
    document: Payment | CreditMemo,
    location: str,
    part_locations: tuple[str, ...],
    stream: str,
    places: int,
) -> list[dict[str, Any]]:
    """A payment's or credit memo's applications as application rows, each located at its
    own row when the source knows it (`part_locations[i]`), else at its document."""
    kind = RECORD_KINDS[type(document)]
    return [
        {
            "document_type": kind,
            "document_id": document.id,
            "invoice_id": application.invoice_id,
            "amount": money_units(application.amount, places),
            "applied_date": application.applied_date,
            LOCATION: part_locations[index] if index < len(part_locations) else location,
            STREAM: stream,
        }
        for index, application in enumerate(document.applications)
    ]


def rows_to_frame(
    kind: str, rows: list[dict[str, Any]], extra: dict[str, str] | None = None
) -> pd.DataFrame:
    """Row dicts as a typed frame of `kind` (plus `extra` columns and their dtypes)."""
    columns = {**columns_of(kind), **(extra or {})}
    # The ignore: pandas-stubs type pd.array's dtype as a dtype object, not the dtype names
    # ("Int64", "string") that pandas itself takes.
    return pd.DataFrame(
        {
            name: pd.array([row.get(name) for row in rows], dtype=dtype)  # type: ignore[call-overload]
            for name, dtype in columns.items()
        }
    )


def records_to_frames(
    records: Iterable[tuple[CanonicalRecord, str]], places: int = DEFAULT_MONEY_PLACES
) -> dict[str, RecordFrame]:
    """Validated records (with their locations) as one RecordFrame per kind, for sources that
    build records one by one (validated at `places`). Streams are those `LedgerBuilder.add`
    uses: the kind's name, and "payment_application" or "credit_memo_application" for a
    document's applications."""
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for record, location in records:
        kind = RECORD_KINDS[type(record)]
        rows[kind].append(record_row(record, location, kind, places))
        if isinstance(record, Payment | CreditMemo):
            rows["application"] += application_rows(
                record, location, (), f"{kind}_application", places
            )
    return {
        kind: RecordFrame(kind, rows_to_frame(kind, found), places=places)
        for kind, found in rows.items()
    }


@dataclass
class StreamCount:
    """The row accounting of one stream: every row read ends in exactly one of the others."""

    read: int = 0
    ledger: int = 0
    quarantined: int = 0
    merged: int = 0  # identical duplicates folded into the row that is kept

    @property
    def unaccounted(self) -> int:
        return self.read - self.ledger - self.quarantined - self.merged

    def as_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "ledger": self.ledger,
            "quarantined": self.quarantined,
            "merged": self.merged,
        }
