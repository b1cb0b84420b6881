"""Time `generate_ledger` at benchmark scale: 50,000 customers, about 2,000,000 invoices.

Run as `python bench/bench_sample_data.py` from a checkout (installed or not); it prints the
seconds and the peak resident memory. `--export DIR` also times `write_export`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END_DATE = dt.date(2026, 11, 20)


def main() -> None:
    args = _arguments()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # a plain checkout, without `pip install -e .`
    from jobs.sample_data import generate_ledger, write_export  # noqa: PLC0415 - after sys.path

    started = time.perf_counter()
    ledger = generate_ledger(
        args.customers,
        seed=args.seed,
        end_date=END_DATE,
        invoices_per_customer=args.invoices_per_customer,
    )
    seconds = time.perf_counter() - started
    counts = ", ".join(f"{n:,} {name}" for name, n in ledger.counts().items())
    print(f"generate_ledger: {seconds:.2f} s for {counts}")
    print(f"  {ledger.counts()['invoices'] / seconds:,.0f} invoices/s")
    print(f"  peak RSS so far: {_peak_rss_mib():,.0f} MiB")
    if args.export is not None:
        exported_at = dt.datetime.combine(END_DATE, dt.time(23), tzinfo=dt.UTC)
        started = time.perf_counter()
        paths = write_export(ledger, args.export, exported_at)
        seconds = time.perf_counter() - started
        size = sum(path.stat().st_size for path in paths) / 2**20
        print(f"write_export: {seconds:.2f} s for {len(paths)} files, {size:,.0f} MiB")
        print(f"  peak RSS so far: {_peak_rss_mib():,.0f} MiB")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--invoices-per-customer", type=float, default=40.0)
    parser.add_argument("--export", type=Path, default=None, help="also write the CSV export here")
    return parser.parse_args()


def _peak_rss_mib() -> float:
    """Peak resident set size of this process; Linux reports KiB, macOS bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


if __name__ == "__main__":
    main()
