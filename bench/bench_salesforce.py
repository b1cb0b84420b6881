"""API calls and seconds of arsync's Salesforce write-back for 50,000 Accounts, against the fake.

Run as `python bench/bench_salesforce.py [--accounts 50000]`. Everything runs in this one
process against `tests/fakes/salesforce.py` (the stateful fake of the Salesforce REST API,
in-process), with the Account fields shipped in `salesforce/` and
the shipped mapping (`mappings/salesforce_account.yaml`). The desired values come
from a synthetic scores frame (built like `scores()` in tests/test_salesforce_sync.py, every
mapped column filled), not from the scoring pipeline.

Runs, in order:

a. arsync first run: every Account changes (the one read, `jobs.crm.open_and_read`, then the
   run's CRM stage: `jobs.crm_stage.plan_crm` and `write_crm`; default `bulk_threshold` 2,000,
   so one Bulk API 2.0 job);
b. arsync rerun with nothing new;
c. arsync run where 1% of the customers changed (open balance and current aging);
d. the first run again on a fresh org with bulk disabled (`bulk_threshold` above the count:
   sObject Collections, 200 records a call);
e. a naive writer on a fresh org: one `sf.Account.update(id, values)` per Account, no read, no
   diff, every mapped field every time, for a first run and a rerun with nothing new. It is given
   the Account Ids for free (as if the ERP held them): a real script would also need a lookup.

The seconds are those of an in-process fake: they contain no network latency, no Salesforce
processing and no Bulk API queueing, and part of them is the fake's own work (scanning all
Accounts for every SOQL query, checking and storing every value), shown apart as "in fake"; the
rest is arsync, simple-salesforce and requests in this process. The API-call counts are the
point: they are what counts against the org's daily allocation.

By default requests reach the fake through `FakeSalesforce.session()`, a `requests` transport
that calls the fake directly; `--transport responses` goes through `responses` as the tests do
(same answers and counts, slower per call).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import logging
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import pandas as pd  # noqa: E402 - after sys.path
import requests  # noqa: E402
import responses  # noqa: E402
import structlog  # noqa: E402
from fakes.salesforce import FakeSalesforce, FieldSpec, PicklistValue  # noqa: E402
from markdown_table import markdown_table  # noqa: E402
from sfdx import describe_fields  # noqa: E402
from simple_salesforce.api import Salesforce, SFType  # noqa: E402

from arsync.ledger import Ledger  # noqa: E402
from arsync.mapping import desired_values  # noqa: E402
from connector.crm.salesforce.client import SalesforceClient  # noqa: E402
from connector.crm.salesforce.settings import (  # noqa: E402
    RetrySettings,
    SalesforceSettings,
    TokenAuth,
)
from jobs.crm import CrmResult, open_and_read  # noqa: E402
from jobs.crm_stage import plan_crm, write_crm  # noqa: E402
from jobs.settings import RunSettings, load_run_settings  # noqa: E402

AS_OF = dt.date(2026, 11, 20)
DAILY_ALLOCATION = 100_000  # the fake's default daily API allocation, for the share column
BULK_KINDS = ("bulk_create", "bulk_upload", "bulk_close", "bulk_status", "bulk_results")


# (fake, session or None) -> (accounts written, the calls the client counted by kind)
Run = Callable[[FakeSalesforce, requests.Session | None], tuple[int, dict[str, int]]]


@dataclass
class Row:
    run: str
    seconds: float
    fake_seconds: float
    calls: Counter[str]
    accounts_written: int
    rss_before_mib: float
    peak_rss_mib: float
    note: str = ""
    client_calls: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def main() -> None:
    args = _arguments()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    shipped = load_run_settings(ROOT / "config/arsync.yaml")
    frame = synthetic_scores(args.accounts, seed=args.seed)
    changed = with_changes(frame, share=0.01, seed=args.seed)
    desired = desired_values(frame, shipped.crm_mapping)
    changed_desired = desired_values(changed, shipped.crm_mapping)
    print(
        f"{args.accounts:,} Accounts, shipped mapping ({len(shipped.crm_mapping.fields)} fields), "
        f"{len(desired):,} desired values; RSS after building them: {_peak_rss_mib():,.0f} MiB"
    )
    rows: list[Row] = []
    direct = args.transport == "direct"

    with org(args.accounts, direct=direct) as first:
        settings = run_settings(shipped, first.fake)
        rows.append(first.measure("a. arsync first run", arsync(settings, frame, desired)))
        rows.append(first.measure("b. arsync rerun, nothing new", arsync(settings, frame, desired)))
        rows.append(
            first.measure("c. arsync rerun, 1% changed", arsync(settings, changed, changed_desired))
        )
    with org(args.accounts, direct=direct) as fresh:
        settings = run_settings(shipped, fresh.fake, bulk_threshold=args.accounts + 1)
        rows.append(
            fresh.measure("d. arsync first run, bulk off", arsync(settings, frame, desired))
        )
    with org(args.accounts, direct=direct) as other:
        per_account = naive_values(desired, other.ids)
        rows.append(other.measure("e. naive first run", naive(per_account)))
        rows.append(other.measure("e. naive rerun, nothing new", naive(per_account)))
    print_table(rows, args.accounts, args.transport, len(shipped.crm_mapping.fields))


# -- the org and the desired values --------------------------------------------------------------


@dataclass
class Org:
    """A fake org in use, reached directly (`fake.session()`) or through `responses`."""

    fake: FakeSalesforce
    ids: list[str]
    mock: responses.RequestsMock
    direct: bool

    def measure(self, label: str, run: Run) -> Row:
        """Time one run; count its calls from the fake's log, then drop the logs (memory)."""
        gc.collect()
        rss_before = _rss_mib()
        serving_before = self.fake.serving_seconds
        session = self.fake.session() if self.direct else None
        started = time.perf_counter()
        written, client_calls = run(self.fake, session)
        seconds = time.perf_counter() - started
        calls = Counter(call.kind for call in self.fake.calls)
        self.fake.calls.clear()
        self.mock.calls.reset()
        row = Row(
            label,
            seconds,
            self.fake.serving_seconds - serving_before,
            calls,
            written,
            rss_before,
            _peak_rss_mib(),
            client_calls=client_calls,
        )
        if dict(calls) != client_calls:
            row.note = f"client counted {client_calls}"
        print(f"  {label}: {seconds:.1f} s, {row.total:,} API calls", flush=True)
        return row


@contextmanager
def org(accounts: int, *, direct: bool) -> Iterator[Org]:
    """A fresh fake org with the shipped Account fields and Accounts C00001.."""
    fake = FakeSalesforce(daily_max=10_000_000)  # the daily share is shown, not enforced
    for spec in describe_fields():
        if spec["name"] in fake.fields:
            continue
        values = tuple(PicklistValue(v["value"]) for v in spec.pop("picklistValues"))
        fake.add_field(FieldSpec(**{**spec, "picklistValues": values}))
    ids = fake.seed_accounts(accounts)
    print(f"fresh org of {accounts:,} Accounts; RSS now {_rss_mib():,.0f} MiB", flush=True)
    # With the direct transport `responses` stays installed too, as a net: no request of a
    # run can reach the network.
    with fake.running() as mock:
        yield Org(fake, ids, mock, direct)
    del fake, ids
    gc.collect()


def synthetic_scores(count: int, seed: int) -> pd.DataFrame:
    """A scoring result for customers C00001.. with every column the shipped mapping reads."""
    rng = random.Random(seed)
    ids = [f"C{i:05d}" for i in range(1, count + 1)]
    buckets = ["aging_current", "aging_d1_30", "aging_d31_60", "aging_d61_90"]
    buckets += ["aging_d91_120", "aging_over_120"]
    aging = {name: [round(rng.uniform(0, 20_000), 2) for _ in ids] for name in buckets}
    open_balance = [round(sum(aging[b][i] for b in buckets), 2) for i in range(count)]
    overdue = [round(open_balance[i] - aging["aging_current"][i], 2) for i in range(count)]
    tiers = rng.choices(["low", "medium", "high", "critical"], weights=[6, 2, 1.5, 0.5], k=count)
    reasons = ["OVERDUE_60: 60+ days overdue", "DSO_UP: DSO rising", "DISPUTE: open dispute"]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "customer_name": [f"Customer {i}" for i in range(1, count + 1)],
            "crm_account_id": [None] * count,
            "open_balance": open_balance,
            "overdue_balance": overdue,
            "overdue_status": rng.choices(["Current", "1-30 days overdue", "Over 120"], k=count),
            "risk_tier": tiers,
            "health_score": [rng.randint(0, 100) for _ in ids],
            "reason_1": rng.choices(reasons, k=count),
            "reason_2": rng.choices([*reasons, None], k=count),
            "reason_3": [None] * count,
            "next_action_label": rng.choices(["Call the customer", "Send a reminder"], k=count),
            "next_action_date": [AS_OF + dt.timedelta(days=rng.randint(0, 14)) for _ in ids],
            "segment": rng.choices(["Key account", "Standard", "Small"], k=count),
            "flags": rng.choices(["", "credit hold; dispute open", "slow payer"], k=count),
            "unapplied_credit": [round(rng.uniform(0, 500), 2) for _ in ids],
            "disputed_balance": [round(rng.uniform(0, 1_000), 2) for _ in ids],
            "max_days_overdue": [rng.randint(0, 400) for _ in ids],
            "open_invoice_count": [rng.randint(0, 60) for _ in ids],
            "avg_days_beyond_terms_12m": [round(rng.uniform(-5, 60), 3) for _ in ids],
            "dso": [round(rng.uniform(10, 120), 3) for _ in ids],
            **aging,
            "promise_status": rng.choices(
                ["none", "pending", "kept", "broken"], [90, 5, 3, 2], k=count
            ),
            "data_as_of": [pd.Timestamp(AS_OF, tz="UTC")] * count,
            "score_basis": rng.choices(["model", "history", "provisional"], [60, 35, 5], k=count),
            "late_payment_chance": [round(rng.uniform(0, 100), 1) for _ in ids],
            **_forecast(rng, open_balance),
        }
    )


def _forecast(rng: random.Random, open_balance: list[float]) -> dict[str, list[float]]:
    """Expected receipts within 30, 60 and 90 days (cumulative, within the open balance) and
    the probability-weighted overdue amount, as `scoring.cash_forecast` gives them."""
    in_30 = [round(balance * rng.uniform(0, 0.6), 2) for balance in open_balance]
    in_60 = _towards(rng, in_30, open_balance)
    in_90 = _towards(rng, in_60, open_balance)
    overdue = [round(balance * rng.uniform(0, 0.3), 2) for balance in open_balance]
    return {
        "expected_receipts_30d": in_30,
        "expected_receipts_60d": in_60,
        "expected_receipts_90d": in_90,
        "expected_overdue_30d": overdue,
    }


def _towards(rng: random.Random, start: list[float], end: list[float]) -> list[float]:
    """Each value moved a random part of the way from `start` towards `end`."""
    return [round(a + (b - a) * rng.uniform(0, 0.5), 2) for a, b in zip(start, end, strict=True)]


def with_changes(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """The same scores with `share` of the customers' open balance and current aging moved."""
    rng = random.Random(seed + 1)
    changed = frame.copy()
    rows = rng.sample(range(len(frame)), max(1, int(len(frame) * share)))
    for column in ("open_balance", "aging_current"):
        changed.loc[rows, column] = changed.loc[rows, column] + 123.45
    return changed


def run_settings(shipped: RunSettings, fake: FakeSalesforce, **overrides: Any) -> RunSettings:
    salesforce = SalesforceSettings(
        auth=TokenAuth(
            mode="token",
            instance_url=fake.instance_url,
            access_token="${SF_ACCESS_TOKEN}",  # noqa: S106 - an environment reference
        ),
        retry=RetrySettings(initial_wait_seconds=0, max_wait_seconds=0),
        bulk_poll_seconds=0,
        **overrides,
    )
    app = shipped.app.model_copy(update={"salesforce": salesforce})
    return dataclasses.replace(shipped, app=app)


def naive_values(desired: pd.DataFrame, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(Account Id, every mapped value) per customer; customer C0000n is the n-th Account."""
    values: dict[str, dict[str, Any]] = {}
    for customer_id, name, value in zip(
        desired["customer_id"], desired["field"], desired["value"], strict=True
    ):
        values.setdefault(str(customer_id), {})[str(name)] = value
    return [(ids[int(customer_id[1:]) - 1], record) for customer_id, record in values.items()]


# -- the runs ------------------------------------------------------------------------------------


def arsync(settings: RunSettings, scores: pd.DataFrame, desired: pd.DataFrame) -> Run:
    """The CRM stage as `arsync run` calls it: check and read (`open_and_read`), plan every
    object (`plan_crm`; the shipped mapping has no invoices or Tasks, so no ledger is
    needed), write (`write_crm`)."""

    def run(fake: FakeSalesforce, session: requests.Session | None) -> tuple[int, dict[str, int]]:
        environ = {"SF_ACCESS_TOKEN": fake.issue_token()}
        connection, read = open_and_read(
            settings,
            desired.drop_duplicates("customer_id"),
            lambda sf: SalesforceClient.connect(sf, environ=environ, session=session),
        )
        plan = plan_crm(
            settings, connection, read, desired, scores=scores, ledger=Ledger.empty(), as_of=AS_OF
        )
        result: CrmResult = write_crm(settings, connection, plan, dry_run=False)
        if result.failed or result.ambiguous:
            raise SystemExit(f"unexpected outcomes: {result.outcomes['status'].value_counts()}")
        outcomes = result.outcomes
        written = int((outcomes["status"] == "written").sum()) if len(outcomes) else 0
        return written, result.api_calls

    return run


def naive(per_account: list[tuple[str, dict[str, Any]]]) -> Run:
    """What a simple script does: update every Account with every value, read nothing."""

    def run(fake: FakeSalesforce, session: requests.Session | None) -> tuple[int, dict[str, int]]:
        sf = Salesforce(
            instance_url=fake.instance_url, session_id=fake.issue_token(), session=session
        )
        accounts = cast("SFType", sf.Account)  # `sf.Account.update(id, values)`, typed
        for account_id, values in per_account:
            accounts.update(account_id, values)
        return len(per_account), {"sobject_update": len(per_account)}

    return run


# -- the report ------------------------------------------------------------------------------


def print_table(rows: list[Row], accounts: int, transport: str, fields: int) -> None:
    columns: list[tuple[str, int, Callable[[Row], str]]] = [
        ("run", 30, lambda r: r.run),
        ("seconds", 7, lambda r: f"{r.seconds:.1f}"),
        ("in fake", 7, lambda r: f"{r.fake_seconds:.1f}"),
        ("limits", 6, lambda r: f"{r.calls['limits']:,}"),
        ("describe", 8, lambda r: f"{r.calls['describe']:,}"),
        ("query", 5, lambda r: f"{r.calls['query']:,}"),
        ("collections", 11, lambda r: f"{r.calls['composite']:,}"),
        ("bulk job", 8, lambda r: f"{sum(r.calls[k] for k in BULK_KINDS):,}"),
        ("single update", 13, lambda r: f"{r.calls['sobject_update']:,}"),
        ("total calls", 11, lambda r: f"{r.total:,}"),
        ("% of 100k/day", 13, lambda r: f"{r.total / DAILY_ALLOCATION:.2%}"),
        ("written", 7, lambda r: f"{r.accounts_written:,}"),
        ("RSS before MiB", 14, lambda r: f"{r.rss_before_mib:,.0f}"),
        ("peak RSS MiB", 12, lambda r: f"{r.peak_rss_mib:,.0f}"),
    ]
    print()
    print(markdown_table(rows, columns))
    print()
    for row in rows:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(row.calls.items()))
        print(f"{row.run}: {kinds}{'; ' + row.note if row.note else ''}")
    print(
        f"""
{accounts:,} Accounts; shipped mapping ({fields} fields); transport: {transport}.
API calls are counted by the fake, per kind; arsync's own count (client.budget.calls) agrees
unless a note above says otherwise. "bulk job": the create, upload, close, status polls and
result reads of a Bulk API 2.0 job. "% of 100k/day": share of a 100,000-call daily allocation
(the fake's default). The naive writer is given the Account Ids; it reads nothing.
Seconds are wall time in this process against an in-process fake: no network latency, no
Salesforce processing, no Bulk queueing. "in fake" is the part spent inside the fake answering
(SOQL scans of all {accounts:,} records per query, value checks, storing); the rest is arsync,
simple-salesforce and requests. "RSS before": resident memory as the run starts (the desired
values, and the fake's org of {accounts:,} Accounts); "peak RSS": the process's high-water mark
at the end of the run (call logs are dropped after each run)."""
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="API calls of arsync's Salesforce write-back")
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--transport",
        choices=["direct", "responses"],
        default="direct",
        help="reach the fake via FakeSalesforce.session() (fast) or through responses",
    )
    return parser.parse_args()


def _rss_mib() -> float:
    """The resident memory now (Linux), else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return _peak_rss_mib()
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


if __name__ == "__main__":
    main()
