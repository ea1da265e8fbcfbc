"""A code cannot be deleted while anything uses it; once nothing does, it can."""

from __future__ import annotations

import pytest

from domain import commands as c
from domain.content import ContentKind
from domain.errors import CodeInUse
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    DAY_2,
    LEARNER,
    SEED_STEPS,
    complete,
    course,
    live_code,
    live_code_names,
    load_seed,
    path_row,
    records_with_code,
    register,
    run,
    training_event,
    uses,
    value,
)


def refused_delete(backend: Backend, code: str) -> str:
    """Try to delete ``code``; it must be refused as in use. Returns the message."""
    with pytest.raises(CodeInUse) as refused:
        run(backend, c.DeleteCode(code))
    assert refused.value.code == "CODE_IN_USE"
    assert refused.value.field == "code"
    assert code in live_code_names(backend)
    return refused.value.message


def test_delete_is_refused_while_a_course_uses_the_code(backend: Backend) -> None:
    essentials = course(backend, "Claromentis Essentials", "CLAESS")

    message = refused_delete(backend, "CLAESS")

    assert message == (
        "CLAESS cannot be deleted while it is used by course "
        f"'Claromentis Essentials' (id {essentials}). "
        "Remove the code from each of them first."
    )


def test_delete_is_refused_while_a_quiz_uses_the_code(backend: Backend) -> None:
    quiz = value(
        backend,
        c.CreateContent(ContentKind.QUIZ, "Safety quiz", code="SAFEQ", pass_mark=80),
    )

    message = refused_delete(backend, "SAFEQ")

    assert f"quiz 'Safety quiz' (id {quiz})" in message


def test_delete_is_refused_while_a_training_event_uses_the_code(
    backend: Backend,
) -> None:
    event = training_event(backend, "Drop-In Session", "CLARODROP")

    message = refused_delete(backend, "CLARODROP")

    assert f"training event 'Drop-In Session' (id {event})" in message


def test_delete_is_refused_while_a_learning_path_has_the_code(
    backend: Backend,
) -> None:
    run(
        backend,
        c.CreateLearningPath("CLABEG", "Digital Workplace", steps=SEED_STEPS),
    )
    path_id = path_row(backend, "CLABEG").path_id

    message = refused_delete(backend, "CLABEG")

    assert message == (
        "CLABEG cannot be deleted while it is used by learning path "
        f"'Digital Workplace' (id {path_id}). "
        "Remove the code from each of them first."
    )


def test_delete_is_refused_while_a_learning_step_has_the_code(
    backend: Backend,
) -> None:
    run(
        backend,
        c.CreateLearningPath("CLABEG", "Digital Workplace", steps=SEED_STEPS),
    )
    [(kind, step_id, _)] = uses(backend, "CLARODROP")

    message = refused_delete(backend, "CLARODROP")

    assert kind == "LEARNING_STEP"
    assert (
        f"learning step 'Drop In Session' of path 'Digital Workplace' (id {step_id})"
        in message
    )


@pytest.mark.parametrize(
    ("count", "wording"),
    [(1, "1 active training record"), (2, "2 active training records")],
)
def test_delete_is_refused_while_active_records_carry_the_code(
    backend: Backend, count: int, wording: str
) -> None:
    run(backend, c.CreateCode("CPR"))
    register(backend, LEARNER)
    for _ in range(count):
        run(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1, code="CPR"))

    message = refused_delete(backend, "CPR")

    assert message == (
        f"CPR cannot be deleted while it is used by {wording}. "
        "Remove the code from each of them first."
    )


def test_delete_message_lists_every_use_and_the_record_count(
    backend: Backend,
) -> None:
    seed = load_seed(backend)
    complete(backend, seed.course, DAY_1)
    complete(backend, seed.course, DAY_2)
    [(_, course_id, _), (_, step_id, _)] = uses(backend, "CLAESS")

    message = refused_delete(backend, "CLAESS")

    assert course_id == seed.course
    assert message == (
        "CLAESS cannot be deleted while it is used by "
        f"course 'Claromentis Essentials' (id {seed.course}); "
        "learning step 'Claromentis Essentials' of path "
        f"'Claromentis Digital Workplace' (id {step_id}); "
        "2 active training records. Remove the code from each of them first."
    )


def test_delete_succeeds_once_content_steps_and_records_no_longer_use_it(
    backend: Backend,
) -> None:
    seed = load_seed(backend)
    complete(backend, seed.course)
    [record] = records_with_code(backend, "CLAESS")

    run(backend, c.SetContentCode(seed.course, None))
    assert "course" not in refused_delete(backend, "CLAESS")

    run(backend, c.SetPathSteps("CLABEG", SEED_STEPS[1:]))
    message = refused_delete(backend, "CLAESS")
    assert message == (
        "CLAESS cannot be deleted while it is used by 1 active training record. "
        "Remove the code from each of them first."
    )

    run(backend, c.DeleteRecord(record.record_id))
    assert live_code(backend, "CLAESS").active_record_count == 0

    assert run(backend, c.DeleteCode("CLAESS")).value == "CLAESS"
    assert "CLAESS" not in live_code_names(backend)


def test_removing_the_code_from_a_record_counts_as_removing_the_use(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("CPR"))
    register(backend, LEARNER)
    record = value(
        backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1, code="CPR")
    )
    refused_delete(backend, "CPR")

    run(backend, c.UpdateTrainingRecord(record, code=None))

    assert live_code(backend, "CPR").active_record_count == 0
    assert run(backend, c.DeleteCode("CPR")).value == "CPR"


def test_moving_content_to_another_code_frees_the_old_one(backend: Backend) -> None:
    essentials = course(backend, "Essentials", "CLAESS")

    run(backend, c.SetContentCode(essentials, "CLAESS2"))

    assert uses(backend, "CLAESS") == []
    assert [kind for kind, _, _ in uses(backend, "CLAESS2")] == ["COURSE"]
    assert run(backend, c.DeleteCode("CLAESS")).value == "CLAESS"


def test_a_refused_delete_leaves_the_code_and_its_uses_as_they_were(
    backend: Backend,
) -> None:
    essentials = course(backend, "Essentials", "CLAESS")
    before = backend.follower.position

    refused_delete(backend, "CLAESS")

    assert backend.follower.position == before
    assert uses(backend, "CLAESS") == [("COURSE", essentials, "Essentials")]
