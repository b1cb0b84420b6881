"""Loading every settings file of a run at once, so `arsync validate` reports all problems."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from arsync.mapping import CrmMapping
from arsync.settings import AppSettings, load_app_settings
from arsync.yamlfile import ConfigError, ConfigProblem, load_model
from connector.erp.files.mapping import FileMapping
from scoring import CurrencyTable, ScoringSettings, output_columns
from scoring.columns import rule_columns

T = TypeVar("T")


@dataclass(frozen=True)
class RunSettings:
    """Everything a run needs from the YAML files, validated against each other."""

    app: AppSettings
    scoring: ScoringSettings
    source_mapping: FileMapping
    crm_mapping: CrmMapping

    @property
    def currencies(self) -> CurrencyTable:
        return CurrencyTable(self.app.reporting_currency, dict(self.app.fx_rates))

    def files(self) -> list[Path]:
        return [self.app.scoring, self.app.source.mapping, self.app.crm_mapping]


def _load_scoring(path: Path) -> ScoringSettings:
    """Twice: the rules may test columns named after the file's own aging buckets."""
    draft = load_model(ScoringSettings, path)
    return load_model(ScoringSettings, path, context=rule_columns(draft))


def load_run_settings(config_path: Path) -> RunSettings:
    """Validate arsync.yaml, then every file it names; raise one ConfigError with all problems."""
    app = load_app_settings(config_path)
    problems: list[ConfigProblem] = []

    def attempt(load: Callable[[], T]) -> T | None:
        try:
            return load()
        except ConfigError as error:
            problems.extend(error.problems)
            return None

    scoring = attempt(lambda: _load_scoring(app.scoring))
    source_mapping = attempt(lambda: load_model(FileMapping, app.source.mapping))
    columns = list(output_columns(scoring or ScoringSettings()))
    crm_mapping = attempt(
        lambda: load_model(CrmMapping, app.crm_mapping, context={"columns": columns})
    )
    if problems or scoring is None or source_mapping is None or crm_mapping is None:
        raise ConfigError(problems)
    return RunSettings(app, scoring, source_mapping, crm_mapping)
