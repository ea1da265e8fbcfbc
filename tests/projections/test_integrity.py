"""Tamper evidence: an event edited or removed behind the application's back is found.

The tests change the stored events with plain SQL, as someone with access to the
database but not to the application could.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import psycopg
import pytest

from domain import commands as c
from projections.applied import UnreadableEvent
from projections.integrity import chained_entries, check
from projections.rebuild import rebuild
from projections.verification import verify
from qualify.bootstrap import Backend, all_projections
from qualify.config import PostgresLocation, SQLiteLocation, store_location
from tests.support import OTHER_LEARNER, busy_scenario, run


def _sql(backend: Backend) -> Callable[[str, tuple[object, ...]], None]:
    """A way to run one statement on the event store, bypassing the application."""
    location = store_location(backend.settings.database_url)
    if isinstance(location, SQLiteLocation):

        def on_sqlite(statement: str, params: tuple[object, ...]) -> None:
            with sqlite3.connect(location.path) as db:
                db.execute(statement.replace("%s", "?"), params)

        return on_sqlite
    assert isinstance(location, PostgresLocation)

    def on_postgres(statement: str, params: tuple[object, ...]) -> None:
        with psycopg.connect(location.conninfo, autocommit=True) as db:
            db.execute(f"SET search_path TO {location.schema}")
            db.execute(statement, params)  # type: ignore[arg-type]

    return on_postgres


def _id_column(backend: Backend) -> str:
    return "rowid" if backend.store.dialect == "sqlite" else "notification_id"


def _position_of(backend: Backend, title: str) -> int:
    for item in chained_entries(backend.log):
        if item["payload"].get("title") == title:
            return int(item["position"])
    raise AssertionError(f"no event with the title {title!r}")


def test_an_untouched_log_is_intact(durable_backend: Backend) -> None:
    busy_scenario(durable_backend)
    found = check(durable_backend.log, durable_backend.store)

    last = durable_backend.log.recorder.max_notification_id()
    assert (found.intact, found.through, found.broken_at) == (True, last, None)
    assert found.checked > 50


def test_an_edited_event_breaks_the_chain_where_it_was_edited(
    durable_backend: Backend,
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    run(backend, c.CreateCode("AED", "Defibrillator"))
    target = _position_of(backend, "Tips, again")
    table = backend.log.recorder.events_table_name  # type: ignore[attr-defined]

    stored = _read_state(backend, table, target)
    forged = stored.replace(b"Tips, again", b"Tips, forged")
    assert forged != stored
    _sql(backend)(
        f"UPDATE {table} SET state = %s WHERE {_id_column(backend)} = %s",
        (forged, target),
    )

    found = check(backend.log, backend.store)
    assert found.broken_at == target
    assert found.through == target - 1
    assert found.reason == (
        "the stored event, or one before it, differs from what was recorded"
    )


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (b"{not json", "Expecting property name enclosed in double quotes"),
        (b"{}", "object has no attribute 'timestamp'"),
    ],
    ids=["not json", "no fields"],
)
def test_an_event_that_no_longer_reads_is_caught(
    durable_backend: Backend, state: bytes, reason: str
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    target = _position_of(backend, "Tips, again")
    table = backend.log.recorder.events_table_name  # type: ignore[attr-defined]

    _sql(backend)(
        f"UPDATE {table} SET state = %s WHERE {_id_column(backend)} = %s",
        (state, target),
    )

    found = check(backend.log, backend.store)
    assert found.broken_at == target
    assert found.reason is not None
    assert found.reason.startswith("the stored event cannot be read any more (")
    assert reason in found.reason
    # An export stops at the same event, naming it.
    with pytest.raises(UnreadableEvent) as unread:
        list(chained_entries(backend.log))
    assert unread.value.position == target


def test_a_removed_event_breaks_the_chain_after_it(durable_backend: Backend) -> None:
    backend = durable_backend
    busy_scenario(backend)
    value = run(backend, c.CreateCode("AED", "Defibrillator")).position
    assert value is not None
    run(backend, c.JoinPath("CLABEG", OTHER_LEARNER))
    table = backend.log.recorder.events_table_name  # type: ignore[attr-defined]

    _sql(backend)(f"DELETE FROM {table} WHERE {_id_column(backend)} = %s", (value,))

    found = check(backend.log, backend.store)
    assert found.broken_at is not None
    assert found.broken_at >= value


def _read_state(backend: Backend, table: str, position: int) -> bytes:
    (notification,) = backend.log.recorder.select_notifications(start=position, limit=1)
    assert notification.id == position
    assert json.loads(notification.state)
    return bytes(notification.state)


@pytest.mark.parametrize("position", [1, 7])
def test_an_export_hashes_each_event_onto_the_one_before(
    durable_backend: Backend, position: int
) -> None:
    busy_scenario(durable_backend)
    items = list(chained_entries(durable_backend.log))

    assert [item["position"] for item in items[:position]] == list(
        range(1, position + 1)
    )
    with durable_backend.store.reading() as db:
        recorded = db.execute(
            "SELECT hash FROM audit_chain WHERE position = ?", (position,)
        ).fetchone()[0]
    assert items[position - 1]["hash"] == recorded
    assert set(items[0]) == {
        "position",
        "type",
        "aggregate_id",
        "aggregate_version",
        "occurred_at",
        "actor",
        "correlation_id",
        "payload",
        "hash",
    }


def test_a_rebuild_after_tampering_does_not_hide_it(durable_backend: Backend) -> None:
    backend = durable_backend
    busy_scenario(backend)
    target = _position_of(backend, "Tips, again")
    table = backend.log.recorder.events_table_name  # type: ignore[attr-defined]
    forged = _read_state(backend, table, target).replace(b"Tips, again", b"Forged")
    _sql(backend)(
        f"UPDATE {table} SET state = %s WHERE {_id_column(backend)} = %s",
        (forged, target),
    )

    rebuild(backend.log, backend.store, [p for p in all_projections() if p.rebuildable])

    found = check(backend.log, backend.store)
    assert found.broken_at == target
    # Replaying the chain from the tampered store no longer matches the record.
    verdict = verify(backend.log, backend.store, all_projections())
    assert {d.table for d in verdict.differences} == {"audit_chain"}


def test_an_audit_row_edited_behind_the_application_is_caught(
    durable_backend: Backend,
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    target = _position_of(backend, "Tips, again")
    with backend.store.writing() as db:
        db.execute(
            "UPDATE audit_events SET actor = ? WHERE position = ?", ("mallory", target)
        )

    found = check(backend.log, backend.store)
    assert found.broken_at == target
    assert found.reason == "the audit log's row differs from the stored event"
