"""Courses, quizzes and training events, and the codes they carry."""

from __future__ import annotations

import pytest

from domain import commands as c
from domain.content import ContentKind, Status
from domain.errors import (
    CodeRequiresTrainingRecord,
    InvalidCode,
    InvalidInput,
    NotLive,
    QualifyError,
)
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    LEARNER,
    activity,
    code_name_of,
    complete,
    content,
    course,
    live_code,
    live_code_names,
    records_of,
    register,
    run,
    uses,
    value,
)


def test_create_course_stores_its_details_in_the_read_model(backend: Backend) -> None:
    content_id = value(
        backend,
        c.CreateContent(
            ContentKind.COURSE,
            "  Claromentis Essentials ",
            description="Overview",
            prerequisite="No previous knowledge of Claromentis required",
            modules=(c.Module("Getting Started 1", "First steps", 60),),
        ),
    )

    row = content(backend, content_id)
    assert (row.kind, row.title, row.status) == (
        "COURSE",
        "Claromentis Essentials",
        "LIVE",
    )
    assert row.prerequisite == "No previous knowledge of Claromentis required"
    assert row.recorded_in_training_record is True
    assert row.code_id is None
    assert row.details == {
        "modules": [
            {
                "title": "Getting Started 1",
                "description": "First steps",
                "length_minutes": 60,
            }
        ]
    }


def test_a_code_on_content_not_recorded_in_training_records_is_refused(
    backend: Backend,
) -> None:
    with pytest.raises(CodeRequiresTrainingRecord) as refused:
        run(
            backend,
            c.CreateContent(
                ContentKind.COURSE,
                "Welcome video",
                recorded_in_training_record=False,
                code="WELCOME",
            ),
        )

    assert refused.value.code == "CODE_REQUIRES_TRAINING_RECORD"
    assert refused.value.field == "code"
    assert "'Welcome video' is not recorded in training records" in (
        refused.value.message
    )
    assert live_code_names(backend) == []
    assert backend.follower.position == 0


def test_set_content_code_on_content_not_recorded_is_refused(
    backend: Backend,
) -> None:
    video = course(backend, "Welcome video", None, recorded=False)

    with pytest.raises(CodeRequiresTrainingRecord) as refused:
        run(backend, c.SetContentCode(video, "WELCOME"))

    assert refused.value.code == "CODE_REQUIRES_TRAINING_RECORD"
    assert content(backend, video).code_id is None
    assert live_code_names(backend) == []


@pytest.mark.parametrize("kind", list(ContentKind))
def test_setting_an_unregistered_code_on_content_registers_it(
    backend: Backend, kind: ContentKind
) -> None:
    content_id = value(
        backend,
        c.CreateContent(kind, "Item", code=" newcode ", pass_mark=50),
    )

    code = live_code(backend, "NEWCODE")
    assert (code.description, code.active_record_count) == ("", 0)
    assert content(backend, content_id).code_id == code.code_id
    assert uses(backend, "NEWCODE") == [(kind.value, content_id, "Item")]


def test_set_content_code_registers_an_unregistered_code(backend: Backend) -> None:
    essentials = course(backend, "Essentials", None)

    run(backend, c.SetContentCode(essentials, "claess"))

    assert live_code_names(backend) == ["CLAESS"]
    assert code_name_of(backend, content(backend, essentials).code_id) == "CLAESS"


def test_setting_an_existing_code_on_content_reuses_it(backend: Backend) -> None:
    run(backend, c.CreateCode("CLAESS", "Essentials"))
    code_id = live_code(backend, "CLAESS").code_id

    essentials = course(backend, "Essentials", "CLAESS")

    assert content(backend, essentials).code_id == code_id
    assert live_code(backend, "CLAESS").description == "Essentials"
    assert live_code_names(backend) == ["CLAESS"]


def test_setting_the_code_content_already_has_stores_nothing(
    backend: Backend,
) -> None:
    essentials = course(backend, "Essentials", "CLAESS")

    assert run(backend, c.SetContentCode(essentials, " claess")).position is None


def test_dropping_the_code_of_content_clears_it_and_its_use(backend: Backend) -> None:
    essentials = course(backend, "Essentials", "CLAESS")

    run(backend, c.SetContentCode(essentials, None))

    assert content(backend, essentials).code_id is None
    assert uses(backend, "CLAESS") == []
    assert live_code_names(backend) == ["CLAESS"]


def test_dropping_a_code_content_does_not_have_stores_nothing(
    backend: Backend,
) -> None:
    video = course(backend, "Welcome video", None, recorded=False)

    assert run(backend, c.SetContentCode(video, None)).position is None


def test_a_malformed_code_on_new_content_creates_nothing(backend: Backend) -> None:
    with pytest.raises(InvalidCode):
        run(backend, c.CreateContent(ContentKind.COURSE, "Essentials", code="CLA ESS"))

    assert backend.follower.position == 0


@pytest.mark.parametrize(
    ("content_id", "code"),
    [
        ("00000000-0000-0000-0000-000000000000", "NOT_FOUND"),
        # Not an id at all: this system never issued it.
        ("x", "BAD_USER_INPUT"),
    ],
)
def test_set_content_code_on_unknown_content_is_refused(
    backend: Backend, content_id: str, code: str
) -> None:
    with pytest.raises(QualifyError) as refused:
        run(backend, c.SetContentCode(content_id, "CLAESS"))

    assert refused.value.code == code
    assert refused.value.field == "contentId"


@pytest.mark.parametrize("pass_mark", [None, -1, 101])
def test_a_quiz_needs_a_pass_mark_from_0_to_100(
    backend: Backend, pass_mark: int | None
) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(backend, c.CreateContent(ContentKind.QUIZ, "Quiz", pass_mark=pass_mark))

    assert refused.value.code == "INVALID_INPUT"
    assert refused.value.field == "passMark"


def test_a_quiz_keeps_its_pass_mark(backend: Backend) -> None:
    quiz = value(backend, c.CreateContent(ContentKind.QUIZ, "Quiz", pass_mark=100))

    assert content(backend, quiz).details == {"pass_mark": 100}


def test_a_module_needs_a_positive_length(backend: Backend) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(
            backend,
            c.CreateContent(
                ContentKind.COURSE, "Course", modules=(c.Module("M1", "", 0),)
            ),
        )

    assert refused.value.field == "modules[0].lengthMinutes"


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_content_needs_a_title_of_1_to_200_characters(
    backend: Backend, title: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(backend, c.CreateContent(ContentKind.COURSE, title))

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "title")


def test_learners_cannot_complete_or_enrol_on_draft_content(
    backend: Backend,
) -> None:
    draft = course(backend, "Draft", "DRAFT", status=Status.DRAFT)
    register(backend, LEARNER)

    with pytest.raises(NotLive) as not_completed:
        complete(backend, draft)
    with pytest.raises(NotLive) as not_enrolled:
        run(backend, c.Enrol(draft, LEARNER))

    assert not_completed.value.code == not_enrolled.value.code == "NOT_LIVE"
    assert activity(backend, draft).enrolments == 0
    assert records_of(backend) == []


def test_completing_content_not_recorded_adds_no_record_but_counts(
    backend: Backend,
) -> None:
    video = course(backend, "Welcome video", None, recorded=False)
    register(backend, LEARNER)

    outcome = complete(backend, video, DAY_1)

    assert outcome.value is None
    assert records_of(backend) == []
    found = activity(backend, video)
    assert (found.enrolments, found.completions) == (1, 1)
