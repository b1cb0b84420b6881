"""Time what reconciliation adds to the path users run, and check it against pandas.

Run as `python bench/bench_reconcile.py [--customers 50000] [--keep DIR] [--repeat 3]`. It
1. writes an export with the real CLI, `arsync sample-data --customers N`;
2. computes, with pandas alone from the six CSV files, each customer's balance the way an
   ERP's balance report states it (open invoices less the payments and credit memos not
   applied), and writes it as the export's control totals, `customer_balances.csv` (over the
   generator's own): the bare anchor, timed;
3. times the real `arsync run --dry-run` in a child process twice per trial: with a copy of
   the shipped mapping naming no control totals, and with one naming them, and reads the
   reconciliation stage (`ledger.accounted` to `reconcile.finished`) from the JSON log;
4. checks that every customer reconciled: arsync's balances agree with the pandas anchor's to
   the cent, at this size.

Medians over `--repeat` trials; the peak RSS is each child's own (`os.wait4`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import _ARSYNC, _child, _cli, _events, _project

CONTROL_FILE = "customer_balances.csv"


def main() -> None:
    args = _arguments()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="arsync-rec-"))
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / f"export-{args.customers}"
    if not (export / "invoices.csv").is_file():
        _cli(["sample-data", "--customers", str(args.customers), "--out", str(export)])
    anchor_seconds = _write_control_totals(export)
    plain = _without_control_totals(_project(folder / "plain", export))
    checked = _with_control_totals(_project(folder / "checked", export))
    rows: dict[str, list[tuple[float, float, float | None]]] = {"plain": [], "checked": []}
    for number in range(args.repeat):
        for name, config in (("plain", plain), ("checked", checked)):
            log = folder / f"{name}-{number}"
            child = _child(
                [*_ARSYNC, "--log-format", "json", "run", "--dry-run", "--config", str(config)],
                log,
                ok=(0, 1),
            )
            events = _events(child.stderr)
            stage = _stage(events)
            rows[name].append((child.seconds, child.peak_mib, stage))
            if name == "checked":
                _require_all_reconciled(events, args.customers)
    _report(args.customers, anchor_seconds, rows)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


def _write_control_totals(export: Path) -> float:
    """The ERP's balance report, from the CSVs with pandas only; its seconds."""
    import pandas as pd  # noqa: PLC0415 - the bench's own anchor

    started = time.perf_counter()
    invoices = pd.read_csv(export / "invoices.csv", dtype={"Balance Due": str})
    invoices = invoices[invoices["Status"].str.lower() != "void"]
    cents = (invoices["Balance Due"].astype(float) * 100).round().astype("int64")
    parts = [
        pd.DataFrame(
            {
                "customer": invoices["Customer No."],
                "currency": invoices["Currency"],
                "cents": cents,
            }
        )
    ]
    for documents, applications, key in (
        ("payments", "payment_applications", "Payment ID"),
        ("credit_memos", "credit_memo_applications", "Credit Memo ID"),
    ):
        docs = pd.read_csv(export / f"{documents}.csv")
        applied = pd.read_csv(export / f"{applications}.csv")
        applied_cents = (applied["Amount Applied"] * 100).round().astype("int64")
        used = applied_cents.groupby(applied[key]).sum()
        amount = (docs["Amount"] * 100).round().astype("int64")
        left = amount - docs[key].map(used).fillna(0).astype("int64")
        parts.append(
            pd.DataFrame(
                {"customer": docs["Customer No."], "currency": docs["Currency"], "cents": -left}
            )
        )
    both = pd.concat(parts, ignore_index=True)
    totals = both.groupby(["customer", "currency"], as_index=False)["cents"].sum()
    totals["Balance"] = totals["cents"].map(lambda c: f"{c / 100:.2f}")
    totals.rename(columns={"customer": "Customer No.", "currency": "Currency"})[
        ["Customer No.", "Currency", "Balance"]
    ].to_csv(export / CONTROL_FILE, index=False)
    return time.perf_counter() - started


def _without_control_totals(config: Path) -> Path:
    """The project's mapping, naming no control totals (the shipped one reads them when the
    export has them, and `arsync sample-data` writes them)."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    mapping_path = (config.parent / settings["source"]["mapping"]).resolve()
    mapping = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
    mapping.pop("control_totals", None)
    mapping_path.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return config


def _with_control_totals(config: Path) -> Path:
    """The project's mapping, naming the control totals."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    mapping_path = (config.parent / settings["source"]["mapping"]).resolve()
    mapping = yaml.safe_load(mapping_path.read_text(encoding="utf-8"))
    mapping["control_totals"] = {
        "path": CONTROL_FILE,
        "basis": "net",
        "figure": "the bench's pandas balance report",
        "columns": {"customer_id": "Customer No.", "currency": "Currency", "balance": "Balance"},
    }
    mapping_path.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return config


def _stage(events: dict[str, dict[str, object]]) -> float | None:
    """Seconds from the row accounting to the end of the reconciliation (or its skip)."""
    start = events.get("ledger.accounted", {}).get("timestamp")
    end = (events.get("reconcile.finished") or events.get("reconcile.skipped") or {}).get(
        "timestamp"
    )
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    from datetime import datetime  # noqa: PLC0415

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _require_all_reconciled(events: dict[str, dict[str, object]], customers: int) -> None:
    finished = events.get("reconcile.finished")
    if finished is None:
        raise SystemExit("the run with control totals logged no reconcile.finished")
    if finished.get("unreconciled") or finished.get("missing"):
        raise SystemExit(f"arsync does not agree with the pandas anchor: {json.dumps(finished)}")
    if finished.get("reconciled") != customers:
        raise SystemExit(f"expected {customers:,} customers reconciled: {json.dumps(finished)}")


def _report(
    customers: int, anchor: float, rows: dict[str, list[tuple[float, float, float | None]]]
) -> None:
    def median(name: str, index: int) -> float:
        values = [row[index] for row in rows[name] if row[index] is not None]
        return statistics.median(values) if values else float("nan")  # type: ignore[type-var]

    plain, checked = median("plain", 0), median("checked", 0)
    print(f"{customers:,} customers, {len(rows['plain'])} trials (medians):")
    print(f"  pandas balance report (the anchor)      {anchor:7.2f} s")
    peak = median("plain", 1)
    print(f"  arsync run --dry-run, no control totals {plain:7.2f} s  peak {peak:,.0f} MiB")
    print(
        f"  arsync run --dry-run, control totals    {checked:7.2f} s  peak "
        f"{median('checked', 1):,.0f} MiB  (+{checked - plain:.2f} s)"
    )
    print(f"  reconciliation stage in the log         {median('checked', 2):7.2f} s")
    print("  every customer reconciled with the pandas anchor: yes")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--keep", help="a folder to keep the export and logs in (reused)")
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


if __name__ == "__main__":
    main()
