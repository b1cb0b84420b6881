"""structlog set-up: readable on a terminal, one JSON object a line everywhere else."""

from __future__ import annotations

import logging
import sys
import uuid
from enum import StrEnum
from typing import TextIO

import structlog


class LogFormat(StrEnum):
    AUTO = "auto"
    CONSOLE = "console"
    JSON = "json"


def configure_logging(
    log_format: LogFormat = LogFormat.AUTO, level: str = "info", stream: TextIO | None = None
) -> None:
    """Logs go to stderr so that stdout stays for the plan a person or a pipe reads."""
    out = stream if stream is not None else sys.stderr
    use_json = log_format is LogFormat.JSON or (log_format is LogFormat.AUTO and not out.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks if use_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def new_run_id() -> str:
    """Short enough to read in a log line, random enough never to repeat in practice."""
    return uuid.uuid4().hex[:12]


def bind_run(run_id: str) -> None:
    """Every event until the run ends carries its run id."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)
