"""Time a real `arsync run` of N customers against a Salesforce org, stage by stage (issue 15).

Run as `python bench/bench_crm_run.py [--customers 2000] [--export DIR] [--keep DIR]`. It
1. makes an export of N customers with the real CLI (`arsync sample-data --customers N`; its
   time is reported apart), or reuses the one given by `--export`;
2. builds a fake org (`tests/fakes/salesforce.py`) with the shipped Account fields and one
   Account per customer, as the end-to-end tests do (`tests/sample_org.py`): by its Account Id
   when the ERP customer carries one, else by `ERP_Customer_Id__c`; the org is reached through
   `FakeSalesforce.session()`, which calls the fake directly (no `responses` matching);
3. runs the shipped settings (config/ and mappings/ copied, pointed at the export, with their
   own out/ and state/ folders and a `salesforce:` section for the fake, by token) as
   `arsync run` does (`jobs.cli._sync_run`: a state store, then `jobs.pipeline.run_sync`, not a
   dry run; without its progress bars and printed summary, and with `connect` handing the
   client the fake's session), with the CLI's allocators (`jobs.allocator.tune_allocators`),
   in this process, twice: the first run, then an unchanged rerun;
4. reads the stages from the run's structlog JSON log: the log is the project's own JSON
   logging (`configure_logging`), to a file, with one processor added that stamps every event
   with this process's clock and the fake's own serving time (`FakeSalesforce.serving_seconds`,
   the wall time spent inside the fake answering); and the functions that `run_sync`'s
   stages call by name in `jobs.pipeline` (`load_ledger`; `open_and_read` in
   `read_salesforce`; `judge_late_risk` and `score_accounts` in `score`; `plan_crm` in
   `plan_writes`; `write_crm` in `write_salesforce`; `write_outputs` in `write_run_outputs`;
   `record_run`) are wrapped here, unchanged, to log a `bench.stage` event as each ends.
   The load is `sync.started` to `ledger.built`, the reconciliation from there to the end of
   `load_ledger`; the model step is also given by `model.judged`'s own `seconds`. What lies
   between them (the circuit breaker, `check_change`; the mapping to desired values and the
   state store's read of the last written values, in `plan_writes`) is "between".

The fake's time is exact, not estimated: the direct transport calls the fake in this thread,
and the fake times each answer itself (the direct adapter's wrapping of it in a `Response`
stays on arsync's side); it is subtracted stage by stage ("net" column). The
peak RSS is this process's high-water mark (Linux: VmHWM, reset through /proc/self/clear_refs
as each run and each stage starts), per stage and for the run; the fake org's own memory
(measured as it is built) is part of it and is shown apart. The rerun starts with what the
first run left resident in this process (memory the allocators keep), so its peaks are higher
than a fresh `arsync run` process's would be. The invoice records and Tasks are off in the shipped
mapping, so no stage writes them.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests", ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import structlog  # noqa: E402 - after sys.path
from _common import sample_export, shipped_project  # noqa: E402
from csv_rows import read_rows  # noqa: E402
from fakes.salesforce import FakeSalesforce, FieldSpec, PicklistValue  # noqa: E402
from markdown_table import markdown_table  # noqa: E402
from sfdx import describe_fields  # noqa: E402

import jobs.pipeline  # noqa: E402
from connector.crm.salesforce.client import SalesforceClient  # noqa: E402
from connector.crm.salesforce.settings import SalesforceSettings  # noqa: E402
from jobs.allocator import tune_allocators  # noqa: E402
from jobs.logging import LogFormat, bind_run, configure_logging, new_run_id  # noqa: E402
from jobs.settings import load_run_settings  # noqa: E402
from jobs.state import StateStore  # noqa: E402

FLOOR_SECONDS, FLOOR_MIB = 60.0, 2048  # issue 15: endpoint's time excluded, on this machine
# What run_sync's stages call, wrapped to log `bench.stage`; called by name from
# jobs.pipeline's globals, so replacing them there is what the run calls.
WRAPPED = (
    "load_ledger",
    "open_and_read",
    "judge_late_risk",
    "score_accounts",
    "plan_crm",
    "write_crm",
    "write_outputs",
    "record_run",
)
# The report's rows: (label, the stage it comes from); load and reconcile split load_ledger.
ROWS = (
    ("load (sync.started to ledger.built)", "load"),
    ("reconcile (to the end of the load)", "reconcile"),
    ("Salesforce read (open_and_read)", "open_and_read"),
    ("model (judge_late_risk)", "judge_late_risk"),
    ("scoring (score_accounts)", "score_accounts"),
    ("between (breaker, mapping, last written)", "between"),
    ("planning (plan_crm)", "plan_crm"),
    ("Account write (write_crm)", "write_crm"),
    ("outputs (write_outputs)", "write_outputs"),
    ("run recording (record_run)", "record_run"),
)
TODAY = {  # the issue's "today", seconds, where it names the stage
    "open_and_read": "12",
    "score_accounts": "18",
    "plan_crm": "6",
    "write_crm": "12 (Bulk)",
    "write_outputs": "30 with recording",
}


@dataclass(frozen=True)
class Stage:
    seconds: float
    fake_seconds: float
    peak_mib: float | None = None  # the RSS high-water mark within the stage

    @property
    def net(self) -> float:
        return self.seconds - self.fake_seconds


@dataclass(frozen=True)
class Measured:
    """One run: its stages, its whole wall time, the fake's part, its peak RSS."""

    label: str
    stages: dict[str, Stage]
    seconds: float
    fake_seconds: float
    model_seconds: float | None  # model.judged's own figure
    model_reused: bool  # model.judged's `reused`: the model kept from an earlier run
    peak_mib: float
    start_mib: float
    exit_code: int
    api_calls: int
    accounts_written: int

    @property
    def net(self) -> float:
        return self.seconds - self.fake_seconds

    @property
    def net_without_model(self) -> float:
        return self.net - self.stages.get("judge_late_risk", Stage(0.0, 0.0)).net


def main() -> None:
    args = _arguments()
    tune_allocators()  # as the CLI does before any command
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        _bench(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="arsync-bench-crm-") as scratch:
            _bench(args, Path(scratch))


def _bench(args: argparse.Namespace, folder: Path) -> None:
    export, generated = _export(args, folder)
    customers = list(read_rows(export / "customers.csv"))
    before_org = _rss_mib()
    fake = sample_org(customers)
    org_mib = _rss_mib() - before_org
    print(
        f"{len(customers):,} customers from {export}"
        + (f" (generated in {generated:.1f} s)" if generated is not None else " (reused)")
        + f"; fake org of {len(fake.accounts):,} Accounts, {org_mib:,.0f} MiB",
        flush=True,
    )
    config = project(folder, export, fake)
    results = []
    with fake.running():  # a net: nothing of a run can reach the network
        for label in ("first run", "unchanged rerun"):
            log = folder / f"{label.replace(' ', '-')}.log.jsonl"
            print(f"{label} ...", file=sys.stderr, flush=True)
            results.append(measure(label, config, fake, log))
    report(results, len(customers), org_mib)


def _export(args: argparse.Namespace, folder: Path) -> tuple[Path, float | None]:
    """The export given, or one made by the real CLI (its time apart)."""
    if args.export is not None:
        return args.export, None
    return sample_export(folder, args.customers, args.seed)


def sample_org(customers: list[dict[str, str]]) -> FakeSalesforce:
    """The shipped Account fields and one Account per customer, as tests/sample_org.py."""
    fake = FakeSalesforce(daily_max=10_000_000)  # the daily allocation is not the point here
    for spec in describe_fields():
        if spec["name"] not in fake.fields:
            values = tuple(PicklistValue(v["value"]) for v in spec.pop("picklistValues"))
            fake.add_field(FieldSpec(**{**spec, "picklistValues": values}))
    for row in customers:
        if row["Salesforce Account ID"]:
            fake.add_account(Id=row["Salesforce Account ID"], Name=row["Name"])
        else:
            fake.add_account(Name=row["Name"], ERP_Customer_Id__c=row["Customer No."])
    return fake


def project(folder: Path, export: Path, fake: FakeSalesforce) -> Path:
    """The shipped settings, copied, pointed at the export and the fake, own out/ and state/."""
    shutil.rmtree(folder / "state", ignore_errors=True)  # the first run starts afresh
    salesforce = {
        "auth": {
            "mode": "token",
            "instance_url": fake.instance_url,
            "access_token": "${SF_ACCESS_TOKEN}",
        },
        "retry": {"initial_wait_seconds": 0, "max_wait_seconds": 0},
        "bulk_poll_seconds": 0,
    }
    return shipped_project(folder, export, salesforce)


def measure(label: str, config: Path, fake: FakeSalesforce, log: Path) -> Measured:
    """One `arsync run` (not dry) as the CLI makes it, its JSON log to `log`."""
    environ = {"SF_ACCESS_TOKEN": fake.issue_token()}

    def connect(settings: SalesforceSettings) -> SalesforceClient:
        return SalesforceClient.connect(settings, environ=environ, session=fake.session())

    with log.open("w", encoding="utf-8") as stream, _logged(stream, fake), _wrapped(fake):
        start_mib = _reset_peak()
        fake_before = fake.serving_seconds
        started = time.perf_counter()
        run_id = new_run_id()
        bind_run(run_id)
        settings = load_run_settings(config)
        with StateStore.open(settings.app.state.url) as state:
            result = jobs.pipeline.run_sync(
                settings, run_id, dry_run=False, connect=connect, state=state
            )
        seconds = time.perf_counter() - started
        fake_seconds = fake.serving_seconds - fake_before
        last_peak = _peak_mib()
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    outcomes = result.crm.outcomes
    written = int((outcomes["status"] == "written").sum()) if len(outcomes) else 0
    judged = next((e for e in events if e["event"] == "model.judged"), {})
    # The high-water mark is reset around each stage: the run's is the highest of them.
    marks = [
        e[k] for e in events if e["event"] == "bench.stage" for k in ("peak_mib", "gap_peak_mib")
    ]
    peak = max([last_peak, *marks])
    return Measured(
        label,
        stages(events, seconds, fake_seconds),
        seconds,
        fake_seconds,
        judged.get("seconds"),
        bool(judged.get("reused")),
        peak,
        start_mib,
        int(result.exit_code),
        sum(result.crm.api_calls.values()),
        written,
    )


def stages(events: list[dict[str, Any]], seconds: float, fake_seconds: float) -> dict[str, Stage]:
    """Each stage from the log: the wrapped functions' `bench.stage` events, the load split at
    `ledger.built`, and what lies between them."""
    found: dict[str, Stage] = {}
    for event in events:
        if event["event"] == "bench.stage":
            found[event["stage"]] = Stage(
                event["seconds"], event["fake_seconds"], event.get("peak_mib")
            )
    by_name = {e["event"]: e for e in events}
    started, built = by_name.get("sync.started"), by_name.get("ledger.built")
    load = found.pop("load_ledger", None)
    if load is not None and started is not None and built is not None:
        first = built["bench_clock"] - started["bench_clock"]
        fake_first = built["bench_fake"] - started["bench_fake"]
        # One high-water mark for the two: load_ledger's.
        found["load"] = Stage(first, fake_first, load.peak_mib)
        found["reconcile"] = Stage(
            load.seconds - first, load.fake_seconds - fake_first, load.peak_mib
        )
    elif load is not None:
        found["load"] = load
    # The state store's opening, settings and the run's bookkeeping lie outside every stage.
    gaps = [e["gap_peak_mib"] for e in events if e["event"] == "bench.stage"]
    found["between"] = Stage(
        seconds - sum(s.seconds for s in found.values()),
        fake_seconds - sum(s.fake_seconds for s in found.values()),
        max(gaps, default=None),
    )
    return found


@contextmanager
def _logged(stream: Any, fake: FakeSalesforce) -> Iterator[None]:
    """The project's JSON logging to `stream`, every event stamped with this process's clock
    and the fake's serving time so far."""

    def stamp(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event["bench_clock"] = time.perf_counter()
        event["bench_fake"] = fake.serving_seconds
        return event

    configure_logging(LogFormat.JSON, "info", stream=stream)
    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[*processors[:-1], stamp, processors[-1]])
    try:
        yield
    finally:
        structlog.configure(processors=processors)


@contextmanager
def _wrapped(fake: FakeSalesforce) -> Iterator[None]:
    """The pipeline's stage functions, each logging `bench.stage` as it ends."""
    originals = {name: getattr(jobs.pipeline, name) for name in WRAPPED}
    for name, function in originals.items():
        setattr(jobs.pipeline, name, _timed(name, function, fake))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(jobs.pipeline, name, function)


def _timed(name: str, function: Callable[..., Any], fake: FakeSalesforce) -> Callable[..., Any]:
    log = structlog.get_logger("bench")

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        gap_peak = _peak_mib()  # since the stage before ended
        _reset_peak()
        fake_before, started = fake.serving_seconds, time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - started
            peak = _peak_mib()
            _reset_peak()
            log.info(
                "bench.stage",
                stage=name,
                seconds=seconds,
                fake_seconds=fake.serving_seconds - fake_before,
                peak_mib=round(peak, 1),
                gap_peak_mib=round(gap_peak, 1),
            )

    return timed


def report(results: list[Measured], customers: int, org_mib: float) -> None:
    for result in results:
        print(
            f"\n{result.label}, {customers:,} customers: exit code {result.exit_code}, "
            f"{result.accounts_written:,} Accounts written, {result.api_calls:,} API calls"
        )
        table = [(label, key, result.stages.get(key)) for label, key in ROWS]
        print(
            markdown_table(
                table,
                [
                    ("stage", 42, lambda row: row[0]),
                    ("seconds", 7, lambda row: _fmt(row[2], "seconds")),
                    ("in fake", 7, lambda row: _fmt(row[2], "fake_seconds")),
                    ("net", 7, lambda row: _fmt(row[2], "net")),
                    ("peak MiB", 8, lambda row: _mib(row[2])),
                    ("issue's today", 17, lambda row: TODAY.get(row[1], "")),
                ],
            )
        )
        model = "-" if result.model_seconds is None else f"{result.model_seconds:.2f}"
        if result.model_reused:
            model += ", reused from the earlier run: its training's figure"
        print(
            f"whole run {result.seconds:.2f} s, in the fake {result.fake_seconds:.2f} s, "
            f"net {result.net:.2f} s; net without the model step {result.net_without_model:.2f}"
            f" s (model.judged's own seconds: {model}); peak RSS {result.peak_mib:,.0f} MiB "
            f"(at the start {result.start_mib:,.0f}, the fake org's share {org_mib:,.0f}: "
            f"without it about {result.peak_mib - org_mib:,.0f})"
        )
    worst = max(results, key=lambda r: r.net)
    print(
        f"\nfloor (issue 15, 50,000 Accounts): under {FLOOR_SECONDS:.0f} s net of the endpoint "
        f"and under {FLOOR_MIB:,} MiB. Here, slowest run: net {worst.net:.2f} s "
        f"({'under' if worst.net < FLOOR_SECONDS else 'OVER'}), without the model "
        f"{worst.net_without_model:.2f} s "
        f"({'under' if worst.net_without_model < FLOOR_SECONDS else 'OVER'}); highest peak "
        f"{max(r.peak_mib for r in results):,.0f} MiB with the fake org in the same process."
    )


def _mib(stage: Stage | None) -> str:
    return "-" if stage is None or stage.peak_mib is None else f"{stage.peak_mib:,.0f}"


def _fmt(stage: Stage | None, attribute: str) -> str:
    return "-" if stage is None else f"{getattr(stage, attribute):.2f}"


def _reset_peak() -> float:
    """Reset the high-water mark (Linux) and return the RSS now."""
    with contextlib.suppress(OSError):  # elsewhere the peak is the process's since it started
        Path("/proc/self/clear_refs").write_text("5")
    return _rss_mib()


def _peak_mib() -> float:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    if found:
        return int(found.group(1)) / 2**10
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _rss_mib() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return _peak_mib()
    return pages * resource.getpagesize() / 2**20


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--export", type=Path, default=None, help="an existing export (sample-data's) to reuse"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the export, settings, logs and outputs here"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
