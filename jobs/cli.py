"""The `arsync` command line: the only place that prints for people."""

from __future__ import annotations

import datetime as dt
import gc
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer
from rich.columns import Columns
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from arsync.errors import FatalError, SourceConfigError
from arsync.redact import redact
from arsync.yamlfile import ConfigError
from connector.secrets import register_referenced
from jobs.console_safety import escaped, plain
from jobs.crash import report_crash
from jobs.exit_codes import ExitCode
from jobs.logging import LogFormat, LogLevel, bind_run, configure_logging, new_run_id
from jobs.progress import Bars, Reporter, Silent
from jobs.report.options import DEFAULT_COMPARE_DAYS


class SampleProfile(StrEnum):
    """`arsync sample-data --profile`: jobs.sample_data.PROFILES, spelled here so that the CLI
    does not import numpy to list them (a test keeps the two equal)."""

    DEFAULT = "default"
    NOISY = "noisy"


# What a command needs beyond this is imported in the command: `arsync --help`, completion and
# `--version` load neither pandas, nor Arrow, nor the state store, nor any connector.
if TYPE_CHECKING:
    from jobs.health import RunSummary
    from jobs.pipeline import SyncResult
    from jobs.report.run import ReportResult
    from jobs.settings import RunSettings


class _Commands(TyperGroup):
    """Every command's last line of defence: an exception that no `_exit_codes` knew is a
    crash, reported in one paragraph and exit 3, never a traceback with exit 1 ("partial")."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_metavar(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command, its switches (--help included, and a sub-app's commands') shown in
        --help without a `<bool>` placeholder: they take no value."""
        command = super().get_command(ctx, cmd_name)
        for each in [command, *getattr(command, "commands", {}).values()]:
            if each is not None:
                _flags_without_metavar(each.get_params(ctx))
        return command

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context, which it does not export
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # exits and usage errors
            raise
        except Exception as error:
            err.print(escaped(report_crash(ctx.invoked_subcommand or "command", error)))
            raise typer.Exit(ExitCode.FATAL) from None


def _flags_without_metavar(params: list[Any]) -> list[Any]:
    """Switches (typer's own --help and completion options too) with an empty placeholder."""
    for param in params:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = param.metavar or FLAG
    return params


app = typer.Typer(
    cls=_Commands,
    help="Accounts-receivable health from the ERP onto Salesforce Accounts.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
# Long paths in messages must stay whole when piped; a log file is no 80-column terminal.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)
log = structlog.get_logger(__name__)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="ARSYNC_CONFIG", help="arsync.yaml; the files it names follow."
    ),
]
DEFAULT_CONFIG = Path("config/arsync.yaml")
DATE = "%Y-%m-%d"
FLAG = ""  # a switch's placeholder in --help: it takes no value, so none (not "<bool>")


def _print_version(asked: bool) -> None:
    """`--version`: the installed distribution's version, then exit before any set-up."""
    if asked:
        out.print(f"arsync {metadata.version('arsync')}", highlight=False)
        raise typer.Exit


@app.callback()
def _setup(
    log_format: Annotated[
        LogFormat, typer.Option(help="console on a terminal, JSON elsewhere, unless set.")
    ] = LogFormat.AUTO,
    log_level: Annotated[
        LogLevel, typer.Option(case_sensitive=False, help="Which events to log.")
    ] = LogLevel.INFO,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            metavar=FLAG,
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    from jobs.allocator import tune_allocators  # noqa: PLC0415 - Arrow, after --help and --version

    configure_logging(log_format, log_level)
    tune_allocators()


AsOfOption = Annotated[
    dt.datetime | None,
    typer.Option(
        formats=[DATE], metavar="YYYY-MM-DD", help="Score as of this date (default: the data's)."
    ),
]
ShowOption = Annotated[
    int, typer.Option(min=0, help="Accounts whose planned field values to list (0: the summary).")
]
FullOption = Annotated[
    bool,
    typer.Option(
        "--full", metavar=FLAG, help="Pull everything, not only what changed since last time."
    ),
]


@app.command()
def run(
    *,
    config: ConfigOption = DEFAULT_CONFIG,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", metavar=FLAG, help="Plan the changes and write nothing to the CRM."
        ),
    ] = False,
    as_of: AsOfOption = None,
    show: ShowOption = 0,
    full: FullOption = False,
    allow_older_data: Annotated[
        bool,
        typer.Option(
            "--allow-older-data",
            metavar=FLAG,
            help="Write even when the ERP data is older than what the last run wrote "
            "(a deliberately restored export).",
        ),
    ] = False,
    accept_large_change: Annotated[
        bool,
        typer.Option(
            "--accept-large-change",
            metavar=FLAG,
            help="Write even when the circuit breaker trips (safety: in arsync.yaml): many rows "
            "of a file quarantined, or the open balance moved a lot since the last run.",
        ),
    ] = False,
) -> None:
    """Pull the ERP ledger, score every customer, and write the changed values to Salesforce."""
    result = _sync_run(
        config,
        dry_run=dry_run,
        as_of=as_of,
        show=show,
        full=full,
        allow_older_data=allow_older_data,
        accept_large_change=accept_large_change,
    )
    raise typer.Exit(result.exit_code)


@app.command()
def plan(
    config: ConfigOption = DEFAULT_CONFIG,
    as_of: AsOfOption = None,
    show: ShowOption = 0,
    full: FullOption = False,
) -> None:
    """Show what a run would change in Salesforce, writing nothing (same as run --dry-run)."""
    result = _sync_run(config, dry_run=True, as_of=as_of, show=show, full=full)
    raise typer.Exit(result.exit_code)


def _sync_run(
    config: Path,
    *,
    dry_run: bool,
    as_of: dt.datetime | None,
    show: int,
    full: bool = False,
    allow_older_data: bool = False,
    accept_large_change: bool = False,
) -> SyncResult:
    """One run as `arsync run` does it, its summary printed; a settings, data or fatal problem
    is printed and raised as typer.Exit with its exit code."""
    from jobs.pipeline import run_sync  # noqa: PLC0415 - the run's stack, loaded by runs only
    from jobs.state import StateStore  # noqa: PLC0415 - the state store, with the run

    run_id = new_run_id()
    bind_run(run_id)
    settings = _load(config)
    day = as_of.date() if as_of else None
    with (
        _exit_codes("sync.failed", "The run stopped"),
        StateStore.open(settings.app.state.url) as state,
        _progress() as progress,
    ):
        result = run_sync(
            settings,
            run_id,
            day,
            progress,
            dry_run=dry_run,
            state=state,
            full=full,
            allow_older_data=allow_older_data,
            accept_large_change=accept_large_change,
        )
    _print_summary(result, show)
    return result


@app.command()
def worker(
    config: ConfigOption = DEFAULT_CONFIG,
    once_now: Annotated[
        bool,
        typer.Option(
            "--once-now", metavar=FLAG, help="Run once right away, then keep the schedule."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", metavar=FLAG, help="Plan every run and write nothing to the CRM."
        ),
    ] = False,
) -> None:
    """Run on the schedule in arsync.yaml (default 02:00 UTC daily) until SIGTERM or SIGINT."""
    # The scheduler, the health server and the metrics registry: only the worker needs them.
    from jobs.health import RunSummary  # noqa: PLC0415
    from jobs.worker import full_pull_due, run_worker  # noqa: PLC0415

    settings = _load(config)  # settings wrong: exit 2 now, not at the first scheduled run
    if not dry_run and settings.app.salesforce is None:
        err.print(
            f"[red]{escaped(config)}: no salesforce: section[/red]; the worker needs an org to "
            "write to (or use --dry-run)."
        )
        raise typer.Exit(ExitCode.CONFIG_ERROR)
    schedule, metrics = settings.app.schedule, settings.app.metrics

    def run_once() -> RunSummary:
        """`arsync run` once, the settings read afresh, full when the schedule says a full
        pull is due; its exit code and counts."""
        try:
            state_url = _load(config).app.state.url
            full = full_pull_due(state_url, schedule, dry_run=dry_run)
            result = _sync_run(config, dry_run=dry_run, as_of=None, show=0, full=full)
        except typer.Exit as stopped:
            return RunSummary(exit_code=stopped.exit_code, seconds=0)
        except Exception as error:  # the worker goes on; this run is a crash, exit 3
            err.print(escaped(report_crash("worker run", error)))
            return RunSummary(exit_code=ExitCode.FATAL, seconds=0)
        return _run_summary(result)

    code = run_worker(
        config, run_once=run_once, schedule=schedule, metrics=metrics, run_now=once_now
    )
    raise typer.Exit(code)


def _run_summary(result: SyncResult) -> RunSummary:
    """What the worker's metrics need from a run (the worker measures the seconds)."""
    from jobs.health import RunSummary  # noqa: PLC0415 - the worker's, loaded with it

    counts = result.ledger.counts()
    return RunSummary(
        exit_code=int(result.exit_code),
        seconds=0,
        records_pulled=sum(n for name, n in counts.items() if name != "applications"),
        accounts_changed=int(result.crm.changes["customer_id"].nunique()),
        failures=result.crm.failed,
        api_calls=sum(result.crm.api_calls.values()),
    )


salesforce_app = typer.Typer(help="The Salesforce connection.", no_args_is_help=True)
app.add_typer(salesforce_app, name="salesforce")


@salesforce_app.command("check")
def salesforce_check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Log in, read the org's API use, and check the mapping against describe(); write nothing."""
    from jobs.crm import check_connection  # noqa: PLC0415 - loaded by this command only

    settings = _load(config)
    with _exit_codes("salesforce.check_failed", "Salesforce check failed"):
        check = check_connection(settings)
    usage = (
        f"{check.api_used:,} of {check.api_limit:,} daily API calls used"
        if check.api_used is not None and check.api_limit is not None
        else "daily API use unknown"
    )
    out.print(f"[green]ok[/green] logged in to {escaped(check.instance)}; {usage}")
    out.print(
        f"[green]ok[/green] {check.fields_checked} {escaped(check.sobject)} fields exist: "
        f"{check.fields_written} written are writable and fit the mapped values, "
        f"{len(check.fields_read)} only read (to match, hold or weigh as from_crm inputs) "
        "are readable"
    )
    for what in check.also_checked:
        out.print(f"[green]ok[/green] {escaped(what)}: checked against describe()")


runs_app = typer.Typer(help="The history of runs, from the state store.")
app.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
def runs_list(
    context: typer.Context,
    config: ConfigOption = DEFAULT_CONFIG,
    limit: Annotated[int, typer.Option(min=1, help="How many recent runs.")] = 20,
) -> None:
    """Recent runs with their status and counts."""
    if context.invoked_subcommand is not None:
        return
    from jobs.state import StateStore  # noqa: PLC0415 - the state store, loaded when read

    settings = _load(config)
    with (
        _exit_codes("runs.failed", "Reading the run history failed"),
        StateStore.open(settings.app.state.url) as state,
    ):
        runs = state.runs.recent(limit)
    table = Table(title=f"Last {len(runs)} runs")
    for column in (
        "Run",
        "Started (UTC)",
        "Status",
        "Dry",
        "As of",
        "Records",
        "Changed",
        "Written",
        "Failed",
        "Quarantined",
        "API calls",
    ):
        table.add_column(column)
    for record in runs:
        counts = record.counts
        table.add_row(  # plain: what the state store holds is data, never markup
            plain(record.run_id),
            record.started_at.strftime("%Y-%m-%d %H:%M"),
            plain(record.status),
            "yes" if record.dry_run else "",
            plain(record.as_of) if record.as_of_known else "-",
            *(
                _count(counts.get(name, ""))
                for name in (
                    "invoices",
                    "accounts_changed",
                    "accounts_written",
                    "accounts_failed",
                    "quarantined",
                    "api_calls",
                )
            ),
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A run id, or its first characters.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """One run: its counts, the records it quarantined, and the Accounts that failed."""
    from jobs.state import StateStore  # noqa: PLC0415 - the state store, loaded when read

    settings = _load(config)
    with (
        _exit_codes("runs.failed", "Reading the run history failed"),
        StateStore.open(settings.app.state.url) as state,
    ):
        record = state.runs.get(run_id)
        if record is None:
            err.print(f"[red]No run {escaped(repr(run_id))} in the state store.[/red]")
            raise typer.Exit(ExitCode.CONFIG_ERROR)
        quarantine = state.runs.quarantine_of(record.run_id)
        failed = [o for o in state.runs.outcomes_of(record.run_id) if o["status"] != "written"]
        out_of_line = state.runs.reconciliation_of(record.run_id)
    out.print(
        f"[bold]Run {escaped(record.run_id)}[/bold]: {escaped(record.status)}, started "
        f"{record.started_at.isoformat()}, as of "
        + (escaped(record.as_of) if record.as_of_known else "unknown (no data loaded)")
        + (" (dry run)" if record.dry_run else "")
    )
    if record.error:
        out.print(f"[red]Error:[/red] {escaped(record.error)}", markup=True, highlight=False)
    counts = ", ".join(f"{name} {count:,}" for name, count in sorted(record.counts.items()))
    out.print(plain(counts))
    if record.status == "failed" and "accounts_changed" in record.counts:
        out.print(plain(_stopped_line(record.counts)), highlight=False)
    if record.accounting:
        out.print(_accounting_table(record.accounting))
    if record.model is not None:
        _print_model(record.model)
    table = Table(title=f"Quarantine: {len(quarantine)} records")
    for column in ("Record", "Where", "Rule", "Reason"):
        table.add_column(column, overflow="fold")
    for entry in quarantine[:50]:
        table.add_row(
            plain(f"{entry.record_type} {entry.record_id or '?'}"),
            plain(entry.location),
            plain(entry.rule),
            plain(entry.reason),
        )
    out.print(table)
    unwritten = Table(title=f"Not written: {len(failed)}")
    for column in ("Key", "Object", "Record", "Status", "Code", "Reason"):
        unwritten.add_column(column, overflow="fold")
    for outcome in failed[:50]:
        unwritten.add_row(
            plain(outcome["key"]),
            plain(outcome["object"]),
            _text(outcome.get("record_id")),
            plain(outcome["status"]),
            _text(outcome.get("error_code")),
            _text(outcome.get("message")),
        )
    out.print(unwritten)
    if out_of_line:
        out.print(_reconciliation_table(out_of_line))


def _stopped_line(counts: dict[str, int]) -> str:
    """What a failed run that had planned did before it stopped: what Salesforce confirmed."""
    return (
        f"Before it stopped: {counts.get('accounts_written', 0):,} of "
        f"{counts['accounts_changed']:,} Accounts to change written, "
        f"{counts.get('accounts_failed', 0):,} refused by Salesforce; the next run plans "
        "again from what Salesforce holds and writes the rest."
    )


def _reconciliation_table(rows: list[dict[str, Any]]) -> Table:
    """Customers whose balance differs from the ERP's own, both figures side by side."""
    from jobs.wording import plural  # noqa: PLC0415 - loaded with what it prints

    table = Table(title=f"Not reconciled with {rows[0]['figure']}: {plural(len(rows), 'customer')}")
    for column in ("Customer", "Currency", "arsync", "ERP", "Difference", "Status"):
        table.add_column(
            column, overflow="fold", justify="right" if column[0].isupper() else "left"
        )
    for row in rows[:50]:
        table.add_row(
            plain(row["customer_id"]),
            plain(row["currency"]),
            *(_money_text(row[name]) for name in ("arsync_balance", "erp_balance", "difference")),
            plain(row["status"]),
        )
    return table


def _money_text(value: object) -> Text:
    """An exact decimal amount (text from the state store) with thousands separators."""
    try:
        return Text(f"{Decimal(str(value)):,}")
    except ArithmeticError:
        return plain(str(value))


source_app = typer.Typer(help="The ERP source.", no_args_is_help=True)
app.add_typer(source_app, name="source")


@source_app.command("check")
def source_check(
    name: Annotated[
        str | None, typer.Argument(help="The source's kind, e.g. quickbooks (default: any).")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Connect to the configured source, pull everything once, and say what it could read."""
    settings = _load(config)
    kind = settings.app.source.kind
    if name is not None and name != kind:
        err.print(
            f"[red]{escaped(config)} configures the source {escaped(repr(kind))}, "
            f"not {escaped(repr(name))}.[/red]"
        )
        raise typer.Exit(ExitCode.CONFIG_ERROR)
    from jobs.load import pull_ledger  # noqa: PLC0415 - the pull's stack, this command's
    from jobs.sources import build_source  # noqa: PLC0415 - the connectors, with the pull

    with _exit_codes("source.check_failed", "Source check failed"):
        builder = pull_ledger(build_source(settings), settings.app.currencies, Silent())
        ledger = builder.build()
    counts = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in ledger.counts().items())
    out.print(f"[green]ok[/green] {escaped(kind)}: read {escaped(counts)}")
    rejected = len(builder.quarantine)
    if rejected:
        out.print(
            f"[yellow]{rejected} records would be quarantined[/yellow] (arsync run lists them)"
        )
    raise typer.Exit(ExitCode.PARTIAL if rejected else ExitCode.OK)


@app.command()
def validate(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Check arsync.yaml, every file it names, the environment variables it references and the
    first rows of a file export; exit 2 naming each problem."""
    from jobs.preflight import preflight  # noqa: PLC0415 - it reads the export's first rows

    settings = _load(config)
    problems = preflight(settings)
    if problems:
        _print_problems(ConfigError(problems))
        raise typer.Exit(ExitCode.CONFIG_ERROR)
    for path in [config, *settings.files()]:
        out.print(f"[green]ok[/green] {escaped(path)}")


@app.command("sample-data")
def sample_data(
    *,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the CSV export to.")],
    customers: Annotated[int, typer.Option(min=1, help="How many customers.")] = 60,
    seed: Annotated[int, typer.Option(help="Same seed, same ledger, byte for byte.")] = 7,
    end_date: Annotated[
        dt.datetime,
        typer.Option(formats=[DATE], metavar="YYYY-MM-DD", help="Last day of the ledger."),
    ] = dt.datetime(2026, 11, 20),  # noqa: DTZ001 - a fixed, documented default date
    months: Annotated[int, typer.Option(min=1, help="Months of history.")] = 24,
    profile: Annotated[
        SampleProfile,
        typer.Option(
            help="How late customers pay: each kind's clear habit (default), or short, noisy "
            "delays, most customers late now and then, as in a real ledger (noisy).",
        ),
    ] = SampleProfile.DEFAULT,
) -> None:
    """Write a realistic, deterministic B2B ledger as an ERP export (CSV) to --out."""
    from jobs.sample_data import generate_ledger, write_export  # noqa: PLC0415 - rarely used

    ledger = generate_ledger(
        customers=customers,
        seed=seed,
        end_date=end_date.date(),
        months=months,
        profile=profile.value,
    )
    exported_at = dt.datetime.combine(end_date.date(), dt.time(23, 0), tzinfo=dt.UTC)
    paths = write_export(ledger, out_dir, exported_at)
    counts = ", ".join(f"{n:,} {name}" for name, n in ledger.counts().items())
    out.print(f"Wrote {counts} to {escaped(out_dir)} ({len(paths)} files).")


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(help="Where to write the files (default: here); created if missing.")
    ] = Path(),
    force: Annotated[
        bool,
        typer.Option("--force", metavar=FLAG, help="Overwrite files that are already there."),
    ] = False,
) -> None:
    """Write a working arsync.yaml, scoring.yaml, the CRM and ERP mappings and the sample export
    into a folder, ready for `arsync run --dry-run`."""
    from jobs.scaffold import ScaffoldConflictError, write_defaults  # noqa: PLC0415 - init's

    try:
        result = write_defaults(folder, force=force)
    except ScaffoldConflictError as error:
        err.print(f"[red]Not written:[/red] {escaped(error)}. Use --force to overwrite them.")
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    except OSError as error:
        err.print(f"[red]Not written:[/red] {escaped(folder)}: {escaped(error.strerror)}")
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    log.info("init.written", folder=str(folder), files=len(result.written))
    out.print(f"Wrote {len(result.written)} files to {escaped(folder)}:", highlight=False)
    for name in result.written:
        if not name.startswith(("examples/", "salesforce/")):
            out.print(f"  {escaped(name)}", highlight=False)
    out.print("  examples/sample/ (a sample ERP export)", highlight=False)
    out.print("  salesforce/ (the SFDX package: fields, page and permission set)", highlight=False)
    go = "" if folder == Path() else f"cd {folder} && "
    out.print(
        "Next:\n"
        f"  {go}arsync run --dry-run        score the sample; nothing is written anywhere\n"
        "  then point source: path: in config/arsync.yaml at your own export, check the column\n"
        "  names in mappings/erp/generic_csv.yaml, and run `arsync validate`.",
        highlight=False,
    )


@contextmanager
def _exit_codes(failed_event: str, stopped: str) -> Iterator[None]:
    """The one place where a problem becomes a message and an exit code: settings (2), data
    that does not fit the settings (2), anything fatal (3)."""
    from jobs.state import LockHeldError  # noqa: PLC0415 - with the state store, as it is used

    try:
        yield
    except ConfigError as error:
        _print_problems(error)
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    except SourceConfigError as error:
        log.error(failed_event, error=str(error), kind="source_config")
        err.print(f"[red]The data does not fit the settings:[/red] {escaped(redact(str(error)))}")
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    except LockHeldError as error:
        log.warning(failed_event, error=str(error), kind="locked")
        err.print(f"[yellow]Not started:[/yellow] {escaped(error)}")
        raise typer.Exit(ExitCode.LOCKED) from None
    except FatalError as error:
        log.error(failed_event, error=str(error), kind="fatal")
        err.print(f"[red]{escaped(stopped)}:[/red] {escaped(redact(str(error)))}")
        raise typer.Exit(ExitCode.FATAL) from None


@contextmanager
def _progress() -> Iterator[Reporter]:
    """Bars for a person at a terminal, nothing for logs and pipes."""
    if err.is_terminal:
        with Bars(err) as bars:
            yield bars
    else:
        yield Silent()


def _load(config: Path) -> RunSettings:
    """The run's settings, or exit 2 with every problem listed by file, line and key."""
    from jobs.settings import load_run_settings  # noqa: PLC0415 - scoring's, pandas with it

    try:
        settings = load_run_settings(config)
    except ConfigError as error:
        _print_problems(error)
        if not config.exists():
            err.print(
                f"No {escaped(config)} here: `arsync init` writes a working set of settings "
                "(or pass --config)."
            )
        raise typer.Exit(ExitCode.CONFIG_ERROR) from None
    register_referenced(path.read_text(encoding="utf-8") for path in [config, *settings.files()])
    return settings


def _print_problems(error: ConfigError) -> None:
    log.error("config.invalid", problems=len(error.problems))
    count = len(error.problems)
    err.print(f"[red]{count} {'problem' if count == 1 else 'problems'} in the settings:[/red]")
    for problem in error.problems:
        err.print(plain(f"  {problem}"), highlight=False)  # may quote a cell of the export


def _print_summary(result: SyncResult, show: int) -> None:
    """The run in a screen: the ledger, the money and tiers, what would change; then the
    per-field detail of `show` accounts, the quarantine, the breaker and the files."""
    from jobs import run_summary as summary  # noqa: PLC0415 - pandas, loaded with the run

    data_as_of = result.data_as_of.strftime("%Y-%m-%d %H:%M %Z") if result.data_as_of else "unknown"
    kind = (" · dry run" if result.dry_run else "") + ("" if result.crm.online else ", offline")
    out.print(
        f"[bold]Run {result.run_id}[/bold]{kind} · as of {result.as_of} · ERP data of {data_as_of}",
        highlight=False,
    )
    entries = len(list(result.quarantine))
    out.print(plain(summary.ledger_line(result.ledger.counts(), entries)), highlight=False)
    if result.loaded is not None and result.loaded.as_of_warning is not None:
        out.print(f"[yellow]Warning:[/yellow] {escaped(result.loaded.as_of_warning)}")
    if result.loaded is not None and result.loaded.accounting:
        accounting = {s: c.as_dict() for s, c in result.loaded.accounting.items()}
        _print_accounting(accounting)
    scores = result.scores
    if len(scores):
        money = summary.portfolio_money(scores)
        out.print(plain(money.line()), highlight=False)
        out.print(
            Columns(
                [
                    summary.tier_table(scores, money.currency),
                    summary.action_table(scores, money.currency),
                ]
            )
        )
    if result.late_risk is not None:
        out.print(plain(_model_line(result.late_risk.summary())), highlight=False)
    line = summary.change_line(
        result.plan, online=result.crm.online, dry_run=result.dry_run, scored=len(scores)
    )
    out.print(plain(line), highlight=False)
    if show > 0:
        _print_plan(result, show)
    elif len(result.plan):
        plan_file = result.outputs.get("plan")
        where = f", or every one in {plan_file}" if plan_file else ""
        out.print(plain(f"Per-field detail: --show 10 for ten accounts{where}."), highlight=False)
    if result.crm.online:
        _print_outcomes(result)
    _print_quarantine(result)
    _print_reconciliation(result)
    _print_trips(result)
    _print_files(result.outputs)


def _print_accounting(accounting: dict[str, dict[str, int]]) -> None:
    """Where every row read went: one line when all of them are in the ledger, else the table."""
    read = sum(count.get("read", 0) for count in accounting.values())
    ledger = sum(count.get("ledger", 0) for count in accounting.values())
    if read == ledger:
        out.print(
            f"Rows read: {read:,} from {len(accounting):,} files or streams, every one in the "
            "ledger.",
            highlight=False,
        )
    else:
        out.print(_accounting_table(accounting))


def _print_files(outputs: dict[str, Path]) -> None:
    """The files written, one line per folder."""
    folders: dict[Path, list[str]] = {}
    for path in outputs.values():
        folders.setdefault(path.parent, []).append(path.name)
    for folder, files in folders.items():
        out.print(plain(f"Wrote to {folder}/: {', '.join(files)}"), highlight=False)


def _model_line(summary: dict[str, Any]) -> str:
    """A run's late-payment model verdict in a line (`jobs.late_risk.LateRisk.summary`)."""
    if summary["basis"] == "model":
        verdict = (
            f"scored the {summary['customers_scored']:,} customers with an invoice due in 30 days"
        )
    else:
        verdict = "did not pass its gate; the rule score stands for every customer"
    return (
        f"Late-payment model: {verdict} ({summary['reason']}; {summary['examples']:,} invoices "
        f"over {summary['origins']} monthly origins tested, {summary['seconds']:.1f} s)."
    )


def _print_model(summary: dict[str, Any]) -> None:
    """A run's late-payment model verdict and its backtest's tier table."""
    out.print(plain(_model_line(summary)), highlight=False)
    out.print(
        Columns(
            [
                _tier_table(summary["tiers"], "Invoices", "Backtest tiers: invoices"),
                _tier_table(
                    summary.get("customer_tiers", []), "Customer-months", "Customers per origin"
                ),
            ]
        )
    )


def _tier_table(rows: list[dict[Any, Any]], unit: str, title: str) -> Table:
    """A backtest's tier table: per tier its examples, their share, the mean probability
    and the share paid late."""
    table = Table("Tier", unit, "Share", "Mean probability", "Paid late", title=title)
    for row in rows:
        table.add_row(
            plain(str(row["tier"])),
            f"{int(row['examples']):,}",
            *(_percent(row[name]) for name in ("share", "probability", "late_share")),
        )
    return table


def _accounting_table(accounting: dict[str, dict[str, int]]) -> Table:
    """Every row read, and where it went: read = in the ledger + quarantined + merged."""
    table = Table(title="Rows read, and where each went")
    for column in ("File or stream", "Read", "In the ledger", "Quarantined", "Merged"):
        table.add_column(column, justify="left" if column.startswith("File") else "right")
    for stream, count in accounting.items():
        table.add_row(
            plain(stream),
            *(f"{count.get(k, 0):,}" for k in ("read", "ledger", "quarantined", "merged")),
        )
    return table


def _print_plan(result: SyncResult, show: int) -> None:
    from jobs.run_summary import cell  # noqa: PLC0415 - pandas, loaded with the run

    plan, online = result.plan, result.crm.online
    accounts = list(plan["customer_id"].unique())  # in order of first appearance
    if not online:
        title = "Plan (dry run, offline: no Salesforce connection configured, nothing compared)"
    else:
        verb = "would change" if result.dry_run else "changed"
        title = f"Plan: {len(plan):,} field values on {len(accounts):,} accounts {verb}"
    table = Table(title=title)
    columns = ["Customer", "Account" if online else "Match key", "Field"]
    columns += ["Current", "New"] if online else ["Value"]
    for column in columns:
        table.add_column(column, overflow="fold")
    shown = plan[plan["customer_id"].isin(accounts[:show])]  # one pass over the plan, not one each
    for customer_id in accounts[:show]:
        rows = shown[shown["customer_id"] == customer_id]
        first = rows.iloc[0]
        key = first["account_id"] if online else f"{first['match_field']}={first['match_value']}"
        cells = zip(
            rows["field"].tolist(), rows["current"].tolist(), rows["value"].tolist(), strict=True
        )
        for position, (field, current, value) in enumerate(cells):
            # plain and _text: names and values from the ERP are data, never rich markup
            name = plain(f"{customer_id} {first['customer_name']}" if position == 0 else "")
            values = [cell(current), cell(value)] if online else [cell(value)]
            table.add_row(name, plain(key if position == 0 else ""), plain(field), *values)
        table.add_section()
    out.print(table)
    if len(accounts) > show:
        out.print(f"... and {len(accounts) - show:,} more accounts in the plan file.")


def _print_outcomes(result: SyncResult) -> None:
    from jobs.outcomes import accounts, others  # noqa: PLC0415 - pandas: loaded by runs only

    outcomes = result.crm.outcomes
    counts = accounts(outcomes)["status"].value_counts().to_dict()
    summary = ", ".join(f"{count:,} {status}" for status, count in sorted(counts.items()))
    calls = sum(result.crm.api_calls.values())
    out.print(plain(f"Accounts: {summary or 'nothing to write'}; {calls:,} API calls."))
    records = others(outcomes)
    if len(records):
        kinds = records["object"] + " " + records["action"] + " " + records["status"]
        grouped = kinds.value_counts().sort_index().items()
        out.print(plain("Related records: " + ", ".join(f"{n:,} {kind}" for kind, n in grouped)))
    problems = outcomes[~outcomes["status"].isin(["written", "planned"])]
    if problems.empty:
        return
    table = Table(title="Not written")
    for column in ("Key", "Object", "Status", "Code", "Reason"):
        table.add_column(column, overflow="fold")
    for row in problems.head(20).itertuples():
        table.add_row(
            plain(row.key),
            plain(row.object),
            plain(row.status),
            _text(row.error_code),
            _text(row.message),
        )
    out.print(table)


def _print_quarantine(result: SyncResult) -> None:
    entries = list(result.quarantine)
    if not entries:
        out.print("[green]Quarantine: empty, every record was scored.[/green]")
        return
    table = Table(title=f"Quarantine: {len(entries)} records kept aside")
    for column in ("Record", "Where", "Rule", "Reason"):
        table.add_column(column, overflow="fold")
    for entry in entries[:20]:
        record = f"{entry.record_type} {entry.record_id or '?'}"
        # plain: ids and reasons quote ERP text, which is data, never rich markup
        table.add_row(plain(record), plain(entry.location), plain(entry.rule), plain(entry.reason))
    out.print(table)
    if len(entries) > 20:
        out.print(f"... and {len(entries) - 20} more in the quarantine file.")


def _print_reconciliation(result: SyncResult) -> None:
    """One line on the check against the ERP's balances, and the customers it held back."""
    from jobs.reconciliation import out_of_line  # noqa: PLC0415 - pandas, loaded with the run

    check = result.loaded.balances if result.loaded is not None else None
    if check is None:
        return
    line = check.summary()
    if check.result is None:
        out.print(plain(line))
        return
    style = "yellow" if check.problems else "green"
    out.print(f"[{style}]{escaped(line)}[/{style}]", highlight=False)
    rows = out_of_line(check.result)
    if rows:
        out.print(_reconciliation_table(rows))
    if not check.result.portfolio_reconciled:
        # Only a dry run gets here: a real one stops before any write (UnreconciledPortfolioError).
        out.print(
            "[yellow]The portfolio does not reconcile: a real run would stop here, writing "
            "nothing (exit 3):[/yellow]"
        )
        for text in check.result.portfolio_breaks():
            out.print(plain(f"  {text}"), highlight=False)


def _print_trips(result: SyncResult) -> None:
    """The circuit breaker's trips: what a real run would have stopped on, or what it wrote
    through because --accept-large-change said so."""
    if not result.trips:
        return
    if result.dry_run:
        head = (
            "Circuit breaker: a real run would stop here, writing nothing (exit 3), unless run "
            "with --accept-large-change:"
        )
    else:
        head = "Circuit breaker tripped, and written through (--accept-large-change):"
    out.print(f"[yellow]{head}[/yellow]")
    for trip in result.trips:
        out.print(plain(f"  {trip.message}"), highlight=False)  # stream names are ERP data


def _count(value: object) -> Text:
    """A count from the state store with thousands separators; anything else as plain text."""
    is_count = isinstance(value, int) and not isinstance(value, bool)
    return Text(f"{value:,}") if is_count else plain(value)


def _text(value: object) -> Text:
    """A data cell as plain text, "(empty)" when missing."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return Text("(empty)") if missing else plain(value)


@app.command()
def report(
    config: ConfigOption = DEFAULT_CONFIG,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=[DATE],
            metavar="YYYY-MM-DD",
            help="Report as of this date (default: the data's).",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the report files (default: the output folder)."),
    ] = None,
    compare_days: Annotated[
        int, typer.Option(min=1, help="Worst movers: compare with the scores this many days ago.")
    ] = DEFAULT_COMPARE_DAYS,
) -> None:
    """Write the worklist, portfolio KPIs and worst movers as CSV, and an HTML page with charts."""
    from jobs.report.run import run_report  # noqa: PLC0415 - charts and templates: this command's

    run_id = new_run_id()
    bind_run(run_id)
    settings = _load(config)
    day = as_of.date() if as_of else None
    with _exit_codes("report.failed", "The report stopped"), _progress() as progress:
        result = run_report(
            settings, out_dir=out_dir, as_of=day, compare_days=compare_days, progress=progress
        )
    _print_report_summary(result)
    raise typer.Exit(result.loaded.exit_code)


@app.command()
def backtest(
    config: ConfigOption = DEFAULT_CONFIG,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=[DATE],
            metavar="YYYY-MM-DD",
            help="Backtest on the ledger as of this date (default: the data's).",
        ),
    ] = None,
    origins: Annotated[
        int | None,
        typer.Option(min=1, max=36, help="Monthly origins to test (default: model.origins)."),
    ] = None,
) -> None:
    """Try the late-payment model on the ledger's own history: trained before each origin,
    tested on the month after it, beside the customer's past late rate."""
    from jobs.backtest import run_backtest  # noqa: PLC0415 - scikit-learn: this command's

    run_id = new_run_id()
    bind_run(run_id)
    settings = _load(config)
    day = as_of.date() if as_of else None
    with _exit_codes("backtest.failed", "The backtest stopped"), _progress() as progress:
        run = run_backtest(settings, as_of=day, origins=origins, progress=progress)
    result = run.result
    if not result.origins:
        out.print(
            "[bold]Backtest[/bold]: too little history: no origin had 50 invoices whose "
            "outcome was known before it."
        )
        raise typer.Exit(ExitCode.OK)
    out.print(
        f"[bold]Backtest[/bold] as of {run.loaded.as_of}: {len(result.origins)} monthly "
        f"origins ({result.origins[0]} to {result.origins[-1]}), {result.examples:,} invoices "
        f"due in the 30 days after an origin; late = paid more than {run.grace_days} days "
        "after the due date."
    )
    figures = Table("", "AUC", "Brier", "ECE", title="Out-of-time quality")
    for name, metrics in (("model", result.model), ("past late rate", result.baseline)):
        figures.add_row(name, f"{metrics.auc:.3f}", f"{metrics.brier:.3f}", f"{metrics.ece:.3f}")
    tables = [
        _tier_table(result.tiers.to_dict("records"), "Invoices", "Tiers by probability: invoices"),
        _tier_table(
            result.customer_tiers.to_dict("records"),
            "Customer-months",
            "Customers per origin (riskiest invoice; late: any)",
        ),
    ]
    out.print(Columns([figures, *tables]))
    dates = run.pay_dates
    if dates.origins:
        out.print(
            f"Pay date: the predicted median is {dates.model_mae:.1f} days off on average; the "
            f"customer's own average days to pay, {dates.baseline_mae:.1f} days off; "
            f"{_percent(dates.coverage)} of pay dates fell in the predicted p10-p90 interval "
            f"({dates.censored:,} invoices still unpaid are in no figure)."
        )
    verdict = "passes" if run.gate.basis == "model" else "does not pass"
    kept = "" if run.gate.basis == "model" else "; the rule score stays"
    out.print(f"Gate: the model {verdict} ({escaped(run.gate.reason)}){kept}.")
    if run.written is not None:
        out.print(
            f"Wrote {escaped(str(run.written))}: what the model says of the {run.customers:,} "
            "customers with an invoice due in the next 30 days (probability, tier, reasons)."
        )
    raise typer.Exit(ExitCode.OK)


def _percent(value: object) -> str:
    """A share as a percent; "-" where it is undefined (NaN, or None in a run record)."""
    if value is None:
        return "-"
    number = float(value)  # type: ignore[arg-type]  # itertuples' fields are untyped objects
    return "-" if math.isnan(number) else f"{number:.1%}"


def _print_report_summary(result: ReportResult, top: int = 5) -> None:
    summary, places = result.report, result.report.money_places
    out.print(
        f"[bold]Report[/bold] as of {summary.as_of}, score changes since "
        f"{summary.compared_with}, amounts in {escaped(summary.reporting_currency)}"
    )
    worklist = summary.worklist
    accounts = f"{len(worklist):,} account{'' if len(worklist) == 1 else 's'}"
    table = Table(title=f"Worklist: {accounts} with money overdue (top {top})")
    for column in ("Rank", "Account", "Priority weight", "Overdue", "Tier", "Next action"):
        numeric = column in {"Rank", "Priority weight", "Overdue"}
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in worklist.head(top).itertuples():
        table.add_row(  # plain: names from the ERP are data, never rich markup
            str(row.priority_rank),
            plain(f"{row.customer_id} {row.customer_name}"),
            f"{row.priority_weight:,.{places}f}",
            f"{row.overdue_balance:,.{places}f}",
            plain(row.risk_tier),
            plain(row.next_action_label),
        )
    out.print(table)
    drops = len(summary.worst_movers)
    out.print(
        f"Worst movers: the {drops} largest health score drops since {summary.compared_with}."
        if drops
        else f"Worst movers: no health score fell since {summary.compared_with}."
    )
    quarantined = len(result.loaded.quarantine)
    if quarantined:
        out.print(
            f"[yellow]Quarantine: {quarantined:,} record{'' if quarantined == 1 else 's'} kept "
            "aside[/yellow] and left out of the "
            "figures (logged as ledger.record_quarantined)."
        )
    folder = result.outputs["report"].parent
    names = ", ".join(path.name for path in result.outputs.values())
    out.print(plain(f"Wrote to {folder}: {names}"), highlight=False)
    out.print(plain(f"Open the report: {result.outputs['report']}"), highlight=False)


def main() -> None:
    """Console-script entry point. Everything alive when the command ends is about to go with
    the process, so `gc.freeze()` takes it out of the cycle collector's sight first: the last
    collections at exit walk none of it (they took 0.2 s of every exit, walking the modules
    a run imports)."""
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
