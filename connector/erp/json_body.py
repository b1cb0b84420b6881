"""An API answer's body as a JSON object, for every ERP API alike; apart from the HTTP client so
that reading it loads no HTTP stack."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from arsync.errors import FatalError

if TYPE_CHECKING:
    import requests


def json_object(response: requests.Response, answered: str) -> dict[str, Any]:
    """The body as a JSON object, every number with a fraction an exact Decimal (never a
    binary float: money stays what the ERP sent). Anything else is fatal, naming who answered
    what (`answered`: "Xero answered GET Invoices")."""
    try:
        body = json.loads(response.text, parse_float=Decimal)
    except ValueError:
        raise FatalError(f"{answered} with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise FatalError(f"{answered} with something other than a JSON object")
    return body
