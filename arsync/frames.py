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
| money (`Decimal`, 4 places at most) | `Int64`, in units of 1/10,000 (`MONEY_SCALE`) | `<NA>` |
| whole number | `Int64` | `<NA>` |
| date | `datetime64[s]` (years 1 to 9999 fit, so a bad year is a finding, not a crash) | `NaT` |
| date and time | `datetime64[s, UTC]` | `NaT` |
| yes/no | `boolean` | `<NA>` |

Applications (of payments and credit memos to invoices) are their own kind, one row per
application, with the document they belong to (`document_type`, `document_id`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

MONEY_SCALE = 10_000  # money columns hold amount * MONEY_SCALE as integers: exact, vectorised
LOCATION = "location"  # where the row came from: "invoices.csv:3", "Invoice 145"
STREAM = "stream"  # what it was read from, the key of the row accounting: "invoices.csv"

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


@dataclass(frozen=True, eq=False)  # DataFrames have no single truth value to compare by
class RecordFrame:
    """One batch of one kind: `frame` has the kind's FIELDS (any subset may be all missing),
    plus LOCATION and STREAM. `labels` name a field the way the source's user knows it
    ("column 'Due Date'"), for reasons; a field without a label is named by itself."""

    kind: str
    frame: pd.DataFrame
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, name: str) -> str:
        return self.labels.get(name, name)


def empty_frame(kind: str) -> pd.DataFrame:
    """A frame of `kind` with no rows and every column at its dtype."""
    columns = {**FIELDS[kind], LOCATION: "string", STREAM: "string"}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


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
