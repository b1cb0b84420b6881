"""The exit codes every command ends with, as the README lists them.

Apart from the pipeline so that the CLI can name them without importing what a run needs.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1  # the run finished, but records were quarantined or failed
    CONFIG_ERROR = 2
    FATAL = 3  # the run could not finish: a source unreachable, a file missing
    LOCKED = 4  # another sync holds the lock: this run did nothing, and should not count
