"""The Metadata API's types as Salesforce publishes them on npm, and a validator for them.

Salesforce's npm package `@salesforce/types` (built from its forcedotcom/wsdl repository) ships
`lib/metadata.d.ts`, TypeScript generated from metadata.wsdl: one type per `complexType`, its
elements in the WSDL's sequence order, `name?` where the WSDL says minOccurs="0" (or nillable),
`name: T[]` where it says maxOccurs="unbounded", each enumeration as a union of its values, and
`Base & {...}` for an extension. That is what a deploy checks of a file's shape, so it can stand
in for the WSDL on a machine that has only the package registries. What it loses: the
minOccurs of a list (taken here as 0), int against double (both `number`), and the patterns of
restricted strings such as `ID`, and the base of a
type that adds no element to it. See .ci/salesforce-schema for the pinned version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
PRIMITIVES = frozenset({"boolean", "string", "number", "Date", "any"})
_COMPLEX = re.compile(r"export type (\w+) = ((?:\w+ & )*)\{$")
_FIELD = re.compile(r"    (\w+)(\??): (\w+)(\[\])?;$")
_SIMPLE = re.compile(r"export type (\w+) = (.*);$")
_BOOLEAN = frozenset({"true", "false", "1", "0"})  # xsd:boolean's lexical space
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?INF|NaN")  # xsd:double's
_ZONE = r"(Z|[+-]\d{2}:\d{2})?"
_DATE = re.compile(
    rf"-?\d{{4,}}-\d{{2}}-\d{{2}}(T\d{{2}}:\d{{2}}:\d{{2}}(\.\d+)?)?{_ZONE}"
    rf"|\d{{2}}:\d{{2}}:\d{{2}}(\.\d+)?{_ZONE}"
)


@dataclass(frozen=True)
class Field:
    """One element of a type's sequence."""

    name: str
    type: str
    required: bool
    repeated: bool


@dataclass(frozen=True)
class Schema:
    """Complex types (their base types' elements first) and enumerations (None: any string)."""

    types: dict[str, tuple[Field, ...]]
    enums: dict[str, tuple[str, ...] | None]


def parse(text: str) -> Schema:
    """Read metadata.d.ts; refuse a line or a type name it cannot account for."""
    own: dict[str, list[Field]] = {}
    bases: dict[str, list[str]] = {}
    enums: dict[str, tuple[str, ...] | None] = {}
    current: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if current is not None:
            if line == "};":
                current = None
            elif match := _FIELD.fullmatch(line):
                name, optional, kind, array = match.groups()
                own[current].append(Field(name, kind, not optional and not array, bool(array)))
            else:
                raise ValueError(f"line {number}: not a field: {line!r}")
        elif match := _COMPLEX.fullmatch(line):
            current = match.group(1)
            own[current] = []
            bases[current] = [b for b in match.group(2).split(" & ") if b]
        elif match := _SIMPLE.fullmatch(line):
            name, body = match.groups()
            values = body.split(" | ")
            if body == "string":
                enums[name] = None
            elif all(re.fullmatch(r"'[^']*'", v) for v in values):
                enums[name] = tuple(v[1:-1] for v in values)
            else:
                raise ValueError(f"line {number}: not an enumeration: {line!r}")
        elif line.strip() and not line.startswith("};"):
            raise ValueError(f"line {number}: unexpected: {line!r}")

    def flatten(kind: str) -> tuple[Field, ...]:
        if kind not in own:  # the generator writes a type with no elements of its own as
            if enums.get(kind, ()) is None:  # `string`, and drops its base type
                return ()
            raise ValueError(f"{kind} is a base type but not declared as one")
        inherited = tuple(f for base in bases[kind] for f in flatten(base))
        return inherited + tuple(own[kind])

    types = {kind: flatten(kind) for kind in own}
    unknown = (
        {f.type for fields in types.values() for f in fields if f.type not in PRIMITIVES}
        - types.keys()
        - enums.keys()
    )
    if unknown:
        raise ValueError(f"types used but not declared: {sorted(unknown)}")
    return Schema(types, enums)


def load(path: Path) -> Schema:
    return parse(path.read_text(encoding="utf-8"))


def _leaf(schema: Schema, kind: str, element: etree._Element, where: str) -> list[str]:
    value = element.text or ""
    allowed = schema.enums.get(kind)
    if kind == "any":
        problem = None
    elif len(element):
        problem = f"a {kind} value has child elements"
    elif kind == "boolean":
        problem = None if value in _BOOLEAN else f"{value!r} is not a boolean"
    elif kind == "number":
        problem = None if _NUMBER.fullmatch(value) else f"{value!r} is not a number"
    elif kind == "Date":
        problem = None if _DATE.fullmatch(value) else f"{value!r} is not a date or time"
    elif allowed is not None and value not in allowed:
        problem = f"{value!r} is not a {kind} (one of {', '.join(allowed)})"
    else:
        problem = None
    return [] if problem is None else [f"{where}: {problem}"]


def validate(schema: Schema, element: etree._Element, kind: str, where: str = "") -> list[str]:
    """What a deploy would refuse in `element` read as a `kind`: unknown, misplaced, repeated
    or missing elements, and values outside their type. Empty when it is valid."""
    where = where or kind
    fields = schema.types[kind]
    index = {f.name: i for i, f in enumerate(fields)}
    problems: list[str] = []
    if (element.text or "").strip():
        problems.append(f"{where}: text in a {kind}")
    last = -1
    for child in element:
        if not isinstance(child.tag, str):  # a comment or processing instruction
            continue
        qname = etree.QName(child)
        name = qname.localname
        path = f"{where}/{name}"
        if qname.namespace != METADATA_NS:
            problems.append(f"{path}: not in the Metadata API namespace")
            continue
        position = index.get(name)
        if position is None:
            problems.append(f"{path}: {kind} has no element {name}")
            continue
        field = fields[position]
        if position < last:
            problems.append(f"{path}: out of order, {kind} wants it before {fields[last].name}")
        elif position == last and not field.repeated:
            problems.append(f"{path}: {kind} allows one {name}")
        problems += [
            f"{where}: {kind} requires {f.name} before {name}"
            for f in fields[last + 1 : position]
            if f.required
        ]
        last = max(last, position)
        if field.type in schema.types:
            problems += validate(schema, child, field.type, path)
        else:
            problems += _leaf(schema, field.type, child, path)
    problems += [f"{where}: {kind} requires {f.name}" for f in fields[last + 1 :] if f.required]
    return problems
