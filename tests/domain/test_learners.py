"""Learners, completions and training records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain import commands as c
from domain.errors import (
    AlreadyExists,
    InvalidDate,
    InvalidInput,
    NotFound,
    QualifyError,
)
from projections import learners
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    DAY_2,
    LATER,
    LEARNER,
    OTHER_LEARNER,
    Seed,
    activity,
    complete,
    live_code,
    records_of,
    records_with_code,
    register,
    run,
    value,
)

# Registering


def test_register_user_lower_cases_and_trims_the_username(backend: Backend) -> None:
    outcome = run(
        backend, c.RegisterUser("  Alice.Smith ", " alice@example.com ", "Alice", "S")
    )

    assert outcome.value == "alice.smith"
    with backend.store.reading() as db:
        row = learners.learner_by_username(db, "alice.smith")
    assert row is not None
    assert (row.email, row.first_name, row.last_name) == (
        "alice@example.com",
        "Alice",
        "S",
    )


def test_registering_a_username_twice_is_already_exists(backend: Backend) -> None:
    register(backend, LEARNER)

    with pytest.raises(AlreadyExists) as refused:
        run(backend, c.RegisterUser("ALICE", "other@example.com", "A", "B"))

    assert (refused.value.code, refused.value.field) == ("ALREADY_EXISTS", "username")


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (c.RegisterUser("", "a@example.com", "A", "B"), "username"),
        (c.RegisterUser("a b", "a@example.com", "A", "B"), "username"),
        (c.RegisterUser("ann", "not-an-address", "A", "B"), "email"),
        (c.RegisterUser("ann", "a@example.com", " ", "B"), "firstName"),
        (c.RegisterUser("ann", "a@example.com", "A", ""), "lastName"),
    ],
)
def test_register_user_refuses_malformed_details_naming_the_field(
    backend: Backend, command: c.RegisterUser, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(backend, command)

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", field)


def test_commands_for_an_unregistered_learner_are_not_found(
    backend: Backend, seed: Seed
) -> None:
    with pytest.raises(NotFound) as refused:
        complete(backend, seed.course, username="nobody")

    assert (refused.value.code, refused.value.field) == ("NOT_FOUND", "username")
    assert refused.value.message == "No user is registered as nobody."


# Completing content


def test_completing_a_course_creates_its_training_record(
    backend: Backend, seed: Seed
) -> None:
    outcome = complete(backend, seed.course, DAY_1)

    [record] = records_of(backend)
    assert outcome.value == record.record_id
    assert (record.record_type, record.object_id, record.title, record.code) == (
        "COURSE",
        seed.course,
        "Claromentis Essentials",
        "CLAESS",
    )
    assert (record.completion_date, record.username) == (DAY_1.isoformat(), LEARNER)
    assert live_code(backend, "CLAESS").active_record_count == 1


def test_completing_a_training_event_records_it_as_a_training_event(
    backend: Backend, seed: Seed
) -> None:
    complete(backend, seed.drop_in, DAY_1)

    [record] = records_of(backend)
    assert (record.record_type, record.code) == ("TRAINING_EVENT", "CLARODROP")


def test_completing_the_same_content_on_the_same_date_twice_changes_nothing(
    backend: Backend, seed: Seed
) -> None:
    first = complete(backend, seed.course, DAY_1)
    position = backend.follower.position

    again = complete(backend, seed.course, DAY_1)

    assert again.position is None
    assert again.value == first.value
    assert backend.follower.position == position
    assert len(records_of(backend)) == 1
    assert live_code(backend, "CLAESS").active_record_count == 1
    assert activity(backend, seed.course).completions == 1


def test_completing_again_on_a_later_date_adds_a_second_record(
    backend: Backend, seed: Seed
) -> None:
    first = complete(backend, seed.course, DAY_1)

    again = complete(backend, seed.course, LATER)

    assert again.value != first.value
    assert [r.completion_date for r in records_of(backend)] == [
        LATER.isoformat(),
        DAY_1.isoformat(),
    ]
    assert live_code(backend, "CLAESS").active_record_count == 2
    assert activity(backend, seed.course).completions == 2


def test_completing_on_an_earlier_date_also_adds_a_record(
    backend: Backend, seed: Seed
) -> None:
    complete(backend, seed.course, DAY_2)

    complete(backend, seed.course, DAY_1)

    assert len(records_of(backend)) == 2


def test_a_completion_date_in_the_future_is_invalid_date(
    backend: Backend, seed: Seed
) -> None:
    tomorrow_everywhere = datetime.now(UTC).date() + timedelta(days=2)

    with pytest.raises(InvalidDate) as refused:
        complete(backend, seed.course, tomorrow_everywhere)

    assert (refused.value.code, refused.value.field) == (
        "INVALID_DATE",
        "completionDate",
    )
    assert refused.value.message == (
        f"The completion date {tomorrow_everywhere.isoformat()} is in the future."
    )
    assert records_of(backend) == []


def test_today_in_utc_is_a_valid_completion_date(backend: Backend, seed: Seed) -> None:
    today = datetime.now(UTC).date()

    complete(backend, seed.course, today)

    assert [r.completion_date for r in records_of(backend)] == [today.isoformat()]


@pytest.mark.parametrize(
    "day", [date(2024, 2, 29), date(1999, 12, 31), date(1900, 1, 1)]
)
def test_a_completion_date_comes_out_as_it_went_in(
    backend: Backend, seed: Seed, day: date
) -> None:
    complete(backend, seed.course, day)

    assert [r.completion_date for r in records_of(backend)] == [day.isoformat()]


def test_enrolling_twice_counts_one_enrolment(backend: Backend, seed: Seed) -> None:
    run(backend, c.Enrol(seed.course, LEARNER))

    again = run(backend, c.Enrol(seed.course, LEARNER))

    assert again.position is None
    found = activity(backend, seed.course)
    assert (found.enrolments, found.completions) == (1, 0)


def test_completing_content_enrols_the_learner(backend: Backend, seed: Seed) -> None:
    complete(backend, seed.course)

    assert activity(backend, seed.course).enrolments == 1


# Manual records


def test_add_training_record_stores_every_field(backend: Backend, seed: Seed) -> None:
    record_id = value(
        backend,
        c.AddTrainingRecord(
            LEARNER,
            " First aid ",
            DAY_1,
            training_provider=" Red Cross ",
            other_information="Certificate 42",
            code="clarodrop",
        ),
    )

    [record] = records_of(backend)
    assert record.record_id == record_id
    assert (
        record.record_type,
        record.object_id,
        record.title,
        record.training_provider,
        record.other_information,
        record.code,
        record.completion_date,
    ) == (
        "TRAINING_RECORD",
        None,
        "First aid",
        "Red Cross",
        "Certificate 42",
        "CLARODROP",
        DAY_1.isoformat(),
    )
    assert live_code(backend, "CLARODROP").active_record_count == 1


def test_a_manual_record_without_a_code_counts_for_no_code(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.AddTrainingRecord(LEARNER, "Fire safety", DAY_1))

    [record] = records_of(backend)
    assert (record.code_id, record.code) == (None, None)


def test_a_manual_record_with_an_unknown_code_is_not_found(
    backend: Backend, seed: Seed
) -> None:
    with pytest.raises(NotFound) as refused:
        run(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1, code="NOCODE"))

    assert (refused.value.code, refused.value.field) == ("NOT_FOUND", "code")
    assert records_of(backend) == []


def test_update_training_record_changes_its_fields(
    backend: Backend, seed: Seed
) -> None:
    record_id = value(
        backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1, code="CLARODROP")
    )

    run(
        backend,
        c.UpdateTrainingRecord(
            record_id,
            title="First aid, level 2",
            training_provider="St John",
            completion_date=DAY_2,
            other_information="Renewed",
            code="CLAROTAT",
        ),
    )

    [record] = records_of(backend)
    assert (
        record.title,
        record.training_provider,
        record.completion_date,
        record.other_information,
        record.code,
    ) == ("First aid, level 2", "St John", DAY_2.isoformat(), "Renewed", "CLAROTAT")
    assert live_code(backend, "CLARODROP").active_record_count == 0
    assert live_code(backend, "CLAROTAT").active_record_count == 1


def test_updating_a_record_with_unchanged_fields_stores_nothing(
    backend: Backend, seed: Seed
) -> None:
    record_id = value(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1))

    outcome = run(backend, c.UpdateTrainingRecord(record_id, title="First aid"))

    assert outcome.position is None


def test_delete_record_removes_it_and_its_count(backend: Backend, seed: Seed) -> None:
    kept = complete(backend, seed.course, DAY_1).value
    gone = complete(backend, seed.course, DAY_2).value
    assert gone is not None

    run(backend, c.DeleteRecord(gone))

    assert [r.record_id for r in records_of(backend)] == [kept]
    assert [r.record_id for r in records_with_code(backend, "CLAESS")] == [kept]
    assert live_code(backend, "CLAESS").active_record_count == 1


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (c.DeleteRecord("00000000-0000-0000-0000-000000000000"), "NOT_FOUND"),
        (c.DeleteRecord("not-an-id"), "BAD_USER_INPUT"),
        (
            c.UpdateTrainingRecord("00000000-0000-0000-0000-000000000000", title="x"),
            "NOT_FOUND",
        ),
    ],
    ids=["delete-unknown", "delete-malformed", "update-unknown"],
)
def test_commands_on_an_unknown_record_are_refused(
    backend: Backend, seed: Seed, command: c.Command, code: str
) -> None:
    with pytest.raises(QualifyError) as refused:
        run(backend, command)

    assert (refused.value.code, refused.value.field) == (code, "recordId")


def test_deleting_a_record_twice_is_not_found(backend: Backend, seed: Seed) -> None:
    record_id = value(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1))
    run(backend, c.DeleteRecord(record_id))

    with pytest.raises(NotFound) as refused:
        run(backend, c.DeleteRecord(record_id))

    assert refused.value.code == "NOT_FOUND"


def test_records_are_kept_per_learner(backend: Backend, seed: Seed) -> None:
    complete(backend, seed.course, username=LEARNER)
    complete(backend, seed.drop_in, username=OTHER_LEARNER)

    assert [r.code for r in records_of(backend, LEARNER)] == ["CLAESS"]
    assert [r.code for r in records_of(backend, OTHER_LEARNER)] == ["CLARODROP"]


# A completion whose record was deleted


def test_completing_again_on_the_date_of_a_deleted_record_is_already_exists(
    backend: Backend, seed: Seed
) -> None:
    record_id = complete(backend, seed.course, DAY_1).value
    assert record_id is not None
    run(backend, c.DeleteRecord(record_id))
    stored = backend.log.recorder.max_notification_id()

    with pytest.raises(AlreadyExists) as refused:
        complete(backend, seed.course, DAY_1)

    assert (refused.value.code, refused.value.field) == (
        "ALREADY_EXISTS",
        "completionDate",
    )
    assert refused.value.message == (
        "alice completed 'Claromentis Essentials' on 2023-07-20 already, and that "
        "record was deleted; add a training record to restore it."
    )
    assert backend.log.recorder.max_notification_id() == stored
    assert records_of(backend) == []
    assert live_code(backend, "CLAESS").active_record_count == 0
    found = activity(backend, seed.course)
    assert (found.enrolments, found.completions, found.learners_completed) == (1, 1, 1)


def test_after_a_deleted_record_a_completion_on_another_date_adds_a_record(
    backend: Backend, seed: Seed
) -> None:
    gone = complete(backend, seed.course, DAY_1).value
    assert gone is not None
    run(backend, c.DeleteRecord(gone))

    again = complete(backend, seed.course, DAY_2)

    assert again.value is not None
    assert again.value != gone
    assert [r.completion_date for r in records_of(backend)] == [DAY_2.isoformat()]
    assert activity(backend, seed.course).completions == 2


def test_deleting_another_dates_record_leaves_a_repeat_completion_a_no_op(
    backend: Backend, seed: Seed
) -> None:
    kept = complete(backend, seed.course, DAY_1).value
    gone = complete(backend, seed.course, LATER).value
    assert gone is not None
    run(backend, c.DeleteRecord(gone))
    stored = backend.log.recorder.max_notification_id()

    again = complete(backend, seed.course, DAY_1)

    assert (again.value, again.position) == (kept, None)
    assert backend.log.recorder.max_notification_id() == stored
    assert [r.record_id for r in records_of(backend)] == [kept]
    assert activity(backend, seed.course).completions == 2


def test_a_repeat_completion_while_its_record_exists_returns_it_storing_nothing(
    backend: Backend, seed: Seed
) -> None:
    first = complete(backend, seed.course, DAY_1)
    stored = backend.log.recorder.max_notification_id()

    again = complete(backend, seed.course, DAY_1)

    assert (again.value, again.position) == (first.value, None)
    assert backend.log.recorder.max_notification_id() == stored
    assert [r.record_id for r in records_of(backend)] == [first.value]


# Record ids in another spelling


@pytest.mark.parametrize(
    "spell",
    [str.upper, lambda id: f"  {id}  ", lambda id: f"\t{id.upper()}\n"],
    ids=["upper-case", "surrounding-spaces", "upper-case-and-whitespace"],
)
def test_a_record_id_in_another_spelling_deletes_that_record(
    backend: Backend, seed: Seed, spell
) -> None:
    record_id = complete(backend, seed.course, DAY_1).value
    assert record_id is not None
    assert spell(record_id) != record_id

    outcome = run(backend, c.DeleteRecord(spell(record_id)))

    assert outcome.value == record_id
    assert records_of(backend) == []
    assert live_code(backend, "CLAESS").active_record_count == 0
    with pytest.raises(NotFound) as again:
        run(backend, c.DeleteRecord(record_id))
    assert (again.value.code, again.value.field) == ("NOT_FOUND", "recordId")


@pytest.mark.parametrize(
    "spell",
    [str.upper, lambda id: f"  {id}  ", lambda id: f"\t{id.upper()}\n"],
    ids=["upper-case", "surrounding-spaces", "upper-case-and-whitespace"],
)
def test_a_record_id_in_another_spelling_updates_that_record(
    backend: Backend, seed: Seed, spell
) -> None:
    record_id = value(
        backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1, code="CLARODROP")
    )

    outcome = run(
        backend,
        c.UpdateTrainingRecord(spell(record_id), title="First aid 2", code="CLAROTAT"),
    )

    assert outcome.value == record_id
    [record] = records_of(backend)
    assert (record.record_id, record.title, record.code) == (
        record_id,
        "First aid 2",
        "CLAROTAT",
    )
    assert live_code(backend, "CLARODROP").active_record_count == 0
    assert live_code(backend, "CLAROTAT").active_record_count == 1
