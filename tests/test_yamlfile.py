"""Errors inside a discriminated union point at the member the YAML's `kind` chose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from arsync.yamlfile import ConfigError, load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Files(_Strict):
    kind: Literal["files"]
    path: str


class Sql(_Strict):
    kind: Literal["sql"]
    url: str
    batch_size: int = 1000


class Settings(_Strict):
    source: Annotated[Files | Sql, Field(discriminator="kind")]


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "arsync.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_model(Settings, path)
    return [f"{p.line}: {p.key_path}: {p.message}" for p in raised.value.problems]


def test_an_unknown_key_in_the_chosen_member_is_named_on_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "source:\n  kind: sql\n  url: sqlite://\n  batch_sise: 5\n")

    assert found == [
        "4: source.batch_sise: unknown key 'batch_sise' (did you mean 'batch_size'?); "
        "expected one of: kind, url, batch_size"
    ]


def test_a_wrong_type_in_the_chosen_member_is_named_on_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "source:\n  kind: sql\n  url: sqlite://\n  batch_size: many\n")

    assert len(found) == 1
    assert found[0].startswith("4: source.batch_size: Input should be a valid integer")
