"""Score 50,000 customers with about 2,000,000 invoices; report seconds and peak memory.

This excludes the load: the ledger comes from the generator, already in memory, not from an
export read through a source and the ledger builder. `bench/bench_load.py` times the path users
run (`arsync run --dry-run` on a CSV export).

Run as `python bench/bench_scoring.py`. The ledger is generated once and cached as a pickle
(under /tmp by default), then scored in a fresh child process, so that the peak resident memory
reported is the scoring run's own (ledger loaded + scoring), not the generator's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pickle
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 20)


def main() -> None:
    args = _arguments()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.child:
        _score(args.cache, args.repeat)
        return
    if not args.cache.exists():
        from jobs.sample_data import generate_ledger  # noqa: PLC0415 - after sys.path

        ledger = generate_ledger(args.customers, seed=args.seed, end_date=AS_OF)
        with args.cache.open("wb") as handle:
            pickle.dump(ledger, handle, protocol=pickle.HIGHEST_PROTOCOL)
    command = [sys.executable, __file__, "--child", "--cache", str(args.cache)]
    subprocess.run([*command, "--repeat", str(args.repeat)], check=True)  # noqa: S603 - our own script


def _score(cache: Path, repeat: int) -> None:
    from scoring import CurrencyTable, ScoringSettings, score_accounts  # noqa: PLC0415
    from scoring.kpis import portfolio_kpis  # noqa: PLC0415

    with cache.open("rb") as handle:
        ledger = pickle.load(handle)  # noqa: S301 - a cache this script wrote itself
    loaded = _peak_rss_mib()
    counts = ", ".join(f"{n:,} {name}" for name, n in ledger.counts().items())
    print(f"ledger: {counts}; RSS after loading: {loaded:,.0f} MiB")
    print(
        "scoring only: the ledger is the generator's, in memory; this excludes the load from an "
        "ERP export (bench/bench_load.py times that path)"
    )
    settings = ScoringSettings()
    currencies = CurrencyTable("USD", {"EUR": Decimal("1.08")})
    for attempt in range(1, repeat + 1):
        started = time.perf_counter()
        scores = score_accounts(ledger, AS_OF, settings, currencies)
        seconds = time.perf_counter() - started
        print(f"score_accounts run {attempt}: {seconds:.2f} s for {len(scores):,} customers")
    started = time.perf_counter()
    portfolio_kpis(ledger, AS_OF, settings, currencies)
    print(f"portfolio_kpis: {time.perf_counter() - started:.2f} s")
    print(f"peak RSS (ledger + scoring, no load): {_peak_rss_mib():,.0f} MiB")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/arsync-bench-ledger-50k.pkl"))  # noqa: S108 - a scratch cache
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


if __name__ == "__main__":
    main()
