"""Participants of a path and their progress, as the read model pages them."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest

from domain import commands as c
from projections import path_progress
from projections.database import Db, SQLiteStore
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    LEARNER,
    OTHER_LEARNER,
    SEED_PATH,
    SEED_STEPS,
    Seed,
    complete,
    learner,
    learner_id,
    path_row,
    register,
    run,
)


def join(backend: Backend, username: str) -> None:
    run(backend, c.JoinPath(SEED_PATH, username), learner(username))


def test_participant_page_lists_participants_by_username_with_progress(
    backend: Backend, seed: Seed
) -> None:
    register(backend, "carol")
    for username in ("carol", OTHER_LEARNER, LEARNER):
        join(backend, username)
    complete(backend, seed.course, DAY_1, username=OTHER_LEARNER)
    path = path_row(backend)

    with backend.store.reading() as db:
        first = path_progress.participant_page(db, path, 2, None, backend.today())
        rest = path_progress.participant_page(
            db, path, 2, first.cursors[-1], backend.today()
        )

    assert first.total_count == 3
    assert [
        (row.participant.username, row.progress.points_earned) for row in first.items
    ] == [(LEARNER, 0), (OTHER_LEARNER, 20)]
    assert first.has_next_page is True
    assert [row.participant.username for row in rest.items] == ["carol"]
    assert rest.has_next_page is False


def test_participant_ids_are_everyone_who_joined(backend: Backend, seed: Seed) -> None:
    join(backend, LEARNER)
    path = path_row(backend)

    with backend.store.reading() as db:
        found = path_progress.participant_ids(db, path.path_id)

    assert found == [learner_id(backend, LEARNER)]


def test_steps_are_stored_in_order_with_points_and_mandatory_flag(
    backend: Backend, seed: Seed
) -> None:
    path = path_row(backend)

    with backend.store.reading() as db:
        steps = path_progress.steps_of(db, path.path_id)

    assert [(s.title, s.points, s.mandatory) for s in steps] == [
        (step.title, step.points, step.mandatory) for step in SEED_STEPS
    ]


def test_paths_by_id_finds_a_path(backend: Backend, seed: Seed) -> None:
    path = path_row(backend)

    with backend.store.reading() as db:
        found = path_progress.paths_by_id(db, [path.path_id, path.path_id])

    assert found == {path.path_id: path}


def test_a_record_moved_off_a_step_code_no_longer_counts(
    backend: Backend, seed: Seed
) -> None:
    join(backend, LEARNER)
    record_id = complete(backend, seed.course, DAY_1).value
    assert record_id is not None

    run(backend, c.UpdateTrainingRecord(record_id, code="CLAROTAT"))

    path = path_row(backend)
    user = learner_id(backend)
    with backend.store.reading() as db:
        steps = path_progress.steps_of(db, path.path_id)
        measured = path_progress.progress_of(db, path, steps, [user], backend.today())[
            user
        ]
    assert [s.title for s in measured.satisfied] == ["Claromentis Tips and Tricks"]
    assert (measured.points_earned, measured.percent) == (10, 25)


def test_progress_reads_the_learners_records_not_every_record_of_a_code(
    backend: Backend, seed: Seed
) -> None:
    # A step's code can be on a million records; the learners measured hold few.
    store = _sqlite_file(backend)
    path = path_row(backend)
    alice = learner_id(backend)
    # A page of participants: with one learner the planner finds its way anyway.
    others = [str(uuid4()) for _ in range(49)]
    with store.reading() as db:
        steps = path_progress.steps_of(db, path.path_id)
        plan = _plan(
            store,
            db,
            "MAX(r.completion_date)",
            lambda: path_progress.progress_of(
                db, path, steps, [alice, *others], backend.today()
            ),
        )

    assert "training_records_by_learner" in plan, plan


def test_a_page_of_participants_reads_the_page_not_every_participant(
    backend: Backend, seed: Seed
) -> None:
    # A path can have ten thousand participants; a page shows fifty of them.
    store = _sqlite_file(backend)
    join(backend, LEARNER)
    path = path_row(backend)
    with store.reading() as db:
        plan = _plan(
            store,
            db,
            "ORDER BY p.username",
            lambda: path_progress.participant_page(db, path, 50, None, backend.today()),
        )

    assert "path_participants_by_name" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_a_participant_row_carries_the_username_given_at_registration(
    backend: Backend, seed: Seed
) -> None:
    register(backend, "carol")
    join(backend, "carol")
    path = path_row(backend)
    carol = learner_id(backend, "carol")

    with backend.store.reading() as db:
        row = path_progress.participant_named(db, path.path_id, "carol")
        stored = db.execute(
            "SELECT username FROM path_participants WHERE learner_id = ?", (carol,)
        ).fetchone()

    assert row is not None
    assert row.learner_id == carol
    assert stored[0] == "carol"


def _sqlite_file(backend: Backend) -> SQLiteStore:
    store = backend.store
    if not isinstance(store, SQLiteStore) or store.in_memory:
        pytest.skip("the query plan is read from a SQLite file")
    return store


def _plan(store: SQLiteStore, db: Db, marker: str, read: Callable[[], object]) -> str:
    """SQLite's plan for the statement with ``marker`` in it that ``read`` runs."""
    seen: list[str] = []
    store.trace(seen.append)
    try:
        read()
    finally:
        store.trace(None)
    [query] = [statement for statement in seen if marker in statement]
    return " ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}"))
