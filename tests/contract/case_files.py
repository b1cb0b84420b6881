"""The CSV export source under contract: the ledger written as the generic export, with the
ERP's customer balance report beside it as its control totals."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import responses

from arsync.control import Basis
from arsync.records import CanonicalRecord
from arsync.yamlfile import load_model
from connector.erp.base import Source
from connector.erp.files.mapping import ControlTotalsColumns, ControlTotalsSpec, FileMapping
from connector.erp.files.source import FileSource
from contract.balances import Unseen, erp_balances
from contract.harness import ConnectorCase, build
from jobs.sample_data import write_export

ROOT = Path(__file__).resolve().parents[2]
CONTROL_FILE = "customer_balances_20260630.csv"
CONTROL_HEADERS = ID, CURRENCY, BALANCE = ("Customer No.", "Currency", "Balance")
# The mapping's commented `control_totals:` example, switched on.
CONTROL_TOTALS = ControlTotalsSpec(
    path="customer_balances_*.csv",
    basis=Basis.NET,
    figure="the ERP's customer balance report",
    columns=ControlTotalsColumns(customer_id=ID, currency=CURRENCY, balance=BALANCE),
)


def serve(
    records: list[CanonicalRecord],
    tmp_path: Path,
    mock: responses.RequestsMock,
    unseen: Unseen | None = None,
) -> Source:
    exported_at = dt.datetime(2026, 6, 30, 23, tzinfo=dt.UTC)
    write_export(build(records), tmp_path, exported_at)
    write_control_totals(tmp_path / CONTROL_FILE, records, unseen)
    mapping = load_model(FileMapping, ROOT / "mappings/erp/generic_csv.yaml")
    return FileSource(tmp_path, mapping.model_copy(update={"control_totals": CONTROL_TOTALS}))


def write_control_totals(
    path: Path, records: list[CanonicalRecord], unseen: Unseen | None = None
) -> None:
    """Every customer's balance, zero ones too, as a customer balance report lists them, in
    the export's number format (thousands separated by commas)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CONTROL_HEADERS)
        for balance in erp_balances(records, unseen).values():
            writer.writerow([balance.customer_id, balance.currency, f"{balance.amount:,.2f}"])


CASE = ConnectorCase(
    name="files",
    serve=serve,
    # The ledger's frames keep neither (the export makes them up): see arsync/ledger.py.
    cannot_carry={"invoice": frozenset({"last_modified"}), "credit_memo": frozenset({"reason"})},
)
