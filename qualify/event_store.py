"""The PostgreSQL event recorder, saving without psycopg's pipeline mode.

The library's recorder sends a save's statements as one pipeline. With a save of
megabytes (a bulk import of 20,000 records) that pipeline was seen to stall for
good inside ``Pipeline.sync`` while holding the events table's lock, which froze
every writer of the store. Sent one after another in one transaction, the same
statements (lock the table, notify, insert, read the new positions) cost a few
round trips more and cannot stall that way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import InterfaceError, OperationalError

TOPIC = "qualify.event_store:SequentialRecorder"


class SequentialRecorder(PostgresApplicationRecorder):
    """Inserts a save's events in one transaction, statement by statement."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        with (
            self.datastore.get_connection() as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            self._insert_stored_events(cursor, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
