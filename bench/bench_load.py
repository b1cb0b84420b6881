"""Time the path users run: `arsync run --dry-run` on a CSV export, beside a pandas anchor.

Run as `python bench/bench_load.py [--customers 5000,50000] [--keep DIR] [--repeat 3]`. For
each size it
1. writes an export with the real CLI, `arsync sample-data --customers N` (about 40 invoices a
   customer); its time is reported apart and counted nowhere else;
2. times the real `arsync run --dry-run` on it, in a child process (offline: the shipped config
   without a `salesforce:` section, pointed at the export, with its own state and out folders),
   and reads the load stage (`sync.started` to `ledger.built`) from its JSON log;
3. times the anchor, in another child: `pandas.read_csv` of the same six files, then a bare
   vectorised aggregation (open balance per customer, aging buckets by days past due, average
   days to pay over 12 months);
4. repeats 2 and 3 (`--repeat`, three trials by default, each run from a fresh state store)
   and reports the medians and their spread: on this shared 2-core machine one run's time
   varies by a fifth from the next.

Each child is waited for with `os.wait4`, so the peak RSS reported is that child's own. Both
figures are wall time of the whole child process (interpreter start and imports included: a
user waits for those too). The CLI is run from this checkout (`python -m jobs.cli` with this
checkout first on the path), so a copy of an older tree benchmarks that tree's code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import ARSYNC, Child, median_by, run_child, sample_export, shipped_project
from markdown_table import markdown_table

AS_OF = dt.date(2026, 11, 20)  # `arsync sample-data`'s default end date: the export's as-of
FILES = (
    "customers",
    "invoices",
    "payments",
    "payment_applications",
    "credit_memos",
    "credit_memo_applications",
)
EUR_RATE = 1.08  # as in the shipped config/arsync.yaml
BUCKETS = (0, 30, 60, 90, 120)  # the shipped aging buckets' upper bounds, in days past due
# Issue 12's floor, printed beside the figures.
TARGET_RUN_RATIO, TARGET_LOAD_RATIO, TARGET_PEAK_MIB = 3.0, 2.0, 2048


@dataclass(frozen=True)
class Trial:
    """One run and one anchor, measured one right after the other."""

    run: Child
    load_seconds: float | None
    model_seconds: float | None  # the late-payment model's step (`model.judged`), if it ran
    anchor: Child
    read_csv_seconds: float
    aggregate_seconds: float


@dataclass(frozen=True)
class Size:
    """The figures of one export size: the median of its trials (this machine's timings
    vary by a fifth from one run to the next), the run's peak the highest of them."""

    customers: int
    invoices: int
    generated_seconds: float | None  # None: an export kept from an earlier run was reused
    trials: list[Trial]

    @property
    def run(self) -> Child:
        peak = max(t.run.peak_mib for t in self.trials)
        middle = median_by(self.trials, lambda t: t.run.seconds).run
        return Child(middle.seconds, peak, middle.stdout, middle.stderr)

    @property
    def load_seconds(self) -> float | None:
        loads = [t.load_seconds for t in self.trials if t.load_seconds is not None]
        return statistics.median(loads) if loads else None

    @property
    def model_seconds(self) -> float | None:
        """The median trial's model step: training and backtest, reported apart (issue 14)."""
        return median_by(self.trials, lambda t: t.run.seconds).model_seconds

    @property
    def scoring_ratio(self) -> float:
        """The run without the model's training, against the anchor: the floor's figure."""
        return (self.run.seconds - (self.model_seconds or 0.0)) / self.anchor.seconds

    @property
    def anchor(self) -> Child:
        return median_by(self.trials, lambda t: t.anchor.seconds).anchor

    @property
    def read_csv_seconds(self) -> float:
        return statistics.median(t.read_csv_seconds for t in self.trials)

    @property
    def aggregate_seconds(self) -> float:
        return statistics.median(t.aggregate_seconds for t in self.trials)

    def spread(self) -> str:
        runs = sorted(t.run.seconds for t in self.trials)
        anchors = sorted(t.anchor.seconds for t in self.trials)
        ratios = sorted(t.run.seconds / t.anchor.seconds for t in self.trials)
        return (
            f"{self.customers:,} customers, {len(self.trials)} trials: run {runs[0]:.2f}-"
            f"{runs[-1]:.2f} s, anchor {anchors[0]:.2f}-{anchors[-1]:.2f} s, run/anchor per "
            f"trial {ratios[0]:.2f}x-{ratios[-1]:.2f}x"
        )

    @property
    def run_ratio(self) -> float:
        return self.run.seconds / self.anchor.seconds

    @property
    def load_ratio(self) -> float | None:
        return None if self.load_seconds is None else self.load_seconds / self.read_csv_seconds


def main() -> None:
    args = _arguments()
    if args.anchor is not None:
        _anchor(args.anchor)
        return
    sizes = [int(n) for n in args.customers.split(",")]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = [_measure_size(n, args.keep, args.seed, args.repeat) for n in sizes]
    else:
        with tempfile.TemporaryDirectory(prefix="arsync-bench-load-") as scratch:
            results = [_measure_size(n, Path(scratch), args.seed, args.repeat) for n in sizes]
    _report(results)


def _measure_size(customers: int, base: Path, seed: int, repeat: int) -> Size:
    export, generated = sample_export(base, customers, seed)
    folder = export.parent
    config = shipped_project(folder, export)  # offline: the plan is made without an org
    trials = [_trial(customers, folder, export, config, n) for n in range(1, repeat + 1)]
    built = _events(trials[0].run.stderr).get("ledger.built", {})
    return Size(customers, int(built.get("invoices", 0)), generated, trials)


def _trial(customers: int, folder: Path, export: Path, config: Path, number: int) -> Trial:
    """One run from a fresh state store, then the anchor, each on a warm page cache."""
    shutil.rmtree(folder / "state", ignore_errors=True)  # every run starts afresh
    print(f"{customers:,} customers, trial {number}: arsync run --dry-run ...", file=sys.stderr)
    _warm(export)
    run = run_child(
        [*ARSYNC, "--log-format", "json", "run", "--dry-run", "--config", str(config)],
        folder / f"run-{number}",
        ok=(0, 1),
    )
    print(f"{customers:,} customers, trial {number}: the anchor ...", file=sys.stderr, flush=True)
    _warm(export)  # the run's peak may have pushed the export out of the page cache
    anchor = run_child(
        [sys.executable, __file__, "--anchor", str(export)], folder / f"anchor-{number}"
    )
    anchor_times = json.loads(anchor.stdout.read_text().strip().splitlines()[-1])
    return Trial(
        run=run,
        load_seconds=_between(_events(run.stderr), "sync.started", "ledger.built"),
        model_seconds=_events(run.stderr).get("model.judged", {}).get("seconds"),
        anchor=anchor,
        read_csv_seconds=anchor_times["read_csv"],
        aggregate_seconds=anchor_times["aggregate"],
    )


def _warm(export: Path) -> None:
    """Read the export once, so neither child pays for the disk and both read from memory."""
    for path in export.iterdir():
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def _events(log: Path) -> dict[str, dict[str, Any]]:
    """The run's JSON log, by event name (the last of each)."""
    events: dict[str, dict[str, Any]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            events[str(event.get("event"))] = event
    return events


def _between(events: dict[str, dict[str, Any]], first: str, last: str) -> float | None:
    try:
        start = dt.datetime.fromisoformat(events[first]["timestamp"])
        end = dt.datetime.fromisoformat(events[last]["timestamp"])
    except KeyError:
        return None
    return (end - start).total_seconds()


def _anchor(export: Path) -> None:
    """The child that reads the six files with pandas and aggregates them; prints its times."""
    import numpy as np  # noqa: PLC0415 - only the child needs pandas
    import pandas as pd  # noqa: PLC0415

    started = time.perf_counter()
    frames = {name: pd.read_csv(export / f"{name}.csv") for name in FILES}
    read = time.perf_counter() - started

    started = time.perf_counter()
    as_of = pd.Timestamp(AS_OF)
    invoices = frames["invoices"]
    rate = np.where(invoices["Currency"] == "EUR", EUR_RATE, 1.0)
    invoices["open_usd"] = invoices["Balance Due"] * rate
    due = pd.to_datetime(invoices["Due Date"], format="%Y-%m-%d")
    issued = pd.to_datetime(invoices["Invoice Date"], format="%Y-%m-%d")
    open_rows = invoices[invoices["Balance Due"] > 0]
    customer = open_rows["Customer No."]
    open_balance = open_rows.groupby(customer)["open_usd"].sum()
    days_past_due = (as_of - due[open_rows.index]).dt.days
    bucket = np.searchsorted(np.asarray(BUCKETS), days_past_due.to_numpy(), side="left")
    aging = open_rows["open_usd"].groupby([customer, bucket]).sum().unstack(fill_value=0.0)

    # Days to pay: each payment application's date against its invoice's, one merge (a
    # lookup by string id is the costly part, as in any pandas script), the last 365 days.
    paid = frames["payment_applications"][["Invoice ID", "Date Applied"]].merge(
        pd.DataFrame(
            {
                "Invoice ID": invoices["Invoice ID"],
                "payer": invoices["Customer No."],
                "issued": issued,
            }
        ),
        on="Invoice ID",
    )
    applied = pd.to_datetime(paid["Date Applied"], format="%Y-%m-%d")
    recent = applied >= as_of - pd.Timedelta(days=365)
    days_to_pay = (applied - paid["issued"]).dt.days
    behaviour = days_to_pay[recent].groupby(paid["payer"][recent]).mean()
    summary = pd.concat(
        [open_balance.rename("open"), aging, behaviour.rename("avg_days_to_pay_12m")], axis=1
    )
    aggregate = time.perf_counter() - started
    print(json.dumps({"read_csv": read, "aggregate": aggregate, "customers": len(summary)}))


def _report(results: list[Size]) -> None:
    def mib(value: float) -> str:
        return f"{value:,.0f}"

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:,.2f}"

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    print("arsync run --dry-run from the CSV export, beside pandas.read_csv + a bare aggregation")
    print(
        "(medians of the trials, run peak the highest; load = sync.started to ledger.built "
        "in the run's log; model = the late-payment model's training and backtest, "
        "model.judged in the log, reported apart; generation not counted)\n"
    )
    print(
        markdown_table(
            results,
            [
                ("customers", 9, lambda r: f"{r.customers:,}"),
                ("invoices", 9, lambda r: f"{r.invoices:,}"),
                ("generate s", 10, lambda r: seconds(r.generated_seconds)),
                ("run s", 7, lambda r: seconds(r.run.seconds)),
                ("run MiB", 7, lambda r: mib(r.run.peak_mib)),
                ("load s", 7, lambda r: seconds(r.load_seconds)),
                ("anchor s", 8, lambda r: seconds(r.anchor.seconds)),
                ("read_csv s", 10, lambda r: seconds(r.read_csv_seconds)),
                ("aggregate s", 11, lambda r: seconds(r.aggregate_seconds)),
                ("anchor MiB", 10, lambda r: mib(r.anchor.peak_mib)),
                ("model s", 7, lambda r: seconds(r.model_seconds)),
                ("run/anchor", 10, lambda r: ratio(r.run_ratio)),
                ("(run-model)/anchor", 18, lambda r: ratio(r.scoring_ratio)),
                ("load/read_csv", 13, lambda r: ratio(r.load_ratio)),
            ],
        )
    )
    print(
        f"\nfloor (issue 12, at the largest size): run/anchor <= {TARGET_RUN_RATIO:.0f}x, "
        f"run peak < {TARGET_PEAK_MIB:,} MiB, load/read_csv <= {TARGET_LOAD_RATIO:.0f}x, "
        "growth exponent about 1"
    )
    for result in results:
        print(result.spread())
    for small, large in itertools.pairwise(results):
        factor = math.log(large.customers / small.customers)
        print(f"growth exponent {small.customers:,} -> {large.customers:,} customers: ", end="")
        parts = [
            ("run", small.run.seconds, large.run.seconds),
            ("load", small.load_seconds, large.load_seconds),
            ("anchor", small.anchor.seconds, large.anchor.seconds),
            ("run peak RSS", small.run.peak_mib, large.run.peak_mib),
        ]
        print(
            ", ".join(
                f"{name} {math.log(b / a) / factor:.2f}"
                for name, a, b in parts
                if a is not None and b is not None and a > 0
            )
        )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--customers", default="5000,50000", help="comma-separated sizes (default 5000,50000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat", type=int, default=3, help="trials per size, the median reported (default 3)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the exports, settings and logs here (an export already there is reused)",
    )
    parser.add_argument("--anchor", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
