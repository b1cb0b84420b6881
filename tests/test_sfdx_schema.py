"""Every metadata file is one the Metadata API accepts, checked four ways.

1. Always: against the Metadata API's types as Salesforce publishes them on npm
   (`@salesforce/types`, generated from metadata.wsdl 66.0; .ci/salesforce-schema brings it into
   .cache/metadata_api/): element names, order, required elements, booleans, numbers and
   enumerations. Under CI=true a schema that cannot be had fails the run instead of skipping.
2. Against the Metadata API's own XML schema (the `<types>` schema of Salesforce's
   metadata.wsdl), when a copy of that WSDL is on this machine: see
   tests/data/metadata_api/README.md for where it comes from and where to put it. With it, the
   npm types are also checked against it for every type the package uses.
3. Always: a structural check that needs no schema. The WSDL declares each type's elements as
   a sequence in alphabetical order, `fullName` first (checked against the schema in 1 and 2),
   and a deploy refuses an element out of its place; each file's root is the type its suffix
   says.
4. When the Salesforce CLI is installed: `sf project convert source` turns the source into the
   Metadata API format, as a deploy would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import metadata_schema
import pytest
from lxml import etree
from sfdx import METADATA_NS, ROOT

PACKAGE = ROOT / "salesforce"
FILES = sorted((PACKAGE / "force-app").rglob("*-meta.xml"))
_XSD = "http://www.w3.org/2001/XMLSchema"
# Source file suffix -> the metadata type at its root.
ROOT_TYPES = {
    "compactLayout": "CompactLayout",
    "field": "CustomField",
    "flexipage": "FlexiPage",
    "layout": "Layout",
    "listView": "ListView",
    "object": "CustomObject",
    "permissionset": "PermissionSet",
    "tab": "CustomTab",
}


def _wsdl() -> Path | None:
    candidates = [
        os.environ.get("ARSYNC_METADATA_WSDL", ""),
        ROOT / "tests/data/metadata_api/metadata.wsdl",
        ROOT.parent / "shared/metadata_api/metadata.wsdl",
    ]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def _suffix(path: Path) -> str:
    return path.name.removesuffix("-meta.xml").rpartition(".")[2]


def _parse(path: Path) -> etree._ElementTree:
    return etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))


@pytest.fixture(scope="module")
def wsdl_schema() -> etree._Element:
    """The WSDL's schema element, declared in a document of its own."""
    path = _wsdl()
    if path is None:
        pytest.skip(
            "no copy of the Metadata API WSDL here: set ARSYNC_METADATA_WSDL or see "
            "tests/data/metadata_api/README.md (the structural checks still ran)"
        )
    embedded = _parse(path).find(f".//{{{_XSD}}}schema")
    assert embedded is not None, f"{path} holds no XML schema"
    # The WSDL declares the `tns` prefix its QNames use on its root, outside the schema.
    schema = etree.Element(
        f"{{{_XSD}}}schema", attrib=dict(embedded.attrib), nsmap={"xsd": _XSD, "tns": METADATA_NS}
    )
    schema.extend(embedded)
    return schema


@pytest.fixture(scope="module")
def schema(wsdl_schema: etree._Element) -> etree.XMLSchema:
    """The Metadata API schema, with a global element for each type a file starts with."""
    for name in sorted(set(ROOT_TYPES.values())):
        etree.SubElement(wsdl_schema, f"{{{_XSD}}}element", name=name, type=f"tns:{name}")
    return etree.XMLSchema(wsdl_schema)


def _validate(schema: etree.XMLSchema, path: Path) -> str | None:
    if schema.validate(_parse(path)):
        return None
    error = schema.error_log.last_error
    return f"{path.name}:{error.line}: {error.message}"


def test_the_package_has_one_file_of_each_kind_it_ships() -> None:
    assert {_suffix(path) for path in FILES} == set(ROOT_TYPES)


def _types_file() -> Path:
    """metadata.d.ts from ARSYNC_METADATA_TYPES, else from .ci/salesforce-schema (npm, cached)."""
    given = os.environ.get("ARSYNC_METADATA_TYPES")
    if given:
        return Path(given)
    try:
        result = subprocess.run(  # noqa: S603 - a fixed script of this repository
            ["bash", str(ROOT / ".ci/salesforce-schema")],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        reason = f".ci/salesforce-schema did not run: {error}"
    else:
        if result.returncode == 0:
            return Path(result.stdout.strip().splitlines()[-1])
        reason = f".ci/salesforce-schema failed: {result.stderr.strip()[-1000:]}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Metadata API schema is required in CI: {reason}")
    pytest.skip(f"no Metadata API schema here ({reason}); set ARSYNC_METADATA_TYPES")


@pytest.fixture(scope="session")
def types() -> metadata_schema.Schema:
    """The Metadata API's types from Salesforce's npm package (metadata.wsdl 66.0)."""
    return metadata_schema.load(_types_file())


def _check(types: metadata_schema.Schema, path: Path) -> list[str]:
    return metadata_schema.validate(types, _parse(path).getroot(), ROOT_TYPES[_suffix(path)])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_file_is_valid_against_the_metadata_api_types(
    types: metadata_schema.Schema, path: Path
) -> None:
    assert _check(types, path) == []


def test_the_types_are_those_of_the_metadata_api(types: metadata_schema.Schema) -> None:
    """Spot checks that this is the schema the package needs (API 66.0), read right."""
    region = {f.name: f for f in types.types["FlexiPageRegion"]}
    assert [f.name for f in types.types["CustomTab"]][:4] == [
        "fullName",
        "module",
        "actionOverrides",
        "auraComponent",
    ]
    assert region["itemInstances"] == metadata_schema.Field(
        "itemInstances", "ItemInstance", required=False, repeated=True
    )
    assert region["name"].required
    assert types.enums["FlexiPageRegionType"] == ("Region", "Facet", "Background")
    assert {"RecordPage", "AppPage", "HomePage"} <= set(types.enums["FlexiPageType"] or ())
    assert {"Checkbox", "Currency", "Lookup", "Picklist"} <= set(types.enums["FieldType"] or ())
    assert len(types.types) > 1900


def _tab(root: etree._Element) -> None:
    root.insert(0, root[1])  # description before customObject


def _unknown(root: etree._Element) -> None:
    etree.SubElement(root, f"{{{METADATA_NS}}}colour").text = "red"


def _enum(root: etree._Element) -> None:
    _child(root, "type").text = "RecordPages"


def _field_type(root: etree._Element) -> None:
    _child(root, "type").text = "CheckBox"


def _boolean(root: etree._Element) -> None:
    _child(root, "trackHistory").text = "yes"


def _required(root: etree._Element) -> None:
    root.remove(_child(root, "masterLabel"))


def _twice(root: etree._Element) -> None:
    root.insert(2, etree.fromstring(etree.tostring(_child(root, "description"))))


def _child(root: etree._Element, name: str) -> etree._Element:
    found = root.find(f"{{{METADATA_NS}}}{name}")
    assert found is not None, name
    return found


SOURCE = PACKAGE / "force-app/main/default"
BREAKAGES = {
    "misordered": (_tab, "tabs/AR_Invoice__c.tab-meta.xml", "CustomTab/customObject: out of order"),
    "unknown element": (_unknown, "tabs/AR_Invoice__c.tab-meta.xml", "has no element colour"),
    "bad enum": (_enum, "flexipages/Account_AR_Health.flexipage-meta.xml", "not a FlexiPageType"),
    "bad field type": (
        _field_type,
        "objects/Account/fields/AR_Sync_Hold__c.field-meta.xml",
        "'CheckBox' is not a FieldType",
    ),
    "bad boolean": (
        _boolean,
        "objects/Account/fields/AR_Sync_Hold__c.field-meta.xml",
        "'yes' is not a boolean",
    ),
    "missing required": (
        _required,
        "flexipages/Account_AR_Health.flexipage-meta.xml",
        "FlexiPage requires masterLabel",
    ),
    "repeated": (_twice, "tabs/AR_Invoice__c.tab-meta.xml", "CustomTab allows one description"),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=list(BREAKAGES))
def test_the_types_refuse_a_broken_copy_of_a_file(
    types: metadata_schema.Schema,
    tmp_path: Path,
    breakage: tuple[Callable[[etree._Element], None], str, str],
) -> None:
    """The check can fail: each copy, broken one way, is refused for that reason alone."""
    break_it, name, expected = breakage
    tree = _parse(SOURCE / name)
    break_it(tree.getroot())
    broken = tmp_path / Path(name).name
    tree.write(str(broken), xml_declaration=True, encoding="UTF-8")

    problems = _check(types, broken)

    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_the_types_the_package_uses_list_their_elements_in_alphabetical_order(
    types: metadata_schema.Schema,
) -> None:
    """What the structural check below assumes, checked in CI against the npm types."""
    used: set[str] = set()

    def walk(element: etree._Element, kind: str) -> None:
        used.add(kind)
        fields = {f.name: f for f in types.types[kind]}
        for child in element:
            child_type = fields[etree.QName(child).localname].type
            if child_type in types.types:
                walk(child, child_type)

    for path in FILES:
        walk(_parse(path).getroot(), ROOT_TYPES[_suffix(path)])
    inherited = types.types["Metadata"]
    assert [f.name for f in inherited] == ["fullName", "module"]
    for kind in sorted(used):  # its own elements, after those of Metadata where it is one
        own = types.types[kind]
        own = own[len(inherited) :] if own[: len(inherited)] == inherited else own
        assert [f.name for f in own] == sorted(f.name for f in own), kind
    assert {"LayoutSection", "ItemInstance", "PermissionSetTabSetting"} <= used


def test_the_npm_types_say_what_the_wsdl_says_for_each_type_the_package_uses(
    wsdl_schema: etree._Element, types: metadata_schema.Schema
) -> None:
    """Where the WSDL is here too: the generated types lose nothing the package relies on."""
    complex_types = {t.get("name"): t for t in wsdl_schema.iterfind(f"{{{_XSD}}}complexType")}
    primitive = {"boolean": "boolean", "string": "string", "int": "number", "double": "number"}
    primitive |= {"long": "number", "dateTime": "Date", "date": "Date", "time": "Date"}

    def fields(kind: str) -> list[metadata_schema.Field]:
        extension = complex_types[kind].find(f".//{{{_XSD}}}extension")
        base = fields(str(extension.get("base"))[4:]) if extension is not None else []
        own = []
        for e in complex_types[kind].iter(f"{{{_XSD}}}element"):
            repeated = e.get("maxOccurs") == "unbounded"
            optional = e.get("minOccurs") == "0" or e.get("nillable") == "true"
            prefix, _, local = str(e.get("type")).partition(":")
            kind_name = primitive.get(local, "any") if prefix == "xsd" else local
            own.append(
                metadata_schema.Field(
                    str(e.get("name")), kind_name, not (repeated or optional), repeated
                )
            )
        return base + own

    def walk(element: etree._Element, kind: str) -> None:
        assert list(types.types[kind]) == fields(kind), kind
        by_name = {f.name: f.type for f in types.types[kind]}
        for child in element:
            child_type = by_name[etree.QName(child).localname]
            if child_type in types.types:
                walk(child, child_type)
            elif child_type in types.enums:
                simple = wsdl_schema.find(f"{{{_XSD}}}simpleType[@name='{child_type}']")
                assert simple is not None, child_type
                values = tuple(str(v.get("value")) for v in simple.iter(f"{{{_XSD}}}enumeration"))
                assert types.enums[child_type] == (values or None), child_type

    for path in FILES:
        walk(_parse(path).getroot(), ROOT_TYPES[_suffix(path)])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_file_is_valid_against_the_metadata_api_schema(
    schema: etree.XMLSchema, path: Path
) -> None:
    assert _validate(schema, path) is None


def test_the_schema_refuses_an_element_out_of_place(
    schema: etree.XMLSchema, tmp_path: Path
) -> None:
    """The check can fail: a tab whose elements are swapped is refused."""
    broken = tmp_path / "Broken.tab-meta.xml"
    broken.write_text(
        f'<CustomTab xmlns="{METADATA_NS}"><motif>Custom41: Cash</motif>'
        "<customObject>true</customObject></CustomTab>",
        encoding="utf-8",
    )

    assert "customObject" in str(_validate(schema, broken))


def test_the_types_the_package_uses_list_their_elements_alphabetically(
    wsdl_schema: etree._Element,
) -> None:
    """What the structural check below assumes, checked against the WSDL for every type that
    an element of a shipped file has."""
    types = {t.get("name"): t for t in wsdl_schema.iterfind(f"{{{_XSD}}}complexType")}

    def children(kind: str) -> dict[str, str]:
        """The elements of a type, its base type's (Metadata: fullName) first."""
        extension = types[kind].find(f".//{{{_XSD}}}extension")
        base = children(str(extension.get("base"))[4:]) if extension is not None else {}
        own = {
            str(e.get("name")): str(e.get("type")).removeprefix("tns:")
            for e in types[kind].iter(f"{{{_XSD}}}element")
        }
        return {**base, **own}

    used: set[str] = set()

    def walk(element: etree._Element, kind: str) -> None:
        used.add(kind)
        declared = children(kind)
        for child in element:
            name = etree.QName(child).localname
            assert name in declared, f"{kind} has no element {name}"
            if declared[name] in types:
                walk(child, declared[name])

    for path in FILES:
        walk(_parse(path).getroot(), ROOT_TYPES[_suffix(path)])
    for kind in sorted(used):  # a type's own elements; its base type's (fullName) come first
        names = [str(e.get("name")) for e in types[kind].iter(f"{{{_XSD}}}element")]
        assert names == sorted(names), kind
    assert {"LayoutSection", "ComponentInstance", "PermissionSetTabSetting"} <= used


def _out_of_order(element: etree._Element, where: str) -> list[str]:
    names = [etree.QName(child).localname for child in element if isinstance(child.tag, str)]
    rest = [name for name in names if name != "fullName"]
    problems = []
    if "fullName" in names and names[0] != "fullName":
        problems.append(f"{where}: fullName is not first")
    if rest != sorted(rest):
        problems.append(f"{where}: {rest} is not in the schema's (alphabetical) order")
    for child in element:
        if isinstance(child.tag, str) and len(child):
            problems.extend(_out_of_order(child, f"{where}/{etree.QName(child).localname}"))
    return problems


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_file_has_its_elements_where_the_schema_wants_them(path: Path) -> None:
    """Structural check (no schema needed): root type, namespace, element order."""
    root = _parse(path).getroot()

    assert etree.QName(root).namespace == METADATA_NS
    assert etree.QName(root).localname == ROOT_TYPES[_suffix(path)]
    assert _out_of_order(root, path.name) == []


def _unavailable(reason: str) -> NoReturn:
    """Skip where the CLI is not set up; in CI, which installs it (.ci/salesforce-cli), fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI installs it with .ci/salesforce-cli")
    pytest.skip(reason)


def _sf_command() -> list[str]:
    sf = shutil.which("sf")
    if sf is None:
        _unavailable(
            'the Salesforce CLI (sf) is not installed: PATH="$(bash .ci/salesforce-cli):$PATH"'
        )
    node = os.environ.get("ARSYNC_SF_NODE")
    script = Path(sf).resolve()
    if node:
        return [node, str(script)]
    if script.suffix == ".js":  # installed from npm: it runs on the node on PATH
        found = shutil.which("node")
        version = subprocess.run(  # noqa: S603 - a fixed command
            [str(found), "--version"], capture_output=True, text=True, check=False
        ).stdout
        match = re.match(r"v(\d+)", version)
        if match is None or int(match.group(1)) < 22:
            _unavailable(
                f"the Salesforce CLI needs Node 22 or later, node is {version.strip() or 'absent'}"
                " (set ARSYNC_SF_NODE to a Node 22 binary, or use .ci/salesforce-cli)"
            )
    return [sf]


def test_the_salesforce_cli_converts_the_source_for_a_deploy(tmp_path: Path) -> None:
    command = _sf_command()
    out = tmp_path / "mdapi"
    environment = {**os.environ, "SF_DISABLE_TELEMETRY": "true", "SF_AUTOUPDATE_DISABLE": "true"}
    arguments = ["project", "convert", "source", "--root-dir", "force-app"]
    arguments += ["--output-dir", str(out)]
    result = subprocess.run(  # noqa: S603 - the CLI found above, fixed arguments
        [*command, *arguments],
        cwd=PACKAGE,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    manifest = (out / "package.xml").read_text(encoding="utf-8")
    for kind in ("CustomField", "Layout", "FlexiPage", "CustomTab", "PermissionSet"):
        assert f"<name>{kind}</name>" in manifest, kind
    for member in ("Account-AR Health Layout", "arsync_AR_Viewer", "Account.AR_Health"):
        assert f"<members>{member}</members>" in manifest, member
    converted = sorted(path.name for path in out.rglob("*") if path.suffix != ".xml")
    assert "Account_AR_Health.flexipage" in converted
    assert "AR_Invoice__c.tab" in converted


def test_the_structural_check_finds_an_element_out_of_place() -> None:
    tab = etree.fromstring(
        f'<CustomTab xmlns="{METADATA_NS}"><motif>Custom41: Cash</motif>'
        "<customObject>true</customObject><fullName>X</fullName></CustomTab>"
    )

    assert _out_of_order(tab, "X.tab") == [
        "X.tab: fullName is not first",
        "X.tab: ['motif', 'customObject'] is not in the schema's (alphabetical) order",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export type T = {\n    a: Missing;\n};", "types used but not declared: ['Missing']"),
        ("export type T = {\n    a: string | number;\n};", "line 2: not a field"),
        ("export type E = 'A' | B;", "line 1: not an enumeration"),
        ("export type T = Missing & {\n};", "Missing is a base type but not declared as one"),
    ],
)
def test_the_types_reader_refuses_what_it_cannot_account_for(text: str, expected: str) -> None:
    """A new pinned version written differently fails loudly instead of checking less."""
    with pytest.raises(ValueError, match=re.escape(expected)):
        metadata_schema.parse(text)
