"""Every example in the CRM mapping section of docs/settings.md (moved there from the README)
is a mapping arsync accepts, as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel

from arsync.mapping import CrmMapping
from scoring import ScoringSettings
from scoring.columns import output_columns

SETTINGS = Path(__file__).parents[1] / "docs/settings.md"
SECTIONS = {"match", "fields", "from_crm", "invoices", "tasks", "object"}


def _mapping_examples() -> list[str]:
    text = SETTINGS.read_text(encoding="utf-8")
    section = text[text.index("### The CRM mapping") :]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)


EXAMPLES = _mapping_examples()


def _options(model: type[BaseModel]) -> set[str]:
    """Every key a finance admin can write in the mapping, nested sections included."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for kind in _nested(info.annotation):
            names |= _options(kind)
    return names


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [kind for arg in get_args(annotation) for kind in _nested(arg)]


def test_the_section_has_an_example_of_every_option() -> None:
    written: set[str] = set()
    for example in EXAMPLES:
        written |= set(re.findall(r"([a-z_]+):", example))
    options = _options(CrmMapping)

    assert {"advance_only", "open_values", "closed_status", "made_on_field"} <= options
    assert options - written == set()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.strip().splitlines()[0][:40])
def test_each_example_validates(example: str) -> None:
    document: dict[str, Any] = yaml.safe_load(example)
    if not SECTIONS & set(document):
        document = {"fields": document}  # a bare list of fields
    mapping = {"fields": {"AR_Open_Balance__c": {"from": "open_balance"}}, **document}
    columns = list(output_columns(ScoringSettings()))

    parsed = CrmMapping.model_validate(mapping, context={"columns": columns})

    assert parsed.fields
