"""What every stored event and aggregate has in common.

Each event records who acted, when (UTC) and the correlation id shared by all events
of one command. Each event and aggregate class names an explicit topic, so that the
history already stored replays whatever the Python class is later called or moved to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, dataclass_transform
from uuid import UUID

from eventsourcing.domain import DomainEvent, MetaDomainEvent
from eventsourcing.utils import register_topic


@dataclass(frozen=True)
class Acting:
    """Who issues the current command, and the id tying its events together."""

    actor: str
    correlation_id: str


_acting: ContextVar[Acting | None] = ContextVar("acting", default=None)
_moment: ContextVar[datetime | None] = ContextVar("moment", default=None)


@contextmanager
def acting_as(acting: Acting) -> Iterator[None]:
    """Stamp every event triggered inside the block with ``acting``."""
    token = _acting.set(acting)
    try:
        yield
    finally:
        _acting.reset(token)


@contextmanager
def at_one_moment() -> Iterator[None]:
    """Stamp every event triggered inside the block with one time: now.

    The events saved together in one transaction then share their time, so an
    answer as of a moment, or a list of events between two, never holds part of
    a command without the rest.
    """
    token = _moment.set(datetime.now(UTC))
    try:
        yield
    finally:
        _moment.reset(token)


def current_acting() -> Acting:
    """Who issues the command being handled now."""
    return _current_acting()


def _current_acting() -> Acting:
    acting = _acting.get()
    if acting is None:
        # An event without an actor would leave a hole in the audit trail.
        raise RuntimeError("events can only be triggered inside acting_as()")
    return acting


def _pin_topic(cls: type) -> None:
    topic = cls.__dict__.get("TOPIC")
    if not topic:
        raise TypeError(f"{cls.__qualname__} must name its stored TOPIC")
    register_topic(topic, cls)


def event_types() -> list[type[Event]]:
    """Every concrete event class defined so far, in a stable order."""
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = [Event]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if not cls.__dict__.get("abstract", False):
            found[cls.TOPIC] = cls
    return [found[topic] for topic in sorted(found)]


@dataclass_transform(frozen_default=True)
class EventType(MetaDomainEvent):
    """Tells type checkers what the library's metaclass does: frozen dataclasses."""


class Event(DomainEvent, metaclass=EventType):
    """Base of all stored events; subclasses define ``TOPIC`` and ``apply``."""

    TOPIC: ClassVar[str] = ""
    actor: str
    correlation_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract", False):
            _pin_topic(cls)

    abstract: ClassVar[bool] = True

    def mutate(self, aggregate: Aggregate | None) -> Aggregate:
        """Evolve ``aggregate`` by this event (the library's replay entry point)."""
        if aggregate is None:
            aggregate = self.create()
        elif self.originator_version != aggregate.version + 1:
            raise ValueError(
                f"event version {self.originator_version} does not follow "
                f"aggregate version {aggregate.version}"
            )
        self.apply(aggregate)
        aggregate.version = self.originator_version
        aggregate.modified_on = self.timestamp
        return aggregate

    def create(self) -> Aggregate:
        """Build the aggregate this event starts; only first events implement it."""
        raise ValueError(f"{type(self).__name__} cannot start an aggregate")

    def apply(self, aggregate: Any) -> None:
        """Change the aggregate's state; every event class defines it."""
        raise NotImplementedError


class Aggregate:
    """A consistency boundary rebuilt from its own events."""

    TOPIC: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _pin_topic(cls)

    def __init__(self, id: UUID, created_on: datetime) -> None:
        self.id = id
        self.version = 0
        self.created_on = created_on
        self.modified_on = created_on
        self._pending: list[Event] = []

    @classmethod
    def start(cls, event_class: type[Event], id: UUID, **fields: Any) -> Self:
        """Create the aggregate from its first event."""
        event = _new_event(event_class, id, 1, fields)
        aggregate = event.mutate(None)
        if not isinstance(aggregate, cls):
            raise TypeError(f"{event_class.__name__} does not start a {cls.__name__}")
        aggregate._pending.append(event)
        return aggregate

    def trigger(self, event_class: type[Event], **fields: Any) -> None:
        """Record a decision: build the next event and apply it."""
        event = _new_event(event_class, self.id, self.version + 1, fields)
        event.mutate(self)
        self._pending.append(event)

    def collect_events(self) -> list[Event]:
        """Hand the pending events to the store (the library's save protocol)."""
        events, self._pending = self._pending, []
        return events

    @property
    def has_changes(self) -> bool:
        """Whether a decision is waiting to be saved."""
        return bool(self._pending)

    def size(self) -> int:
        """Roughly how many items the aggregate holds, to bound what keeps it."""
        return 1


def _new_event(
    event_class: type[Event],
    id: UUID,
    version: int,
    fields: dict[str, Any],
) -> Event:
    acting = _current_acting()
    return event_class(
        originator_id=id,
        originator_version=version,
        timestamp=_moment.get() or datetime.now(UTC),
        actor=acting.actor,
        correlation_id=acting.correlation_id,
        **fields,
    )
