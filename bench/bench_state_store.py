"""Time `StateStore.finish_run` with 50,000 outcomes and 50,000 score snapshots.

Run as `python bench/bench_state_store.py` (a SQLite file in a temporary folder) or with
`--url postgresql://user:pass@127.0.0.1:5432/db` (a temporary schema, dropped afterwards). It
times one run recorded from scratch, then a second run the same day, whose snapshots replace the
first run's (the upsert path).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 11, 20)


def main() -> None:
    args = _arguments()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # a plain checkout, without `pip install -e .`
    from jobs.state import FinishedRun, NextPull, StateStore  # noqa: PLC0415 - after sys.path

    outcomes = [
        {
            "customer_id": f"C{i:06d}",
            "account_id": f"001{i:015d}",
            "status": "written" if i % 50 else "failed",
            "fields": "AR_Open_Balance__c,AR_Overdue_Balance__c,AR_Health_Score__c",
            "error_code": None if i % 50 else "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": None if i % 50 else "Credit hold needs a reason",
        }
        for i in range(args.rows)
    ]
    snapshots = [
        {
            "snapshot_date": TODAY,
            "customer_id": f"C{i:06d}",
            "health_score": i % 101,
            "risk_tier": ("low", "medium", "high", "critical")[i % 4],
            "open_balance": round(i * 13.37, 2),
            "overdue_balance": round(i * 3.21, 2),
            "segment": ("strategic", "smb", "public")[i % 3],
        }
        for i in range(args.rows)
    ]
    with _database(args.url) as url:
        store = StateStore.open(url)
        try:
            for attempt in ("first run", "same day again (upsert)"):
                run_id = uuid.uuid4().hex[:12]
                now = dt.datetime.now(dt.UTC)
                store.begin_run(
                    run_id,
                    dry_run=False,
                    as_of=TODAY,
                    config_fingerprint="0" * 64,
                    started_at=now,
                )
                started = time.perf_counter()
                store.finish_run(
                    FinishedRun(
                        run_id,
                        status="succeeded",
                        finished_at=now,
                        counts={"outcomes": len(outcomes)},
                        next_pull=NextPull({("files", "invoices"): now.isoformat()}),
                        outcomes=outcomes,
                        snapshots=snapshots,
                    )
                )
                seconds = time.perf_counter() - started
                print(
                    f"{store.url.split(':', 1)[0]} {attempt}: finish_run with "
                    f"{len(outcomes):,} outcomes + {len(snapshots):,} snapshots in {seconds:.2f} s"
                )
        finally:
            store.close()


@contextmanager
def _database(url: str | None) -> Iterator[str]:
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/state.db"
        return
    from sqlalchemy import text  # noqa: PLC0415 - after sys.path

    from jobs.state.db import make_engine  # noqa: PLC0415 - after sys.path

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="a PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--rows", type=int, default=50_000)
    return parser.parse_args()


if __name__ == "__main__":
    main()
