"""How much better than the baseline any per-customer pay-date predictor could be, on the
sample generator's ledgers: the ceiling that issue 14's "20% below the baseline" meets.

Run as `python bench/bench_pay_date_ceiling.py [--origins 12]`. For the bundled sample
(60 customers, the default profile) and the noisy profile (200 customers), both as
`arsync sample-data` writes them (seed 7, ending 2026-11-20), it runs the pay-date backtest
(`scoring.pay_date.pay_date_backtest`, grace 0 days) and prints the model's mean absolute
error, the baseline's (the customer's own average days to pay), 80% of the baseline (the
issue's target), and an oracle's: each scored invoice predicted by the median of its own
customer's scored invoices, the future ones included. No predictor that knows only the
customer can beat the oracle on average, because the median minimises the absolute error of
a customer's invoices; when the oracle misses the target, the target needs signal the
generator does not put in (it draws each invoice's delay on its own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
END = dt.date(2026, 11, 20)
LEDGERS = (("bundled sample", 60, "default"), ("noisy", 200, "noisy"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=12)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from jobs.sample_data.generate import generate_ledger  # noqa: PLC0415 - this checkout's
    from scoring.pay_date import pay_date_backtest  # noqa: PLC0415

    print("| ledger | invoices | model MAE | baseline MAE | target (80%) | oracle MAE |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, customers, profile in LEDGERS:
        ledger = generate_ledger(customers, seed=7, end_date=END, profile=profile)
        result = pay_date_backtest(ledger, END, origins=args.origins, grace_days=0)
        known = result.predictions[result.predictions["actual"].notna()]
        actual = known["actual"].to_numpy(dtype="float64")
        median = known.groupby("customer_id")["actual"].transform("median").to_numpy()
        oracle = float(np.mean(np.abs(actual - median)))
        print(
            f"| {name}, {customers} customers | {len(known):,} | {result.model_mae:.2f} | "
            f"{result.baseline_mae:.2f} | {0.8 * result.baseline_mae:.2f} | {oracle:.2f} |"
        )


if __name__ == "__main__":
    main()
