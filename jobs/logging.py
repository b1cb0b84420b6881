"""structlog set-up: readable on a terminal, one JSON object a line everywhere else.

Two rules hold for every event, in every format and command. A traceback never carries the
frames' local variables (they hold the private key, the password and the tokens a login was
given), and every event passes `scrub_secrets` last before it is rendered, which masks every
resolved secret and anything shaped like a credential (`arsync.redact`). The standard library's
loggers (simple-salesforce, urllib3, APScheduler) go through the same chain.
"""

from __future__ import annotations

import io
import logging
import sys
import uuid
from enum import StrEnum
from typing import TextIO, cast

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

from arsync.redact import redact_value
from jobs.console_safety import clean


class LogFormat(StrEnum):
    AUTO = "auto"
    CONSOLE = "console"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def number(self) -> int:
        return logging.getLevelNamesMapping()[self.value.upper()]


def scrub_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Mask secrets in every value of the event, the formatted traceback included."""
    return {key: redact_value(value) for key, value in event_dict.items()}


def printable(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Text values with their control characters replaced, for the console renderer: an ERP
    name holding `\\x1b]0;...\\x07` must not retitle (or worse) the operator's terminal."""
    return {
        key: clean(value) if isinstance(value, str) else value for key, value in event_dict.items()
    }


def configure_logging(
    log_format: LogFormat = LogFormat.AUTO,
    level: LogLevel | str = LogLevel.INFO,
    stream: TextIO | None = None,
) -> None:
    """Logs go to stderr so that stdout stays for the plan a person or a pipe reads.

    `level` is one of LogLevel's values; anything else is a ValueError naming the choices.
    """
    try:
        threshold = LogLevel(str(level).lower()).number
    except ValueError:
        choices = ", ".join(member.value for member in LogLevel)
        raise ValueError(f"log level {level!r} is not one of {choices}") from None
    # A TextIOBase, which typeshed does not count as a TextIO; it writes text all the same.
    out = stream if stream is not None else cast(TextIO, _CurrentStderr())
    use_json = log_format is LogFormat.JSON or (log_format is LogFormat.AUTO and not out.isatty())
    chain = _processors(use_json)
    if not use_json:  # JSON escapes control characters itself; a terminal would obey them
        chain.append(printable)
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *chain, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(out, chain, renderer)


class _CurrentStderr(io.TextIOBase):
    """Whatever `sys.stderr` is at each write: while a progress bar is live, rich stands in
    for it and prints each log line above the bars instead of through them."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def _processors(use_json: bool) -> list[Processor]:
    """Level, time, the traceback formatted without locals, then the scrubber."""
    tracebacks: Processor = (
        structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        if use_json
        else structlog.processors.format_exc_info  # plain text, no locals
    )
    return [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        tracebacks,
        scrub_secrets,
    ]


def _route_standard_logging(out: TextIO, chain: list[Processor], renderer: Processor) -> None:
    """Warnings of the libraries' own loggers, rendered and scrubbed like arsync's events."""
    handler = _StandardHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *chain],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    unroute_standard_logging()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


class _StandardHandler(logging.StreamHandler[TextIO]):
    """The one handler this module puts on the root logger (so it can take it off again)."""


def unroute_standard_logging() -> None:
    """Take this module's handler off the root logger (before its stream is closed)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StandardHandler)]:
        root.removeHandler(handler)


def new_run_id() -> str:
    """Short enough to read in a log line, random enough never to repeat in practice."""
    return uuid.uuid4().hex[:12]


def bind_run(run_id: str) -> None:
    """Every event until the run ends carries its run id."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
