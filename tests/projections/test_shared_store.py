"""Two backends on one durable store, as two server processes would run: each event
is projected once, by whichever backend gets to it first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

from domain import commands as c
from domain.principal import SYSTEM
from projections.follower import CatchUp
from qualify.bootstrap import Backend
from tests.projections.test_rebuild import rebuilt
from tests.support import (
    DAY_1,
    DAY_2,
    DAY_3,
    LEARNER,
    OTHER_LEARNER,
    SEED_PATH,
    activity,
    course,
    live_code,
    load_seed,
    path_records,
    records_of,
    register,
    run,
    table_rows,
)

OpenBackend = Callable[[str], Backend]


def assert_rebuild_equals(backend: Backend, tmp_path: Path) -> None:
    """The shared read models hold what a rebuild from the log holds, row for row."""
    store = rebuilt(backend, tmp_path / "rebuilt" / "read.db")
    try:
        assert table_rows(store) == table_rows(backend.store)
    finally:
        store.close()


def test_writes_through_two_backends_are_each_projected_once(
    durable_url: str, open_backend: OpenBackend, tmp_path: Path
) -> None:
    first = open_backend(durable_url)
    second = open_backend(durable_url)
    seed = load_seed(first)
    commands: list[c.Command] = [
        c.JoinPath(SEED_PATH, LEARNER),
        c.CompleteContent(seed.course, LEARNER, DAY_1),
        c.CreateCode("CPR", "First aid"),
        c.AddTrainingRecord(OTHER_LEARNER, "First aid", DAY_2, code="CPR"),
        c.RenameCode("CLAESS", "CLAESS2"),
        c.CompleteContent(seed.drop_in, LEARNER, DAY_2),
        c.Enrol(seed.tips, OTHER_LEARNER),
        c.CompleteContent(seed.tips, LEARNER, DAY_3),
    ]

    # The second backend goes first, then they take turns.
    for index, command in enumerate(commands):
        run((second, first)[index % 2], command)

    last = first.log.recorder.max_notification_id()
    assert first.follower.catch_up() == CatchUp(0, last)
    assert second.follower.catch_up() == CatchUp(0, last)
    assert table_rows(first.store) == table_rows(second.store)
    assert_rebuild_equals(first, tmp_path)
    assert live_code(first, "CPR").active_record_count == 1
    assert live_code(second, "CLAESS2").active_record_count == 1
    assert [r.code for r in path_records(second)] == [SEED_PATH]
    assert len(records_of(first)) == 4
    found = activity(second, seed.tips)
    assert (found.enrolments, found.completions) == (2, 1)


def test_a_backend_catches_up_on_the_others_writes_without_applying_them_again(
    durable_url: str, open_backend: OpenBackend
) -> None:
    first = open_backend(durable_url)
    second = open_backend(durable_url)

    outcome = run(first, c.CreateCode("CPR", "First aid"))

    assert outcome.position is not None
    assert second.follower.catch_up() == CatchUp(0, outcome.position)
    assert second.follower.position == outcome.position
    assert live_code(second, "CPR").description == "First aid"


def test_events_one_backend_stored_are_projected_once_by_the_other(
    durable_url: str, open_backend: OpenBackend, tmp_path: Path
) -> None:
    first = open_backend(durable_url)
    second = open_backend(durable_url)
    seed = load_seed(first)
    # As if the first process stored a command's events and had not projected them.
    stored = first.write_model.execute(
        c.CompleteContent(seed.course, LEARNER, DAY_1), SYSTEM
    )
    assert stored.position is not None

    later = run(second, c.CompleteContent(seed.drop_in, LEARNER, DAY_2))

    assert later.position is not None
    assert first.follower.catch_up(until=stored.position) == CatchUp(0, later.position)
    assert [r.code for r in records_of(first)] == ["CLARODROP", "CLAESS"]
    assert live_code(first, "CLAESS").active_record_count == 1
    assert activity(first, seed.course).completions == 1
    assert_rebuild_equals(second, tmp_path)


@pytest.mark.slow
def test_two_backends_writing_at_once_project_every_event_once(
    durable_url: str, open_backend: OpenBackend, tmp_path: Path
) -> None:
    first = open_backend(durable_url)
    second = open_backend(durable_url)
    courses = {"ann": course(first, "Fire", "FIRE"), "ben": course(first, "CPR", "CPR")}
    for username in courses:
        register(first, username)
    days = [date(2024, 1, 1) + timedelta(days=n) for n in range(15)]
    barrier = threading.Barrier(2)

    def complete_all(backend: Backend, username: str) -> None:
        barrier.wait()
        for day in days:
            run(backend, c.CompleteContent(courses[username], username, day))

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [
            pool.submit(complete_all, first, "ann"),
            pool.submit(complete_all, second, "ben"),
        ]
        for future in done:
            future.result()

    last = first.log.recorder.max_notification_id()
    assert first.follower.catch_up() == CatchUp(0, last)
    assert second.follower.catch_up() == CatchUp(0, last)
    assert len(records_of(first, "ann")) == len(records_of(second, "ben")) == 15
    assert live_code(first, "FIRE").active_record_count == 15
    assert live_code(second, "CPR").active_record_count == 15
    assert activity(first, courses["ben"]).completions == 15
    assert_rebuild_equals(first, tmp_path)
