"""The three ways arsync can fail, for the whole project, each handled in one place by the jobs.

- FatalError: the run cannot go on (bad credentials, a missing file, bad settings): stop,
  exit non-zero.
- RetriableError: worth another try (timeouts, 429, 5xx): retried, bounded, by tenacity.
- SkippableError: one record is bad: quarantine it with the reason and go on. The ERP sources'
  shared base catches it per record (`connector.erp.base.ApiSource`).

They live in the shared kernel so that every package (the kernel's own settings loader
included) raises the same three.
"""

from __future__ import annotations


class ArsyncError(Exception):
    """Base of every error arsync raises on purpose."""


class FatalError(ArsyncError):
    pass


class SourceConfigError(FatalError):
    """The source's settings do not fit the data (a mapped column missing from a file)."""


class RetriableError(ArsyncError):
    pass


class SkippableError(ArsyncError):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
