from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.commands import CreateCode
from domain.principal import SYSTEM
from projections.code_usage import code_page, live_code, uses_of
from projections.course_activity import activity, content_by_id
from projections.learners import learner_by_username
from projections.path_progress import (
    participant_ids,
    path_by_code_id,
    progress_of,
    steps_of,
)
from qualify.bootstrap import Backend, build
from qualify.config import Settings
from qualify.demo import load_demo

SEED_FIRST_PAGE = [
    "CLABEG",
    "CLADROP",
    "CLAESS",
    "CLARODROP",
    "CLAROTAT",
    "CLATT",
    "CPR",
    "EG012",
    "EGMP",
    "EGPG",
]


@pytest.fixture
def backend() -> Iterator[Backend]:
    backend = build(Settings(database_url="memory://"))
    yield backend
    backend.close()


def test_loads_the_seeds_codes_with_the_seeds_first_page(backend):
    summary = load_demo(backend)

    assert summary.loaded
    with backend.store.reading() as db:
        all_codes = code_page(db, None, 100, None)
        first_page = code_page(db, None, 10, None)
    assert all_codes.total_count == 21
    assert len(summary.codes) == 21
    assert all(row.description for row in all_codes.items)
    assert [row.code for row in first_page.items] == SEED_FIRST_PAGE


def test_loads_the_path_with_three_steps_of_40_points(backend):
    load_demo(backend)

    with backend.store.reading() as db:
        path_code = live_code(db, "CLABEG")
        assert path_code is not None
        path = path_by_code_id(db, path_code.code_id)
        assert path is not None
        steps = steps_of(db, path.path_id)
    assert path.title == "Claromentis Digital Workplace"
    assert [(s.title, s.points, s.mandatory) for s in steps] == [
        ("Claromentis Essentials", 20, True),
        ("Drop In Session", 10, False),
        ("Claromentis Tips and Tricks", 10, False),
    ]
    assert sum(step.points for step in steps) == 40


def test_loads_the_course_and_events_with_their_codes(backend):
    summary = load_demo(backend)
    assert summary.course_id is not None
    assert summary.drop_in_id is not None
    assert summary.tips_id is not None

    with backend.store.reading() as db:
        content = content_by_id(
            db, [summary.course_id, summary.drop_in_id, summary.tips_id]
        )
        claess = live_code(db, "CLAESS")
        assert claess is not None
        uses = uses_of(db, [claess.code_id])[claess.code_id]
    course = content[summary.course_id]
    assert course.title == "Claromentis Essentials"
    assert course.status == "LIVE"
    assert course.prerequisite == "No previous knowledge of Claromentis required"
    assert [(m["title"], m["length_minutes"]) for m in course.details["modules"]] == [
        ("Getting Started 1", 60),
        ("Getting Started 2", 60),
    ]
    assert content[summary.drop_in_id].details["sessions"][0]["starts_at"] == (
        "2023-07-24T15:00:00+01:00"
    )
    assert content[summary.tips_id].details["sessions"][0]["starts_at"] == (
        "2023-07-21T13:00:00+01:00"
    )
    assert {use.kind for use in uses} == {"COURSE", "LEARNING_STEP"}


def test_registers_learners_with_some_activity(backend):
    summary = load_demo(backend)
    assert summary.course_id is not None

    with backend.store.reading() as db:
        learners = [learner_by_username(db, name) for name in summary.usernames]
        claess = live_code(db, "CLAESS")
        path_code = live_code(db, "CLABEG")
        assert claess is not None
        assert path_code is not None
        path = path_by_code_id(db, path_code.code_id)
        assert path is not None
        participants = participant_ids(db, path.path_id)
        steps = steps_of(db, path.path_id)
        progress = progress_of(db, path, steps, participants, backend.today())
        course = activity(db, summary.course_id)
    assert len(learners) == 4
    assert all(
        row is not None and row.email.endswith("@example.com") for row in learners
    )
    assert claess.active_record_count == 1
    assert sorted(p.points_earned for p in progress.values()) == [0, 20]
    assert (course.enrolments, course.completions) == (1, 1)


def test_a_second_run_loads_nothing(backend):
    load_demo(backend)
    position = backend.log.recorder.max_notification_id()

    again = load_demo(backend)

    assert not again.loaded
    assert again.course_id is None
    assert backend.log.recorder.max_notification_id() == position


def test_a_store_with_any_history_is_left_alone(backend):
    backend.handle(CreateCode("OWN1", "Somebody's real code"), SYSTEM)

    summary = load_demo(backend)

    assert not summary.loaded
    with backend.store.reading() as db:
        assert code_page(db, None, 100, None).total_count == 1


def test_loads_into_an_empty_sqlite_file(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}")
    backend = build(settings)
    try:
        assert load_demo(backend).loaded
    finally:
        backend.close()

    backend = build(settings)
    try:
        assert not load_demo(backend).loaded
        with backend.store.reading() as db:
            assert code_page(db, None, 100, None).total_count == 21
    finally:
        backend.close()
