"""Snapshots: an aggregate's state at one version, so loading it skips what came before.

Only aggregates whose histories grow without bound take them: a learner (one
event per record in the book) and a qualification code (a count event for every
record that carries it). An aggregate loaded with at least ``SNAPSHOT_AFTER``
events past its last snapshot gets a new one, written before its group's events
are saved. A snapshot copies what is stored and is never the only record of
anything: the event log stays the truth, projections never read snapshots, and a
snapshot lost or ignored costs only time. One taken by code whose aggregate had
another shape (a different ``SNAPSHOT_SHAPE``) is ignored, and the aggregate is
rebuilt from its events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Protocol, Self
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.utils import get_topic, register_topic, resolve_topic

from domain.events import Aggregate, EventType

# A learner with a few dozen records rebuilds in well under a millisecond; past
# this many events, one JSON document is cheaper than its events one by one.
SNAPSHOT_AFTER = 50


class Snapshotted(Protocol):
    """An aggregate that can be written down whole and read back."""

    SNAPSHOT_SHAPE: ClassVar[int]
    """Changed whenever ``snapshot_state`` writes something else."""

    id: UUID
    version: int
    created_on: datetime
    modified_on: datetime

    def snapshot_state(self) -> dict[str, Any]:
        """The aggregate's own fields, as plain JSON values."""

    @classmethod
    def from_snapshot(
        cls, id: UUID, created_on: datetime, state: dict[str, Any]
    ) -> Self:
        """The aggregate as ``snapshot_state`` wrote it down."""


class StaleSnapshot(Exception):
    """A snapshot of another shape than the aggregate class has now."""


class Snapshot(DomainEvent, metaclass=EventType):
    """The state of one aggregate at ``originator_version``."""

    TOPIC: ClassVar[str] = "qualify:Snapshot"
    topic: str
    shape: int
    created_on: datetime
    state: dict[str, Any]

    @classmethod
    def of(cls, aggregate: Snapshotted) -> Snapshot:
        """A snapshot of ``aggregate`` as it is now."""
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=aggregate.modified_on,
            topic=get_topic(type(aggregate)),
            shape=type(aggregate).SNAPSHOT_SHAPE,
            created_on=aggregate.created_on,
            state=aggregate.snapshot_state(),
        )

    def mutate(self, aggregate: Aggregate | None) -> Aggregate:
        """The aggregate written down (a snapshot always comes first)."""
        cls = resolve_topic(self.topic)
        if getattr(cls, "SNAPSHOT_SHAPE", None) != self.shape:
            raise StaleSnapshot(f"{self.topic} snapshot of shape {self.shape}")
        restored: Aggregate = cls.from_snapshot(
            self.originator_id, self.created_on, self.state
        )
        restored.version = self.originator_version
        restored.modified_on = self.timestamp
        return restored


def takes_snapshots(aggregate: Aggregate | None) -> bool:
    """Whether ``aggregate`` is of a kind that is snapshotted."""
    return hasattr(aggregate, "SNAPSHOT_SHAPE")


register_topic(Snapshot.TOPIC, Snapshot)
