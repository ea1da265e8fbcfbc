"""Read models are built from the event log alone: a rebuild equals the live ones."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from domain.events import Event
from domain.learners import TrainingRecordDeleted
from projections.database import ReadStore, SQLiteStore
from projections.follower import Follower
from projections.projection import Apply
from projections.training_records import TrainingRecords
from qualify.bootstrap import Backend, all_projections
from tests.support import busy_scenario, live_code, read_model_tables, table_rows


def rebuilt(backend: Backend, path: Path, batch_size: int = 2000) -> SQLiteStore:
    """A fresh read store at ``path``, caught up on ``backend``'s event log."""
    store = SQLiteStore(str(path))
    Follower(backend.log, store, all_projections(), batch_size).catch_up()
    return store


@pytest.mark.parametrize("batch_size", [1, 7, 2000])
def test_a_rebuild_from_the_log_equals_the_live_read_models(
    backend: Backend, tmp_path: Path, batch_size: int
) -> None:
    busy_scenario(backend)
    live = table_rows(backend.store)

    store = rebuilt(backend, tmp_path / "rebuilt" / "read.db", batch_size)
    try:
        assert table_rows(store) == live
    finally:
        store.close()

    assert all(live[table] for table in read_model_tables())
    assert {row[2] for row in live["projection_positions"]} == {
        backend.follower.position
    }


def test_a_rebuild_reaches_the_last_stored_event(
    backend: Backend, tmp_path: Path
) -> None:
    busy_scenario(backend)

    store = SQLiteStore(str(tmp_path / "read.db"))
    try:
        follower = Follower(backend.log, store, all_projections())
        done = follower.catch_up()
    finally:
        store.close()

    assert done.position == backend.log.recorder.max_notification_id()
    assert done.events == done.position
    assert follower.position == backend.follower.position


class _FailsOnDelete(TrainingRecords):
    """The training-records read model with a handler that breaks."""

    def handlers(self) -> Mapping[type[Event], Apply]:
        def broken(db: object, event: object) -> None:
            raise RuntimeError("projection failed")

        return {**super().handlers(), TrainingRecordDeleted: broken}


def test_a_batch_that_fails_half_way_commits_nothing_so_a_retry_counts_once(
    backend: Backend, tmp_path: Path
) -> None:
    busy_scenario(backend)
    live = table_rows(backend.store)
    notifications = backend.log.recorder.select_notifications(start=1, limit=10_000)
    failing_at = next(
        n.id for n in notifications if n.topic == "qualify:TrainingRecordDeleted"
    )
    projections = [
        _FailsOnDelete() if isinstance(p, TrainingRecords) else p
        for p in all_projections()
    ]
    store = SQLiteStore(str(tmp_path / "read.db"))
    try:
        broken = Follower(backend.log, store, projections, batch_size=5)
        with pytest.raises(RuntimeError, match="projection failed"):
            broken.catch_up()

        reached = {row[2] for row in table_rows(store)["projection_positions"]}
        assert reached == {(failing_at - 1) // 5 * 5}

        Follower(backend.log, store, all_projections(), batch_size=5).catch_up()
        assert table_rows(store) == live
    finally:
        store.close()
    assert live_code(backend, "CLAESS2").active_record_count == 2


REBUILDABLE = [p for p in all_projections() if p.rebuildable]


def _rows(store: ReadStore) -> dict[str, list[tuple[object, ...]]]:
    tables = [table for p in REBUILDABLE for table in p.tables]
    with store.reading() as db:
        return {
            table: sorted(
                (tuple(row) for row in db.execute(f"SELECT * FROM {table}")), key=repr
            )
            for table in tables
        }


@pytest.mark.parametrize("batch_size", [1, 7, 2000])
def test_a_bulk_build_ends_with_the_tables_built_event_by_event(
    backend: Backend, tmp_path: Path, batch_size: int
) -> None:
    busy_scenario(backend)
    live = _rows(backend.store)

    store = SQLiteStore(str(tmp_path / "bulk.db"))
    try:
        follower = Follower(backend.log, store, REBUILDABLE, batch_size, bulk=True)
        follower.catch_up()
        follower.end_bulk()
        assert _rows(store) == live
    finally:
        store.close()

    assert live["certificates"]
    assert any(row[4] is not None for row in live["certificates"])


def test_events_after_a_bulk_build_apply_event_by_event(
    backend: Backend, tmp_path: Path
) -> None:
    busy_scenario(backend)
    live = _rows(backend.store)
    deleted = next(
        n.id
        for n in backend.log.recorder.select_notifications(start=1, limit=10_000)
        if n.topic == "qualify:TrainingRecordDeleted"
    )

    store = SQLiteStore(str(tmp_path / "bulk.db"))
    try:
        follower = Follower(backend.log, store, REBUILDABLE, bulk=True)
        follower.catch_up(until=deleted - 1)
        follower.end_bulk()
        follower.catch_up()
        assert _rows(store) == live
    finally:
        store.close()


def test_a_bulk_build_refuses_a_read_model_that_is_never_rebuilt(
    backend: Backend, tmp_path: Path
) -> None:
    store = SQLiteStore(str(tmp_path / "bulk.db"))
    try:
        with pytest.raises(ValueError, match="rebuildable"):
            Follower(backend.log, store, all_projections(), bulk=True)
    finally:
        store.close()
