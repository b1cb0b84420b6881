"""The run's settings: the schema of `config/arsync.yaml`, and loading every file it names at
once, so that `arsync validate` reports all problems in one go.

Relative paths in a file are relative to the file itself, so a config folder can be mounted
anywhere (a Docker volume, /etc/arsync) without rewriting it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from arsync.mapping import CrmMapping
from arsync.record_rules import DateWindow
from arsync.records import CurrencyCode
from arsync.yamlfile import ConfigError, ConfigProblem, load_model, read_yaml
from connector.crm.salesforce.settings import SalesforceSettings
from connector.erp import business_central, netsuite, quickbooks, sql, xero
from connector.erp.files.mapping import FileMapping
from jobs.worker_settings import MetricsSettings, ScheduleSettings
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


SourceSettings = Annotated[
    FileSourceSettings
    | sql.Settings
    | quickbooks.Settings
    | xero.Settings
    | netsuite.Settings
    | business_central.Settings,
    Field(discriminator="kind"),
]


class OutputSettings(StrictModel):
    dir: Path = Path("../out")


class StateSettings(StrictModel):
    """Where runs, watermarks, outcomes and the score history are kept (`jobs/state`)."""

    url: str = Field(
        default="sqlite:///../state/arsync.db",
        description="sqlite:///path (relative to this file) or postgresql://user@host/db; "
        "a password only as an environment reference: postgresql://user:${VAR}@host/db",
    )
    lock_lease_hours: float = Field(
        default=6,
        gt=0,
        description="a sync lock older than this is stale and may be taken over (SQLite)",
    )

    @field_validator("url")
    @classmethod
    def _no_password_in_yaml(cls, url: str) -> str:
        try:
            password = make_url(url).password
        except (ArgumentError, ValueError):
            # Say what is wrong, never echo the text: it may hold a password.
            raise ValueError(
                "not a database URL; expected sqlite:///path or postgresql://user@host/db"
            ) from None
        if password is not None and not _ENV_REFERENCE.match(str(password)):
            raise ValueError(
                "secrets come from the environment: write the password as a reference such as "
                "${ARSYNC_DB_PASSWORD} and set that variable where arsync runs"
            )
        return url

    def resolved(self, base: Path) -> StateSettings:
        """A relative SQLite path taken from `base`, like every path in the settings."""
        url = make_url(self.url)
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return self
        if database.startswith("file:") or Path(database).is_absolute():
            return self
        absolute = url.set(database=os.path.normpath(base / database))
        return self.model_copy(update={"url": absolute.render_as_string(hide_password=False)})


_ENV_REFERENCE = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*\}$")


class SafetySettings(StrictModel):
    """The circuit breaker (`jobs/breaker.py`): limits past which a run stops before it writes
    to Salesforce, because a broken export looks like this and a real change rarely does."""

    max_quarantined_share: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=0.05,
        description="stop when more than this share of one file's (or stream's) rows is "
        "quarantined; null: no check",
    )
    max_open_balance_change: Annotated[float, Field(ge=0)] | None = Field(
        default=0.30,
        description="stop when the portfolio's open balance moves by more than this share "
        "against the last completed run that wrote; null: no check",
    )


class ReconciliationSettings(StrictModel):
    """The check of each customer's balance against the ERP's own figure (`arsync.reconcile`),
    where the source reports one: a customer out of tolerance is not written."""

    enabled: bool = Field(
        default=True, description="compare with the ERP's balances when the source has them"
    )
    tolerance: Annotated[Decimal, Field(ge=0)] = Field(
        default=Decimal("0.01"),
        description="the most a customer's balance may differ from the ERP's, in major units "
        "of its currency",
    )
    max_portfolio_share: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.01,
        description="the most the portfolio, per currency, may differ from the ERP's total, as "
        "a share of it; past it the run stops before any write (exit 3)",
    )


class LedgerSettings(StrictModel):
    """Rules of the ledger that a finance admin may tune."""

    dates: DateWindow = Field(
        default_factory=DateWindow,
        description="dates outside this window are quarantined, never read: by default from "
        "1990-01-01 to one year after the as-of date",
    )


class AppSettings(StrictModel):
    source: SourceSettings
    schedule: ScheduleSettings = ScheduleSettings()
    metrics: MetricsSettings = MetricsSettings()
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
    state: StateSettings = StateSettings()
    safety: SafetySettings = SafetySettings()
    reconciliation: ReconciliationSettings = ReconciliationSettings()
    ledger: LedgerSettings = LedgerSettings()

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

        return self.model_copy(
            update={
                "source": _resolved_source(self.source, base, under),
                "crm_mapping": under(self.crm_mapping),
                "scoring": under(self.scoring),
                "output": OutputSettings(dir=under(self.output.dir)),
                "state": self.state.resolved(base),
            }
        )


def _resolved_source(
    source: SourceSettings, base: Path, under: Callable[[Path], Path]
) -> SourceSettings:
    """Each kind's own relative paths (folders, mapping files, SQLite files, token files)."""
    if isinstance(source, FileSourceSettings):
        return source.model_copy(
            update={"path": under(source.path), "mapping": under(source.mapping)}
        )
    if isinstance(source, sql.Settings):
        return source.resolved(base)
    if isinstance(source, quickbooks.Settings | xero.Settings) and source.refresh_token_file:
        return source.model_copy(update={"refresh_token_file": under(source.refresh_token_file)})
    return source


T = TypeVar("T")


@dataclass(frozen=True)
class RunSettings:
    """Everything a run needs from the YAML files, validated against each other."""

    app: AppSettings
    scoring: ScoringSettings
    source_mapping: FileMapping | None  # the column mapping of a `files` source
    crm_mapping: CrmMapping
    config_path: Path

    @property
    def currencies(self) -> CurrencyTable:
        return CurrencyTable(self.app.reporting_currency, dict(self.app.fx_rates))

    def files(self) -> list[Path]:
        source = self.app.source
        mapping = [source.mapping] if isinstance(source, FileSourceSettings) else []
        return [self.app.scoring, *mapping, self.app.crm_mapping]


def _load_scoring(path: Path) -> ScoringSettings:
    """Twice: the rules may test columns named after the file's own aging buckets."""
    draft = load_model(ScoringSettings, path)
    return load_model(ScoringSettings, path, context=rule_columns(draft))


def load_run_settings(config_path: Path) -> RunSettings:
    """Validate arsync.yaml, then every file it names; raise one ConfigError with all problems."""
    app = load_model(AppSettings, config_path).resolved(config_path.parent)
    problems = _missing_files(config_path, app)

    def attempt(path: Path, load: Callable[[], T]) -> T | None:
        if not path.exists():
            return None  # said once, at the arsync.yaml key naming it
        try:
            return load()
        except ConfigError as error:
            problems.extend(error.problems)
            return None

    scoring = attempt(app.scoring, lambda: _load_scoring(app.scoring))
    source = app.source
    source_mapping = (
        attempt(source.mapping, lambda: load_model(FileMapping, source.mapping))
        if isinstance(source, FileSourceSettings)
        else None
    )
    columns = list(output_columns(scoring or ScoringSettings()))
    crm_mapping = attempt(
        app.crm_mapping,
        lambda: load_model(CrmMapping, app.crm_mapping, context={"columns": columns}),
    )
    if problems or scoring is None or crm_mapping is None:
        raise ConfigError(problems)
    return RunSettings(app, scoring, source_mapping, crm_mapping, config_path)


def _missing_files(config_path: Path, app: AppSettings) -> list[ConfigProblem]:
    """A settings file that is not there, at the arsync.yaml line naming it: the file's own
    "cannot read" does not say which key to fix, and a default path has no line of its own."""
    named: list[tuple[list[int | str], Path]] = [(["scoring"], app.scoring)]
    if isinstance(app.source, FileSourceSettings):
        named.append((["source", "mapping"], app.source.mapping))
    named.append((["crm_mapping"], app.crm_mapping))
    missing = [(loc, path) for loc, path in named if not path.exists()]
    if not missing:
        return []
    document = read_yaml(config_path)
    problems: list[ConfigProblem] = []
    for loc, path in missing:
        data = document.data
        for part in loc:
            data = data.get(part) if isinstance(data, dict) else None
        default = "" if data is not None else f" (the default; set {loc[-1]}: to its path)"
        problems.append(document.problem(loc, f"file not found: {path}{default}"))
    return problems
