"""The run's settings: the schema of `config/arsync.yaml`, and loading every file it names at
once, so that `arsync validate` reports all problems in one go.

Relative paths in a file are relative to the file itself, so a config folder can be mounted
anywhere (a Docker volume, /etc/arsync) without rewriting it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from arsync.mapping import CrmMapping
from arsync.records import CurrencyCode
from arsync.yamlfile import ConfigError, ConfigProblem, load_model
from connector.crm.salesforce.settings import SalesforceSettings
from connector.erp.files.mapping import FileMapping
from scoring import CurrencyTable, ScoringSettings, output_columns
from scoring.columns import rule_columns


class StrictModel(BaseModel):
    """Unknown keys are errors: a misspelt key must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSourceSettings(StrictModel):
    """CSV or XLSX files exported from any ERP, read through a column mapping."""

    kind: Literal["files"]
    path: Path = Field(description="folder holding the exported files")
    mapping: Path = Field(description="column mapping YAML, e.g. mappings/erp/generic_csv.yaml")


SourceSettings = Annotated[FileSourceSettings, Field(discriminator="kind")]


class OutputSettings(StrictModel):
    dir: Path = Path("../out")


class AppSettings(StrictModel):
    source: SourceSettings
    salesforce: SalesforceSettings | None = Field(
        default=None, description="the CRM connection; without it a dry run plans offline"
    )
    crm_mapping: Path = Path("../mappings/salesforce_account.yaml")
    scoring: Path = Path("scoring.yaml")
    reporting_currency: CurrencyCode = "USD"
    fx_rates: dict[CurrencyCode, Annotated[Decimal, Field(gt=0)]] = Field(
        default_factory=dict,
        description="units of the reporting currency for one unit of each other currency",
    )
    output: OutputSettings = OutputSettings()

    @model_validator(mode="after")
    def _reporting_currency_has_no_rate(self) -> AppSettings:
        if self.reporting_currency in self.fx_rates:
            raise ValueError(
                f"fx_rates must not list the reporting currency {self.reporting_currency}"
            )
        return self

    @property
    def currencies(self) -> frozenset[str]:
        """The currencies a run can convert into the reporting currency."""
        return frozenset({self.reporting_currency, *self.fx_rates})

    def resolved(self, base: Path) -> AppSettings:
        """The same settings with every relative path taken from `base`."""

        def under(path: Path) -> Path:
            return Path(os.path.normpath(base / path))

        source = self.source.model_copy(
            update={"path": under(self.source.path), "mapping": under(self.source.mapping)}
        )
        return self.model_copy(
            update={
                "source": source,
                "crm_mapping": under(self.crm_mapping),
                "scoring": under(self.scoring),
                "output": OutputSettings(dir=under(self.output.dir)),
            }
        )


T = TypeVar("T")


@dataclass(frozen=True)
class RunSettings:
    """Everything a run needs from the YAML files, validated against each other."""

    app: AppSettings
    scoring: ScoringSettings
    source_mapping: FileMapping
    crm_mapping: CrmMapping
    config_path: Path

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
    app = load_model(AppSettings, config_path).resolved(config_path.parent)
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
    return RunSettings(app, scoring, source_mapping, crm_mapping, config_path)
