"""Schema of `config/arsync.yaml`: where the data comes from and where results go.

Relative paths in the file are relative to the file itself, so a config folder can be mounted
anywhere (a Docker volume, /etc/arsync) without rewriting it.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from arsync.records import CurrencyCode
from arsync.yamlfile import load_model


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


def load_app_settings(path: Path) -> AppSettings:
    return load_model(AppSettings, path).resolved(path.parent)
