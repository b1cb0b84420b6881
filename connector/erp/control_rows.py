"""Rows of the ERP's own balance per customer (customer id, currency, balance), as a
files export's control totals or an SQL control query give them, checked alike: exact to the
places the pull keeps money to and the digits those leave (`arsync.money`: 4 places and 14
digits for files, the SQL pull's own for its query), every bad row named at once. A row that
cannot be read stops the run (`ControlTotalsError`, a FatalError) instead of being quarantined
or left out: a customer silently missing from the control figure would go unchecked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from typing import TypeVar

from arsync.control import ControlBalance
from arsync.errors import FatalError
from arsync.money import whole_digits
from connector.erp.record_columns import ColumnSpec
from connector.erp.values import CellError, CellParser

_SHOWN = 20  # bad rows named in the message; the rest are counted
_ID_LENGTH = 255  # canonical ids' limit: a longer one could match no customer
_CURRENCY = re.compile(r"^[A-Z]{3}$")
T = TypeVar("T")


class ControlTotalsError(FatalError):
    """Rows of the control-totals file that cannot be read: the balances cannot be checked,
    so the run stops before anything is written."""


def control_balance(
    parser: CellParser,
    columns: Mapping[str, ColumnSpec],
    raw: Mapping[str, object],
    places: int,
) -> ControlBalance | list[str]:
    """One control row (its `customer_id`, `currency` and `balance` cells as the file or the
    driver gave them) as a balance, or the reason of each cell that cannot be read, all of
    them at once; the balance at most `places` decimals, the pull's. The files' control
    totals and the SQL control query read rows alike."""
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
    balance = cell("balance", partial(_balance, places=places))
    if customer_id is None or currency is None or balance is None:
        return reasons
    return ControlBalance(customer_id, currency, balance)


def control_balances(
    parser: CellParser,
    columns: Mapping[str, ColumnSpec],
    rows: Iterable[tuple[int, str, Mapping[str, object]]],
    what: str,
    *,
    problems: Iterable[tuple[int, str, str]] = (),
    places: int,
    fix: str = "correct the export",
) -> tuple[ControlBalance, ...]:
    """Every control row (its line, location and cells) as a balance; a ControlTotalsError
    naming each row that cannot be read (and the `problems` found before) in line order."""
    balances: list[ControlBalance] = []
    unread = list(problems)
    for line, location, raw in rows:
        read = control_balance(parser, columns, raw, places)
        if isinstance(read, ControlBalance):
            balances.append(read)
        else:
            unread.append((line, location, "; ".join(read)))
    if unread:
        raise control_error(what, sorted(unread), fix)
    return tuple(balances)


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


def _balance(parser: CellParser, raw: object, spec: ColumnSpec, *, places: int) -> Decimal:
    """The balance as written, negative allowed (a customer in credit); an empty cell is an
    error, not a zero: a blank the ERP meant as nothing owed is written 0."""
    value = parser.parse(raw, Decimal, spec)
    if value is None:
        raise CellError("is empty (write 0 for a customer that owes nothing)")
    if not isinstance(value, Decimal) or not value.is_finite():
        raise CellError(f"{raw!r} is not a finite number")
    normal = value.normalize()
    if -int(normal.as_tuple().exponent) > places:
        raise CellError(f"{raw!r} has more than {places} decimal places")
    whole = whole_digits(places)
    if len(str(abs(int(normal))).lstrip("0")) > whole:
        raise CellError(f"{raw!r} has more than {whole} digits before the point")
    return value
