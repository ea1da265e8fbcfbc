"""Keeps the read models current by following the event log.

Events are read in batches straight from the recorder and applied in one
transaction per batch, with each read model's position written in that same
transaction: a crash loses the whole batch or none of it, so a restart neither
skips nor double-counts an event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification, Recording

from domain.application import EventLog
from domain.events import Event
from projections.applied import Applied, Decoder, applied
from projections.database import BufferedWriter, Db, ReadStore
from projections.projection import Apply, Projection

BATCH_SIZE = 2000
# Any fixed number: processes agree on it to take turns changing tables.
SCHEMA_LOCK = 7_441_203

_POSITIONS = """
CREATE TABLE IF NOT EXISTS projection_positions (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL
)
"""


class StoreChanged(Exception):
    """A read model on the store is not one this process may apply events to.

    A process of another release reshaped its tables (one of this release may
    neither write rows into the new shape nor put the old shape back), or its
    position was deleted so that the next start rebuilds it.
    """


@dataclass(frozen=True)
class CatchUp:
    """What one catch-up did."""

    events: int
    position: int


class Follower:
    """Applies the log to every read model, batch by batch.

    ``read_indexes=False`` creates the tables without the indexes only queries
    use (see ``Projection.read_indexes``): for tables only ever read whole.
    ``bulk=True`` builds empty tables from position zero with each read model's
    ``bulk_handlers``, until ``end_bulk`` derives what they left out.
    """

    def __init__(
        self,
        log: EventLog,
        store: ReadStore,
        projections: Sequence[Projection],
        batch_size: int = BATCH_SIZE,
        read_indexes: bool = True,
        bulk: bool = False,
    ) -> None:
        self.log = log
        self.store = store
        self.projections = tuple(projections)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._gap: tuple[int, object] | None = None
        if bulk and not all(p.rebuildable for p in self.projections):
            raise ValueError("a bulk build empties its tables: rebuildable ones only")
        self._read_indexes = read_indexes
        self._bulk = bulk
        self._handlers = [
            p.bulk_handlers() if bulk else p.handlers() for p in self.projections
        ]
        self._decode = Decoder(log.mapper)
        self._positions = self._prepare()

    def end_bulk(self) -> None:
        """Derive what the bulk build left out; later events apply as usual."""
        with self._lock:
            if not self._bulk:
                return
            with self.store.writing() as db:
                for projection in self.projections:
                    projection.end_bulk(db)
            self._handlers = [p.handlers() for p in self.projections]
            self._bulk = False

    def _prepare(self) -> list[int]:
        # A read model whose stored version differs from the code's is rebuilt.
        with self.store.writing() as db:
            if self.store.dialect == "postgres":
                # Several processes may start at once; one changes tables at a time.
                db.execute(
                    "SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))",
                    (SCHEMA_LOCK,),
                )
            db.execute(_POSITIONS)
            stored = {
                row["name"]: (row["version"], row["position"])
                for row in db.execute("SELECT * FROM projection_positions")
            }
            positions = []
            for projection in self.projections:
                version, position = stored.get(projection.name, (None, 0))
                # Rebuilding it here would put the older shape back under the
                # newer release's processes.
                if version is not None and version > projection.version:
                    raise StoreChanged(_newer_message(projection, version))
                if version is not None and version != projection.version:
                    _refuse_rebuild(projection, version)
                # A bulk build starts from empty tables, whatever they held.
                if version != projection.version or self._bulk:
                    projection.create(db, self._read_indexes, self._bulk)
                    position = 0
                    db.execute(
                        "INSERT INTO projection_positions VALUES (?, ?, 0) "
                        "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
                        "position = 0",
                        (projection.name, projection.version),
                    )
                positions.append(position)
        return positions

    def stored_position(self) -> int:
        """The position every read model has reached, as the store says now."""
        with self.store.reading() as db:
            return min(self._stored_positions(db), default=0)

    @property
    def position(self) -> int:
        """The log position every read model has reached."""
        return min(self._positions, default=0)

    def catch_up(
        self,
        until: int | None = None,
        progress: Callable[[int], None] | None = None,
        recorded: Sequence[Recording[Any]] = (),
    ) -> CatchUp:
        """Apply new events; with ``until``, stop once that position is reached.

        ``progress`` is told the position reached after each batch. ``recorded``
        may hold events this process has just stored, with their positions: where
        the read models stand right before them, they are applied as they are
        instead of being read back from the store and decoded again.
        """
        applied = 0
        with self._lock:
            while until is None or self.position < until:
                count = self._apply_next_batch(until, recorded)
                if not count:
                    break
                applied += count
                if progress is not None:
                    progress(self.position)
        return CatchUp(applied, self.position)

    def apply_beyond(self, db: Db) -> int:
        """Apply the events stored after this follower's position to ``db`` too.

        For a rebuild's switch: the live tables, just made equal to this
        follower's, take the events stored since, inside the switch's own
        transaction, so that no read model goes back to an earlier position.
        Nothing is written to this follower's store. Returns the position reached.
        """
        with self._lock:
            position = self.position
            while True:
                notifications = self._ready(
                    position,
                    self.log.recorder.select_notifications(
                        start=position + 1, limit=self.batch_size
                    ),
                )
                if not notifications:
                    return position
                batch = [self._decode(n) for n in notifications]
                shared: dict[Any, Any] = {}
                for handlers in self._handlers:
                    apply(db, handlers, batch, after=position, shared=shared)
                position = batch[-1].position

    def _apply_next_batch(
        self, until: int | None, recorded: Sequence[Recording[Any]]
    ) -> int:
        # Positions are read from the store, not remembered: another process on the
        # same store may have moved them since.
        with self.store.reading() as db:
            positions = self._stored_positions(db)
        self._positions = positions
        start = min(positions, default=0)
        if until is not None and start >= until:
            return 0

        batch = _following(recorded, start, self.batch_size, until)
        if not batch:
            # The log is read before the write transaction opens: holding the
            # write lock while waiting for the event store's connections could
            # deadlock with a command waiting for that lock.
            notifications = self._ready(
                start,
                self.log.recorder.select_notifications(
                    start=start + 1, limit=self.batch_size, stop=until
                ),
            )
            if not notifications:
                return 0
            batch = [self._decode(n) for n in notifications]
        last = batch[-1].position

        shared: dict[Any, Any] = {}
        with self.store.writing() as db:
            positions = self._stored_positions(db, lock=True)
            for index, handlers in enumerate(self._handlers):
                apply(db, handlers, batch, after=positions[index], shared=shared)
                positions[index] = max(positions[index], last)
                db.execute(
                    "UPDATE projection_positions SET position = ? WHERE name = ?",
                    (positions[index], self.projections[index].name),
                )
        self._positions = positions
        return len(batch)

    def _ready(self, start: int, notifications: Sequence[Notification]) -> list[Any]:
        """The notifications that can be applied now, in order, without a hole.

        A missing position may belong to a transaction that has not committed yet
        (a PostgreSQL id is taken before the commit), so nothing after it is applied
        until the store says every transaction that could fill it has ended; then
        the hole is final and is stepped over.
        """
        ready: list[Notification] = []
        expected = start + 1
        for notification in notifications:
            if notification.id != expected:
                if not self._gap_is_final(expected):
                    break
                # Final now, but the read came first: a transaction that committed
                # in between filled the hole unseen, and is read again, not skipped.
                ready += self.log.recorder.select_notifications(
                    start=expected,
                    limit=notification.id - expected,
                    stop=notification.id - 1,
                )
            ready.append(notification)
            expected = notification.id + 1
        return ready

    def _gap_is_final(self, missing: int) -> bool:
        if self._gap is None or self._gap[0] != missing:
            self._gap = (missing, self.store.gap_marker())
        return self.store.gap_is_final(self._gap[1])

    def _stored_positions(self, db: Db, lock: bool = False) -> list[int]:
        # Locking the rows makes a second worker wait, then see the new positions.
        suffix = " FOR UPDATE" if lock and self.store.dialect == "postgres" else ""
        rows = db.execute(
            "SELECT name, version, position FROM projection_positions" + suffix
        )
        stored = {row["name"]: (row["version"], row["position"]) for row in rows}
        positions = []
        for projection in self.projections:
            if projection.name not in stored:
                raise StoreChanged(_forgotten_message(projection))
            version, position = stored[projection.name]
            # Another release started on the store since this process did, and
            # rebuilt the tables in its shape: applying here would write rows that
            # do not fit them, or worse, fit them by position with wrong values.
            if version != projection.version:
                raise StoreChanged(_changed_message(projection, version))
            positions.append(position)
        return positions


def _following(
    recorded: Sequence[Recording[Any]], start: int, limit: int, until: int | None
) -> list[Applied]:
    """The recorded events right after position ``start``, if they are all there."""
    if not recorded:
        return []
    first = recorded[0].notification.id
    if recorded[-1].notification.id - first != len(recorded) - 1:
        return []
    offset = start + 1 - first
    if not 0 <= offset < len(recorded):
        return []
    end = offset + limit
    if until is not None:
        end = min(end, until - first + 1)
    return [
        applied(r.notification.id, r.domain_event, r.notification.state)
        for r in recorded[offset:end]
    ]


def _newer_message(projection: Projection, stored: int) -> str:
    found = (
        f"The {projection.name} read model on this store is at version {stored}, "
        f"written by a newer release; this release knows version "
        f"{projection.version} and leaves it alone. Run the newer release"
    )
    if not projection.rebuildable:
        # Its rows are the record the log is checked against: never rebuilt.
        return f"{found}; going back to this one means migrating it by hand."
    return (
        f"{found}; to go back to this one, delete the {projection.name} row of "
        "projection_positions, and the next start rebuilds it from the log."
    )


def _changed_message(projection: Projection, stored: int) -> str:
    return (
        f"The {projection.name} read model on this store is now at version "
        f"{stored}, not {projection.version}: a process of another release "
        "rebuilt it while this one ran. This process applies no more events; "
        "run the release that matches the store."
    )


def _forgotten_message(projection: Projection) -> str:
    return (
        f"The {projection.name} read model's row was deleted from "
        "projection_positions while this process ran. This process applies no "
        "more events; start it again, and it rebuilds that read model first."
    )


def _refuse_rebuild(projection: Projection, stored: int) -> None:
    if not projection.rebuildable:
        raise StoreChanged(
            f"The {projection.name} read model is at version {stored}, this code "
            f"has version {projection.version}, and it is never rebuilt: its rows "
            "are the record the log is checked against. Migrate it by hand."
        )


def apply(
    db: Db,
    handlers: Mapping[type[Event], Apply],
    batch: Sequence[Applied],
    after: int = 0,
    shared: dict[Any, Any] | None = None,
) -> None:
    """Apply the events of ``batch`` beyond position ``after`` to one read model.

    ``shared`` is handed to every read model applying the same batch.
    """
    # One read model at a time, so runs of the same statement (a row per record,
    # say) go to the database as one executemany.
    writer = BufferedWriter(db, shared)
    handler_of = handlers.get
    for item in batch:
        # Most read models handle a few of the event types: the look-up comes
        # first, as most events are skipped.
        handler = handler_of(type(item.event))
        if handler is not None and item.position > after:
            writer.position = item.position
            writer.aggregate_id = item.aggregate_id
            writer.occurred_at = item.occurred_at
            handler(writer, item.event)
    writer.flush()
