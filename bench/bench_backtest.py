"""Time the late-payment model's backtest and its peak memory, beside a bare sklearn anchor.

Run as `python bench/bench_backtest.py [--customers 5000,50000] [--origins 6]`. Per
configuration (each size with the default profile, and the smallest with the noisy one too):
1. a child process generates the ledger in memory (`generate_ledger`, timed apart) and runs
   `scoring.late_model.backtest` on it as `arsync backtest` does with the shipped settings
   (grace 0 days), with the snapshots, the outcomes and the model fits timed on the way (the
   module's functions wrapped, not changed), and prints the AUC, ECE, baseline AUC and tiers;
2. another child fits, per origin, a plain `LogisticRegression` (sklearn's defaults) on random
   features with that origin's training rows and the model's feature count: what any fit of
   that many rows costs, without imputation, scaling or the ten calibration folds.

Each child is waited for with `os.wait4`, so the peak RSS reported is its own; the model
child's includes the generated ledger, whose RSS is reported apart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
END = dt.date(2026, 11, 20)  # `arsync sample-data`'s default end date
GRACE_DAYS = 0  # the shipped config/scoring.yaml's behaviour.on_time_grace_days


@dataclass(frozen=True)
class Child:
    seconds: float
    peak_mib: float
    result: dict[str, Any]


@dataclass(frozen=True)
class Configuration:
    customers: int
    profile: str
    model: Child
    anchor: Child


def main() -> None:
    args = _arguments()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.child:
        print(json.dumps(_model(args.child, args.profile, args.seed, args.origins)))
        return
    if args.anchor:
        print(json.dumps(_anchor([int(n) for n in args.anchor.split(",")], args.features)))
        return
    sizes = [int(n) for n in args.customers.split(",")]
    plan = [(n, "default") for n in sizes] + [(min(sizes), "noisy")]
    plan.sort(key=lambda pair: pair[0])
    results = []
    for customers, profile in plan:
        print(f"{customers:,} customers, {profile}: backtest ...", file=sys.stderr, flush=True)
        model = _child(
            [
                "--child",
                str(customers),
                "--profile",
                profile,
                "--seed",
                str(args.seed),
                "--origins",
                str(args.origins),
            ]
        )
        sizes_fitted = ",".join(str(n) for n in model.result["training_rows"])
        print(f"{customers:,} customers, {profile}: anchor ...", file=sys.stderr, flush=True)
        anchor = _child(
            ["--anchor", sizes_fitted or "0", "--features", str(model.result["features"])]
        )
        results.append(Configuration(customers, profile, model, anchor))
        brief = {k: v for k, v in model.result.items() if k != "training_rows"}
        print(
            json.dumps({"seconds": model.seconds, "peak_mib": model.peak_mib, **brief}),
            file=sys.stderr,
            flush=True,
        )
    _report(results)


def _child(arguments: list[str]) -> Child:
    """This script as a child; its wall time, its own peak RSS (wait4) and its JSON line."""
    command = [sys.executable, __file__, *arguments]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)  # noqa: S603 - our own script
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    peak = usage.ru_maxrss / 2**20 if sys.platform == "darwin" else usage.ru_maxrss / 2**10
    return Child(seconds, peak, json.loads(output.decode().strip().splitlines()[-1]))


class _Timer:
    """Seconds and calls spent in one wrapped function."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        return timed


def _model(customers: int, profile: str, seed: int, origins: int) -> dict[str, Any]:
    """The child that generates the ledger and backtests the model on it."""
    from jobs.sample_data import generate_ledger  # noqa: PLC0415 - after sys.path
    from scoring import late_model, late_payment  # noqa: PLC0415
    from scoring.late_payment import FEATURES  # noqa: PLC0415

    started = time.perf_counter()
    ledger = generate_ledger(customers, seed=seed, end_date=END, profile=profile)
    generated = time.perf_counter() - started
    ledger_mib = _peak_rss_mib()

    snapshots, labels, fits = _Timer(), _Timer(), _Timer()
    training_rows: list[int] = []
    model_class = late_model.LateModel

    def fitted(training: Any, outcome: Any) -> Any:
        training_rows.append(len(training))
        return model_class(training, outcome)

    late_payment.snapshot = snapshots.wrap(late_payment.snapshot)  # type: ignore[assignment]  # timing only
    late_model.outcomes = labels.wrap(late_model.outcomes)  # type: ignore[assignment]  # timing only
    late_model.LateModel = fits.wrap(fitted)  # type: ignore[assignment,misc]  # timing only
    started = time.perf_counter()
    result = late_model.backtest(ledger, END, origins=origins, grace_days=GRACE_DAYS)
    seconds = time.perf_counter() - started
    return {
        "invoices": len(ledger.invoices),
        "generate_s": generated,
        "ledger_mib": ledger_mib,
        "backtest_s": seconds,
        "snapshots": snapshots.calls,
        "snapshot_s": snapshots.seconds,
        "outcomes_s": labels.seconds,
        "fits": fits.calls,
        "fit_s": fits.seconds,
        "training_rows": training_rows,
        "features": len(FEATURES),
        "examples": result.examples,
        "origins": len(result.origins),
        "auc": result.model.auc,
        "brier": result.model.brier,
        "ece": result.model.ece,
        "baseline_auc": result.baseline.auc,
        "baseline_ece": result.baseline.ece,
        "tiers": result.tiers.to_dict(orient="records"),
    }


def _anchor(rows: list[int], features: int) -> dict[str, Any]:
    """The child that fits a plain LogisticRegression per origin on random features."""
    import numpy as np  # noqa: PLC0415 - only the child needs them
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for count in rows:
        if count == 0:
            continue
        x = rng.standard_normal((count, features))
        y = (x[:, 0] + rng.standard_normal(count) > 0.5).astype(np.int64)
        LogisticRegression().fit(x, y)
    return {"fit_s": time.perf_counter() - started, "rows": sum(rows)}


def _report(results: list[Configuration]) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from markdown_table import markdown_table  # noqa: PLC0415 - beside this script

    def figures(key: str, digits: int = 2) -> Callable[[Configuration], str]:
        return lambda c: f"{c.model.result[key]:,.{digits}f}"

    print(
        f"late-payment backtest (grace {GRACE_DAYS} days), generated in-process; anchor = a "
        "plain LogisticRegression per origin on as many random rows\n"
    )
    print(
        markdown_table(
            results,
            [
                ("customers, profile", 18, lambda c: f"{c.customers:,} {c.profile}"),
                ("invoices", 9, lambda c: f"{c.model.result['invoices']:,}"),
                ("generate s", 10, figures("generate_s")),
                ("backtest s", 10, figures("backtest_s")),
                (
                    "snapshots s (n)",
                    15,
                    lambda c: f"{c.model.result['snapshot_s']:.2f} ({c.model.result['snapshots']})",
                ),
                ("outcomes s", 10, figures("outcomes_s")),
                (
                    "fits s (n)",
                    10,
                    lambda c: f"{c.model.result['fit_s']:.2f} ({c.model.result['fits']})",
                ),
                ("rows fitted", 11, lambda c: f"{sum(c.model.result['training_rows']):,}"),
                ("anchor s", 8, lambda c: f"{c.anchor.result['fit_s']:.2f}"),
                (
                    "fit/anchor",
                    10,
                    lambda c: _ratio(c.model.result["fit_s"], c.anchor.result["fit_s"]),
                ),
                ("ledger MiB", 10, figures("ledger_mib", 0)),
                ("peak MiB", 8, lambda c: f"{c.model.peak_mib:,.0f}"),
                ("anchor MiB", 10, lambda c: f"{c.anchor.peak_mib:,.0f}"),
            ],
        )
    )
    print("\nout-of-time quality per configuration\n")
    print(
        markdown_table(
            results,
            [
                ("customers, profile", 18, lambda c: f"{c.customers:,} {c.profile}"),
                ("origins", 7, lambda c: str(c.model.result["origins"])),
                ("examples", 8, lambda c: f"{c.model.result['examples']:,}"),
                ("AUC", 5, figures("auc", 3)),
                ("baseline AUC", 12, figures("baseline_auc", 3)),
                ("Brier", 5, figures("brier", 3)),
                ("ECE", 5, figures("ece", 3)),
                ("baseline ECE", 12, figures("baseline_ece", 3)),
                ("tiers: share / late share", 40, _tiers),
            ],
        )
    )


def _ratio(value: float, anchor: float) -> str:
    return f"{value / anchor:.1f}x" if anchor > 0 else "-"


def _tiers(configuration: Configuration) -> str:
    return ", ".join(
        f"{tier['tier']} {tier['share']:.1%} / {tier['late_share']:.1%}"
        for tier in configuration.model.result["tiers"]
    )


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--customers", default="5000,50000", help="comma-separated sizes (default 5000,50000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--origins", type=int, default=6, help="as `arsync backtest` (default 6)")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--anchor", default="", help=argparse.SUPPRESS)
    parser.add_argument("--features", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
