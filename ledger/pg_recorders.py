"""One change to eventsourcing's PostgreSQL application recorder: insert large batches in chunks.

The library inserts a whole batch with one statement over an array of composite values.
That is quick for the handful of events an aggregate saves, but the server's cost grows
much faster than the array (measured here: 1,000 events in a few milliseconds, 100,000 not
done after ten minutes). This recorder sends the same statement once per chunk, inside the
library's own transaction and table lock, so a batch stays all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder

CHUNK = 1_000


class ChunkedPostgresApplicationRecorder(PostgresApplicationRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if len(stored_events) <= CHUNK:
            return super().insert_events(stored_events, **kwargs)
        notification_ids: list[int] = []
        with self.datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
            self._lock_table(cursor)
            self._notify_channel(cursor)
            for start in range(0, len(stored_events), CHUNK):
                PostgresAggregateRecorder._insert_stored_events(self, cursor, stored_events[start : start + CHUNK])
                notification_ids.extend(row["notification_id"] for row in cursor.fetchall())
        return notification_ids
