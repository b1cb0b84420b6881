"""What a person reads, and what the log keeps, when a command stops on an unexpected error.

An unexpected exception is a fault of arsync (or a case it does not handle yet), never a
"partial" run: it exits 3 like any other fatal stop, with one paragraph saying what failed and
where, and the full traceback goes to the log (without frame locals, secrets masked).
"""

from __future__ import annotations

import traceback
from pathlib import Path

import structlog

from arsync.redact import redact

log = structlog.get_logger(__name__)
CRASH_EVENT = "command.crashed"
_OUR_PACKAGES = ("arsync", "connector", "scoring", "jobs")


def report_crash(command: str, error: BaseException) -> str:
    """Log the crash with its traceback and return the paragraph to print."""
    run_id = structlog.contextvars.get_contextvars().get("run_id")
    log.error(
        CRASH_EVENT,
        command=command,
        error_type=type(error).__name__,
        error=str(error),
        where=_where(error),
        exc_info=error,
    )
    return crash_message(command, error, run_id)


def crash_message(command: str, error: BaseException, run_id: str | None) -> str:
    """One paragraph: what failed, where, that it was recorded, and where the traceback is."""
    detail = redact(f"{type(error).__name__}: {error}".strip().rstrip(":"))
    if len(detail) > 300:
        detail = detail[:299] + "…"
    run = f" {run_id}" if run_id else ""
    recorded = (
        f" The run{run} is recorded as failed; nothing more was written."
        if command in {"run", "plan", "worker run"}
        else ""
    )
    run_key = f", run_id {run_id}" if run_id else ""
    return (
        f"arsync {command} stopped on an unexpected error: {detail} (at {_where(error)}). "
        "This is not a problem arsync could name in your settings or data, but a fault in "
        f"arsync or a case it does not handle yet.{recorded} The full traceback is in the log "
        f"on stderr, event {CRASH_EVENT}{run_key}: please include it when you report this."
    )


def _where(error: BaseException) -> str:
    """The innermost frame in arsync's own packages (else the innermost at all)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    ours = [frame for frame in frames if _package_path(frame.filename) is not None]
    frame = (ours or frames)[-1]
    path = _package_path(frame.filename) or Path(frame.filename).name
    return f"{path} line {frame.lineno}, in {frame.name}"


def _package_path(filename: str) -> str | None:
    parts = Path(filename).parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in _OUR_PACKAGES:
            return "/".join(parts[index:])
    return None
