"""API calls, seconds and memory of arsync's invoice records and next-action Tasks (fake org).

Run as `python bench/bench_related.py [--customers 5000]`. Everything runs in this one process
against `tests/fakes/salesforce.py` (the stateful fake of the Salesforce REST API, reached
through `FakeSalesforce.session()`), with the shipped config, the Account fields shipped in
`salesforce/` and a copy of the shipped mapping with `invoices: {enabled: true}` and
`tasks: {enabled: true}` appended (the default objects and fields: AR_Invoice__c upserted on
ERP_Invoice_Id__c, Tasks marked by AR_Sync_Task__c), default `bulk_threshold` (2,000) and
`collection_size` (200).

The ledger is `generate_ledger` (the `arsync sample-data` generator: about 40 invoices a
customer over 24 months, about 4.3 of them open on the as-of date), kept in memory: the CSV
round trip gives the same ledger (tests/test_sample_data.py) and is not what is measured here.
The org holds one Account per customer, by the customer's Salesforce Account Id where the ERP
has one, else by ERP_Customer_Id__c. Each run calls the stages of `jobs.pipeline.run_sync`
from the ledger on, without the pull, the state store and the output files: read_salesforce
(open_crm and read_crm: the Accounts and, the objects being on, their open invoice records and
Tasks: the run's one read), score (the late-payment model off, as a run with
`model: {enabled: false}`: its step is not what this measures), plan_writes (`plan_crm`: the
Accounts, then `jobs.related.plan_related` for the invoice records and Tasks) and
write_salesforce (`write_crm`: the Accounts, then `jobs.related.write_related`). The table
measures the invoice records' and Tasks' part: plan_related and write_related, timed as the
run calls them (wrapped in `jobs.crm_stage`).

Runs, in order, on one org:

a. first run: every open invoice created, a Task for every Account with a next action;
b. rerun, nothing new;
c. rerun after 1% of the customers paid one open invoice each in full (a payment and its
   application dated the as-of day; same as-of);
d. the next day: as-of one day later, nothing else new (what a daily schedule meets every day).

Per run: invoice records and Tasks created / updated / closed (and failed), the API calls of
plan_related and write_related by kind (writes only: they query nothing), their wall seconds,
the part of them spent inside the fake answering, the peak RSS during them (the high-water
mark is reset before each, Linux), and the whole run's calls and
seconds (the invoice record and Task queries among them, in read_crm). In the fake every SOQL
query scans every record of its object, so its share of the seconds grows with the square of
the org (20,000 customers: most of a rerun's seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import logging
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import pandas as pd  # noqa: E402 - after sys.path
import structlog  # noqa: E402
from fakes.salesforce import FakeSalesforce, FieldSpec, PicklistValue  # noqa: E402
from markdown_table import markdown_table  # noqa: E402
from sfdx import describe_fields  # noqa: E402

import jobs.crm_stage  # noqa: E402
from arsync.ledger import APPLICATION_COLUMNS, PAYMENT_COLUMNS, Ledger, typed_frame  # noqa: E402
from arsync.quarantine import Quarantine  # noqa: E402
from connector.crm.salesforce.client import SalesforceClient  # noqa: E402
from jobs import pipeline  # noqa: E402
from jobs.crm import CrmConnection  # noqa: E402
from jobs.load import LoadedLedger  # noqa: E402
from jobs.outcomes import others  # noqa: E402
from jobs.progress import Silent  # noqa: E402
from jobs.sample_data import generate_ledger  # noqa: E402
from jobs.settings import RunSettings, load_run_settings  # noqa: E402

AS_OF = dt.date(2026, 11, 20)
BULK_KINDS = ("bulk_create", "bulk_upload", "bulk_close", "bulk_status", "bulk_results")
INVOICE, TASK = "AR_Invoice__c", "Task"
_RELATED = ("plan_related", "write_related")  # what jobs.crm_stage calls, by name


@dataclass
class Row:
    run: str
    seconds: float  # plan_related and write_related
    fake_seconds: float  # of which inside the fake
    run_seconds: float  # the whole run: connect, read, score, Accounts, related
    calls: Counter[str]
    records: Counter[tuple[str, str]]  # (object, action) written
    failed: int
    rss_before_mib: float
    peak_rss_mib: float
    in_org: tuple[int, int]  # invoice records, open arsync Tasks, after the run
    updated_fields: Counter[tuple[str, str]]  # (object, field) of the updates written
    run_calls: int  # the whole run's
    note: str = ""

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class Window:
    """What the invoice records' and Tasks' part of a run spent: `plan_related` inside
    `plan_crm` and `write_related` inside `write_crm`, timed and counted as each runs."""

    fake: FakeSalesforce
    seconds: float = 0.0
    fake_seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    client_calls: Counter[str] = field(default_factory=Counter)
    rss_before_mib: float | None = None
    peak_mib: float = 0.0

    @contextmanager
    def watching(self) -> Iterator[None]:
        """`jobs.crm_stage`'s calls of the related planner and writer, each timed."""
        originals = {name: getattr(jobs.crm_stage, name) for name in _RELATED}
        for name, function in originals.items():
            setattr(jobs.crm_stage, name, self._timed(function))
        try:
            yield
        finally:
            for name, function in originals.items():
                setattr(jobs.crm_stage, name, function)

    def _timed(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(settings: RunSettings, connection: CrmConnection, *args: Any, **kw: Any) -> Any:
            fake = self.fake
            gc.collect()
            if self.rss_before_mib is None:
                self.rss_before_mib = _rss_mib()
            reset = _reset_peak_rss()
            calls_before, client_before = len(fake.calls), Counter(connection.client.budget.calls)
            serving_before, started = fake.serving_seconds, time.perf_counter()
            try:
                return function(settings, connection, *args, **kw)
            finally:
                self.seconds += time.perf_counter() - started
                self.fake_seconds += fake.serving_seconds - serving_before
                self.peak_mib = max(self.peak_mib, _peak_rss_mib(since_reset=reset))
                self.calls.update(call.kind for call in fake.calls[calls_before:])
                self.client_calls.update(Counter(connection.client.budget.calls) - client_before)

        return timed


@dataclass
class Bench:
    settings: RunSettings
    fake: FakeSalesforce
    rows: list[Row] = field(default_factory=list)

    def run(self, label: str, ledger: Ledger, as_of: dt.date) -> None:
        """One arsync run through the pipeline's stages, from the ledger on; the invoice
        records' and Tasks' part of it timed and counted apart (`Window`)."""
        fake, settings = self.fake, self.settings
        gc.collect()
        fake.calls.clear()
        environ = {"SF_ACCESS_TOKEN": fake.issue_token()}
        session = fake.session()
        window = Window(fake)
        data_as_of = dt.datetime.combine(as_of, dt.time(23), tzinfo=dt.UTC)
        loaded = LoadedLedger(ledger, Quarantine(), data_as_of, as_of)
        started = time.perf_counter()
        with window.watching():
            online = pipeline.read_salesforce(
                settings,
                ledger,
                Silent(),
                lambda sf: SalesforceClient.connect(sf, environ=environ, session=session),
            )
            scored = pipeline.score(settings, loaded, online, Silent())
            planned = pipeline.plan_writes(settings, loaded, scored, online, None)
            crm = pipeline.write_salesforce(settings, loaded, planned, online, dry_run=False)
        run_seconds = time.perf_counter() - started  # the gc.collect() before each window too
        accounts = crm.outcomes["status"].value_counts()
        if accounts.get("failed", 0) or accounts.get("ambiguous", 0):
            raise SystemExit(f"{label}: Account outcomes {accounts}")
        run_calls = len(fake.calls)
        for log in (fake.calls, fake.queries, fake.soql_literals):  # the fake's logs (memory)
            log.clear()
        records = others(crm.outcomes)
        written = records[records["status"] == "written"]
        updates = written[written["action"] == "update"]
        updated_fields = Counter(
            (sobject, name)
            for sobject, names in zip(updates["object"], updates["fields"], strict=True)
            for name in names.split(",")
        )
        row = Row(
            label,
            window.seconds,
            window.fake_seconds,
            run_seconds,
            window.calls,
            Counter(zip(written["object"], written["action"], strict=True)),
            int((records["status"] == "failed").sum()),
            window.rss_before_mib or 0.0,
            window.peak_mib,
            (len(fake.records(INVOICE)), _open_tasks(fake)),
            updated_fields,
            run_calls,
        )
        if window.calls != window.client_calls:
            row.note = f"arsync counted {dict(window.client_calls)}"
        self.rows.append(row)
        print(f"  {label}: invoices and Tasks {row.seconds:.1f} s, {row.total:,} API calls")


def main() -> None:
    args = _arguments()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.perf_counter()
    ledger = generate_ledger(args.customers, seed=args.seed, end_date=AS_OF)
    counts = ", ".join(f"{n:,} {name}" for name, n in ledger.counts().items())
    print(f"ledger: {counts} ({time.perf_counter() - started:.1f} s)")
    paid = with_paid_invoices(ledger, AS_OF, share=0.01)
    fake = new_org(ledger)
    with tempfile.TemporaryDirectory() as folder, fake.running():
        bench = Bench(project_settings(Path(folder), fake), fake)
        bench.run("a. first run", ledger, AS_OF)
        bench.run("b. rerun, nothing new", ledger, AS_OF)
        bench.run("c. rerun, 1% paid an invoice", paid, AS_OF)
        bench.run("d. next day, nothing new", paid, AS_OF + dt.timedelta(days=1))
    print_table(bench.rows, args.customers)


# -- the org, the settings, the ledger -------------------------------------------------------


def new_org(ledger: Ledger) -> FakeSalesforce:
    """An Account per customer, by its Salesforce Account Id or by ERP_Customer_Id__c."""
    fake = FakeSalesforce(daily_max=10_000_000)  # calls are counted here, not limited
    for spec in describe_fields():
        if spec["name"] not in fake.fields:
            values = tuple(PicklistValue(v["value"]) for v in spec.pop("picklistValues"))
            fake.add_field(FieldSpec(**{**spec, "picklistValues": values}))
    customers = ledger.customers
    for customer_id, name, account_id in zip(
        customers["customer_id"], customers["name"], customers["crm_account_id"], strict=True
    ):
        if isinstance(account_id, str) and account_id:
            fake.add_account(Id=account_id, Name=name)
        else:
            fake.add_account(Name=name, ERP_Customer_Id__c=customer_id)
    print(f"org: {len(fake.accounts):,} Accounts; RSS now {_rss_mib():,.0f} MiB", flush=True)
    return fake


def project_settings(folder: Path, fake: FakeSalesforce) -> RunSettings:
    """The shipped config and mappings, the fake org, invoices and Tasks turned on."""
    for name in ("config", "mappings", "examples"):
        shutil.copytree(ROOT / name, folder / name)
    mapping = folder / "mappings/salesforce_account.yaml"
    shipped = mapping.read_text()  # ships both sections, turned off: turn them on
    turned_on = re.sub(
        r"(?m)^(invoices|tasks):\n  enabled: false$", r"\1:\n  enabled: true", shipped
    )
    if turned_on.count("enabled: true") < 2:
        raise SystemExit("the shipped mapping no longer has invoices: and tasks: turned off")
    mapping.write_text(turned_on)
    config = folder / "config/arsync.yaml"
    config.write_text(
        config.read_text()
        + f"""
salesforce:
  auth:
    mode: token
    instance_url: {fake.instance_url}
    access_token: ${{SF_ACCESS_TOKEN}}
  retry: {{initial_wait_seconds: 0, max_wait_seconds: 0}}
  bulk_poll_seconds: 0
"""
    )
    settings = load_run_settings(config)
    model = settings.scoring.model.model_copy(update={"enabled": False})  # not measured here
    return dataclasses.replace(
        settings, scoring=settings.scoring.model_copy(update={"model": model})
    )


def with_paid_invoices(ledger: Ledger, as_of: dt.date, share: float) -> Ledger:
    """The ledger after `share` of the customers each paid their oldest open invoice in full,
    on `as_of` (the invoice paid, a payment of its open amount, the application)."""
    invoices = ledger.invoices
    open_now = invoices[
        (invoices["status"] == "open")
        & (invoices["open_minor"] > 0)
        & (invoices["issue_date"] <= pd.Timestamp(as_of))
    ]
    oldest = open_now.sort_values(["customer_id", "due_date"]).drop_duplicates("customer_id")
    count = max(1, round(len(ledger.customers) * share))
    chosen = oldest.sample(n=min(count, len(oldest)), random_state=1)
    invoices = invoices.copy()
    rows = invoices["invoice_id"].isin(chosen["invoice_id"])
    invoices.loc[rows, "open_minor"] = 0
    invoices.loc[rows, "status"] = "paid"
    day = pd.Timestamp(as_of)
    payments = [
        {
            "payment_id": f"PMT-BENCH-{n}",
            "customer_id": row.customer_id,
            "received_date": day,
            "currency": row.currency,
            "amount_minor": row.open_minor,
            "unapplied_minor": 0,
            "method": "ach",
        }
        for n, row in enumerate(chosen.itertuples(), start=1)
    ]
    applications = [
        {
            "document_type": "payment",
            "document_id": payment["payment_id"],
            "customer_id": payment["customer_id"],
            "invoice_id": invoice_id,
            "amount_minor": payment["amount_minor"],
            "applied_date": day,
        }
        for payment, invoice_id in zip(payments, chosen["invoice_id"], strict=True)
    ]
    return dataclasses.replace(
        ledger,
        invoices=invoices,
        payments=pd.concat(
            [ledger.payments, typed_frame(payments, PAYMENT_COLUMNS)], ignore_index=True
        ),
        applications=pd.concat(
            [ledger.applications, typed_frame(applications, APPLICATION_COLUMNS)],
            ignore_index=True,
        ),
    )


def _open_tasks(fake: FakeSalesforce) -> int:
    return sum(
        1 for t in fake.records(TASK).values() if t.get("AR_Sync_Task__c") and not t.get("IsClosed")
    )


# -- the report ------------------------------------------------------------------------------


def print_table(rows: list[Row], customers: int) -> None:
    columns: list[tuple[str, int, Callable[[Row], str]]] = [
        ("run", 28, lambda r: r.run),
        ("inv created", 11, lambda r: f"{r.records[INVOICE, 'create']:,}"),
        ("inv updated", 11, lambda r: f"{r.records[INVOICE, 'update']:,}"),
        ("Task created", 12, lambda r: f"{r.records[TASK, 'create']:,}"),
        ("Task updated", 12, lambda r: f"{r.records[TASK, 'update']:,}"),
        ("Task closed", 11, lambda r: f"{r.records[TASK, 'close']:,}"),
        ("failed", 6, lambda r: f"{r.failed:,}"),
        ("query", 5, lambda r: f"{r.calls['query']:,}"),
        ("coll. create", 12, lambda r: f"{r.calls['composite_create']:,}"),
        ("coll. upsert", 12, lambda r: f"{r.calls['composite_upsert']:,}"),
        ("coll. update", 12, lambda r: f"{r.calls['composite']:,}"),
        ("bulk job calls", 14, lambda r: f"{sum(r.calls[k] for k in BULK_KINDS):,}"),
        ("total calls", 11, lambda r: f"{r.total:,}"),
        ("seconds", 7, lambda r: f"{r.seconds:.1f}"),
        ("in fake", 7, lambda r: f"{r.fake_seconds:.1f}"),
        ("RSS before MiB", 14, lambda r: f"{r.rss_before_mib:,.0f}"),
        ("peak RSS MiB", 12, lambda r: f"{r.peak_rss_mib:,.0f}"),
        ("run calls", 9, lambda r: f"{r.run_calls:,}"),
        ("run s", 5, lambda r: f"{r.run_seconds:.1f}"),
    ]
    print()
    print(markdown_table(rows, columns))
    print()
    for row in rows:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(row.calls.items()))
        fields = ", ".join(
            f"{sobject}.{name} {n:,}"
            for (sobject, name), n in sorted(row.updated_fields.items())
            if name != "ERP_Invoice_Id__c"  # the upsert key, sent with every invoice
        )
        print(
            f"{row.run}: calls {kinds or 'none'}; fields updated: {fields or 'none'}; "
            f"afterwards {row.in_org[0]:,} invoice records and {row.in_org[1]:,} open "
            f"arsync Tasks in the org{'; ' + row.note if row.note else ''}"
        )
    print(
        f"""
{customers:,} customers, one Account each; default bulk_threshold (2,000) and collection_size (200).
Records, calls, seconds and RSS are those of plan_related and write_related (the invoice records
and Tasks: planned from read_crm's read, so their calls are writes only). "run calls" and "run s"
are the whole run's: open_crm (limits and the describes, those of AR_Invoice__c and Task included),
read_crm (the Accounts, the open invoice records and the open Tasks), scoring, the plan, the
Account write, and the related writes. API calls are counted by the fake, per kind; arsync's own
count (client.budget.calls) agrees unless a note says otherwise. "bulk job calls": the create,
upload, close, status polls and result reads of Bulk API 2.0 jobs (one job per object and operation
above 2,000 records). Seconds are wall time in this process against an in-process fake: no network
latency, no Salesforce processing, no Bulk queueing; "in fake" is the part spent inside the fake
answering (each SOQL query scans every record of its object). "RSS before": resident memory as
plan_related starts (the ledger, the org, the scores); "peak RSS": the high-water mark during the
two ({_PEAK_NOTE})."""
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=5_000, help="default 5000")
    parser.add_argument("--seed", type=int, default=7, help="the ledger's seed (default 7)")
    return parser.parse_args()


_STATUS = Path("/proc/self/status")
_PEAK_NOTE = "reset before each through /proc/self/clear_refs"


def _reset_peak_rss() -> bool:
    """Reset the process's RSS high-water mark (Linux 4.0+); False where that is not possible."""
    global _PEAK_NOTE  # noqa: PLW0603 - said once in the footnote
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        _PEAK_NOTE = "not resettable here: the process's peak so far"
        return False
    return True


def _rss_mib() -> float:
    return _status_mib("VmRSS") or _peak_rss_mib(since_reset=False)


def _peak_rss_mib(*, since_reset: bool) -> float:
    if since_reset:
        peak = _status_mib("VmHWM")
        if peak is not None:
            return peak
    maximum = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maximum / 2**20 if sys.platform == "darwin" else maximum / 2**10


def _status_mib(name: str) -> float | None:
    try:
        found = re.search(rf"^{name}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) / 2**10 if found else None


if __name__ == "__main__":
    main()
