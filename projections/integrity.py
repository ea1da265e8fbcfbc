"""Tamper evidence: the stored events, hashed again, against the recorded chain.

The audit chain recorded each event's hash, chained to the one before, when it
first applied the event, and is never rebuilt. Reading the store again and
hashing each event the same way finds the first event whose content differs from
what was recorded: an event edited or removed behind the application's back
breaks the chain there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification

from domain.application import EventLog
from domain.events import Event
from projections.applied import UnreadableEvent, unreadable
from projections.audit_log import GENESIS, chained, entry, stored_row
from projections.database import ReadStore

PAGE_SIZE = 2000


@dataclass(frozen=True)
class Integrity:
    """How far the chain holds."""

    checked: int
    """Events hashed again and compared."""
    through: int
    """The last position compared; later events are not in the audit log yet."""
    broken_at: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def chained_entries(log: EventLog) -> Iterator[dict[str, Any]]:
    """Every stored event in order, as auditors read it, with its chained hash.

    The hashes are worked out afresh from the store, so an export made after an
    event was tampered with differs from the audit log's recorded chain there.
    Raises UnreadableEvent at the first event that no longer decodes.
    """
    previous = GENESIS
    start = 1
    while True:
        notifications = log.recorder.select_notifications(start=start, limit=PAGE_SIZE)
        if not notifications:
            return
        for notification in notifications:
            _, item = _read(log, notification)
            previous = chained(previous, item)
            yield {**item, "hash": previous}
        start = notifications[-1].id + 1


def check(log: EventLog, store: ReadStore) -> Integrity:
    """Hash the stored events again and compare them with the recorded chain.

    The audit log's rows, which ``events`` and ``history`` answer from, are
    compared with the stored events too, so a row edited there is caught as well.
    """
    previous = GENESIS
    checked = through = 0
    start = 1
    while True:
        notifications = log.recorder.select_notifications(start=start, limit=PAGE_SIZE)
        if not notifications:
            break
        first, last = notifications[0].id, notifications[-1].id
        recorded, rows = _recorded(store, first, last)
        for notification in notifications:
            hash_ = recorded.get(notification.id)
            if hash_ is None:
                # Not applied yet (or a position the log never filled).
                return _missing(store, checked, through, notification.id)
            # Any failure to read the event back is itself a sign of tampering.
            try:
                event, item = _read(log, notification)
            except UnreadableEvent as error:
                # The decoder's own reason, as an export of the store says it.
                return Integrity(
                    checked,
                    through,
                    notification.id,
                    f"the stored event cannot be read any more ({error.reason})",
                )
            if chained(previous, item) != hash_:
                return Integrity(
                    checked,
                    through,
                    notification.id,
                    "the stored event, or one before it, differs from what was "
                    "recorded",
                )
            # Every field the row takes, the entry took already.
            if rows.get(notification.id) != stored_row(notification.id, event):
                return Integrity(
                    checked,
                    through,
                    notification.id,
                    "the audit log's row differs from the stored event",
                )
            previous = hash_
            checked += 1
            through = notification.id
        start = last + 1
    return _missing(store, checked, through, None)


def _recorded(
    store: ReadStore, first: int, last: int
) -> tuple[dict[int, str], dict[int, tuple[object, ...]]]:
    with store.reading() as db:
        chain = {
            int(row[0]): str(row[1])
            for row in db.execute(
                "SELECT position, hash FROM audit_chain WHERE position BETWEEN ? AND ?",
                (first, last),
            )
        }
        rows = {
            int(row[0]): tuple(row)
            for row in db.execute(
                "SELECT * FROM audit_events WHERE position BETWEEN ? AND ?",
                (first, last),
            )
        }
    return chain, rows


def _read(log: EventLog, notification: Notification) -> tuple[Event, dict[str, Any]]:
    """The stored event, and the same as auditors read it.

    Raises UnreadableEvent when either cannot be made: a state edited so that
    it still decodes, but lacks a field every event has, fails only here.
    """
    try:
        event = _event(log, notification)
        return event, entry(notification.id, event)
    except Exception as error:
        raise unreadable(notification.id, error) from error


def _event(log: EventLog, notification: Notification) -> Event:
    event = log.mapper.to_domain_event(notification)
    if not isinstance(event, Event):
        raise TypeError(f"position {notification.id} holds no event of this product")
    return event


def _missing(
    store: ReadStore, checked: int, through: int, stop: int | None
) -> Integrity:
    # A recorded hash with no stored event left means an event was removed.
    with store.reading() as db:
        condition = "position > ?" + ("" if stop is None else " AND position < ?")
        params = (through,) if stop is None else (through, stop)
        row = db.execute(
            f"SELECT MIN(position) FROM audit_chain WHERE {condition}", params
        ).fetchone()
    if row is not None and row[0] is not None:
        return Integrity(
            checked, through, int(row[0]), "a recorded event is missing from the store"
        )
    return Integrity(checked, through)
