"""The CSV export source under contract: the ledger written as the generic export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import responses

from arsync.records import CanonicalRecord
from arsync.yamlfile import load_model
from connector.erp.base import Source
from connector.erp.files.mapping import FileMapping
from connector.erp.files.source import FileSource
from contract.harness import ConnectorCase, build
from jobs.sample_data import write_export

ROOT = Path(__file__).resolve().parents[2]


def serve(records: list[CanonicalRecord], tmp_path: Path, mock: responses.RequestsMock) -> Source:
    exported_at = dt.datetime(2026, 6, 30, 23, tzinfo=dt.UTC)
    write_export(build(records), tmp_path, exported_at)
    mapping = load_model(FileMapping, ROOT / "mappings/erp/generic_csv.yaml")
    return FileSource(tmp_path, mapping)


CASE = ConnectorCase(
    name="files",
    serve=serve,
    # The ledger's frames keep neither (the export makes them up): see arsync/ledger.py.
    cannot_carry={"invoice": frozenset({"last_modified"}), "credit_memo": frozenset({"reason"})},
)
