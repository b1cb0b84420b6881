"""SOQL built with every literal escaped, in IN-lists short enough for the URL limit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import quote

# URI plus headers may not pass 16,384 bytes; keep the encoded IN-list well below that.
MAX_ENCODED_LITERALS = 10_000
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def check_name(name: str) -> str:
    """An object or field API name; anything else could change the query's meaning."""
    if not name or not set(name) <= _NAME_CHARS or not name[0].isalpha():
        raise ValueError(f"not a Salesforce API name: {name!r}")
    return name


def select_in(
    sobject: str,
    fields: Sequence[str],
    key_field: str,
    keys: Sequence[str],
    *,
    where: str = "",
    order_by: str | None = None,
) -> str:
    """`SELECT fields FROM sobject WHERE key_field IN (keys)`, each key an escaped literal.

    `where` is a further condition of our own making (no outside value may reach it);
    `order_by` a field name, ascending.
    """
    from simple_salesforce.format import format_soql  # noqa: PLC0415 - loads the API client

    names = ", ".join(check_name(f) for f in dict.fromkeys(fields))
    soql = format_soql(
        "SELECT {:literal} FROM {:literal} WHERE {:literal} IN {}",
        names,
        check_name(sobject),
        check_name(key_field),
        list(keys),
    )
    if where:
        soql += f" AND {where}"
    if order_by:
        soql += f" ORDER BY {check_name(order_by)} ASC NULLS FIRST"
    return soql


def chunks(keys: Sequence[str], max_count: int) -> Iterator[list[str]]:
    """Groups of keys bounded by count and by their URL-encoded length."""
    chunk: list[str] = []
    size = 0
    for key in keys:
        encoded = len(quote(key, safe="")) + 6  # quotes, comma, space, escapes
        if chunk and (len(chunk) >= max_count or size + encoded > MAX_ENCODED_LITERALS):
            yield chunk
            chunk, size = [], 0
        chunk.append(key)
        size += encoded
    if chunk:
        yield chunk
