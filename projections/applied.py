"""Events as the read models apply them: with their position, id and time as text.

Most read models write an event's aggregate id and time as text, and every event
reaches the audit log; the text is worked out once per event here, instead of
once per read model. Events read back from the log are decoded here too, more
cheaply than by the library's mapper, which a catch-up or a rebuild of a large
log spends much of its time in.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Mapper, Notification
from eventsourcing.utils import resolve_topic


class UnreadableEvent(Exception):
    """A stored event that no longer decodes: the store was changed outside the
    application, since every event it stores was encoded by it and read back."""

    def __init__(self, position: int, reason: str) -> None:
        self.position = position
        self.reason = reason
        super().__init__(
            f"the event at position {position} cannot be read ({reason}): the "
            "store was changed outside the application"
        )


def unreadable(position: int, error: Exception) -> UnreadableEvent:
    """``error``, met decoding the event at ``position``, as an unreadable event.

    The library's mapper names the topic, the aggregate and the version before
    the decoder's own reason, which it keeps as the cause; only that reason, on
    one line, is told.
    """
    cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    return UnreadableEvent(position, lines[0])


class Applied(NamedTuple):
    """An event at its log position, with its aggregate id and time as text."""

    position: int
    event: Any
    aggregate_id: str
    occurred_at: str


# How the library's transcoder writes the time every stored event begins with.
_STAMP_TYPE = "datetime_iso"
_STAMP_START = b'{"timestamp":{"_type_":"' + _STAMP_TYPE.encode() + b'","_data_":"'
_TYPE_KEY = b'"_type_"'
_JSON = json.JSONDecoder()


def applied(position: int, event: Any, state: bytes | None = None) -> Applied:
    """``event`` ready to apply; ``state``, its stored form, spares formatting."""
    at = _stamp_text(state) if state is not None else None
    if at is None:
        at = event.timestamp.isoformat()
    return Applied(position, event, str(event.originator_id), at)


def _stamp_text(state: bytes) -> str | None:
    # The stored text is the one ``isoformat`` wrote when the event was stored;
    # reading it back is cheaper than formatting the time again.
    if not state.startswith(_STAMP_START):
        return None
    end = state.find(b'"', len(_STAMP_START))
    return state[len(_STAMP_START) : end].decode() if end > 0 else None


class Decoder:
    """Turns the log's notifications into events, as the library's mapper does.

    Events of this product are stored as JSON whose only value needing more than
    JSON is the time they begin with; those are decoded as plain JSON, without the
    mapper's hook on every object. Anything else (an
    encrypted or compressed store, a class with versions to upcast, another
    stored type anywhere in the state) goes through the mapper itself.
    """

    def __init__(self, mapper: Mapper[Any]) -> None:
        self._mapper = mapper
        self._plain = (
            mapper.cipher is None
            and mapper.compressor is None
            and type(mapper.transcoder) is JSONTranscoder
        )
        self._classes: dict[str, type | None] = {}

    def __call__(self, notification: Notification) -> Applied:
        """The notification's event, ready to apply.

        Raises UnreadableEvent when the stored event does not decode, whichever
        way it was tried.
        """
        # One try around it all: it costs nothing until something fails.
        try:
            cls = self._class(notification.topic) if self._plain else None
            state = notification.state
            originator_id = notification.originator_id
            if (
                cls is None
                or type(originator_id) is not UUID
                or state.count(_TYPE_KEY) != 1
            ):
                return self._mapped(notification)

            # Bytes given to ``json.loads`` are decoded with an error handler that
            # takes UTF-8's slow path: decoded first, the whole takes half as long.
            fields = _JSON.decode(state.decode())
            stamp = fields.get("timestamp")
            if type(stamp) is not dict or stamp.get("_type_") != _STAMP_TYPE:
                return self._mapped(notification)
            at = stamp["_data_"]
            fields["timestamp"] = datetime.fromisoformat(at)
            fields.pop("class_version", None)
            fields["originator_id"] = originator_id
            fields["originator_version"] = notification.originator_version
            # As the mapper builds it: a frozen event's fields set without __init__.
            event: Any = object.__new__(cls)
            object.__setattr__(event, "__dict__", fields)
            return Applied(notification.id, event, str(originator_id), at)
        except Exception as error:
            raise unreadable(notification.id, error) from error

    def _mapped(self, notification: Notification) -> Applied:
        event = self._mapper.to_domain_event(notification)
        return applied(notification.id, event)

    def _class(self, topic: str) -> type | None:
        if topic not in self._classes:
            cls = resolve_topic(topic)
            upcasts = getattr(cls, "class_version", 1) != 1
            self._classes[topic] = None if upcasts else cls
        return self._classes[topic]
