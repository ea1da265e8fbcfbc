"""The event log as a table: every event with who, when, why and what it said.

Auditors page through it by position and filter it by aggregate, type, actor,
time and correlation id; each of those has an index, so a filtered page reads
only its own rows. ``subject_id`` names the record an event is about when that
record lives inside a larger aggregate (a training record inside its learner).

The hash chain is kept apart, in ``audit_chain``: a hash per position over the
event's content and the previous position's hash, written once when the event is
first applied and never rebuilt. Replaying the store and hashing again finds the
first event changed behind the application's back: from there on, the hashes
differ. A rebuild from a tampered store would hash the tampered events, so that
table is the one thing a rebuild never touches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from domain.errors import InvalidReference
from domain.events import Event, event_types
from projections.database import Db, Writer, one_of
from projections.paging import Page, decode_cursor, encode_cursor
from projections.projection import Apply, Projection

GENESIS = "0" * 64
"""The hash before the first event."""
_LAST = "audit-last-hash"
_SEEN = "audit-seen"
# What every event carries; the payload is the rest.
_ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "correlation_id"}
)


class AuditLog(Projection):
    """One row per event, in log order."""

    name = "audit_log"
    version = 1
    tables = ("audit_events",)
    schema = (
        """CREATE TABLE audit_events (
            position INTEGER PRIMARY KEY,
            aggregate_id TEXT NOT NULL,
            aggregate_version INTEGER NOT NULL,
            event_type TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            subject_id TEXT,
            payload TEXT NOT NULL
        )""",
    )
    read_indexes = (
        "CREATE INDEX audit_by_aggregate ON audit_events (aggregate_id, position)",
        "CREATE INDEX audit_by_subject ON audit_events (subject_id, position)",
        "CREATE INDEX audit_by_type ON audit_events (event_type, position)",
        "CREATE INDEX audit_by_actor ON audit_events (actor, position)",
        "CREATE INDEX audit_by_correlation ON audit_events (correlation_id, position)",
        "CREATE INDEX audit_by_time ON audit_events (occurred_at, position)",
    )

    def handlers(self) -> Mapping[type[Event], Apply]:
        return {cls: _append for cls in event_types()}


class AuditChain(Projection):
    """The hash of every position, chained to the one before; never rebuilt."""

    name = "audit_chain"
    version = 1
    rebuildable = False
    tables = ("audit_chain",)
    schema = (
        """CREATE TABLE audit_chain (
            position INTEGER PRIMARY KEY,
            hash TEXT NOT NULL
        )""",
    )

    def handlers(self) -> Mapping[type[Event], Apply]:
        return {cls: _chain for cls in event_types()}


def event_type_name(cls: type[Event]) -> str:
    """An event class's stable name: its topic without the ``qualify:`` prefix."""
    return cls.TOPIC.removeprefix("qualify:")


def payload_of(event: Event) -> dict[str, Any]:
    """The event's own fields, as stored."""
    # Copying and dropping five keys is quicker than filtering every one.
    fields = dict(vars(event))
    for key in _ENVELOPE:
        fields.pop(key, None)
    return fields


def envelope(position: int, e: Event) -> dict[str, Any]:
    """Who, when and where of an event: everything but its payload."""
    return {
        "position": position,
        "type": event_type_name(type(e)),
        "aggregate_id": str(e.originator_id),
        "aggregate_version": e.originator_version,
        "occurred_at": e.timestamp.isoformat(),
        "actor": e.actor,
        "correlation_id": e.correlation_id,
    }


def entry(position: int, e: Event) -> dict[str, Any]:
    """The event as auditors read it: stable field names, plain JSON values."""
    return {**envelope(position, e), "payload": json.loads(_json(payload_of(e)))}


def chained(previous: str, item: Mapping[str, Any]) -> str:
    """The hash of ``item`` after the one whose hash is ``previous``."""
    head = {key: value for key, value in item.items() if key != "payload"}
    return _digest(previous, _json(head), _json(item["payload"]))


def _digest(previous: str, head: str, payload: str) -> str:
    # The payload's JSON is hashed as stored, so applying an event encodes it once.
    return hashlib.sha256(f"{previous}\n{head}\n{payload}".encode()).hexdigest()


# One encoder for every event: ``json.dumps`` with options builds a new one a call.
# Payloads never refer to themselves, so the check for cycles is left out: it
# costs a dictionary entry per nested value.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=str, check_circular=False
)
# How that encoder writes a string (it escapes everything beyond ASCII).
_JSON_STRING: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _json(value: object) -> str:
    return _ENCODER.encode(value)


def _last_hash(db: Writer) -> str:
    if _LAST not in db.memo:
        row = db.execute(
            "SELECT hash FROM audit_chain ORDER BY position DESC LIMIT 1"
        ).fetchone()
        db.memo[_LAST] = row[0] if row else GENESIS
    return str(db.memo[_LAST])


def _chain(db: Writer, e: Event) -> None:
    seen = _seen(db, e)
    digest = _digest(_last_hash(db), _head_json(db.position, e, seen), seen.payload)
    db.memo[_LAST] = digest
    db.write("INSERT INTO audit_chain VALUES (?, ?)", (db.position, digest))


class _Seen(NamedTuple):
    """What the audit row and the chain both take from an event, as text."""

    aggregate_id: str
    occurred_at: str
    type: str
    subject: str | None
    payload: str


def _see(e: Event, aggregate_id: str, occurred_at: str) -> _Seen:
    fields = payload_of(e)
    subject = fields.get("record_id")
    return _Seen(
        aggregate_id,
        occurred_at,
        _type_name(type(e)),
        subject if isinstance(subject, str) else None,
        _json(fields),
    )


def _seen(db: Writer, e: Event) -> _Seen:
    # The audit log and the chain apply the same batch one after the other.
    key = (_SEEN, db.position)
    seen: _Seen | None = db.shared.get(key)
    if seen is None:
        seen = db.shared[key] = _see(e, db.aggregate_id, db.occurred_at)
    return seen


_TYPE_NAMES: dict[type[Event], str] = {}


def _type_name(cls: type[Event]) -> str:
    name = _TYPE_NAMES.get(cls)
    if name is None:
        name = _TYPE_NAMES[cls] = event_type_name(cls)
    return name


def _head_json(position: int, e: Event, seen: _Seen) -> str:
    """``_json(envelope(position, e))``, written out for speed: the same text.

    The keys are in sorted order and strings are escaped by the encoder's own
    function, as the encoder does for the envelope's dict.
    """
    text = _JSON_STRING
    return (
        f'{{"actor":{text(e.actor)},"aggregate_id":{text(seen.aggregate_id)},'
        f'"aggregate_version":{int(e.originator_version)},'
        f'"correlation_id":{text(e.correlation_id)},'
        f'"occurred_at":{text(seen.occurred_at)},"position":{int(position)},'
        f'"type":{text(seen.type)}}}'
    )


def stored_row(position: int, e: Event) -> tuple[object, ...]:
    """The audit_events row an event makes, column by column."""
    return _row(position, e, _see(e, str(e.originator_id), e.timestamp.isoformat()))


def _row(position: int, e: Event, seen: _Seen) -> tuple[object, ...]:
    return (
        position,
        seen.aggregate_id,
        e.originator_version,
        seen.type,
        seen.occurred_at,
        e.actor,
        e.correlation_id,
        seen.subject,
        seen.payload,
    )


def _append(db: Writer, e: Event) -> None:
    db.write(
        "INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?,?)",
        _row(db.position, e, _seen(db, e)),
    )


# Queries


@dataclass(frozen=True)
class AuditRow:
    position: int
    aggregate_id: str
    aggregate_version: int
    event_type: str
    occurred_at: str
    actor: str
    correlation_id: str
    subject_id: str | None
    payload: str


@dataclass(frozen=True)
class EventFilter:
    """Which events to list; None means any."""

    aggregate_ids: Sequence[str] | None = None
    subject_id: str | None = None
    event_type: str | None = None
    actor: str | None = None
    correlation_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    through: int | None = None
    """The last position to list: the moment an answer as of then stands at."""


def has_events(db: Db, aggregate_ids: Sequence[str]) -> bool:
    """Whether the log holds any event of these aggregates."""
    marks = ", ".join("?" * len(aggregate_ids))
    found = db.execute(
        f"SELECT 1 FROM audit_events WHERE aggregate_id IN ({marks}) LIMIT 1",
        tuple(aggregate_ids),
    ).fetchone()
    return found is not None


def event_page(
    db: Db, only: EventFilter, first: int, after: str | None
) -> Page[AuditRow]:
    """Events in log order, ``first`` after the cursor, matching ``only``."""
    condition, params = one_of("aggregate_id", only.aggregate_ids)
    where = [condition]
    for clause, value in (
        ("subject_id = ?", only.subject_id),
        ("event_type = ?", only.event_type),
        ("actor = ?", only.actor),
        ("correlation_id = ?", only.correlation_id),
        ("occurred_at >= ?", _instant(only.occurred_from)),
        ("occurred_at < ?", _instant(only.occurred_to)),
        ("position <= ?", only.through),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    count = db.execute(
        f"SELECT COUNT(*) FROM audit_events WHERE {' AND '.join(where)}", params
    ).fetchone()[0]

    if after is not None:
        (position,) = decode_cursor(after, "event")
        where.append("position > ?")
        params.append(_position(position))
    rows = db.execute(
        f"SELECT * FROM audit_events WHERE {' AND '.join(where)} "
        "ORDER BY position LIMIT ?",
        [*params, first + 1],
    ).fetchall()

    items = [AuditRow(**row) for row in rows[:first]]
    return Page(
        items=items,
        total_count=count,
        has_next_page=len(rows) > first,
        has_previous_page=after is not None,
        cursors=[encode_cursor("event", str(row.position)) for row in items],
    )


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else instant_text(moment)


def instant_text(moment: datetime) -> str:
    """A moment as stored times are written: UTC ISO text, which sorts by time.

    A time given without an offset is taken as UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).isoformat()
    except OverflowError:
        # Within a day of either end of the calendar, the UTC time falls outside
        # it; every stored time lies between the ends, so an end stands in.
        end = datetime.max if moment.year > 1 else datetime.min
        return end.replace(tzinfo=UTC).isoformat()


# The largest position either store can hold.
_LAST_POSITION = 2**63 - 1


def _position(text: str) -> int:
    if (
        not text.isascii()
        or not text.isdigit()
        or len(text) > 19
        or int(text) > _LAST_POSITION
    ):
        raise InvalidReference(
            "The cursor is damaged or belongs to another list; use one this list "
            "returned.",
            field="after",
        )
    return int(text)
