"""Every source kind the settings accept has a builder in the registry, and only those."""

from __future__ import annotations

from typing import get_args

from jobs.settings import SourceSettings
from jobs.sources import BUILDERS


def test_the_registry_builds_every_kind_the_settings_accept() -> None:
    union = get_args(get_args(SourceSettings)[0])
    kinds = {get_args(model.model_fields["kind"].annotation)[0] for model in union}
    assert kinds == {*BUILDERS, "files"}
