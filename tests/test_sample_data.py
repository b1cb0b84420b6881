"""The sample ledger: deterministic, internally consistent, realistic, and exported as mapped."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples

from arsync.ledger import (
    APPLICATION_COLUMNS,
    CREDIT_MEMO_COLUMNS,
    CUSTOMER_COLUMNS,
    INVOICE_COLUMNS,
    PAYMENT_COLUMNS,
    Ledger,
    LedgerBuilder,
)
from arsync.money import from_minor, to_minor
from arsync.records import (
    Application,
    CanonicalRecord,
    CreditMemo,
    Customer,
    Invoice,
    Payment,
)
from arsync.yamlfile import load_model
from connector.erp.base import Pulled
from connector.erp.files.mapping import FileMapping
from connector.erp.files.source import FileSource
from jobs.sample_data import (
    ARCHETYPE_SHARES,
    EXPORT_FILES,
    Archetype,
    SampleLedger,
    generate_ledger,
    write_export,
)
from jobs.sample_data.customers import sf_checksum_ok

END = dt.date(2025, 6, 30)
EXPORTED_AT = dt.datetime(2025, 6, 30, 21, 30, tzinfo=dt.UTC)
MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "erp" / "generic_csv.yaml"
FRAMES = ("customers", "invoices", "payments", "credit_memos", "applications")
COLUMNS = {
    "customers": CUSTOMER_COLUMNS,
    "invoices": INVOICE_COLUMNS,
    "payments": PAYMENT_COLUMNS,
    "credit_memos": CREDIT_MEMO_COLUMNS,
    "applications": APPLICATION_COLUMNS,
}
CURRENCY_SETS = [("USD", "EUR"), ("USD",), ("EUR", "JPY", "KWD")]
SLIP_WINDOW = pd.Timedelta(days=120)


@pytest.fixture(scope="module")
def ledger() -> SampleLedger:
    return generate_ledger(200, seed=42, end_date=END)


@pytest.fixture(scope="module")
def export_dir(ledger: SampleLedger, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    write_export(ledger, out, EXPORTED_AT)
    return out


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_the_same_ledger() -> None:
    first = generate_ledger(40, seed=3, end_date=END)
    second = generate_ledger(40, seed=3, end_date=END)
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    pd.testing.assert_series_equal(first.archetypes, second.archetypes)


def test_different_seeds_give_different_ledgers() -> None:
    first = generate_ledger(40, seed=3, end_date=END)
    second = generate_ledger(40, seed=4, end_date=END)
    assert not first.invoices.equals(second.invoices)
    assert not first.customers.equals(second.customers)


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="currencies"):
        generate_ledger(5, seed=1, end_date=END, currencies=("usd",))
    with pytest.raises(ValueError, match="months"):
        generate_ledger(5, seed=1, end_date=END, months=0)
    with pytest.raises(ValueError, match="customers"):
        generate_ledger(-1, seed=1, end_date=END)


def test_no_customers_gives_an_empty_typed_ledger() -> None:
    empty = generate_ledger(0, seed=1, end_date=END)
    assert all(n == 0 for n in empty.counts().values())
    assert_dtypes(empty)


# --- invariants --------------------------------------------------------------------------


@settings(max_examples=examples(100), deadline=None)
@given(
    customers=st.integers(0, 30),
    seed=st.integers(0, 2**63),
    months=st.integers(1, 30),
    per_customer=st.floats(1.0, 15.0),
    currencies=st.sampled_from(CURRENCY_SETS),
)
def test_invariants_hold_for_any_seed(
    customers: int, seed: int, months: int, per_customer: float, currencies: tuple[str, ...]
) -> None:
    generated = generate_ledger(
        customers,
        seed=seed,
        end_date=END,
        months=months,
        currencies=currencies,
        invoices_per_customer=per_customer,
    )
    assert_invariants(generated, END)
    assert_archetype_promises(generated)


@settings(max_examples=examples(30), deadline=None)
@given(customers=st.integers(1, 12), seed=st.integers(0, 2**32))
def test_records_pass_the_canonical_and_ledger_rules(customers: int, seed: int) -> None:
    generated = generate_ledger(customers, seed=seed, end_date=END, invoices_per_customer=8)
    builder = LedgerBuilder(currencies={"USD", "EUR"})
    for record in canonical_records(generated):
        builder.add(record, "generated")
    rebuilt = builder.build()
    assert list(builder.quarantine) == []
    assert_same_ledger(rebuilt, generated)


def test_the_200_customer_ledger_is_consistent(ledger: SampleLedger) -> None:
    assert_invariants(ledger, END)
    assert_archetype_promises(ledger)


def assert_dtypes(ledger: Ledger) -> None:
    for name in FRAMES:
        frame: pd.DataFrame = getattr(ledger, name)
        assert {column: str(dtype) for column, dtype in frame.dtypes.items()} == COLUMNS[name]


def assert_invariants(ledger: Ledger, end: dt.date) -> None:
    assert_dtypes(ledger)
    assert_ids(ledger)
    assert_balances(ledger)
    assert_applications_belong(ledger)
    assert_dates(ledger, pd.Timestamp(end))
    assert_customers(ledger)


def assert_ids(ledger: Ledger) -> None:
    patterns = {
        ("customers", "customer_id"): r"C\d{5,}",
        ("invoices", "invoice_id"): r"INV-\d{6,}",
        ("invoices", "number"): r"\d{4}-\d{6,}",
        ("payments", "payment_id"): r"PMT-\d{6,}",
        ("credit_memos", "credit_memo_id"): r"CM-\d{6,}",
    }
    for (name, column), pattern in patterns.items():
        values = getattr(ledger, name)[column]
        assert values.is_unique, column
        assert values.str.fullmatch(pattern).all(), column


def assert_balances(ledger: Ledger) -> None:
    invoices, applications = ledger.invoices, ledger.applications
    applied = applications.groupby("invoice_id")["amount_minor"].sum()
    applied_to = invoices["invoice_id"].map(applied).fillna(0).astype("int64")
    void = invoices["status"] == "void"
    live = ~void
    assert (invoices["total_minor"] > 0).all()
    open_minor, total = invoices["open_minor"], invoices["total_minor"]
    assert (open_minor[live] == (total - applied_to)[live]).all()
    assert (open_minor[void] == 0).all()
    assert (applied_to[void] == 0).all()
    assert ((open_minor >= 0) & (open_minor <= total)).all()
    paid = invoices["status"] == "paid"
    assert (paid[live] == (open_minor == 0)[live]).all()
    assert set(invoices["status"]) <= {"open", "paid", "void"}
    assert (applications["amount_minor"] > 0).all()
    for frame, key, kind in (
        (ledger.payments, "payment_id", "payment"),
        (ledger.credit_memos, "credit_memo_id", "credit_memo"),
    ):
        own = applications[applications["document_type"] == kind]
        used = frame[key].map(own.groupby("document_id")["amount_minor"].sum()).fillna(0)
        assert (frame["amount_minor"] > 0).all()
        assert (frame["unapplied_minor"] == frame["amount_minor"] - used.astype("int64")).all()
        assert (frame["unapplied_minor"] >= 0).all()
        assert own["document_id"].isin(frame[key]).all()
    disputed = invoices["disputed"]
    assert (invoices["dispute_reason"].notna() == disputed).all()
    assert (invoices.loc[disputed, "status"] == "open").all()


def assert_applications_belong(ledger: Ledger) -> None:
    """Same customer and currency as the invoice and the document; dated on the document."""
    invoices = ledger.invoices.set_index("invoice_id")
    documents = pd.concat(
        [
            ledger.payments.set_index("payment_id")[
                ["customer_id", "currency", "received_date"]
            ].rename(columns={"received_date": "date"}),
            ledger.credit_memos.set_index("credit_memo_id")[["customer_id", "currency", "date"]],
        ]
    )
    applications = ledger.applications
    invoice = invoices.loc[applications["invoice_id"]]
    document = documents.loc[applications["document_id"]]
    customer = applications["customer_id"].to_numpy()
    assert (invoice["customer_id"].to_numpy() == customer).all()
    assert (document["customer_id"].to_numpy() == customer).all()
    assert (invoice["currency"].to_numpy() == document["currency"].to_numpy()).all()
    assert (applications["applied_date"].to_numpy() >= invoice["issue_date"].to_numpy()).all()
    assert (applications["applied_date"].to_numpy() == document["date"].to_numpy()).all()
    assert not (invoices.loc[applications["invoice_id"], "status"] == "void").any()


def assert_dates(ledger: Ledger, end: pd.Timestamp) -> None:
    for name, column in (
        ("invoices", "issue_date"),
        ("payments", "received_date"),
        ("credit_memos", "date"),
        ("applications", "applied_date"),
    ):
        dates = getattr(ledger, name)[column]
        assert dates.notna().all()
        assert (dates <= end).all(), f"{name}.{column} after the end date"
    invoices = ledger.invoices
    assert (invoices["due_date"] >= invoices["issue_date"]).all()


def assert_customers(ledger: Ledger) -> None:
    customers = ledger.customers
    ids = set(customers["customer_id"])
    parents = customers["parent_id"].dropna()
    assert parents.isin(ids).all()
    assert (parents != customers.loc[parents.index, "customer_id"]).all()
    assert not parents.isin(customers.loc[customers["parent_id"].notna(), "customer_id"]).any()
    crm = customers["crm_account_id"].dropna()
    assert crm.str.fullmatch(r"001[0-9A-Za-z]{15}").all()
    assert all(sf_checksum_ok(value) for value in crm)
    assert crm.is_unique
    assert set(customers["payment_terms_days"]) <= {0, 15, 30, 45, 60, 90}
    own = customers.set_index("customer_id")["currency"]
    for name in ("invoices", "payments", "credit_memos"):
        frame = getattr(ledger, name)
        assert (frame["customer_id"].map(own) == frame["currency"]).all(), name


def assert_archetype_promises(ledger: SampleLedger) -> None:
    """What the labels promise holds exactly: prompt payers are never late, chronic ones are."""
    lateness = payment_lateness(ledger)
    kind = lateness["customer_id"].map(ledger.archetypes)
    assert (lateness.loc[kind == Archetype.PROMPT.label, "days_late"] <= 0).all()
    assert (lateness.loc[kind == Archetype.CHRONIC_LATE.label, "days_late"] >= 20).all()


def payment_lateness(ledger: Ledger) -> pd.DataFrame:
    """One row per payment application: customer, due date, payment date, days late."""
    applications = ledger.applications
    paid = applications[applications["document_type"] == "payment"]
    due_dates = ledger.invoices.set_index("invoice_id")["due_date"]
    due = due_dates.reindex(paid["invoice_id"]).to_numpy()
    return pd.DataFrame(
        {
            "customer_id": paid["customer_id"].to_numpy(),
            "due_date": due,
            "applied_date": paid["applied_date"].to_numpy(),
            "days_late": (paid["applied_date"].to_numpy() - due) // np.timedelta64(1, "D"),
        }
    )


def canonical_records(ledger: Ledger) -> Iterator[CanonicalRecord]:
    """The ledger as the records a source would yield, money back in Decimal."""
    for row in ledger.customers.to_dict("records"):
        currency = row["currency"]
        limit = row["credit_limit_minor"]
        yield Customer(
            id=row["customer_id"],
            name=row["name"],
            currency=currency,
            credit_limit=None if pd.isna(limit) else from_minor(int(limit), currency),
            payment_terms_days=row["payment_terms_days"],
            industry=_value(row["industry"]),
            invoice_delivery=_value(row["invoice_delivery"]),
            payment_method=_value(row["payment_method"]),
            parent_id=_value(row["parent_id"]),
            crm_account_id=_value(row["crm_account_id"]),
        )
    for row in ledger.invoices.to_dict("records"):
        currency = row["currency"]
        yield Invoice(
            id=row["invoice_id"],
            number=row["number"],
            customer_id=row["customer_id"],
            issue_date=row["issue_date"].date(),
            due_date=row["due_date"].date(),
            currency=currency,
            total=from_minor(row["total_minor"], currency),
            open_balance=from_minor(row["open_minor"], currency),
            status=row["status"],
            disputed=row["disputed"],
            dispute_reason=_value(row["dispute_reason"]),
        )
    parts = _applications_by_document(ledger)
    for row in ledger.payments.to_dict("records"):
        yield Payment(
            id=row["payment_id"],
            customer_id=row["customer_id"],
            currency=row["currency"],
            amount=from_minor(row["amount_minor"], row["currency"]),
            applications=parts.get(row["payment_id"], ()),
            received_date=row["received_date"].date(),
            method=_value(row["method"]),
        )
    for row in ledger.credit_memos.to_dict("records"):
        yield CreditMemo(
            id=row["credit_memo_id"],
            customer_id=row["customer_id"],
            currency=row["currency"],
            amount=from_minor(row["amount_minor"], row["currency"]),
            applications=parts.get(row["credit_memo_id"], ()),
            date=row["date"].date(),
        )


def _applications_by_document(ledger: Ledger) -> dict[str, tuple[Application, ...]]:
    currency = pd.concat(
        [
            ledger.payments.set_index("payment_id")["currency"],
            ledger.credit_memos.set_index("credit_memo_id")["currency"],
        ]
    )
    parts: dict[str, list[Application]] = {}
    for row in ledger.applications.to_dict("records"):
        document = row["document_id"]
        parts.setdefault(document, []).append(
            Application(
                invoice_id=row["invoice_id"],
                amount=from_minor(row["amount_minor"], currency[document]),
                applied_date=row["applied_date"].date(),
            )
        )
    return {document: tuple(found) for document, found in parts.items()}


def _value(cell: Any) -> Any:
    return None if pd.isna(cell) else cell


def assert_same_ledger(actual: Ledger, expected: Ledger) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(
            getattr(actual, name).reset_index(drop=True),
            getattr(expected, name).reset_index(drop=True),
            obj=name,
        )


# --- realism: every archetype shows in a 200-customer ledger -----------------------------


def test_archetypes_are_mixed_in_the_stated_proportions(ledger: SampleLedger) -> None:
    counts = ledger.archetypes.value_counts()
    for kind, share in ARCHETYPE_SHARES.items():
        assert abs(counts[kind.label] - share * 200) < 1


def test_some_customer_started_paying_late_lately(ledger: SampleLedger) -> None:
    invoices = ledger.invoices[ledger.invoices["status"] != "void"]
    end = pd.Timestamp(END)
    last_paid = invoices["invoice_id"].map(
        ledger.applications.groupby("invoice_id")["applied_date"].max()
    )
    late = (last_paid > invoices["due_date"]) | (
        (invoices["open_minor"] > 0) & (invoices["due_date"] < end)
    )
    recent = (invoices["due_date"] >= end - SLIP_WINDOW) & (invoices["due_date"] < end)
    before = invoices["due_date"] < end - SLIP_WINDOW - pd.Timedelta(days=30)
    frame = pd.DataFrame(
        {"customer": invoices["customer_id"], "late": late, "recent": recent, "before": before}
    )
    early_share = frame[frame["before"]].groupby("customer")["late"].agg(["mean", "size"])
    recent_share = frame[frame["recent"]].groupby("customer")["late"].agg(["mean", "size"])
    shares = early_share.add_suffix("_before").join(recent_share.add_suffix("_recent"), how="inner")
    slipped = shares[
        (shares["size_before"] >= 5)
        & (shares["mean_before"] <= 0.1)
        & (shares["size_recent"] >= 2)
        & (shares["mean_recent"] >= 0.5)
    ]
    assert len(slipped) >= 1
    labelled = ledger.archetypes[slipped.index]
    assert (labelled == Archetype.SLIPPER.label).any()


def test_chronic_late_and_prompt_payers_are_both_there(ledger: SampleLedger) -> None:
    lateness = payment_lateness(ledger).groupby("customer_id")["days_late"]
    typical = lateness.agg(["median", "max", "size"])
    enough = typical[typical["size"] >= 5]
    assert (enough["median"] >= 20).any()
    assert (enough["max"] <= 0).any()


def test_disputed_invoices_are_open_with_a_reason(ledger: SampleLedger) -> None:
    disputed = ledger.invoices[ledger.invoices["disputed"]]
    assert len(disputed) >= 1
    assert (disputed["open_minor"] == disputed["total_minor"]).all()
    assert set(disputed["dispute_reason"]) <= {
        "pricing",
        "damaged goods",
        "PO mismatch",
        "quantity short",
        "not received",
        "duplicate billing",
    }
    assert {"pricing", "PO mismatch"} <= set(disputed["dispute_reason"])


def test_partly_paid_invoices_keep_their_balance(ledger: SampleLedger) -> None:
    invoices = ledger.invoices
    paid_by_payment = ledger.applications.loc[
        ledger.applications["document_type"] == "payment", "invoice_id"
    ]
    partial = invoices[
        invoices["invoice_id"].isin(paid_by_payment)
        & (invoices["open_minor"] > 0)
        & (invoices["open_minor"] < invoices["total_minor"])
    ]
    assert len(partial) >= 5


def test_some_short_paid_invoices_are_settled_by_a_second_payment(ledger: SampleLedger) -> None:
    applications = ledger.applications
    paid = applications[applications["document_type"] == "payment"]
    twice = paid.groupby("invoice_id")["applied_date"].agg(["size", "min", "max"])
    twice = twice[twice["size"] == 2]
    assert len(twice) >= 1
    assert (twice["max"] > twice["min"]).all()


def test_credit_memos_are_applied_and_some_credit_is_left(ledger: SampleLedger) -> None:
    memos = ledger.credit_memos
    applied = ledger.applications["document_type"] == "credit_memo"
    assert applied.sum() >= 1
    assert (memos["unapplied_minor"] == memos["amount_minor"]).any()
    assert (
        (memos["unapplied_minor"] > 0) & (memos["unapplied_minor"] < memos["amount_minor"])
    ).any()


def test_unapplied_cash_is_there(ledger: SampleLedger) -> None:
    payments = ledger.payments
    on_account = payments["unapplied_minor"] == payments["amount_minor"]
    overpaid = (payments["unapplied_minor"] > 0) & ~on_account
    assert on_account.any()
    assert overpaid.any()


def test_payment_runs_cover_several_invoices(ledger: SampleLedger) -> None:
    per_payment = ledger.applications[ledger.applications["document_type"] == "payment"]
    assert per_payment.groupby("document_id").size().max() >= 3


def test_a_parent_has_several_children(ledger: SampleLedger) -> None:
    children = ledger.customers["parent_id"].value_counts()
    assert len(children) >= 2
    assert children.between(3, 4).all()


def test_customer_traits_cover_every_value(ledger: SampleLedger) -> None:
    customers = ledger.customers
    assert set(customers["currency"]) == {"USD", "EUR"}
    assert (customers["currency"] == "USD").mean() == pytest.approx(0.8)
    assert {"paper", "email", "portal", "edi"} <= set(customers["invoice_delivery"].dropna())
    assert {"check", "ach", "card", "wire"} <= set(customers["payment_method"].dropna())
    assert set(ledger.payments["method"]) <= {"check", "ach", "card", "wire", "other"}
    assert customers["payment_terms_days"].mode()[0] == 30
    assert 0.4 < customers["crm_account_id"].notna().mean() < 0.8
    assert customers["credit_limit_minor"].notna().mean() > 0.8


def test_amounts_are_lognormal_with_rare_outliers(ledger: SampleLedger) -> None:
    invoices = ledger.invoices
    median = invoices.groupby("customer_id")["total_minor"].transform("median")
    ratio = invoices["total_minor"] / median
    assert (ratio >= 5).any()
    assert (ratio >= 5).mean() < 0.01
    assert 0.2 < np.log(ratio).std() < 0.6


def test_invoices_not_yet_due_are_mostly_open(ledger: SampleLedger) -> None:
    invoices = ledger.invoices
    upcoming = invoices[(invoices["due_date"] > pd.Timestamp(END)) & (invoices["status"] != "void")]
    assert len(upcoming) >= 20
    assert (upcoming["status"] == "open").mean() > 0.8


def test_some_invoices_are_void(ledger: SampleLedger) -> None:
    assert (ledger.invoices["status"] == "void").any()


# --- the CSV export ----------------------------------------------------------------------


def mapping_files() -> dict[str, Any]:
    document = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    files: dict[str, Any] = document["files"]
    return files


def header_of(spec: Any) -> str:
    return spec if isinstance(spec, str) else str(spec["column"])


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_files_and_headers_are_the_mappings(export_dir: Path) -> None:
    files = mapping_files()
    assert set(files) == set(EXPORT_FILES)
    for key, spec in files.items():
        assert EXPORT_FILES[key].path == spec["path"]
        headers = [header_of(column) for column in spec["columns"].values()]
        with (export_dir / spec["path"]).open(encoding="utf-8", newline="") as handle:
            assert next(csv.reader(handle)) == headers, key


def test_values_are_spelled_as_the_mapping_reads_them(export_dir: Path) -> None:
    document = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    booleans = set(document["formats"]["true_values"]) | set(document["formats"]["false_values"])
    for key, spec in document["files"].items():
        rows = read_rows(export_dir / spec["path"])
        for column in spec["columns"].values():
            if isinstance(column, dict) and "values" in column:
                seen = {row[column["column"]] for row in rows} - {""}
                assert seen, (key, column["column"])
                assert seen <= set(column["values"]), (key, column["column"])
    disputed = {row["Disputed"] for row in read_rows(export_dir / "invoices.csv")}
    assert disputed == {"yes", "no"}
    assert disputed <= booleans


def test_dates_and_stamps_use_the_mapping_formats(export_dir: Path) -> None:
    document = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    date_format, stamp_format = document["formats"]["date"], document["formats"]["datetime"]
    invoices = read_rows(export_dir / "invoices.csv")
    for row in invoices[:500]:
        dt.datetime.strptime(row["Invoice Date"], date_format)  # noqa: DTZ007 - a plain date
        stamp = dt.datetime.strptime(row["Last Modified"], stamp_format)  # noqa: DTZ007 - has %z
        assert row["Last Modified"].endswith("+0000")
        assert stamp <= EXPORTED_AT
        assert stamp.date() >= dt.date.fromisoformat(row["Invoice Date"])


def test_csv_amounts_round_trip_to_minor_units(ledger: SampleLedger, export_dir: Path) -> None:
    def minor(cells: list[str], currencies: pd.Series) -> list[int | None]:
        return [
            None if cell == "" else to_minor(Decimal(cell), currency)
            for cell, currency in zip(cells, currencies, strict=True)
        ]

    customers = read_rows(export_dir / "customers.csv")
    limits = [None if pd.isna(v) else int(v) for v in ledger.customers["credit_limit_minor"]]
    assert minor([r["Credit Limit"] for r in customers], ledger.customers["currency"]) == limits
    invoices = read_rows(export_dir / "invoices.csv")
    currency = ledger.invoices["currency"]
    assert minor([r["Amount"] for r in invoices], currency) == list(ledger.invoices["total_minor"])
    assert minor([r["Balance Due"] for r in invoices], currency) == list(
        ledger.invoices["open_minor"]
    )
    payments = read_rows(export_dir / "payments.csv")
    assert minor([r["Amount"] for r in payments], ledger.payments["currency"]) == list(
        ledger.payments["amount_minor"]
    )
    paid = ledger.applications[ledger.applications["document_type"] == "payment"]
    rows = read_rows(export_dir / "payment_applications.csv")
    assert [r["Invoice ID"] for r in rows] == list(paid["invoice_id"])
    paid_currency = paid["document_id"].map(ledger.payments.set_index("payment_id")["currency"])
    assert minor([r["Amount Applied"] for r in rows], paid_currency) == list(paid["amount_minor"])
    assert re.fullmatch(r"\d+\.\d{2}", invoices[0]["Amount"])


def test_the_csv_source_reads_the_export_back_into_the_same_ledger(
    ledger: SampleLedger, export_dir: Path
) -> None:
    source = FileSource(export_dir, load_model(FileMapping, MAPPING))
    builder = LedgerBuilder(currencies={"USD", "EUR"})
    for item in source.pull():
        assert isinstance(item, Pulled), item
        builder.add(item.record, item.location, item.part_locations)
    assert_same_ledger(builder.build(), ledger)
    assert list(builder.quarantine) == []
    assert source.data_as_of() == EXPORTED_AT


def test_minor_digits_follow_the_currency(tmp_path: Path) -> None:
    generated = generate_ledger(12, seed=5, end_date=END, currencies=("JPY", "KWD"))
    write_export(generated, tmp_path, EXPORTED_AT)
    for row in read_rows(tmp_path / "invoices.csv"):
        pattern = r"\d+" if row["Currency"] == "JPY" else r"\d+\.\d{3}"
        assert re.fullmatch(pattern, row["Amount"]), row


def test_export_is_byte_identical_for_the_same_arguments(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    paths_a = write_export(generate_ledger(30, seed=9, end_date=END), first, EXPORTED_AT)
    paths_b = write_export(generate_ledger(30, seed=9, end_date=END), second, EXPORTED_AT)
    assert [p.name for p in paths_a] == [p.name for p in paths_b]
    assert len(paths_a) == 8  # six ledger files, the balance report, the manifest
    for a, b in zip(paths_a, paths_b, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_the_balance_report_reconciles_with_the_export_as_arsync_reads_it(
    ledger: SampleLedger, export_dir: Path
) -> None:
    from arsync.control import Basis  # noqa: PLC0415
    from arsync.reconcile import UNRECONCILED, reconcile  # noqa: PLC0415
    from jobs.load import pull_into  # noqa: PLC0415
    from jobs.progress import Silent  # noqa: PLC0415

    source = FileSource(export_dir, load_model(FileMapping, MAPPING))
    currencies = frozenset(str(c) for c in ledger.customers["currency"].unique())
    builder: LedgerBuilder = pull_into(source, currencies, Silent()).builder
    read = builder.build(as_of=END)
    control = source.control_balances()
    assert control is not None
    assert control.basis is Basis.NET
    result = reconcile(read, END, control, tolerance=Decimal("0.01"), max_portfolio_share=0)
    assert len(control.balances) == len(ledger.customers)
    assert UNRECONCILED not in set(result.customers["status"])
    assert result.counts()["reconciled"] == len(ledger.customers)


def test_manifest_names_the_export(ledger: SampleLedger, export_dir: Path) -> None:
    manifest = json.loads((export_dir / "export_manifest.json").read_text(encoding="utf-8"))
    assert manifest == {
        "exported_at": "2025-06-30T21:30:00+00:00",
        "generator": "arsync sample-data",
        "seed": 42,
        "customers": 200,
    }
    assert dt.datetime.fromisoformat(manifest["exported_at"]) == EXPORTED_AT


def test_export_needs_an_aware_time(ledger: SampleLedger, tmp_path: Path) -> None:
    naive = dt.datetime(2025, 6, 30, 12)  # noqa: DTZ001 - the error case itself
    with pytest.raises(ValueError, match="timezone"):
        write_export(ledger, tmp_path, naive)
