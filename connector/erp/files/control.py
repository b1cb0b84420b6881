"""The export's control totals: the ERP's own balance per customer, read from one optional
file (`control_totals:` in the column mapping), for `arsync.reconcile` to check against.

The file is read with the ledger files' reader and cell parser (the mapping's encoding,
delimiter, decimal and thousands separators), but it is no ledger stream: its rows become no
records and do not count in the row accounting.

A row that cannot be read stops the run (`ControlTotalsError`, a FatalError) instead of being
quarantined or left out: a customer silently missing from the control totals would go
unchecked, and a check that skips what it cannot read cannot be trusted. Every bad row is
named at once, as file:line and reason, so that one corrected export fixes them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import structlog

from arsync.control import ControlBalance, ControlBalances
from arsync.errors import FatalError, SourceConfigError
from arsync.money import MONEY_PLACES, MONEY_WHOLE_DIGITS
from connector.erp.files.mapping import ColumnSpec, ControlTotalsSpec, Formats
from connector.erp.files.paths import inside_folder
from connector.erp.files.table import TextTable, read_table
from connector.erp.files.values import CellError, CellParser

log = structlog.get_logger(__name__)

KEY = "control_totals.path"
_SHOWN = 20  # bad rows named in the message; the rest are counted
_ID_LENGTH = 255  # canonical ids' limit: a longer one could match no customer
_CURRENCY = re.compile(r"^[A-Z]{3}$")
T = TypeVar("T")


class ControlTotalsError(FatalError):
    """Rows of the control-totals file that cannot be read: the balances cannot be checked,
    so the run stops before anything is written."""


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
    _check_header(table, columns)
    problems = [
        (_line_of(entry.location), entry.location, entry.reason) for entry, _ in table.damaged
    ]
    parser = CellParser(formats)
    balances: list[ControlBalance] = []
    # Each mapped column as a list once: a cell looked up by position costs a pandas call.
    cells = {name: table.columns[spec.column].tolist() for name, spec in columns.items()}
    for row, line in enumerate(table.lines.tolist()):
        read = control_balance(parser, columns, {name: cells[name][row] for name in columns})
        if isinstance(read, ControlBalance):
            balances.append(read)
        else:
            problems.append((line, table.location(line), "; ".join(read)))
    if problems:
        raise control_error(f"the control totals {table.name}", sorted(problems))
    log.info(
        "erp.files.control_totals_read",
        file=table.name,
        rows=len(balances),
        basis=spec.basis.value,
    )
    return ControlBalances(
        figure=spec.figure, basis=spec.basis, balances=tuple(balances), every_customer=False
    )


def control_balance(
    parser: CellParser, columns: Mapping[str, ColumnSpec], raw: Mapping[str, object]
) -> ControlBalance | list[str]:
    """One control row (its `customer_id`, `currency` and `balance` cells as the file or the
    driver gave them) as a balance, or the reason of each cell that cannot be read, all of
    them at once. The files' control totals and the SQL control query read rows alike."""
    reasons: list[str] = []

    def cell(name: str, read: Callable[[CellParser, object, ColumnSpec], T]) -> T | None:
        spec = columns[name]
        try:
            return read(parser, raw[name], spec)
        except CellError as error:
            reasons.append(f"column {spec.column!r}: {error}")
            return None

    customer_id = cell("customer_id", _customer_id)
    currency = cell("currency", _currency)
    balance = cell("balance", _balance)
    if customer_id is None or currency is None or balance is None:
        return reasons
    return ControlBalance(customer_id, currency, balance)


def _check_header(table: TextTable, columns: dict[str, ColumnSpec]) -> None:
    missing = sorted({column.column for column in columns.values()} - set(table.columns))
    if missing:
        raise SourceConfigError(
            f"{table.name}:1: no column {', '.join(repr(m) for m in missing)} (the column "
            f"mapping's control_totals.columns expects it); columns found: "
            f"{', '.join(table.columns)}"
        )


def control_error(
    what: str, problems: list[tuple[int, str, str]], fix: str = "correct the export"
) -> ControlTotalsError:
    """Every row that cannot be read (line, location, reason), the first ones named."""
    shown = [f"{location}: {reason}" for _, location, reason in problems[:_SHOWN]]
    if len(problems) > _SHOWN:
        shown.append(f"... and {len(problems) - _SHOWN:,} more")
    rows = "1 row" if len(problems) == 1 else f"{len(problems):,} rows"
    return ControlTotalsError(
        f"{rows} of {what} cannot be read, so the balances cannot be "
        f"checked against the ERP's and nothing is written; {fix} and run again:\n"
        + "\n".join(shown)
    )


def _line_of(location: str) -> int:
    tail = location.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _customer_id(parser: CellParser, raw: object, spec: ColumnSpec) -> str:
    value = parser.parse(raw, str, spec)
    text = "" if value is None else str(value).strip()
    if not text:
        raise CellError("is empty (a control total needs its customer)")
    if len(text) > _ID_LENGTH:
        raise CellError(f"the customer id has {len(text):,} characters, at most {_ID_LENGTH}")
    return text


def _currency(parser: CellParser, raw: object, spec: ColumnSpec) -> str:
    value = parser.parse(raw, str, spec)
    text = "" if value is None else str(value).strip().upper()
    if not text:
        raise CellError("is empty (a control total needs its currency)")
    if not _CURRENCY.match(text):
        raise CellError(f"{raw!r} is not a three-letter currency code")
    return text


def _balance(parser: CellParser, raw: object, spec: ColumnSpec) -> Decimal:
    """The balance as written, negative allowed (a customer in credit); an empty cell is an
    error, not a zero: a blank the ERP meant as nothing owed is written 0."""
    value = parser.parse(raw, Decimal, spec)
    if value is None:
        raise CellError("is empty (write 0 for a customer that owes nothing)")
    if not isinstance(value, Decimal) or not value.is_finite():
        raise CellError(f"{raw!r} is not a finite number")
    normal = value.normalize()
    places = -int(normal.as_tuple().exponent)
    if places > MONEY_PLACES:
        raise CellError(f"{raw!r} has more than {MONEY_PLACES} decimal places")
    if len(str(abs(int(normal))).lstrip("0")) > MONEY_WHOLE_DIGITS:
        raise CellError(f"{raw!r} has more than {MONEY_WHOLE_DIGITS} digits before the point")
    return value
