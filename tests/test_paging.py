"""The one paging loop of the ERP API sources: page numbers, offsets with a cap, next links,
where each stops, its log line per page, and the servers that would keep it going forever."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from arsync.errors import FatalError
from connector.erp.base import ApiSource, PulledItem
from connector.erp.paging import NextLink, Offset, Page, PageNumber, Paginator, pages

ROWS = [{"id": n} for n in range(1, 8)]  # seven items, pages of three: 3, 3, 1


def slices(rows: Sequence[dict[str, int]], size: int, base: int = 0) -> Callable[[int], Page[Any]]:
    """A server that pages `rows` by position: `position - base` pages of `size` (page
    numbers) or an offset (`size` 1)."""

    def fetch(position: int) -> Page[Any]:
        start = (position - base) * size
        return Page(rows[start : start + size])

    return fetch


def read(fetch: Callable[[Any], Page[Any]], paginator: Paginator[Any]) -> list[Page[Any]]:
    return list(pages(fetch, paginator, erp="test", stream="things"))


def items(read_pages: list[Page[Any]]) -> list[Any]:
    return [item for page in read_pages for item in page.items]


def test_page_numbers_stop_at_the_short_page() -> None:
    asked: list[int] = []
    fetch = slices(ROWS, 3, base=1)

    def counting(number: int) -> Page[Any]:
        asked.append(number)
        return fetch(number)

    assert items(read(counting, PageNumber(3))) == ROWS
    assert asked == [1, 2, 3]


def test_page_numbers_stop_at_an_empty_page_after_full_ones() -> None:
    asked: list[int] = []
    fetch = slices(ROWS[:6], 3, base=1)

    def counting(number: int) -> Page[Any]:
        asked.append(number)
        return fetch(number)

    assert items(read(counting, PageNumber(3))) == ROWS[:6]
    assert asked == [1, 2, 3]  # the third is empty: nothing more


def test_a_server_that_says_more_is_followed_past_a_short_page_and_one_that_says_no_is_not() -> (
    None
):
    answers = {1: Page(ROWS[:2], more=True), 2: Page(ROWS[2:5], more=False), 3: Page(ROWS[5:])}
    assert items(read(answers.__getitem__, PageNumber(3))) == ROWS[:5]


def test_offsets_go_by_the_page_size_from_their_start() -> None:
    asked: list[int] = []

    def fetch(start: int) -> Page[Any]:  # 1-based, as QuickBooks' STARTPOSITION
        asked.append(start)
        return Page(ROWS[start - 1 : start - 1 + 3])

    paging = Offset(3, start=1)
    assert items(read(fetch, paging)) == ROWS
    assert asked == [1, 4, 7]
    assert not paging.capped


def test_the_offset_cap_hands_over_to_the_caller() -> None:
    """Pages of 2 under a cap of 4 rows: the read stops before a page would cross the cap,
    and says so, for the caller to go on with a query of its own (a key window)."""
    asked: list[int] = []

    def fetch(offset: int) -> Page[Any]:
        asked.append(offset)
        return Page(ROWS[offset : offset + 2], more=offset + 2 < len(ROWS))

    paging = Offset(2, cap=4)
    assert items(read(fetch, paging)) == ROWS[:4]
    assert asked == [0, 2]
    assert paging.capped
    # Read again, the paginator starts afresh; a read that ends before the cap is not capped.
    asked.clear()
    assert items(read(fetch, Offset(2, cap=100))) == ROWS
    assert asked == [0, 2, 4, 6]


def test_a_read_ending_exactly_at_the_cap_is_not_capped() -> None:
    def fetch(offset: int) -> Page[Any]:
        return Page(ROWS[offset : offset + 2], more=offset + 2 < 4)

    paging = Offset(2, cap=4)
    assert items(read(fetch, paging)) == ROWS[:4]
    assert not paging.capped


def test_next_links_are_followed_until_a_page_has_none() -> None:
    answers = {
        "/things": Page(ROWS[:3], next_link="/things?skip=3"),
        "/things?skip=3": Page(ROWS[3:6], next_link="/things?skip=6"),
        "/things?skip=6": Page(ROWS[6:]),
    }
    asked: list[str] = []

    def fetch(url: str) -> Page[Any]:
        asked.append(url)
        return answers[url]

    assert items(read(fetch, NextLink("/things"))) == ROWS
    assert asked == ["/things", "/things?skip=3", "/things?skip=6"]


def test_an_empty_page_with_a_next_link_is_followed() -> None:
    answers = {"/a": Page([], next_link="/b"), "/b": Page(ROWS[:1])}
    assert items(read(answers.__getitem__, NextLink("/a"))) == ROWS[:1]


def test_a_repeated_next_link_is_fatal_naming_the_stream() -> None:
    answers = {
        "/things": Page(ROWS[:3], next_link="/things?skip=3"),
        "/things?skip=3": Page(ROWS[3:6], next_link="/things?skip=3"),
    }
    with pytest.raises(FatalError, match="things") as raised:
        read(answers.__getitem__, NextLink("/things"))
    assert "loop" in str(raised.value)


def test_a_next_link_back_to_the_first_page_is_fatal() -> None:
    answers = {"/things": Page(ROWS[:3], next_link="/things")}
    with pytest.raises(FatalError, match="things"):
        read(answers.__getitem__, NextLink("/things"))


def test_a_server_that_ignores_the_page_is_fatal() -> None:
    """The same full page whatever is asked: the read would never end."""
    with pytest.raises(FatalError, match="same items") as raised:
        read(lambda _number: Page(ROWS[:3]), PageNumber(3))
    assert "things" in str(raised.value)


def test_full_pages_forever_stop_at_the_backstop() -> None:
    def endless(number: int) -> Page[Any]:
        return Page([{"id": number * 10 + n} for n in range(3)])

    with pytest.raises(FatalError, match="things"):
        list(pages(endless, PageNumber(3), erp="test", stream="things", max_pages=50))


def test_each_page_is_logged_once_with_its_position_and_items() -> None:
    def fetch(offset: int) -> Page[Any]:
        return Page(ROWS[offset : offset + 3], context={"calls_left": "9"})

    with capture_logs() as logs:
        list(pages(fetch, Offset(3), erp="quickbooks", stream="Invoice"))
    fetched = [entry for entry in logs if entry["event"] == "erp.page_fetched"]
    assert [
        (e["erp"], e["stream"], e["page"], e["offset"], e["items"], e["has_more"]) for e in fetched
    ] == [
        ("quickbooks", "Invoice", 1, 0, 3, True),
        ("quickbooks", "Invoice", 2, 3, 3, True),
        ("quickbooks", "Invoice", 3, 6, 1, False),
    ]
    assert all(e["calls_left"] == "9" for e in fetched)
    assert all("offset" not in e for e in _logged(PageNumber(3)))


def _logged(paginator: Paginator[Any]) -> list[dict[str, Any]]:
    with capture_logs() as logs:
        read(slices(ROWS, 3, base=1), paginator)
    return [entry for entry in logs if entry["event"] == "erp.page_fetched"]


def test_pages_are_read_only_as_they_are_asked_for() -> None:
    """A generator: the next page is not fetched before the caller is done with this one."""
    asked: list[int] = []
    fetch = slices(ROWS, 3, base=1)

    def counting(number: int) -> Page[Any]:
        asked.append(number)
        return fetch(number)

    reading: Iterator[Page[Any]] = pages(counting, PageNumber(3), erp="test", stream="things")
    assert asked == []
    next(reading)
    assert asked == [1]


class _Listing(ApiSource):
    """An API source of one stream, paged by number: what `_paged` is for."""

    name = "listing"
    streams = ("things",)

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        return iter(())

    def things(self) -> list[Any]:
        return items(list(self._paged("things", slices(ROWS, 3, base=1), PageNumber(3))))


def test_an_api_source_pages_through_the_base_under_its_own_name() -> None:
    with capture_logs() as logs:
        assert _Listing().things() == ROWS
    fetched = [entry for entry in logs if entry["event"] == "erp.page_fetched"]
    assert [(e["erp"], e["stream"], e["page"]) for e in fetched] == [
        ("listing", "things", 1),
        ("listing", "things", 2),
        ("listing", "things", 3),
    ]
