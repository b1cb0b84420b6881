"""SuiteQL over REST: one query paged by offset, continued in key windows past the row cap
(the source pages and windows, `NetSuiteSource._rows`; this module asks for one page).

NetSuite answers `POST /services/rest/query/v1/suiteql?limit=&offset=` (header
`Prefer: transient`, body `{"q": ...}`) with `items`, `hasMore`, `count`, `offset`,
`totalResults` and `links`. One query returns at most 100,000 rows, so every query is ordered by
a key column and, when a window reaches the cap, the next window starts at the last key seen
(`key >= last`): the rows sharing that last key are held back and read again in full, so a
key's rows are never split between two windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from connector.erp.base import parse_cursor
from connector.erp.json_body import json_object
from connector.erp.paging import Page

if TYPE_CHECKING:
    import requests

    from connector.erp.http import HttpClient

log = structlog.get_logger(__name__)
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS'  # how every query renders last-modified stamps
Row = dict[str, Any]


@dataclass(frozen=True)
class Query:
    """A SELECT without WHERE/ORDER BY, the conditions, and the key it is ordered by."""

    select: str
    key: str  # column expression the rows are ordered and windowed by, e.g. "t.id"
    key_field: str  # that column's name in the answer's rows, e.g. "id"
    where: tuple[str, ...] = ()
    tiebreak: tuple[str, ...] = ()  # more ORDER BY columns, so paging is stable

    def sql(self, lower: object | None = None) -> str:
        conditions = list(self.where)
        if lower is not None:
            conditions.append(f"{self.key} >= {literal(lower)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"{self.select}{where} ORDER BY {', '.join((self.key, *self.tiebreak))}"


def literal(value: object) -> str:
    """A SuiteQL literal: internal ids are numbers; anything else is a quoted string."""
    text = str(value)
    return text if text.isdigit() else "'" + text.replace("'", "''") + "'"


def modified_after(column: str, cursor: str) -> str:
    """`column > cursor`, the cursor re-rendered from a parsed timestamp so that nothing but a
    timestamp can reach the query text."""
    stamp = parse_cursor("NetSuite", cursor).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{column} > TO_TIMESTAMP('{stamp}', '{TIMESTAMP_FORMAT}')"


@dataclass
class SuiteQL:
    """Runs queries for one account; `auth` signs each request (OAuth 1.0a, per request)."""

    http: HttpClient
    auth: requests.auth.AuthBase
    root: str
    page_size: int = 1000
    max_rows: int = 100_000

    def page(self, sql: str, offset: int) -> Page[Row]:
        """One page of a query at `offset`: its `items`, NetSuite's `hasMore`, and the whole
        answer (`totalResults` is the rows of the whole query)."""
        body = self._post(sql, offset)
        return Page(
            list(body.get("items") or []),
            more=bool(body.get("hasMore")),
            body=body,
            context={"total": body.get("totalResults")},
        )

    def _post(self, sql: str, offset: int) -> dict[str, Any]:
        response = self.http.request(
            "POST",
            self.root + SUITEQL_PATH,
            params={"limit": self.page_size, "offset": offset},
            json={"q": sql},
            headers={"Prefer": "transient"},
            auth=self.auth,
        )
        return json_object(response, "NetSuite answered a SuiteQL query")
