"""Paging, once for every ERP API: a `Page` is what one request brought, a `Paginator` says
where the next page is, and `pages` runs the loop.

Three kinds cover the APIs read: `PageNumber` (Xero's `page=N`), `Offset` (QuickBooks'
STARTPOSITION, NetSuite's `offset=`, with a cap after which the caller's key window restarts)
and `NextLink` (Business Central's `@odata.nextLink`). The loop logs each page as
`erp.page_fetched` and stops a server that would keep it going forever: a next link (or any
position) asked for twice, the same full page twice in a row, or more pages than any ledger
needs are a `FatalError` naming the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import structlog

from arsync.errors import FatalError

log = structlog.get_logger(__name__)
P = TypeVar("P", bound=Hashable)  # where a page is: a page number, an offset, a link
T = TypeVar("T")
MAX_PAGES = 100_000  # a backstop only: far past any ledger at any page size read


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One answer's items and what is needed to go on.

    `more`: whether the server says more pages follow (None: it does not say, and a full
    page means go on); `next_link`: where the next page is, for link paging; `body`: the
    whole answer, for what a stream reads off it (a count on its first page); `context`: more
    fields for the page's log line.
    """

    items: Sequence[T]
    more: bool | None = None
    next_link: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, object] = field(default_factory=dict)


class Paginator(Protocol[P]):
    """Where the pages of one read are: the first, and the one after each."""

    def first(self) -> P:
        """The first page's position."""
        ...

    def after(self, position: P, page: Page[Any]) -> P | None:
        """The position of the page after `page` (read at `position`); None: it was the last."""
        ...

    def where(self, position: P) -> dict[str, object]:
        """The position as log fields (`offset=`; the page's number is logged for all)."""
        ...


def _ended(page: Page[Any], size: int) -> bool:
    """A page after which nothing follows: the server says so, or it is empty, or it says
    nothing and the page is short."""
    if page.more is False or not page.items:
        return True
    return page.more is None and len(page.items) < size


@dataclass
class PageNumber:
    """`page=1, 2, ...` of `size` items, until the server says no more or a page is short."""

    size: int
    start: int = 1

    def first(self) -> int:
        return self.start

    def after(self, position: int, page: Page[Any]) -> int | None:
        return None if _ended(page, self.size) else position + 1

    def where(self, position: int) -> dict[str, object]:
        return {}


@dataclass
class Offset:
    """`offset = start, start + size, ...` until the server says no more or a page is short.

    `cap`: the most rows one query reaches (NetSuite answers at most 100,000 of a query): the
    read stops before a page would cross it, with `capped` set, and the caller goes on with a
    query of its own (a key window). Without a cap the read goes to the end.
    """

    size: int
    start: int = 0
    cap: int | None = None
    capped: bool = False  # the last read stopped at the cap, not at its end

    def first(self) -> int:
        self.capped = False
        return self.start

    def after(self, position: int, page: Page[Any]) -> int | None:
        if _ended(page, self.size):
            return None
        following = position + self.size
        if self.cap is not None and following - self.start + self.size > self.cap:
            self.capped = True
            return None
        return following

    def where(self, position: int) -> dict[str, object]:
        return {"offset": position}


@dataclass
class NextLink:
    """The first page at `start` (the caller's own address, its query added by `fetch`),
    then each page's `next_link`, until a page has none."""

    start: str

    def first(self) -> str:
        return self.start

    def after(self, position: str, page: Page[Any]) -> str | None:
        return page.next_link

    def where(self, position: str) -> dict[str, object]:
        return {}


def pages(
    fetch: Callable[[P], Page[T]],
    paginator: Paginator[P],
    *,
    erp: str,
    stream: str,
    max_pages: int = MAX_PAGES,
) -> Iterator[Page[T]]:
    """Every page of one read, `fetch` asked for each position in turn; each logged as
    `erp.page_fetched` (erp, stream, page, the paginator's position, items, has_more and the
    page's own context) before it is yielded.

    A server that would keep the loop going is stopped with a `FatalError` naming the stream:
    a position asked for a second time (a repeated next link), the same full page twice in a
    row (a page parameter ignored), or more than `max_pages` pages.
    """
    position: P | None = paginator.first()
    seen: set[P] = set()
    previous: Sequence[T] | None = None
    number = 0
    while position is not None:
        if position in seen:
            raise FatalError(
                f"{erp} sent the {stream} pages round in a loop: page {number + 1} is again "
                f"at {position!r}, read before"
            )
        if number >= max_pages:
            raise FatalError(
                f"{erp} kept sending {stream} pages: more than {max_pages} pages, a server "
                "that does not stop"
            )
        seen.add(position)
        page = fetch(position)
        number += 1
        if page.items and previous is not None and list(page.items) == list(previous):
            raise FatalError(
                f"{erp} answered page {number} of {stream} with the same items as page "
                f"{number - 1}: the server does not page, and the read would never end"
            )
        following = paginator.after(position, page)
        log.info(
            "erp.page_fetched",
            erp=erp,
            stream=stream,
            page=number,
            **paginator.where(position),
            items=len(page.items),
            has_more=following is not None,
            **page.context,
        )
        yield page
        previous = page.items if following is not None else None
        position = following
