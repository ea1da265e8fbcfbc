"""Keeps the read models current by following the event log.

Events are read in batches straight from the recorder and applied in one
transaction per batch, with each read model's position written in that same
transaction: a crash loses the whole batch or none of it, so a restart neither
skips nor double-counts an event.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.application import EventLog
from domain.events import Event
from projections.database import ReadStore
from projections.projection import Apply, Projection

BATCH_SIZE = 2000

_POSITIONS = """
CREATE TABLE IF NOT EXISTS projection_positions (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class CatchUp:
    """What one catch-up did."""

    events: int
    position: int


class Follower:
    """Applies the log to every read model, batch by batch."""

    def __init__(
        self,
        log: EventLog,
        store: ReadStore,
        projections: Sequence[Projection],
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.log = log
        self.store = store
        self.projections = tuple(projections)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._handlers = [p.handlers() for p in self.projections]
        self._positions = self._prepare()

    def _prepare(self) -> list[int]:
        # A read model whose stored version differs from the code's is rebuilt.
        with self.store.writing() as db:
            db.execute(_POSITIONS)
            stored = {
                row["name"]: (row["version"], row["position"])
                for row in db.execute("SELECT * FROM projection_positions")
            }
            positions = []
            for projection in self.projections:
                version, position = stored.get(projection.name, (None, 0))
                if version != projection.version:
                    projection.create(db)
                    position = 0
                    db.execute(
                        "INSERT OR REPLACE INTO projection_positions VALUES (?, ?, ?)",
                        (projection.name, projection.version, 0),
                    )
                positions.append(position)
        return positions

    @property
    def position(self) -> int:
        """The log position every read model has reached."""
        return min(self._positions, default=0)

    def catch_up(self, until: int | None = None) -> CatchUp:
        """Apply new events; with ``until``, stop once that position is reached."""
        applied = 0
        with self._lock:
            while until is None or self.position < until:
                count = self._apply_next_batch(until)
                if not count:
                    break
                applied += count
        return CatchUp(applied, self.position)

    def _apply_next_batch(self, until: int | None) -> int:
        # Positions are read from the store, not remembered: another process on the
        # same store may have moved them since.
        with self.store.reading() as db:
            positions = self._stored_positions(db)
        self._positions = positions
        start = min(positions, default=0)
        if until is not None and start >= until:
            return 0

        # The log is read before the write transaction opens: holding the write
        # lock while waiting for the event store's connections could deadlock
        # with a command waiting for that lock.
        notifications = self.log.recorder.select_notifications(
            start=start + 1, limit=self.batch_size
        )
        if not notifications:
            return 0
        batch = [(n.id, self.log.mapper.to_domain_event(n)) for n in notifications]
        last = batch[-1][0]

        with self.store.writing() as db:
            positions = self._stored_positions(db)
            for index, handlers in enumerate(self._handlers):
                for position, event in batch:
                    if position > positions[index]:
                        _dispatch(db, handlers, event)
                positions[index] = max(positions[index], last)
                db.execute(
                    "UPDATE projection_positions SET position = ? WHERE name = ?",
                    (positions[index], self.projections[index].name),
                )
        self._positions = positions
        return len(batch)

    def _stored_positions(self, db: sqlite3.Connection) -> list[int]:
        rows = db.execute("SELECT name, position FROM projection_positions")
        stored = {row["name"]: row["position"] for row in rows}
        return [stored[p.name] for p in self.projections]


def _dispatch(
    db: sqlite3.Connection, handlers: Mapping[type[Event], Apply], event: object
) -> None:
    handler = handlers.get(type(event))  # type: ignore[arg-type]
    if handler is not None:
        handler(db, event)
