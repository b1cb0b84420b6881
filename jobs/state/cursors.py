"""Where the next pull of the ERP starts: each stream's watermark, and the records an
incremental source pulled, kept to merge the next incremental pull over.

Both move only at the end of a completed real run (`advance`, inside `StateStore.finish_run`'s
transaction): a crash half-way leaves them where they were, and the next run pulls the same
changes again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jobs.state.bulk import bulk_upsert
from jobs.state.finished import NextPull
from jobs.state.models import SourceRecord, Watermark
from jobs.state.sessions import Sessions, json_wrapper, upsert


class Cursors:
    """The watermarks and kept source records of one store."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def watermarks(self, source: str) -> dict[str, str]:
        """Every stream's cursor of one source: where its next incremental pull starts."""
        with self._sessions.read() as session:
            rows = session.execute(
                select(Watermark.stream, Watermark.cursor).where(Watermark.source == source)
            )
            return {str(stream): str(cursor) for stream, cursor in rows}

    def watermark(self, source: str, stream: str) -> str | None:
        """Where the next pull of this stream starts (None: from the beginning)."""
        with self._sessions.read() as session:
            row = session.get(Watermark, (source, stream))
            return None if row is None else row.cursor

    def records(self, source: str) -> list[tuple[str, dict[str, Any], str]]:
        """The records kept for a source: (record_type, payload, location)."""
        with self._sessions.read() as session:
            rows = session.execute(
                select(SourceRecord.record_type, SourceRecord.payload, SourceRecord.location)
                .where(SourceRecord.source == source)
                .order_by(SourceRecord.record_type, SourceRecord.record_id)
            )
            return [(kind, dict(payload), location) for kind, payload, location in rows]


def advance(session: Session, run_id: str, finished_at: dt.datetime, pull: NextPull) -> None:
    """Keep what the run pulled, then move the watermarks, in the caller's transaction."""
    _keep_records(session, run_id, pull)
    if pull.watermarks:
        rows = [
            {
                "source": source,
                "stream": stream,
                "cursor": cursor,
                "run_id": run_id,
                "updated_at": finished_at,
            }
            for (source, stream), cursor in pull.watermarks.items()
        ]
        upsert(session, Watermark, rows, ("source", "stream"))


def _keep_records(session: Session, run_id: str, pull: NextPull) -> None:
    for source, record_type, record_id in pull.forget_records:
        session.execute(
            delete(SourceRecord).where(
                SourceRecord.source == source,
                SourceRecord.record_type == record_type,
                SourceRecord.record_id == record_id,
            )
        )
    if pull.replace_records_of is not None:
        session.execute(delete(SourceRecord).where(SourceRecord.source == pull.replace_records_of))
    # COPY (PostgreSQL) needs the JSON payload wrapped; SQLAlchemy (SQLite) takes the dict.
    wrap = json_wrapper(session)
    rows = list(
        {
            (r["source"], r["record_type"], r["record_id"]): {
                **r,
                "payload": wrap(r["payload"]),
                "run_id": run_id,
            }
            for r in pull.records
        }.values()
    )
    bulk_upsert(session, SourceRecord, rows, ("source", "record_type", "record_id"))
