"""Rules every command applies to what people type: titles, free text, dates,
usernames and the size of content."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from domain import commands as c
from domain.content import ContentKind
from domain.errors import InvalidDate, InvalidInput
from projections import learners
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    LEARNER,
    SEED_PATH,
    Seed,
    complete,
    content,
    learner,
    live_code,
    participant,
    records_of,
    register,
    run,
    value,
)

# Invisible or control characters, each with the code point the message names.
HIDDEN = [
    pytest.param("\u0000", "U+0000", id="nul"),
    pytest.param("\u0007", "U+0007", id="bell"),
    pytest.param("\u200b", "U+200B", id="zero-width-space"),
    pytest.param("\u202e", "U+202E", id="right-to-left-override"),
    pytest.param("\ufeff", "U+FEFF", id="byte-order-mark"),
    pytest.param("\u00ad", "U+00AD", id="soft-hyphen"),
    pytest.param("\u0085", "U+0085", id="next-line"),
    pytest.param("\x1b", "U+001B", id="escape"),
    pytest.param("\ud800", "U+D800", id="lone-surrogate"),
]


def refused(backend: Backend, command: c.Command) -> InvalidInput:
    """Run ``command``; it must be invalid input and store no event."""
    stored = backend.log.recorder.max_notification_id()
    with pytest.raises(InvalidInput) as error:
        run(backend, command)
    assert backend.log.recorder.max_notification_id() == stored
    return error.value


# Titles


@pytest.mark.parametrize(("char", "point"), HIDDEN)
def test_a_title_with_a_control_or_invisible_character_is_refused_naming_it(
    backend: Backend, char: str, point: str
) -> None:
    error = refused(backend, c.CreateContent(ContentKind.COURSE, f"First{char} aid"))

    assert (error.code, error.field) == ("INVALID_INPUT", "title")
    assert error.message == (
        f"A title cannot hold the control or invisible character {point}."
    )


@pytest.mark.parametrize(
    ("char", "point"),
    [
        pytest.param("\n", "U+000A", id="newline"),
        pytest.param("\r", "U+000D", id="carriage-return"),
        pytest.param("\t", "U+0009", id="tab"),
    ],
)
def test_a_title_is_one_line_without_tabs(
    backend: Backend, char: str, point: str
) -> None:
    error = refused(backend, c.CreateContent(ContentKind.COURSE, f"First{char}aid"))

    assert (error.code, error.field) == ("INVALID_INPUT", "title")
    assert error.message == (
        f"A title cannot hold the control or invisible character {point}."
    )


def test_newlines_around_a_title_are_trimmed_not_refused(backend: Backend) -> None:
    course_id = value(backend, c.CreateContent(ContentKind.COURSE, "\n First aid\t\n"))

    assert content(backend, course_id).title == "First aid"


@pytest.mark.parametrize(
    ("command", "field"),
    [
        pytest.param(
            c.CreateContent(ContentKind.QUIZ, "Quiz\u202e", pass_mark=50),
            "title",
            id="quiz",
        ),
        pytest.param(
            c.CreateContent(
                ContentKind.COURSE,
                "Course",
                modules=(c.Module("Module\u202e", length_minutes=5),),
            ),
            "modules[0].title",
            id="module",
        ),
        pytest.param(
            c.CreateLearningPath(
                "P1", "Path\u202e", steps=(c.StepInput("S1", "S", 1),)
            ),
            "title",
            id="path",
        ),
        pytest.param(
            c.CreateLearningPath(
                "P1",
                "Path",
                steps=(c.StepInput("S1", "Step 1", 1), c.StepInput("S2", "\u202e", 1)),
            ),
            "steps[1].title",
            id="step",
        ),
        pytest.param(
            c.AddTrainingRecord(LEARNER, "First\u202eaid", DAY_1),
            "title",
            id="record",
        ),
    ],
)
def test_every_title_refuses_an_invisible_character(
    backend: Backend, seed: Seed, command: c.Command, field: str
) -> None:
    error = refused(backend, command)

    assert (error.code, error.field) == ("INVALID_INPUT", field)
    assert error.message == (
        "A title cannot hold the control or invisible character U+202E."
    )


def test_updating_a_record_title_refuses_an_invisible_character(
    backend: Backend, seed: Seed
) -> None:
    record_id = value(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1))

    error = refused(backend, c.UpdateTrainingRecord(record_id, title="First\u200baid"))

    assert (error.code, error.field) == ("INVALID_INPUT", "title")
    assert [r.title for r in records_of(backend)] == ["First aid"]


@pytest.mark.parametrize("char", ["\u2028", "\u2029"], ids=["line", "paragraph"])
def test_a_title_with_a_line_or_paragraph_separator_is_refused(
    backend: Backend, char: str
) -> None:
    error = refused(backend, c.CreateContent(ContentKind.COURSE, f"First{char}aid"))

    assert (error.code, error.field) == ("INVALID_INPUT", "title")


# Free text


def test_free_text_keeps_newlines_and_tabs(backend: Backend, seed: Seed) -> None:
    text = "Line one\nLine two\n\tindented"

    course_id = value(
        backend,
        c.CreateContent(
            ContentKind.COURSE,
            "Course",
            description=text,
            prerequisite=text,
            modules=(c.Module("Module", text, 5),),
        ),
    )
    run(backend, c.CreateCode("CPR", text))
    run(
        backend,
        c.AddTrainingRecord(
            LEARNER, "First aid", DAY_1, training_provider=text, other_information=text
        ),
    )

    row = content(backend, course_id)
    assert (row.description, row.prerequisite) == (text, text)
    assert row.details["modules"][0]["description"] == text
    assert live_code(backend, "CPR").description == text
    [record] = records_of(backend)
    assert (record.training_provider, record.other_information) == (text, text)


@pytest.mark.parametrize(("char", "point"), HIDDEN)
def test_a_description_refuses_other_control_or_invisible_characters(
    backend: Backend, char: str, point: str
) -> None:
    text = f"Line one\n{char}Line two"

    on_content = refused(
        backend, c.CreateContent(ContentKind.COURSE, "Course", description=text)
    )
    on_code = refused(backend, c.CreateCode("CPR", text))

    assert (on_content.code, on_content.field) == ("INVALID_INPUT", "description")
    assert on_content.message == (
        f"This text cannot hold the control or invisible character {point}."
    )
    assert (on_code.code, on_code.field) == ("INVALID_INPUT", "description")
    assert on_code.message == (
        f"A description cannot hold the control or invisible character {point}."
    )


@pytest.mark.parametrize(
    ("command", "field"),
    [
        pytest.param(
            c.CreateContent(ContentKind.COURSE, "Course", prerequisite="\u0007"),
            "prerequisite",
            id="prerequisite",
        ),
        pytest.param(
            c.CreateContent(
                ContentKind.COURSE,
                "Course",
                modules=(c.Module("Module", "a\u0007b", 5),),
            ),
            "modules[0].description",
            id="module-description",
        ),
        pytest.param(
            c.CreateContent(
                ContentKind.TRAINING_EVENT,
                "Event",
                sessions=(c.Session(datetime(2024, 1, 1, 9), "Room\u00071"),),
            ),
            "sessions[0].location",
            id="session-location",
        ),
        pytest.param(
            c.CreateLearningPath(
                "P1", "Path", steps=(c.StepInput("S1", "S", 1),), description="\u0007"
            ),
            "description",
            id="path-description",
        ),
        pytest.param(
            c.AddTrainingRecord(
                LEARNER, "First aid", DAY_1, training_provider="Red\u0007Cross"
            ),
            "trainingProvider",
            id="training-provider",
        ),
        pytest.param(
            c.AddTrainingRecord(
                LEARNER, "First aid", DAY_1, other_information="\u0007"
            ),
            "otherInformation",
            id="other-information",
        ),
    ],
)
def test_all_free_text_refuses_a_control_character(
    backend: Backend, seed: Seed, command: c.Command, field: str
) -> None:
    error = refused(backend, command)

    assert (error.code, error.field) == ("INVALID_INPUT", field)
    assert error.message == (
        "This text cannot hold the control or invisible character U+0007."
    )


@pytest.mark.parametrize(
    "char",
    ["\u0000", "\u0007", "\u200b", "\u202e", "\n", "\ud800"],
    ids=[
        "nul",
        "bell",
        "zero-width-space",
        "right-to-left-override",
        "newline",
        "lone-surrogate",
    ],
)
def test_a_persons_name_refuses_control_or_invisible_characters(
    backend: Backend, char: str
) -> None:
    error = refused(
        backend, c.RegisterUser("ann", "ann@example.com", f"A{char}nn", "Lee")
    )

    assert (error.code, error.field) == ("INVALID_INPUT", "firstName")


@pytest.mark.parametrize(
    "char",
    ["\u0000", "\u200b", "\u202e"],
    ids=["nul", "zero-width-space", "right-to-left-override"],
)
def test_an_email_address_refuses_invisible_characters(
    backend: Backend, char: str
) -> None:
    error = refused(backend, c.RegisterUser("ann", f"a{char}nn@example.com", "A", "L"))

    assert (error.code, error.field) == ("INVALID_INPUT", "email")


# Completion dates


@pytest.mark.parametrize(
    "day", [date(1899, 12, 31), date(1, 1, 1)], ids=["1899-12-31", "0001-01-01"]
)
def test_a_completion_date_before_1900_is_refused(
    backend: Backend, seed: Seed, day: date
) -> None:
    record_id = value(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1))
    message = (
        f"The completion date {day.isoformat()} is before 1900-01-01; check the year."
    )

    errors = [
        refused(backend, c.CompleteContent(seed.course, LEARNER, day)),
        refused(backend, c.AddTrainingRecord(LEARNER, "First aid", day)),
        refused(backend, c.UpdateTrainingRecord(record_id, completion_date=day)),
    ]

    for error in errors:
        assert isinstance(error, InvalidDate)
        assert (error.code, error.field, error.message) == (
            "INVALID_DATE",
            "completionDate",
            message,
        )
    assert [r.completion_date for r in records_of(backend)] == [DAY_1.isoformat()]


def test_1_january_1900_is_the_earliest_completion_date(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.AddTrainingRecord(LEARNER, "First aid", date(1900, 1, 1)))

    assert [r.completion_date for r in records_of(backend)] == ["1900-01-01"]


# Usernames


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("\u212aate", id="kelvin-sign"),
        pytest.param("jos\u00e9", id="e-acute"),
        pytest.param("\uff41nn", id="fullwidth-a"),
        pytest.param("\u0130van", id="dotted-capital-i"),
        pytest.param("ann\u200b", id="zero-width-space"),
    ],
)
def test_a_username_with_a_non_ascii_character_is_refused_not_folded(
    backend: Backend, username: str
) -> None:
    error = refused(backend, c.RegisterUser(username, "k@example.com", "Kate", "Lee"))

    assert (error.code, error.field) == ("INVALID_INPUT", "username")
    assert error.message == (
        "A username is 1 to 64 characters: letters, digits and . _ @ -, starting "
        f"with a letter or digit; got {username!r}."
    )
    with backend.store.reading() as db:
        folded = username.lower().encode("ascii", "ignore").decode()
        assert learners.learner_by_username(db, folded) is None
        assert learners.learner_by_username(db, "kate") is None


def test_the_kelvin_sign_does_not_reach_the_learner_named_with_a_k(
    backend: Backend, seed: Seed
) -> None:
    register(backend, "kate")

    errors = [
        refused(backend, c.CompleteContent(seed.course, "\u212aate", DAY_1)),
        refused(backend, c.AddTrainingRecord("\u212aate", "First aid", DAY_1)),
        refused(backend, c.JoinPath(SEED_PATH, "\u212aate")),
    ]
    with pytest.raises(InvalidInput) as joined:
        run(backend, c.JoinPath(SEED_PATH, "\u212aate"), learner("kate"))

    assert [(e.code, e.field) for e in errors] == [("INVALID_INPUT", "username")] * 3
    assert (joined.value.code, joined.value.field) == ("INVALID_INPUT", "username")
    assert records_of(backend, "kate") == []
    assert participant(backend, username="kate") is None


# How big content may be


def test_a_course_may_have_100_modules_but_not_101(backend: Backend) -> None:
    modules = tuple(c.Module(f"Module {i}", length_minutes=5) for i in range(101))

    course_id = value(
        backend, c.CreateContent(ContentKind.COURSE, "Big", modules=modules[:100])
    )
    error = refused(
        backend, c.CreateContent(ContentKind.COURSE, "Too big", modules=modules)
    )

    assert len(content(backend, course_id).details["modules"]) == 100
    assert (error.code, error.field) == ("INVALID_INPUT", "modules")
    assert error.message == "Content has at most 100 modules and 500 sessions."


def test_an_event_may_have_500_sessions_but_not_501(backend: Backend) -> None:
    sessions = tuple(c.Session(datetime(2024, 1, 1, 9)) for _ in range(501))

    event_id = value(
        backend,
        c.CreateContent(ContentKind.TRAINING_EVENT, "Big", sessions=sessions[:500]),
    )
    error = refused(
        backend,
        c.CreateContent(ContentKind.TRAINING_EVENT, "Too big", sessions=sessions),
    )

    assert len(content(backend, event_id).details["sessions"]) == 500
    assert (error.code, error.field) == ("INVALID_INPUT", "sessions")
    assert error.message == "Content has at most 100 modules and 500 sessions."


def test_too_many_modules_are_refused_whatever_the_kind_of_content(
    backend: Backend,
) -> None:
    modules = tuple(c.Module(f"Module {i}", length_minutes=5) for i in range(101))

    error = refused(
        backend,
        c.CreateContent(ContentKind.QUIZ, "Quiz", pass_mark=50, modules=modules),
    )

    assert (error.code, error.field) == ("INVALID_INPUT", "modules")


def test_a_completion_still_works_on_content_of_the_largest_size(
    backend: Backend, seed: Seed
) -> None:
    modules = tuple(c.Module(f"Module {i}", length_minutes=5) for i in range(100))
    course_id = value(
        backend, c.CreateContent(ContentKind.COURSE, "Big", code="BIG", modules=modules)
    )

    complete(backend, course_id)

    assert [r.code for r in records_of(backend)] == ["BIG"]
