"""A validation error that knows which key it is about, so messages can point at it."""

from __future__ import annotations

from pydantic_core import ErrorDetails


class LocatedError(ValueError):
    """Raised by a model validator about one of its fields (or a path below it).

    Pydantic locates a model validator's error at the model itself; `loc` lets the YAML loader
    point at the line and a file source name the column.
    """

    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


def error_loc(detail: ErrorDetails) -> tuple[str | int, ...]:
    """The extra location a LocatedError carried inside one pydantic error, if any."""
    raised = detail.get("ctx", {}).get("error")
    return raised.loc if isinstance(raised, LocatedError) else ()
