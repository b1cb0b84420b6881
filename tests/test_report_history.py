"""The report's score history: the store's read-only queries, `read_history`, and the trends,
tile changes and tier migration `build_report` makes of it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from factories import build, customer, day, invoice

from arsync.ledger import Ledger
from jobs.report.build import build_report
from jobs.report.files import migration_rows, owner_rows, portfolio_row
from jobs.report.history import History, read_history
from jobs.report.page import render_html
from jobs.settings import RunSettings, load_run_settings
from jobs.state import FinishedRun, StateStore
from jobs.state.history import SNAPSHOT_CRM_COLUMNS
from scoring import score_accounts
from scoring.trends import tier_totals

ROOT = Path(__file__).resolve().parents[1]
AS_OF = day("2026-06-30")
SNAPSHOT_COLUMNS = [
    "snapshot_date",
    "customer_id",
    "health_score",
    "risk_tier",
    "open_balance",
    "overdue_balance",
    "segment",
]


OWNERS = (
    ("005Hs00000AnnAAA", "Ann O'Neil"),
    ("005Hs00000BobAAA", "Bob <Smith>"),
    ("005Hs00000HidAAA", None),  # a User the run could not read: shown by Id
    (None, None),  # an Account with no owner read (unmatched)
)


def crm_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """What a run with the CRM would have recorded, made up per customer in turn: owners in
    the order of OWNERS; every fifth customer from the first a pending promise of half its
    overdue balance, from the second a kept one of 100, from the third a broken one of
    250.50; every seventh a dispute open in the CRM."""
    n = pd.Series(range(len(scores)), index=scores.index)
    status = n.mod(5).map({0: "pending", 1: "kept", 2: "broken", 3: "none", 4: "none"})
    amount = n.mod(5).map({1: 100.0, 2: 250.50})
    amount = amount.where(status != "pending", (scores["overdue_balance"] / 2).round(2))
    return scores.assign(
        promise_status=status,
        promise_amount=amount,
        promise_date=dt.date(2026, 6, 1),
        crm_dispute_open=n.mod(7) == 0,
        owner_id=[OWNERS[i % len(OWNERS)][0] for i in n],
        owner_name=[OWNERS[i % len(OWNERS)][1] for i in n],
    )


def seed_snapshots(
    url: str,
    ledger: Ledger,
    settings: RunSettings,
    days: Sequence[dt.date],
    *,
    crm: bool = False,
) -> None:
    """One completed real run per day, each recording the ledger scored as of that day: the
    history a nightly worker would have left; with `crm`, what it read from the CRM too."""
    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    columns = [*SNAPSHOT_COLUMNS, *SNAPSHOT_CRM_COLUMNS] if crm else SNAPSHOT_COLUMNS
    with StateStore.open(url) as store:
        for number, snapshot_day in enumerate(days):
            scores = score_accounts(ledger, snapshot_day, settings.scoring, settings.currencies)
            scores = crm_columns(scores) if crm else scores
            rows = scores.assign(snapshot_date=snapshot_day)[columns]
            run_id = f"seed-{number}"
            store.begin_run(
                run_id,
                dry_run=False,
                as_of=snapshot_day,
                config_fingerprint="seed",
                started_at=moment,
            )
            store.finish_run(
                FinishedRun(
                    run_id,
                    status="succeeded",
                    finished_at=moment,
                    counts={},
                    snapshots=rows.to_dict("records"),
                )
            )


@pytest.fixture(scope="module")
def settings() -> RunSettings:
    return load_run_settings(ROOT / "config/arsync.yaml")


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    """C1 owes 1000 due 05-01 (overdue from 05-02 on); C2 owes 500 due 07-15 (current)."""
    built, _ = build(
        customer("C1"),
        customer("C2"),
        invoice("I1", "1000", issued="2026-04-01", due="2026-05-01", customer_id="C1"),
        invoice("I2", "500", issued="2026-06-15", due="2026-07-15", customer_id="C2"),
    )
    return built


def snapshot_rows(
    store_day: str, *rows: tuple[str, str, float, float], **crm: Sequence[object]
) -> list[dict[str, object]]:
    """Snapshot rows of one day; `crm` gives a CRM column's value per row, in order."""
    return [
        {
            "snapshot_date": day(store_day),
            "customer_id": customer_id,
            "health_score": 50,
            "risk_tier": tier,
            "open_balance": open_balance,
            "overdue_balance": overdue,
            "segment": None,
            **{name: values[number] for name, values in crm.items()},
        }
        for number, (customer_id, tier, open_balance, overdue) in enumerate(rows)
    ]


def record(url: str, rows: list[dict[str, object]], run_id: str = "r1") -> None:
    moment = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    with StateStore.open(url) as store:
        store.begin_run(
            run_id, dry_run=False, as_of=AS_OF, config_fingerprint="f", started_at=moment
        )
        store.finish_run(
            FinishedRun(run_id, status="succeeded", finished_at=moment, counts={}, snapshots=rows)
        )


def test_the_store_sums_snapshots_per_day_and_tier(state_url: str) -> None:
    rows = [
        *snapshot_rows("2026-05-01", ("A", "low", 10.10, 0.0), ("B", "high", 20.20, 5.05)),
        *snapshot_rows("2026-06-01", ("A", "high", 1.01, 1.01), ("B", "high", 2.02, 0.0)),
        *snapshot_rows("2026-07-01", ("A", "low", 7.0, 0.0)),
    ]
    moment = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    with StateStore.open(state_url) as store:
        store.begin_run("r1", dry_run=False, as_of=AS_OF, config_fingerprint="f", started_at=moment)
        store.finish_run(
            FinishedRun("r1", status="succeeded", finished_at=moment, counts={}, snapshots=rows)
        )

        totals = store.history.tier_totals(day("2026-05-01"), day("2026-06-30"))
        tiers = store.history.tiers(day("2026-06-01"))

    assert totals.values.tolist() == [
        [pd.Timestamp("2026-05-01"), "high", 1, 20.20, 5.05, 1],
        [pd.Timestamp("2026-05-01"), "low", 1, 10.10, 0.0, 0],
        [pd.Timestamp("2026-06-01"), "high", 2, 3.03, 1.01, 1],
    ]  # 07-01 is after the last day asked for
    expected = tier_totals(pd.DataFrame(rows[:4]).astype({"snapshot_date": "datetime64[ns]"}), 2)
    assert totals.values.tolist() == expected.values.tolist()
    assert tiers.values.tolist() == [["A", "high"], ["B", "high"]]


def test_without_a_state_file_there_is_no_history_and_no_file_is_made(tmp_path: Path) -> None:
    path = tmp_path / "state" / "arsync.db"

    history = read_history(f"sqlite:///{path}", AS_OF)

    assert history.totals.empty
    assert history.note is not None
    assert "no score history yet" in history.note
    assert not path.exists()


def test_read_history_picks_the_latest_day_and_the_one_nearest_30_days_before(
    tmp_path: Path, ledger: Ledger, settings: RunSettings
) -> None:
    url = f"sqlite:///{tmp_path / 'arsync.db'}"
    days = [day(d) for d in ("2026-05-20", "2026-05-29", "2026-06-02", "2026-06-29", "2026-07-05")]
    seed_snapshots(url, ledger, settings, days)

    history = read_history(url, AS_OF)

    assert history.note is None
    assert history.days == days[:4]  # 07-05 is after the as-of date
    assert history.now_day == day("2026-06-29")
    # 30 days before 06-29 is 05-30: 05-29 is one day off, 06-02 three.
    assert history.then_day == day("2026-05-29")
    assert history.now_tiers["customer_id"].tolist() == ["C1", "C2"]


def test_trends_tile_changes_and_migration_from_the_history(
    ledger: Ledger, settings: RunSettings
) -> None:
    totals = pd.DataFrame(
        [
            [pd.Timestamp("2026-05-20"), "low", 2, 300.0, 0.0, 0],
            [pd.Timestamp("2026-05-31"), "low", 1, 400.0, 0.0, 0],
            [pd.Timestamp("2026-05-31"), "high", 1, 600.0, 100.0, 1],
        ],
        columns=[
            "snapshot_date",
            "risk_tier",
            "accounts",
            "open_balance",
            "overdue_balance",
            "accounts_with_overdue",
        ],
    )
    tiers = pd.DataFrame({"customer_id": ["C1", "C2"], "risk_tier": ["low", "high"]})
    history = History(
        totals=totals,
        then_day=day("2026-05-20"),
        now_day=day("2026-05-31"),
        then_tiers=tiers,
        now_tiers=tiers.assign(risk_tier=["medium", "high"]),
    )

    report = build_report(ledger, AS_OF, settings, history=history)

    trend = report.trend
    assert [d.isoformat() for d in trend["snapshot_date"]] == [
        "2026-05-20",
        "2026-05-31",
        "2026-06-30",
    ]
    assert trend["source"].tolist() == ["snapshot", "snapshot", "report"]
    assert trend["open_balance"].tolist() == [300.0, 1000.0, 1500.0]
    assert trend["money_at_risk"].tolist() == [0.0, 600.0, report.kpi("money_at_risk")]
    # The DSO of 05-31 from the ledger as of then: 1000 open, 1000 sold in 90 days: 90 days.
    assert trend["dso"].iloc[1] == pytest.approx(90.0)
    assert report.base_day == day("2026-05-31")  # exactly 30 days before
    page = render_html(report)
    changes = dict(
        re.findall(r'data-kpi="(\w+)">.*?<div class="change ?(?:\w*)">(.*?)</div>', page, re.S)
    )
    # Open now 1500 vs 1000; overdue 1000 vs 100. DSO now: 1500 open, sold in (04-01, 06-30]
    # only I2's 500 (I1, of 04-01, is on the window's open end): 1500 / 500 x 90 = 270, so
    # 180 days more than the 90 of 05-31.
    assert changes["open_balance"] == "+500.00 since 2026-05-31"
    assert changes["overdue_balance"] == "+900.00 since 2026-05-31"
    assert changes["dso"] == "+180.0 days since 2026-05-31"
    assert changes["money_at_risk"] == "-600.00 since 2026-05-31"  # nothing high or critical now
    assert 'class="change worse">+900.00' in page
    assert "-0" not in re.sub(r"\d{4}-\d\d-\d\d", "", "".join(changes.values()))
    migration = migration_rows(report)
    assert int(migration["accounts"].sum()) == 2
    moved = migration[migration["accounts"] > 0][["from_tier", "to_tier", "accounts"]]
    assert moved.values.tolist() == [["low", "medium", 1], ["high", "high", 1]]
    assert "1 moved to a worse tier, 0 to a better one and 1 stayed" in page


def test_promise_tiles_and_owners_come_from_the_latest_snapshot(
    tmp_path: Path, ledger: Ledger, settings: RunSettings
) -> None:
    url = f"sqlite:///{tmp_path / 'arsync.db'}"
    old = snapshot_rows(
        "2026-06-01",
        ("C1", "low", 1.0, 0.0),
        promise_status=["broken"],
        promise_amount=[999.0],
        owner_name=["Old Owner"],
    )
    latest = snapshot_rows(
        "2026-06-28",
        ("A", "high", 1000.00, 600.00),
        ("B", "low", 250.25, 0.0),
        ("C", "critical", 300.30, 300.30),
        ("D", "medium", 80.0, 80.0),
        ("E", "high", 40.0, 0.0),
        promise_status=["pending", "kept", "broken", "none", "pending"],
        promise_amount=[400.0, 250.25, 150.15, None, 0.10],
        promise_date=[day("2026-07-02"), day("2026-06-20"), day("2026-06-10"), None, None],
        crm_dispute_open=[False, False, True, True, False],
        owner_id=["005A", "005A", "005B", None, "005C"],
        owner_name=["Ann O'Neil", "Ann O'Neil", "Bob <Smith>", None, None],
    )
    record(url, old + latest)
    record(url, snapshot_rows("2026-07-01", ("A", "low", 1.0, 0.0)), "after")  # after as-of

    history = read_history(url, AS_OF)
    report = build_report(ledger, AS_OF, settings, history=history)

    assert report.crm_day == day("2026-06-28")
    assert report.promises is not None
    # pending: A 400 + E 0.10; kept: B 250.25; broken: C 150.15 (06-01's is older).
    assert report.promises.values.tolist() == [
        ["pending", 2, 400.10],
        ["kept", 1, 250.25],
        ["broken", 1, 150.15],
    ]
    assert report.crm_disputes == 2  # C and D
    assert report.owners is not None
    # Ann: A (high: at risk) + B; 005B's name is Bob; 005C unread: by Id; D has no owner.
    assert report.owners.values.tolist() == [
        ["Ann O'Neil", 2, 1, 1250.25, 600.0, 1000.0],
        ["Bob <Smith>", 1, 1, 300.30, 300.30, 300.30],
        ["(none)", 1, 1, 80.0, 80.0, 0.0],
        ["005C", 1, 0, 40.0, 0.0, 40.0],
    ]
    kpis = portfolio_row(report).iloc[0]
    assert kpis["crm_snapshot_date"] == "2026-06-28"
    assert (kpis["promises_pending_accounts"], kpis["promises_pending_promised"]) == (2, 400.10)
    assert (kpis["promises_broken_accounts"], kpis["promises_broken_promised"]) == (1, 150.15)
    assert kpis["accounts_with_crm_dispute"] == 2
    owners = owner_rows(report)
    assert set(owners["snapshot_date"]) == {"2026-06-28"}
    assert owners["open_balance"].sum() == pytest.approx(1670.55)
    page = render_html(report)
    tiles = dict(
        re.findall(r'data-kpi="(\w+)">.*?<div class="value">(.*?)</div>', page, flags=re.S)
    )
    assert tiles["promises_pending"] == "400.10"
    assert tiles["promises_kept"] == "250.25"
    assert tiles["promises_broken"] == "150.15"
    assert "USD promised by 2 accounts, as the CRM held them on 2026-06-28" in page
    assert "2 accounts with a dispute open in the CRM on 2026-06-28" in page
    assert "from the snapshot of 2026-06-28" in page
    assert "Ann O&#39;Neil" in page
    assert "Bob &lt;Smith&gt;" in page
    total = re.search(r"<tr data-owner-total>(.*?)</tr>", page, flags=re.S)
    assert total is not None
    assert re.findall(r'class="num">(.*?)</td>', total.group(1)) == [
        "5",
        "3",
        "1,670.55",
        "980.30",
        "1,340.30",
    ]


def test_a_latest_snapshot_without_crm_data_says_so(
    tmp_path: Path, ledger: Ledger, settings: RunSettings
) -> None:
    """A day with CRM data, then a day of a run from before revision 0006 (or without the
    CRM): the report does not fall back to the older day's figures, it says why none."""
    url = f"sqlite:///{tmp_path / 'arsync.db'}"
    record(
        url,
        snapshot_rows("2026-06-01", ("A", "low", 1.0, 0.0), promise_status=["pending"])
        + snapshot_rows("2026-06-02", ("A", "low", 1.0, 0.0)),
    )

    report = build_report(ledger, AS_OF, settings, history=read_history(url, AS_OF))

    assert report.promises is None
    assert report.owners is None
    assert report.crm_day is None
    assert report.crm_disputes is None
    assert report.crm_note is not None
    assert "the latest snapshot (2026-06-02) holds no CRM data" in report.crm_note
    page = render_html(report)
    assert "Promises to pay" in page
    assert "pending, kept, broken: the latest snapshot (2026-06-02) holds no CRM data" in page
    assert "No breakdown per Account owner: the latest snapshot (2026-06-02)" in page
    kpis = portfolio_row(report).iloc[0]
    assert kpis["crm_snapshot_date"] == ""
    assert "promises_pending_accounts" not in kpis
    assert pd.isna(kpis["accounts_with_crm_dispute"])
    assert owner_rows(report).empty


def test_owners_without_a_promise_source_say_the_promises_were_not_read(
    tmp_path: Path, ledger: Ledger, settings: RunSettings
) -> None:
    url = f"sqlite:///{tmp_path / 'arsync.db'}"
    record(url, snapshot_rows("2026-06-02", ("A", "low", 1.0, 0.0), owner_id=["005A"]))

    report = build_report(ledger, AS_OF, settings, history=read_history(url, AS_OF))

    assert report.promises is None
    assert report.owners is not None
    assert report.owners["owner"].tolist() == ["005A"]
    assert report.crm_note == (
        "the snapshot of 2026-06-02 holds no promises: its run read none from the CRM "
        "(the mapping has no source for them)"
    )
