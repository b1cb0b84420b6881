"""Reading Business Central API v2.0 collections: `value` pages chained by `@odata.nextLink`;
with `$count=true`, the first page's `@odata.count` is the collection's size (filter applied)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from arsync.errors import FatalError
from connector.erp.http import ApiError
from connector.erp.json_body import json_object

if TYPE_CHECKING:
    from connector.erp.http import HttpClient

log = structlog.get_logger(__name__)
Entity = dict[str, Any]


def parse_cursor(cursor: str) -> dt.datetime:
    """A cursor as an aware timestamp (UTC when it names no offset); anything else is fatal."""
    try:
        moment = dt.datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        raise FatalError(
            f"the Business Central cursor {cursor!r} is not an ISO 8601 timestamp"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


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

    def collection(
        self,
        stream: str,
        path: str,
        params: dict[str, str] | None = None,
        on_count: Callable[[int], None] | None = None,
    ) -> Iterator[Entity]:
        """Every entity of a collection, page after page until there is no next link;
        `on_count` asks for `$count=true` and hears the first page's `@odata.count`."""
        url: str | None = f"{self.root}/{path}"
        query = params if on_count is None else {**(params or {}), "$count": "true"}
        pages = 0
        while url is not None:
            body = self._first_page(path, url, query) if pages == 0 else self._get(url, query)
            entities = body.get("value")
            if not isinstance(entities, list):
                raise FatalError(f"Business Central answered {path} without a `value` list")
            count = body.get("@odata.count")
            if on_count is not None and pages == 0 and isinstance(count, int):
                on_count(count)
            pages += 1
            url = body.get("@odata.nextLink")
            query = None  # the next link carries the whole query, skip token included
            log.info(
                "erp.page_fetched",
                source="business_central",
                stream=stream,
                page=pages,
                rows=len(entities),
                has_more=url is not None,
            )
            yield from entities

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
        return self._get(f"{self.root}/{path}", None)

    def _get(self, url: str, params: dict[str, str] | None) -> Entity:
        headers = {"Accept": "application/json"}
        if self.page_size is not None:
            headers["Prefer"] = f"odata.maxpagesize={self.page_size}"
        response = self.http.request("GET", url, params=params, headers=headers)
        return json_object(response, "Business Central answered")
