"""What can go wrong with the state store. Every error is fatal for the run (exit 3): a sync
that cannot record what it did must not write to the CRM, or it could not be safely rerun."""

from __future__ import annotations

import datetime as dt

from arsync.errors import FatalError


class StateError(FatalError):
    """The state store cannot do what was asked; the message never holds a password."""


class StateUrlError(StateError):
    """The state database URL is not usable."""


class RunStateError(StateError):
    """A run is unknown, already recorded, or not in the state the call needs."""


class LockHeldError(StateError):
    """Another sync holds the lock: the message says which run, on which host, since when."""

    def __init__(
        self,
        name: str,
        *,
        run_id: str | None = None,
        host: str | None = None,
        pid: int | None = None,
        since: dt.datetime | None = None,
        expires_at: dt.datetime | None = None,
    ) -> None:
        self.name = name
        self.run_id = run_id
        self.host = host
        self.pid = pid
        self.since = since
        self.expires_at = expires_at
        if run_id is None or since is None:
            # The holder took the lock a moment ago and has not written who it is yet.
            holder = "another run that is starting now (it has not recorded itself yet)"
        else:
            holder = f"run {run_id} on host {host} (pid {pid}) since {since.isoformat()}"
            if expires_at is not None:
                holder += f", lease until {expires_at.isoformat()}"
        super().__init__(f"another sync is running: the {name!r} lock is held by {holder}")
