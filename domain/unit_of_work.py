"""Units of work: what one command reads and changes, and the group saved at once.

Commands that arrive while a group is being saved wait, then run as the next
group: each command on its own, in arrival order, on the state the earlier
commands of its group left, and all of the group's events saved in one
transaction or none of them. A command that fails takes back only its own
changes; the others of its group are saved as if it had never run.

Between groups, aggregates stay in a bounded cache, so a learner with a long
record book or a code carried by many records is not rebuilt from every one of its
events for each command. A group takes the aggregates it uses out of the cache and
hands them back only once its events are stored, so the cache never holds a change
that was not saved. Before each group the cache reads the log past the last
position it saw and forgets every aggregate another writer has changed since.
That relies on the store making positions visible in the order they were taken,
which holds for the stores used here: SQLite has one writer at a time, and the
PostgreSQL recorder locks the events table while it inserts. An aggregate changed
behind the application's back, bypassing both, is forgotten only once a command
of this process changes it too and loses the race for it.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Recording

from domain.events import Aggregate, Event
from domain.imports import ImportReport
from domain.snapshots import (
    SNAPSHOT_AFTER,
    Snapshot,
    Snapshotted,
    StaleSnapshot,
    takes_snapshots,
)

A = TypeVar("A", bound=Aggregate)

# Learners, codes, paths and content a server's commands touch again and again.
CACHE_CAPACITY = 4096
# An aggregate weighs as many items as it holds (see ``Aggregate.size``); a
# learner's record takes about a kilobyte, so the cache holds some 100 MB of
# learners at most, however long their record books.
CACHE_WEIGHT = 100_000
# Past this many positions written by others since the last group, reading them
# costs more than starting the cache afresh.
REFRESH_LIMIT = 1000


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """Apply ``events`` in order to ``aggregate`` (None before the first event)."""
    # The library's own replay checks each event against a typing Protocol,
    # which costs more than applying it; every stored event here is an Event.
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class AggregateCache:
    """Aggregates as stored, kept between groups; None marks an id not stored."""

    def __init__(
        self,
        log: Application[UUID],
        capacity: int = CACHE_CAPACITY,
        weight: int = CACHE_WEIGHT,
    ) -> None:
        self._log = log
        self._capacity = capacity
        self._most_weight = weight
        self._entries: OrderedDict[UUID, Aggregate | None] = OrderedDict()
        self._weight = 0
        self._seen: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def refresh(self) -> None:
        """Forget every cached aggregate that was stored anew since the last look."""
        recorder = self._log.recorder
        if self._seen is None:
            self._seen = recorder.max_notification_id() or 0
            return

        news = recorder.select_notifications(
            start=self._seen + 1, limit=REFRESH_LIMIT + 1
        )
        if len(news) > REFRESH_LIMIT:
            # Read after clearing: whatever is stored by then is loaded afresh.
            self._entries.clear()
            self._weight = 0
            self._seen = recorder.max_notification_id() or 0
            return
        for notification in news:
            id = notification.originator_id
            if isinstance(id, str):
                id = UUID(id)
            cached = self._entries.get(id, _UNKNOWN)
            if cached is None or (
                isinstance(cached, Aggregate)
                and cached.version < notification.originator_version
            ):
                self.take(id)
        if news:
            self._seen = news[-1].id

    @property
    def weight(self) -> int:
        """How many items the aggregates cached now hold between them."""
        return self._weight

    def take(self, id: UUID) -> Aggregate | _Unknown | None:
        """Remove and return what is cached for ``id``."""
        found = self._entries.pop(id, _UNKNOWN)
        if not isinstance(found, _Unknown):
            self._weight -= _weight(found)
        return found

    def keep(self, id: UUID, aggregate: Aggregate | None) -> None:
        """Cache the stored state of ``id``, unless a newer one is cached already."""
        cached = self._entries.get(id)
        if cached is not None and (
            aggregate is None or cached.version > aggregate.version
        ):
            self._entries.move_to_end(id)
            return
        self.take(id)
        self._entries[id] = aggregate
        self._weight += _weight(aggregate)
        while self._entries and (
            len(self._entries) > self._capacity or self._weight > self._most_weight
        ):
            self.take(next(iter(self._entries)))


def _weight(aggregate: Aggregate | None) -> int:
    return aggregate.size() if aggregate is not None else 1


class _Unknown:
    """Nothing is cached for an id."""


_UNKNOWN = _Unknown()


class Group:
    """The commands saved together, and every aggregate they have loaded."""

    def __init__(self, log: Application[UUID], cache: AggregateCache) -> None:
        self._log = log
        self._cache = cache
        self._loaded: dict[UUID, Aggregate | None] = {}
        self.events: list[Event] = []
        self._staged: dict[UUID, list[Event]] = {}
        self._snapshots: list[Snapshot] = []

    def load(self, id: UUID) -> Aggregate | None:
        """The aggregate as the group's earlier commands left it, or None."""
        if id in self._loaded:
            return self._loaded[id]

        found = self._cache.take(id)
        if isinstance(found, _Unknown):
            found = self._stored(id)
            # Loaded from the store afresh: earlier commands' changes go on again.
            found = replay(found, self._staged.get(id, ()))
        self._loaded[id] = found
        return found

    def _stored(self, id: UUID) -> Aggregate | None:
        """The aggregate as stored: its latest snapshot, then the events after it."""
        snapshots = self._log.snapshots
        latest = None
        if snapshots is not None:
            latest = next(iter(snapshots.get(id, desc=True, limit=1)), None)
        try:
            start = replay(None, [latest]) if latest is not None else None
        except StaleSnapshot:
            latest, start = None, None
        since = latest.originator_version if latest is not None else 0
        stored: Aggregate | None = replay(start, self._log.events.get(id, gt=since))

        if (
            snapshots is not None
            and takes_snapshots(stored)
            and stored is not None
            and stored.version - since >= SNAPSHOT_AFTER
        ):
            # Taken now, while it is as stored; written before the group's events.
            self._snapshots.append(Snapshot.of(cast(Snapshotted, stored)))
        return stored

    def keep(self, unit: Unit) -> list[Event]:
        """Stage what a command that succeeded changed; return its events."""
        events: list[Event] = []
        for aggregate in unit.changed():
            new = aggregate.collect_events()
            self._staged.setdefault(aggregate.id, []).extend(new)
            self._loaded[aggregate.id] = aggregate
            events += new
        self.events += events
        return events

    def drop(self, unit: Unit, reads: bool = False) -> None:
        """Take back a command's changes; with ``reads``, load what it read afresh.

        Whatever is dropped is loaded from the store when next asked for, with
        the changes of the group's earlier commands applied to it again.
        """
        ids = unit.touched() if reads else [a.id for a in unit.changed()]
        for id in ids:
            self._loaded.pop(id, None)

    def save(self) -> list[Recording[UUID]]:
        """Store every staged event in one transaction; cache what is now stored."""
        if self._snapshots and self._log.snapshots is not None:
            self._log.snapshots.put(self._snapshots)
            self._snapshots = []
        recordings = self._log.events.put(self.events) if self.events else []
        for id, aggregate in self._loaded.items():
            self._cache.keep(id, aggregate)
        return recordings


class Unit:
    """The aggregates one attempt at one command has loaded or created."""

    def __init__(self, group: Group) -> None:
        self._group = group
        self._aggregates: dict[UUID, Aggregate] = {}
        self._missing: set[UUID] = set()
        self.record_deltas: Counter[str] = Counter()
        # A dry run decides everything and then keeps none of it.
        self.discard = False
        self.report: ImportReport | None = None

    def find(self, cls: type[A], id: UUID) -> A | None:
        """The aggregate ``id`` if it exists and is a ``cls``."""
        aggregate = self._aggregates.get(id)
        if aggregate is None:
            if id in self._missing:
                return None
            aggregate = self._group.load(id)
            if aggregate is None:
                self._missing.add(id)
                return None
            self._aggregates[id] = aggregate
        return aggregate if isinstance(aggregate, cls) else None

    def add(self, aggregate: A) -> A:
        """Take a new aggregate into the unit."""
        self._aggregates[aggregate.id] = aggregate
        return aggregate

    def changed(self) -> list[Aggregate]:
        """The aggregates with decisions waiting to be saved."""
        return [a for a in self._aggregates.values() if a.has_changes]

    def touched(self) -> list[UUID]:
        """Every id the unit has looked up, found or not, or created."""
        return [*self._aggregates, *self._missing]
