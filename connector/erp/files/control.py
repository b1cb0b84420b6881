"""The export's control totals: the ERP's own balance per customer, read from one optional
file (`control_totals:` in the column mapping), for `arsync.reconcile` to check against.

The file is read with the ledger files' reader and cell parser (the mapping's encoding,
delimiter, decimal and thousands separators), but it is no ledger stream: its rows become no
records and do not count in the row accounting.

Its rows are checked by `connector.erp.control_rows`, as an SQL control query's are: a row
that cannot be read stops the run, every bad row named at once as file:line and reason, so
that one corrected export fixes them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import structlog

from arsync.control import ControlBalances
from arsync.errors import SourceConfigError
from arsync.money import DEFAULT_MONEY_PLACES
from connector.erp.control_rows import ControlTotalsError, control_balances
from connector.erp.files.mapping import ControlTotalsSpec, Formats
from connector.erp.files.paths import inside_folder
from connector.erp.files.table import read_table
from connector.erp.record_columns import check_columns
from connector.erp.values import CellParser

log = structlog.get_logger(__name__)

KEY = "control_totals.path"
__all__ = ["ControlTotalsError", "control_file", "read_control_totals"]


def control_file(
    folder: Path, spec: ControlTotalsSpec, ledger_files: Iterable[Path]
) -> Path | None:
    """The one file in `folder` that `spec.path` names or matches; SourceConfigError when
    none (unless not `required`: then None) or several do, when it leads outside the folder,
    or when it is a ledger file."""
    pattern = spec.path
    inside_folder(folder, pattern, KEY)  # `..` or an absolute pattern: refused before the glob
    try:
        matches = sorted(path for path in folder.glob(pattern) if path.is_file())
    except (ValueError, NotImplementedError) as error:
        raise SourceConfigError(
            f"the column mapping's {KEY} {pattern!r} is not a file name or pattern ({error})"
        ) from None
    if not matches and not spec.required:
        log.info("erp.files.control_totals_absent", pattern=pattern)
        return None
    if not matches:
        raise SourceConfigError(
            f"no file in the export folder {folder} matches the column mapping's {KEY} "
            f"{pattern!r}: the control totals are missing from the export (remove "
            "`control_totals:` from the mapping if the export has none)"
        )
    if len(matches) > 1:
        names = ", ".join(path.name for path in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise SourceConfigError(
            f"{len(matches)} files in the export folder match the column mapping's {KEY} "
            f"{pattern!r} ({names}{more}): the control totals must come from one file, so "
            "name it or narrow the pattern"
        )
    path = inside_folder(folder, matches[0].relative_to(folder), KEY)  # a symlink out, refused
    if path.resolve() in {ledger.resolve() for ledger in ledger_files}:
        raise SourceConfigError(
            f"the column mapping's {KEY} {pattern!r} matches {path.name}, which the mapping "
            "also reads as a ledger file: the control totals must be a file of their own"
        )
    return path


def read_control_totals(path: Path, spec: ControlTotalsSpec, formats: Formats) -> ControlBalances:
    """Every row of the file as a ControlBalance; ControlTotalsError naming each row that
    cannot be read, SourceConfigError when the file as a whole cannot be."""
    table = read_table(
        path,
        record_type="control_total",
        encoding=formats.encoding,
        delimiter=formats.delimiter,
        max_lines_per_row=formats.max_lines_per_row,
        sheet=spec.sheet,
    )
    columns = spec.column_specs()
    expected = sorted(column.column for column in columns.values())
    why = "the column mapping's control_totals.columns expects it"
    check_columns(f"{table.name}:1:", expected, list(table.columns), why)
    problems = [
        (_line_of(entry.location), entry.location, entry.reason) for entry, _ in table.damaged
    ]
    # Each mapped column as a list once: a cell looked up by position costs a pandas call.
    cells = {name: _cells(table.columns[spec.column]) for name, spec in columns.items()}
    rows = (
        (line, table.location(line), {name: cells[name][row] for name in columns})
        for row, line in enumerate(table.lines.tolist())
    )
    what = f"the control totals {table.name}"
    balances = control_balances(
        CellParser(formats), columns, rows, what, problems=problems, places=DEFAULT_MONEY_PLACES
    )
    log.info(
        "erp.files.control_totals_read",
        file=table.name,
        rows=len(balances),
        basis=spec.basis.value,
    )
    return ControlBalances(
        figure=spec.figure, basis=spec.basis, balances=balances, every_customer=False
    )


def _cells(column: pd.Series) -> list[object]:
    """The column's cells as Python values: Arrow text without a missing cell (as the CSV
    reader gives it) listed by Arrow at once, where pandas boxes each cell in Python."""
    if isinstance(column.dtype, pd.ArrowDtype):
        arrow = column.array.__arrow_array__()
        if arrow.null_count == 0:
            cells: list[object] = arrow.to_pylist()
            return cells
    return column.tolist()


def _line_of(location: str) -> int:
    tail = location.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0
