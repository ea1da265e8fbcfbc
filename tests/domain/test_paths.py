"""Learning paths: steps, points, the pass mark, mandatory steps and the award."""

from __future__ import annotations

import pytest

from domain import commands as c
from domain.content import Status
from domain.errors import CodeTaken, InvalidInput, NotFound, NotLive
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    DAY_2,
    DAY_3,
    LATER,
    LEARNER,
    OTHER_LEARNER,
    SEED_PATH,
    SEED_PATH_TITLE,
    SEED_STEPS,
    Seed,
    code_name_of,
    complete,
    course,
    learner,
    live_code,
    live_code_names,
    load_seed,
    participant,
    path_records,
    path_row,
    points,
    progress,
    records_of,
    register,
    run,
    step_codes,
    uses,
)


def join(backend: Backend, username: str = LEARNER, path: str = SEED_PATH) -> None:
    run(backend, c.JoinPath(path, username), learner(username))


def step_names(steps: tuple) -> list[str | None]:
    return [step.title for step in steps]


# The seed's walk-through


def test_joining_the_seed_path_shows_0_of_40_points(
    backend: Backend, seed: Seed
) -> None:
    join(backend)

    assert points(backend) == (0, 40, 0)
    measured = progress(backend)
    assert step_names(measured.missing) == [
        "Claromentis Essentials",
        "Drop In Session",
        "Claromentis Tips and Tricks",
    ]
    assert measured.satisfied == ()
    assert measured.complete is False


def test_completing_the_course_earns_20_of_40_points(
    backend: Backend, seed: Seed
) -> None:
    join(backend)

    complete(backend, seed.course, DAY_1)

    assert points(backend) == (20, 40, 50)
    assert step_names(progress(backend).satisfied) == ["Claromentis Essentials"]
    assert participant(backend).completed_at is None
    assert path_records(backend) == []


def test_completing_the_course_and_both_events_awards_the_path_once(
    backend: Backend, seed: Seed
) -> None:
    join(backend)
    complete(backend, seed.course, DAY_1)
    complete(backend, seed.drop_in, DAY_2)

    complete(backend, seed.tips, DAY_3)

    assert points(backend) == (40, 40, 100)
    assert progress(backend).missing == ()
    [award] = path_records(backend)
    assert (award.title, award.code, award.object_id) == (
        SEED_PATH_TITLE,
        SEED_PATH,
        path_row(backend).path_id,
    )
    assert award.completion_date == DAY_3.isoformat()
    assert live_code(backend, SEED_PATH).active_record_count == 1
    row = participant(backend)
    assert row is not None
    assert row.award_record_id == award.record_id
    assert row.completed_at is not None


def test_completing_a_step_again_later_adds_a_record_but_no_second_award(
    backend: Backend, seed: Seed
) -> None:
    join(backend)
    for content_id in (seed.course, seed.drop_in, seed.tips):
        complete(backend, content_id, DAY_1)
    award = participant(backend)

    complete(backend, seed.course, LATER)

    assert len(path_records(backend)) == 1
    assert [r.code for r in records_of(backend)].count("CLAESS") == 2
    assert participant(backend) == award
    assert points(backend) == (40, 40, 100)
    assert live_code(backend, SEED_PATH).active_record_count == 1


def test_records_held_before_joining_award_the_path_on_joining(
    backend: Backend, seed: Seed
) -> None:
    for content_id in (seed.course, seed.drop_in, seed.tips):
        complete(backend, content_id, DAY_2)
    assert path_records(backend) == []

    join(backend)

    [award] = path_records(backend)
    assert award.completion_date == DAY_2.isoformat()


def test_progress_is_per_participant(backend: Backend, seed: Seed) -> None:
    join(backend, LEARNER)
    join(backend, OTHER_LEARNER)

    complete(backend, seed.course, username=LEARNER)

    assert points(backend, username=LEARNER) == (20, 40, 50)
    assert points(backend, username=OTHER_LEARNER) == (0, 40, 0)


def test_a_manual_record_with_a_step_code_satisfies_the_step(
    backend: Backend, seed: Seed
) -> None:
    join(backend)

    run(
        backend,
        c.AddTrainingRecord(
            LEARNER, "Drop-in elsewhere", DAY_1, "Other provider", code="clarodrop"
        ),
    )

    assert points(backend) == (10, 40, 25)
    assert step_names(progress(backend).satisfied) == ["Drop In Session"]


def test_a_path_award_can_satisfy_a_step_of_another_path_at_once(
    backend: Backend, seed: Seed
) -> None:
    run(
        backend,
        c.CreateLearningPath(
            "ADVANCED",
            "Advanced workplace",
            steps=(c.StepInput(SEED_PATH, "Digital Workplace", 5, mandatory=True),),
        ),
    )
    join(backend)
    join(backend, path="ADVANCED")

    for content_id in (seed.course, seed.drop_in, seed.tips):
        complete(backend, content_id, DAY_1)

    assert points(backend, "ADVANCED") == (5, 5, 100)
    assert sorted(r.code for r in path_records(backend)) == ["ADVANCED", SEED_PATH]


def test_deleting_a_record_lowers_progress_but_keeps_the_award(
    backend: Backend, seed: Seed
) -> None:
    join(backend)
    course_record = complete(backend, seed.course, DAY_1).value
    complete(backend, seed.drop_in, DAY_1)
    complete(backend, seed.tips, DAY_1)
    assert course_record is not None

    run(backend, c.DeleteRecord(course_record))

    assert points(backend) == (20, 40, 50)
    assert len(path_records(backend)) == 1


# Pass mark and mandatory steps


def test_reaching_the_pass_mark_completes_a_path_before_every_step(
    backend: Backend,
) -> None:
    seed = load_seed(backend, pass_mark=30)
    join(backend)
    complete(backend, seed.course, DAY_1)
    assert path_records(backend) == []

    complete(backend, seed.drop_in, DAY_2)

    assert points(backend) == (30, 40, 75)
    assert progress(backend).complete is True
    [award] = path_records(backend)
    assert award.completion_date == DAY_2.isoformat()


def test_a_missing_mandatory_step_blocks_completion_above_the_pass_mark(
    backend: Backend,
) -> None:
    seed = load_seed(backend, pass_mark=20)
    join(backend)

    complete(backend, seed.drop_in, DAY_1)
    complete(backend, seed.tips, DAY_1)

    assert points(backend) == (20, 40, 50)
    assert progress(backend).complete is False
    assert step_names(progress(backend).missing) == ["Claromentis Essentials"]
    assert path_records(backend) == []

    complete(backend, seed.course, DAY_2)

    assert len(path_records(backend)) == 1


def test_without_a_pass_mark_every_step_is_needed(backend: Backend, seed: Seed) -> None:
    join(backend)
    complete(backend, seed.course)
    complete(backend, seed.drop_in)

    assert points(backend) == (30, 40, 75)
    assert path_records(backend) == []


@pytest.mark.parametrize("pass_mark", [-1, 41])
def test_a_pass_mark_outside_0_to_the_total_points_is_refused(
    backend: Backend, pass_mark: int
) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(
            backend,
            c.CreateLearningPath(
                SEED_PATH, SEED_PATH_TITLE, steps=SEED_STEPS, pass_mark=pass_mark
            ),
        )

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "passMark")
    assert f"total of 40 points; got {pass_mark}" in refused.value.message
    assert live_code_names(backend) == []


# Creating paths


def test_create_learning_path_registers_its_own_and_its_step_codes(
    backend: Backend,
) -> None:
    outcome = run(
        backend, c.CreateLearningPath(" clabeg ", SEED_PATH_TITLE, steps=SEED_STEPS)
    )

    assert outcome.value == SEED_PATH
    assert live_code_names(backend) == ["CLABEG", "CLAESS", "CLARODROP", "CLAROTAT"]
    assert step_codes(backend) == ["CLAESS", "CLARODROP", "CLAROTAT"]
    path = path_row(backend)
    assert (path.title, path.status, path.pass_mark) == (SEED_PATH_TITLE, "LIVE", None)
    assert uses(backend, SEED_PATH) == [
        ("LEARNING_PATH", path.path_id, SEED_PATH_TITLE)
    ]


def test_a_second_path_with_the_same_code_is_refused(
    backend: Backend, seed: Seed
) -> None:
    with pytest.raises(CodeTaken) as refused:
        run(backend, c.CreateLearningPath(SEED_PATH, "Copy", steps=SEED_STEPS))

    assert refused.value.code == "CODE_TAKEN"
    assert refused.value.field == "code"
    assert "CLABEG is already the code of another learning path" in (
        refused.value.message
    )


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ((), "steps"),
        ((c.StepInput("S1", "Step", -1),), "steps[0].points"),
        (
            (c.StepInput("S1", "Step", 1), c.StepInput("s1", "Again", 1)),
            "steps[1].code",
        ),
        ((c.StepInput("PATHX", "Own code", 1),), "steps[0].code"),
        ((c.StepInput("S1", " ", 1),), "steps[0].title"),
    ],
    ids=["no-steps", "negative-points", "duplicate-code", "own-code", "no-title"],
)
def test_malformed_steps_are_refused_naming_the_field(
    backend: Backend, steps: tuple[c.StepInput, ...], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(backend, c.CreateLearningPath("PATHX", "Path", steps=steps))

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", field)
    assert backend.follower.position == 0


def test_a_step_code_that_is_malformed_is_invalid_code(backend: Backend) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(
            backend,
            c.CreateLearningPath("P1", "Path", steps=(c.StepInput("S-1", "S", 1),)),
        )

    assert (refused.value.code, refused.value.field) == (
        "INVALID_CODE",
        "steps[0].code",
    )


def test_a_step_of_zero_points_is_allowed(backend: Backend) -> None:
    run(
        backend,
        c.CreateLearningPath(
            "P1",
            "Path",
            steps=(c.StepInput("S1", "Free", 0), c.StepInput("S2", "x", 2)),
        ),
    )
    register(backend, LEARNER)
    join(backend, path="P1")

    assert points(backend, "P1") == (0, 2, 0)


# Joining


def test_joining_twice_stores_nothing(backend: Backend, seed: Seed) -> None:
    join(backend)

    outcome = run(backend, c.JoinPath(SEED_PATH, LEARNER))

    assert outcome.position is None


def test_joining_an_unknown_path_is_not_found(backend: Backend, seed: Seed) -> None:
    with pytest.raises(NotFound) as refused:
        join(backend, path="NOPATH")

    assert (refused.value.code, refused.value.field) == ("NOT_FOUND", "pathCode")


def test_a_step_code_is_not_a_path_to_join(backend: Backend, seed: Seed) -> None:
    with pytest.raises(NotFound) as refused:
        join(backend, path="CLAESS")

    assert refused.value.message == "There is no learning path with code CLAESS."


def test_joining_a_draft_path_is_refused(backend: Backend) -> None:
    run(
        backend,
        c.CreateLearningPath(
            "DRAFTP", "Draft path", steps=SEED_STEPS, status=Status.DRAFT
        ),
    )
    register(backend, LEARNER)

    with pytest.raises(NotLive) as refused:
        join(backend, path="DRAFTP")

    assert refused.value.code == "NOT_LIVE"
    assert participant(backend, "DRAFTP") is None


def test_a_renamed_path_code_is_joined_by_its_new_code(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.RenameCode(SEED_PATH, "CLABEG2"))

    join(backend, path="CLABEG2")

    assert points(backend, "CLABEG2") == (0, 40, 0)
    with pytest.raises(NotFound):
        join(backend, OTHER_LEARNER, path=SEED_PATH)


# Changing the steps


def test_set_path_steps_recomputes_every_participants_progress(
    backend: Backend, seed: Seed
) -> None:
    join(backend, LEARNER)
    join(backend, OTHER_LEARNER)
    complete(backend, seed.course, username=LEARNER)
    complete(backend, seed.drop_in, username=OTHER_LEARNER)

    run(
        backend,
        c.SetPathSteps(
            SEED_PATH,
            (
                c.StepInput("CLARODROP", "Drop In Session", 30),
                c.StepInput("CLAESS", "Claromentis Essentials", 10, mandatory=True),
                c.StepInput("NEWSTEP", "New step", 60),
            ),
        ),
    )

    assert step_codes(backend) == ["CLARODROP", "CLAESS", "NEWSTEP"]
    assert points(backend, username=LEARNER) == (10, 100, 10)
    assert points(backend, username=OTHER_LEARNER) == (30, 100, 30)
    assert "NEWSTEP" in live_code_names(backend)


def test_progress_stays_within_0_and_100_percent_as_steps_change(
    backend: Backend, seed: Seed
) -> None:
    join(backend)
    for content_id in (seed.course, seed.drop_in, seed.tips):
        complete(backend, content_id)
    seen = [points(backend)]

    for steps in (
        (*SEED_STEPS, c.StepInput("EXTRA", "Extra", 20)),
        SEED_STEPS[:1],
        (c.StepInput("EXTRA", "Extra", 0),),
        (c.StepInput("CLAESS", "Essentials", 0),),
        SEED_STEPS,
    ):
        run(backend, c.SetPathSteps(SEED_PATH, steps))
        seen.append(points(backend))

    assert seen == [
        (40, 40, 100),
        (40, 60, 66),
        (20, 20, 100),
        (0, 0, 0),
        (0, 0, 100),
        (40, 40, 100),
    ]
    assert len(path_records(backend)) == 1


def test_easier_steps_complete_the_path_for_a_participant_already_on_it(
    backend: Backend, seed: Seed
) -> None:
    join(backend)
    complete(backend, seed.course, DAY_1)
    assert path_records(backend) == []

    run(backend, c.SetPathSteps(SEED_PATH, SEED_STEPS, pass_mark=20))

    assert points(backend) == (20, 40, 50)
    [award] = path_records(backend)
    assert award.completion_date == DAY_1.isoformat()
    assert path_row(backend).pass_mark == 20


def test_set_path_steps_keeps_the_pass_mark_unless_told(
    backend: Backend,
) -> None:
    load_seed(backend, pass_mark=30)

    run(backend, c.SetPathSteps(SEED_PATH, tuple(reversed(SEED_STEPS))))

    assert path_row(backend).pass_mark == 30
    assert step_codes(backend) == ["CLAROTAT", "CLARODROP", "CLAESS"]


def test_set_path_steps_can_clear_the_pass_mark(backend: Backend) -> None:
    load_seed(backend, pass_mark=30)

    run(backend, c.SetPathSteps(SEED_PATH, SEED_STEPS, pass_mark=None))

    assert path_row(backend).pass_mark is None


def test_fewer_points_than_the_kept_pass_mark_is_refused(backend: Backend) -> None:
    load_seed(backend, pass_mark=30)

    with pytest.raises(InvalidInput) as refused:
        run(backend, c.SetPathSteps(SEED_PATH, SEED_STEPS[:1]))

    assert refused.value.field == "passMark"
    assert step_codes(backend) == ["CLAESS", "CLARODROP", "CLAROTAT"]


def test_setting_the_same_steps_again_stores_nothing(
    backend: Backend, seed: Seed
) -> None:
    assert run(backend, c.SetPathSteps(SEED_PATH, SEED_STEPS)).position is None


def test_a_removed_step_no_longer_uses_its_code(backend: Backend, seed: Seed) -> None:
    run(backend, c.SetPathSteps(SEED_PATH, SEED_STEPS[:2]))

    assert [kind for kind, _, _ in uses(backend, "CLAROTAT")] == ["TRAINING_EVENT"]
    assert step_codes(backend) == ["CLAESS", "CLARODROP"]


def test_a_step_keeps_its_id_when_reordered_or_retitled(
    backend: Backend, seed: Seed
) -> None:
    [(_, step_id, _)] = [
        u for u in uses(backend, "CLAROTAT") if u[0] != "TRAINING_EVENT"
    ]

    run(
        backend,
        c.SetPathSteps(
            SEED_PATH,
            (c.StepInput("CLAROTAT", "Tips", 15), *SEED_STEPS[:2]),
        ),
    )

    assert [u for u in uses(backend, "CLAROTAT") if u[0] == "LEARNING_STEP"] == [
        ("LEARNING_STEP", step_id, "Tips")
    ]


def test_set_path_steps_on_an_unknown_path_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as refused:
        run(backend, c.SetPathSteps("NOPATH", SEED_STEPS))

    assert refused.value.code == "NOT_FOUND"


def test_steps_show_codes_renamed_after_the_path_was_made(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.RenameCode("CLAROTAT", "TIPS"))

    assert step_codes(backend) == ["CLAESS", "CLARODROP", "TIPS"]
    assert code_name_of(backend, path_row(backend).code_id) == SEED_PATH


def test_a_course_sharing_a_step_code_satisfies_that_step(
    backend: Backend, seed: Seed
) -> None:
    other = course(backend, "Essentials, second edition", "CLAESS")
    join(backend)

    complete(backend, other)

    assert points(backend) == (20, 40, 50)


def test_without_a_pass_mark_a_missing_zero_point_step_still_blocks_the_award(
    backend: Backend,
) -> None:
    run(
        backend,
        c.CreateLearningPath(
            "P1",
            "Path",
            steps=(c.StepInput("S1", "Free", 0), c.StepInput("S2", "Paid", 2)),
        ),
    )
    register(backend, LEARNER)
    join(backend, path="P1")

    run(backend, c.AddTrainingRecord(LEARNER, "Paid", DAY_1, code="S2"))

    assert points(backend, "P1") == (2, 2, 100)
    assert path_records(backend) == []
    run(backend, c.AddTrainingRecord(LEARNER, "Free", DAY_2, code="S1"))
    assert [r.code for r in path_records(backend)] == ["P1"]


def test_a_pass_mark_of_0_is_refused(backend: Backend) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(
            backend,
            c.CreateLearningPath(
                SEED_PATH, SEED_PATH_TITLE, steps=SEED_STEPS, pass_mark=0
            ),
        )

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "passMark")
    assert refused.value.message == (
        "The pass mark must be from 1 to the steps' total of 40 points; got 0."
    )
    assert live_code_names(backend) == []


def test_setting_steps_with_a_pass_mark_of_0_is_refused_and_keeps_the_old_one(
    backend: Backend,
) -> None:
    load_seed(backend, pass_mark=30)

    with pytest.raises(InvalidInput) as refused:
        run(backend, c.SetPathSteps(SEED_PATH, SEED_STEPS, pass_mark=0))

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "passMark")
    assert path_row(backend).pass_mark == 30


@pytest.mark.parametrize("pass_mark", [1, 40])
def test_a_pass_mark_from_1_to_the_total_points_is_kept(
    backend: Backend, pass_mark: int
) -> None:
    load_seed(backend, pass_mark=pass_mark)

    assert path_row(backend).pass_mark == pass_mark


def test_a_path_of_zero_point_steps_takes_no_pass_mark(backend: Backend) -> None:
    steps = (c.StepInput("S1", "Read", 0), c.StepInput("S2", "Watch", 0))

    with pytest.raises(InvalidInput) as refused:
        run(backend, c.CreateLearningPath("P1", "Path", steps=steps, pass_mark=1))

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "passMark")
    assert refused.value.message == (
        "The pass mark must be from 1 to the steps' total of 0 points; got 1."
    )


def test_a_path_of_zero_point_steps_is_awarded_only_when_every_step_is_held(
    backend: Backend,
) -> None:
    steps = (c.StepInput("S1", "Read", 0), c.StepInput("S2", "Watch", 0))
    run(backend, c.CreateLearningPath("P1", "Path", steps=steps))
    register(backend, LEARNER)

    join(backend, path="P1")
    assert path_records(backend) == []
    run(backend, c.AddTrainingRecord(LEARNER, "Read", DAY_1, code="S1"))
    assert path_records(backend) == []
    run(backend, c.AddTrainingRecord(LEARNER, "Watch", DAY_2, code="S2"))

    assert points(backend, "P1") == (0, 0, 100)
    assert [(r.code, r.completion_date) for r in path_records(backend)] == [
        ("P1", DAY_2.isoformat())
    ]
