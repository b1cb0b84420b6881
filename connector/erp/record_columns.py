"""What the two column-mapping sources (`files`, `sql`) share: the record kinds they read, how
a kind's columns are declared in a mapping, and how text cells spell their values.

The allowed field names per kind come from the canonical record models, so a new record field
is mappable at once in both, and a misspelt one is an error on its own line of the YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    model_validator,
)

from arsync.errors import SourceConfigError
from arsync.money import DEFAULT_MONEY_PLACES
from arsync.quarantine import QuarantineEntry
from arsync.records import (
    MONEY_PLACES_CONTEXT,
    Application,
    CreditMemo,
    Customer,
    Invoice,
    Payment,
    Record,
    RecordId,
)
from connector.erp.validation import quarantined, validation_reason

Header = Annotated[str, StringConstraints(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CellFormats(Strict):
    """How text cells write dates, numbers and booleans (`connector.erp.values.CellParser`);
    a date format of None reads any ISO 8601 spelling, as Python's `fromisoformat` does."""

    date: str | None = "%Y-%m-%d"
    datetime: str | None = "%Y-%m-%dT%H:%M:%S%z"
    decimal_separator: str = "."
    thousands_separator: str = ""
    true_values: tuple[str, ...] = ("yes", "y", "true", "1")
    false_values: tuple[str, ...] = ("no", "n", "false", "0", "")

    @model_validator(mode="after")
    def _separators_differ(self) -> CellFormats:
        if self.decimal_separator == self.thousands_separator:
            raise ValueError("decimal_separator and thousands_separator must differ")
        return self


class ColumnSpec(Strict):
    """A column whose values the source spells its own way (`values` maps them)."""

    column: Header
    values: dict[str, str] = Field(default_factory=dict)


class ApplicationRow(Application):
    """One row of a payment- or credit-memo-application kind, before it joins its document."""

    document_id: RecordId

    def application(self, money_places: int = DEFAULT_MONEY_PLACES) -> Application:
        """The application as its document holds it, at the places this row was read at."""
        values = self.model_dump(exclude={"document_id"})
        return Application.model_validate(values, context={MONEY_PLACES_CONTEXT: money_places})


RECORD_MODELS: dict[str, type[Record]] = {
    "customers": Customer,
    "invoices": Invoice,
    "payments": Payment,
    "payment_applications": ApplicationRow,
    "credit_memos": CreditMemo,
    "credit_memo_applications": ApplicationRow,
}
REQUIRED_KINDS = frozenset({"customers", "invoices"})
RECORD_TYPES = {  # kind -> its record type in the quarantine, in the order kinds are read
    "customers": "customer",
    "invoices": "invoice",
    "payments": "payment",
    "credit_memos": "credit_memo",
    "payment_applications": "payment_application",
    "credit_memo_applications": "credit_memo_application",
}
DOCUMENTS = {"payments": "payment_applications", "credit_memos": "credit_memo_applications"}
"""Documents and the kind holding their applications to invoices."""


def columns_model(name: str, record: type[Record], required: Any, optional: Any) -> type[Strict]:
    """A model whose keys are the record's fields, each a column of type `required` or
    `optional` (mapping it or not): required fields must be mapped. Applications are joined
    from their own kind."""
    fields: dict[str, Any] = {
        field: (required, ...) if info.is_required() else (optional, None)
        for field, info in record.model_fields.items()
        if field != "applications"
    }
    return create_model(name, __base__=Strict, **fields)


def kinds_model(name: str, entry: Callable[[str, type[Record]], type[BaseModel]]) -> type[Strict]:
    """A model with one `entry` per record kind; customers and invoices must be there."""
    fields: dict[str, Any] = {}
    for kind, record in RECORD_MODELS.items():
        model = entry(kind, record)
        fields[kind] = (model, ...) if kind in REQUIRED_KINDS else (model | None, None)
    return create_model(name, __base__=Strict, **fields)


def column_specs(columns: BaseModel) -> dict[str, ColumnSpec]:
    """Field -> its column, for the fields a mapping fills (a bare name is a column)."""
    refs = {name: getattr(columns, name) for name in type(columns).model_fields}
    return {
        name: ref if isinstance(ref, ColumnSpec) else ColumnSpec(column=ref)
        for name, ref in refs.items()
        if ref is not None
    }


class KindsMapping(Strict):
    """A mapping with one entry per record kind under its `section` (`files`, `records`),
    checked when it loads: an application kind is read with its documents, so one mapped
    without them is a mistake."""

    section: ClassVar[str]

    @model_validator(mode="after")
    def _applications_need_documents(self) -> Self:
        section = self.section
        entries = getattr(self, section)
        for documents, applications in DOCUMENTS.items():
            if getattr(entries, applications) is not None and getattr(entries, documents) is None:
                raise ValueError(f"{section}.{applications} needs a {section}.{documents} entry")
        return self


def orphan(
    applications: str, document_id: str, application: Application, location: str, not_in: str
) -> QuarantineEntry:
    """An application of kind `applications` whose document is not among those read (`not_in`
    says where they come from)."""
    documents = next(kind for kind, parts in DOCUMENTS.items() if parts == applications)
    return QuarantineEntry(
        record_type=RECORD_TYPES[applications],
        record_id=f"{document_id}->{application.invoice_id}",
        location=location,
        rule="unknown_document",
        reason=f"{RECORD_TYPES[documents].replace('_', ' ')} {document_id!r} is not in {not_in}",
    )


def check_columns(where: str, expected: Iterable[str], found: Sequence[str], why: str) -> None:
    """A SourceConfigError before the first row when the file or the query lacks a mapped
    column: every missing one named (in `expected` order), with `why` and the columns found."""
    missing = [name for name in dict.fromkeys(expected) if name not in found]
    if missing:
        raise SourceConfigError(
            f"{where} no column {', '.join(repr(m) for m in missing)} ({why}); "
            f"columns found: {', '.join(found) or 'none'}"
        )


def row_record(
    kind: str,
    values: Mapping[str, object],
    record_id: object,
    location: str,
    names: Mapping[str, str],
    *,
    empty: str = "{} is empty",
    money_places: int = DEFAULT_MONEY_PLACES,
) -> Record | QuarantineEntry:
    """One row's values as the record of `kind`, or what its model refuses as the row's
    quarantine entry, worded in the source's column `names` (`empty`: a missing value);
    money at most `money_places` decimals, the pull's (`arsync.money`)."""
    try:
        context = {MONEY_PLACES_CONTEXT: money_places}
        return RECORD_MODELS[kind].model_validate(values, context=context)
    except ValidationError as error:
        reason = validation_reason(error, names, empty, as_named=False)
        return rejected_row(kind, record_id, location, reason)


def rejected_row(kind: str, record_id: object, location: str, reason: str) -> QuarantineEntry:
    """The quarantine entry of a row of `kind` that is no valid record, and why."""
    return quarantined(RECORD_TYPES[kind], record_id, location, "invalid_record", reason)
