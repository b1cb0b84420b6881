"""The three ways a connector can fail, each handled in one place by the jobs.

- FatalError: the run cannot go on (bad credentials, a missing file): stop, exit non-zero.
- RetriableError: worth another try (timeouts, 429, 5xx): retried, bounded, by tenacity.
- SkippableError: one record is bad: quarantine it with the reason and go on.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error a connector raises on purpose."""


class FatalError(ConnectorError):
    pass


class SourceConfigError(FatalError):
    """The source's settings do not fit the data (a mapped column missing from a file)."""


class RetriableError(ConnectorError):
    pass


class SkippableError(ConnectorError):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
