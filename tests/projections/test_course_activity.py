"""Enrolments and completions per content item; deleting a record changes neither."""

from __future__ import annotations

from domain import commands as c
from projections import course_activity
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    DAY_2,
    LEARNER,
    OTHER_LEARNER,
    Seed,
    activity,
    complete,
    records_of,
    run,
)


def test_activity_counts_enrolments_completions_and_learners(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.Enrol(seed.course, OTHER_LEARNER))
    complete(backend, seed.course, DAY_1, username=LEARNER)
    complete(backend, seed.course, DAY_2, username=LEARNER)

    assert activity(backend, seed.course) == course_activity.Activity(
        content_id=seed.course, enrolments=2, completions=2, learners_completed=1
    )


def test_activity_still_counts_a_completion_after_its_record_is_deleted(
    backend: Backend, seed: Seed
) -> None:
    record_id = complete(backend, seed.course, DAY_1).value
    assert record_id is not None

    run(backend, c.DeleteRecord(record_id))

    assert records_of(backend) == []
    assert activity(backend, seed.course) == course_activity.Activity(
        content_id=seed.course, enrolments=1, completions=1, learners_completed=1
    )


def test_activity_of_content_nobody_touched_is_zero(
    backend: Backend, seed: Seed
) -> None:
    assert activity(backend, seed.tips) == course_activity.Activity(seed.tips, 0, 0, 0)


def test_activity_is_kept_per_content_item(backend: Backend, seed: Seed) -> None:
    complete(backend, seed.drop_in, DAY_1)

    assert activity(backend, seed.drop_in).completions == 1
    assert activity(backend, seed.course).completions == 0


def test_content_code_changes_show_in_the_content_row(
    backend: Backend, seed: Seed
) -> None:
    with backend.store.reading() as db:
        before = course_activity.content_by_id(db, [seed.course])[seed.course]

    run(backend, c.SetContentCode(seed.course, None))

    with backend.store.reading() as db:
        after = course_activity.content_by_id(db, [seed.course])[seed.course]
    assert before.code_id is not None
    assert after.code_id is None
    assert after.title == before.title
