"""JSON bodies whose money is written with its own digits, as the ERPs write it.

`json.dumps` would write Decimal("1200.00") as a float, `1200.0`; an ERP's JSON says
`1200.00`. `number()` leaves a marker that `dumps()` turns into the bare number.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

_NUMBER = re.compile(r'"#number:(-?[0-9]+(?:\.[0-9]+)?)#"')


def number(value: Decimal | int) -> str:
    return f"#number:{value}#"


def dumps(body: object) -> str:
    return _NUMBER.sub(r"\1", json.dumps(body))
