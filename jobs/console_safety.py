"""Data on the console as text: never rich markup, never terminal control sequences.

Customer names, quarantine reasons, Salesforce messages and the like come from outside. Printed
raw, `[/bold]` in a name makes rich raise MarkupError after the run was recorded, and
`\\x1b]0;...\\x07` retitles (or worse) the operator's terminal. Everything from outside goes
through one of these on its way to `out`, `err` or a progress bar.

Choice: each C0 control character (U+0000-U+001F) except the newline, DEL (U+007F) and each C1
control character (U+0080-U+009F) is replaced by U+FFFD, the replacement character, rather
than dropped, so the operator sees that something unprintable was there. A newline is kept: a
multi-line error message stays readable and cannot move the cursor anywhere unexpected.
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text

PLACEHOLDER = "\ufffd"
_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def clean(value: object) -> str:
    """`str(value)` with every control character but the newline replaced by U+FFFD."""
    return _CONTROLS.sub(PLACEHOLDER, str(value))


def plain(value: object) -> Text:
    """A table cell or message part that rich shows as it is: cleaned, never read as markup."""
    return Text(clean(value))


def escaped(value: object) -> str:
    """`value` cleaned and markup-escaped, to put inside a string that uses rich markup."""
    return escape(clean(value))
