"""Reading Business Central API v2.0 collections: `value` pages chained by `@odata.nextLink`
(one page at a time: the source pages them, `connector.erp.paging.NextLink`); with
`$count=true`, the first page's `@odata.count` is the collection's size (filter applied)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from arsync.errors import FatalError
from connector.erp import base
from connector.erp.http import ApiError
from connector.erp.json_body import json_object
from connector.erp.paging import Page
from connector.erp.values import aware

if TYPE_CHECKING:
    from connector.erp.http import HttpClient

log = structlog.get_logger(__name__)
Entity = dict[str, Any]


def parse_cursor(cursor: str) -> dt.datetime:
    """A cursor as an aware timestamp (UTC when it names no offset); anything else is fatal."""
    return aware(base.parse_cursor("Business Central", cursor))


def modified_after(cursor: str) -> str:
    """`lastModifiedDateTime gt <cursor>`, the cursor re-rendered from a parsed timestamp (UTC,
    milliseconds) so that nothing but a timestamp reaches the filter."""
    moment = parse_cursor(cursor).astimezone(dt.UTC)
    stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"lastModifiedDateTime gt {stamp}"


@dataclass
class OData:
    """GETs under one company's API root; answers parsed with exact decimals."""

    http: HttpClient
    root: str
    page_size: int | None = None

    def url(self, path: str) -> str:
        """A collection's (or entity's) address under the company."""
        return f"{self.root}/{path}"

    def page(self, path: str, url: str, query: dict[str, str] | None, first: bool) -> Page[Entity]:
        """One page of a collection: its `value` entities and its `@odata.nextLink`. The first
        is asked at the collection's `url` with the query; a next link carries the whole query,
        skip token included."""
        body = self._first_page(path, url, query) if first else self._get(url, None)
        entities = body.get("value")
        if not isinstance(entities, list):
            raise FatalError(f"Business Central answered {path} without a `value` list")
        link = body.get("@odata.nextLink")
        return Page(entities, next_link=None if link is None else str(link), body=body)

    def _first_page(self, path: str, url: str, query: dict[str, str] | None) -> Entity:
        """The first page; asked with `$count=true` and refused as a bad request (an
        environment whose API does not take it), asked again without: a progress bar's total
        is never worth a failed pull."""
        try:
            return self._get(url, query)
        except ApiError as error:
            if error.status != 400 or query is None or "$count" not in query:
                raise
        log.warning("erp.count_refused", source="business_central", path=path)
        return self._get(url, {k: v for k, v in query.items() if k != "$count"} or None)

    def entity(self, path: str) -> Entity:
        """One entity by its path, e.g. `customers(<id>)`."""
        return self._get(self.url(path), None)

    def _get(self, url: str, params: dict[str, str] | None) -> Entity:
        headers = {"Accept": "application/json"}
        if self.page_size is not None:
            headers["Prefer"] = f"odata.maxpagesize={self.page_size}"
        response = self.http.request("GET", url, params=params, headers=headers)
        return json_object(response, "Business Central answered")
