"""The mapping checked against the org's own description of the object, before any write.

Every problem names the mapping key it is about, so the jobs can point at the YAML line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from arsync.crm_objects import InvoiceSync, TaskSync
from arsync.mapping import CrmInputs, CrmMapping

Problem = tuple[tuple[str | int, ...], str]  # (key path in the mapping file, message)

# Which Salesforce field types can hold each kind of computed column.
COMPATIBLE: dict[str, frozenset[str]] = {
    "money": frozenset({"currency", "double", "percent", "string", "textarea"}),
    "number": frozenset({"double", "percent", "currency", "string", "textarea"}),
    "integer": frozenset({"int", "double", "currency", "percent", "string", "textarea"}),
    "text": frozenset({"string", "textarea", "picklist", "multipicklist", "email", "url", "phone"}),
    "date": frozenset({"date", "string"}),
    "datetime": frozenset({"datetime", "string"}),
    "boolean": frozenset({"boolean"}),
}
_TEXT_TYPES = frozenset({"string", "textarea", "email", "url", "phone", "picklist"})


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    updateable: bool
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    external_id: bool = False
    id_lookup: bool = False
    restricted: bool = False
    picklist: frozenset[str] = frozenset()
    # Whether "ABC" and "abc" are two values; Salesforce's default for text is that they are not.
    case_sensitive: bool = False

    @classmethod
    def from_describe(cls, field: Mapping[str, Any]) -> FieldInfo:
        return cls(
            name=str(field["name"]),
            type=str(field["type"]),
            updateable=bool(field.get("updateable")),
            length=field.get("length") or None,
            precision=field.get("precision") or None,
            scale=field.get("scale"),
            external_id=bool(field.get("externalId")),
            id_lookup=bool(field.get("idLookup")),
            restricted=bool(field.get("restrictedPicklist")),
            case_sensitive=bool(field.get("caseSensitive")),
            picklist=frozenset(
                str(v["value"]) for v in field.get("picklistValues") or () if v.get("active", True)
            ),
        )


def field_infos(describe: Mapping[str, Any]) -> dict[str, FieldInfo]:
    return {str(f["name"]): FieldInfo.from_describe(f) for f in describe.get("fields", [])}


def check_mapping(
    fields: Mapping[str, FieldInfo], mapping: CrmMapping, column_kinds: Mapping[str, str]
) -> list[Problem]:
    """Fields that do not exist, cannot be written, or cannot hold their column's values."""
    problems: list[Problem] = []
    match_field = mapping.match.external_id_field
    info = fields.get(match_field)
    if info is None:
        problems.append((("match", "external_id_field"), _missing(match_field, mapping, fields)))
    elif not (info.external_id or info.id_lookup):
        problems.append(
            (
                ("match", "external_id_field"),
                f"{mapping.object}.{match_field} is not an external id or lookup field",
            )
        )
    hold = mapping.match.hold_field
    if hold is not None:
        hold_info = fields.get(hold)
        if hold_info is None:
            problems.append(
                (
                    ("match", "hold_field"),
                    f"{_missing(hold, mapping, fields)}; or set hold_field: null",
                )
            )
        elif hold_info.type != "boolean":
            problems.append(
                (("match", "hold_field"), f"{hold} is a {hold_info.type} field, not a checkbox")
            )
    for name, spec in mapping.fields.items():
        loc: tuple[str | int, ...] = ("fields", name)
        info = fields.get(name)
        if info is None:
            problems.append((loc, _missing(name, mapping, fields)))
            continue
        if not info.updateable:
            problems.append((loc, f"{mapping.object}.{name} is not updateable for this user"))
        kind = column_kinds.get(spec.source, "text")
        if info.type not in COMPATIBLE[kind]:
            problems.append(
                (
                    (*loc, "from"),
                    f"{spec.source} is {kind}, but {name} is a {info.type} field; expected one of: "
                    f"{', '.join(sorted(COMPATIBLE[kind]))}",
                )
            )
        if info.restricted and spec.values:
            unknown = sorted(set(spec.values.values()) - info.picklist)
            if unknown:
                problems.append(
                    (
                        (*loc, "values"),
                        f"{', '.join(unknown)} not among {name}'s picklist values: "
                        f"{', '.join(sorted(info.picklist))}",
                    )
                )
    return problems


_NUMBER_TYPES = frozenset({"currency", "double", "int", "percent"})
_DATE_TYPES = frozenset({"date", "datetime"})


def check_inputs(
    account_fields: Mapping[str, FieldInfo],
    inputs: CrmInputs,
    related_fields: Mapping[str, FieldInfo] | None = None,
) -> list[Problem]:
    """The `from_crm` fields that do not exist or cannot hold what arsync reads from them.

    `related_fields` describes the promise's related object, when it has one.
    """
    checks: list[tuple[tuple[str | int, ...], str, str, frozenset[str], str]] = []
    promise = inputs.promise
    if promise is not None:
        sobject = promise.object or "Account"
        wanted = [
            ("amount_field", promise.amount_field, _NUMBER_TYPES, "an amount"),
            ("date_field", promise.date_field, _DATE_TYPES, "a date"),
            ("made_on_field", promise.made_on_field, _DATE_TYPES, "a date"),
            ("account_field", promise.account_field, frozenset({"reference"}), "a lookup"),
        ]
        checks += [
            (("from_crm", "promise", key), sobject, name, kinds, what)
            for key, name, kinds, what in wanted
            if name
        ]
    if inputs.dispute is not None:
        kinds = _TEXT_TYPES | {"boolean"}
        loc: tuple[str | int, ...] = ("from_crm", "dispute", "field")
        checks.append((loc, "Account", inputs.dispute.field, kinds, "a dispute status"))
    problems: list[Problem] = []
    for loc, sobject, name, kinds, what in checks:
        fields = account_fields if sobject == "Account" else (related_fields or {})
        info = fields.get(name)
        if info is None:
            hint = difflib.get_close_matches(name, list(fields), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append((loc, f"{sobject} has no field {name!r}{suggestion}"))
        elif info.type not in kinds:
            expected = ", ".join(sorted(kinds))
            problems.append(
                (loc, f"{sobject}.{name} is a {info.type} field; {what} needs one of: {expected}")
            )
    return problems


def check_values(
    fields: Mapping[str, FieldInfo], values: Iterable[tuple[str, str, Any]]
) -> list[Problem]:
    """Planned values (customer, field, value) that the field would refuse; one per field."""
    problems: dict[str, Problem] = {}
    for customer_id, name, value in values:
        info = fields.get(name)
        if value is None or info is None or name in problems:
            continue
        message = value_problem(info, value)
        if message is not None:
            problems[name] = (("fields", name), f"customer {customer_id}: {message}")
    return list(problems.values())


def value_problem(info: FieldInfo, value: Any) -> str | None:
    if info.type in _TEXT_TYPES and info.length and len(str(value)) > info.length:
        return (
            f"{len(str(value))} characters do not fit {info.name} ({info.length}); "
            f"set max_length: {info.length}"
        )
    if info.restricted and str(value) not in info.picklist:
        return (
            f"{value!r} is not a value of the restricted picklist {info.name}; map it with values:"
        )
    if info.type in {"double", "currency", "percent", "int"} and info.precision:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return f"{value!r} is not a number for {info.name}"
        digits = len(str(abs(int(number))))
        allowed = info.precision - (info.scale or 0)
        if digits > allowed:
            return f"{value} has {digits} digits before the point; {info.name} allows {allowed}"
    return None


def _missing(name: str, mapping: CrmMapping, fields: Mapping[str, FieldInfo]) -> str:
    hint = difflib.get_close_matches(name, list(fields), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return (
        f"{mapping.object} has no field {name!r}{suggestion}; deploy the fields in salesforce/ "
        "or fix the mapping"
    )


_INVOICE_KINDS: dict[str, frozenset[str]] = {
    "invoice_id": COMPATIBLE["text"],
    "number": COMPATIBLE["text"],
    "customer_id": COMPATIBLE["text"],
    "issue_date": COMPATIBLE["date"],
    "due_date": COMPATIBLE["date"],
    "currency": COMPATIBLE["text"],
    "total": COMPATIBLE["money"],
    "open_amount": COMPATIBLE["money"],
    "days_overdue": COMPATIBLE["integer"],
    "disputed": COMPATIBLE["boolean"],
    "dispute_reason": COMPATIBLE["text"],
    "status": COMPATIBLE["text"],
}


def check_invoice_object(fields: Mapping[str, FieldInfo], sync: InvoiceSync) -> list[Problem]:
    """The invoice object's fields: each mapped one writable and fit for its column, the
    external id an external id, the Account lookup a lookup."""
    problems: list[Problem] = []
    keys = (
        ("external_id_field", sync.external_id_field, "an external id text field"),
        ("account_field", sync.account_field, "a lookup to Account"),
    )
    for key, name, what in keys:
        info = fields.get(name)
        fits = info is not None and (
            info.external_id if key == "external_id_field" else info.type == "reference"
        )
        if not fits:
            found = f"a {info.type} field" if info else "not a field of the object"
            problems.append((("invoices", key), f"{sync.object}.{name} is {found}; needs {what}"))
    for name, spec in sync.fields.items():
        loc: tuple[str | int, ...] = ("invoices", "fields", name)
        info = fields.get(name)
        if info is None:
            hint = difflib.get_close_matches(name, list(fields), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append((loc, f"{sync.object} has no field {name!r}{suggestion}"))
        elif not info.updateable:
            problems.append((loc, f"{sync.object}.{name} is not writable for this user"))
        elif info.type not in _INVOICE_KINDS[spec.source]:
            expected = ", ".join(sorted(_INVOICE_KINDS[spec.source]))
            problems.append(
                (loc, f"{spec.source} cannot go in a {info.type} field; expected: {expected}")
            )
    return problems


def check_task_object(fields: Mapping[str, FieldInfo], sync: TaskSync) -> list[Problem]:
    """The Task marker checkbox must exist (deploy salesforce/ or set tasks.marker_field)."""
    info = fields.get(sync.marker_field)
    if info is None or info.type != "boolean":
        found = f"a {info.type} field" if info else "not a Task field"
        return [
            (
                ("tasks", "marker_field"),
                f"{sync.marker_field} is {found}; needs a checkbox (deploy salesforce/)",
            )
        ]
    return []
