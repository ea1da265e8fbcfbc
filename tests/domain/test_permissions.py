"""Who may do what: admins everything, managers content and their subordinates'
records, learners only their own path membership and enrolments."""

from __future__ import annotations

import pytest

from domain import commands as c
from domain.content import ContentKind
from domain.errors import Forbidden, NotFound
from domain.principal import Principal, Role
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    LEARNER,
    OTHER_LEARNER,
    SEED_PATH,
    Seed,
    activity,
    learner,
    live_code_names,
    participant,
    records_of,
    run,
)

# A manager acts on the records of their subordinates; ghost is one, though not
# registered, so that looking the user up is what refuses.
MANAGER = Principal(
    "mia", Role.MANAGER, subordinates=frozenset({LEARNER, OTHER_LEARNER, "ghost"})
)


def refused(backend: Backend, command: c.Command, by: Principal) -> Forbidden:
    """Run ``command``; it must be forbidden and store no event."""
    stored = backend.log.recorder.max_notification_id()
    with pytest.raises(Forbidden) as error:
        run(backend, command, by)
    assert error.value.code == "FORBIDDEN"
    assert backend.log.recorder.max_notification_id() == stored
    return error.value


@pytest.mark.parametrize(
    "command",
    [
        c.CreateCode("NEWCODE"),
        c.UpdateCodeDescription("CLAESS", "x"),
        c.RenameCode("CLAESS", "OTHER"),
        c.DeleteCode("CLAROTAT"),
    ],
    ids=["create", "describe", "rename", "delete"],
)
def test_a_learner_may_not_manage_codes(
    backend: Backend, seed: Seed, command: c.Command
) -> None:
    error = refused(backend, command, learner())

    assert error.message == "The learner role may not manage codes."
    assert "NEWCODE" not in live_code_names(backend)
    assert "OTHER" not in live_code_names(backend)


def test_a_manager_may_not_create_codes_directly(backend: Backend) -> None:
    error = refused(backend, c.CreateCode("NEWCODE"), MANAGER)

    assert error.message == "The manager role may not manage codes."


def test_a_manager_may_create_content_and_record_completions(
    backend: Backend, seed: Seed
) -> None:
    content_id = run(
        backend, c.CreateContent(ContentKind.COURSE, "Course", code="MGR1"), MANAGER
    ).value
    assert content_id is not None

    run(backend, c.CompleteContent(content_id, LEARNER, DAY_1), MANAGER)

    assert [r.code for r in records_of(backend)] == ["MGR1"]


@pytest.mark.parametrize(
    "command",
    [
        c.CreateContent(ContentKind.COURSE, "Course"),
        c.CreateLearningPath("P1", "Path", steps=(c.StepInput("S1", "Step", 1),)),
        c.RegisterUser("carol", "carol@example.com", "Carol", "C"),
        c.AddTrainingRecord(LEARNER, "First aid", DAY_1),
    ],
    ids=["content", "path", "register", "record"],
)
def test_a_learner_may_not_manage_content_users_or_records(
    backend: Backend, seed: Seed, command: c.Command
) -> None:
    refused(backend, command, learner())


def test_a_learner_may_not_record_a_completion(backend: Backend, seed: Seed) -> None:
    refused(backend, c.CompleteContent(seed.course, LEARNER, DAY_1), learner())

    assert records_of(backend) == []


def test_a_learner_may_join_a_path_for_themselves(backend: Backend, seed: Seed) -> None:
    run(backend, c.JoinPath(SEED_PATH, LEARNER), learner(LEARNER))

    row = participant(backend)
    assert row is not None
    assert row.username == LEARNER


def test_a_learner_may_not_join_a_path_for_someone_else(
    backend: Backend, seed: Seed
) -> None:
    error = refused(backend, c.JoinPath(SEED_PATH, OTHER_LEARNER), learner(LEARNER))

    assert error.message == "The learner role may not change bob's training records."
    assert participant(backend, username=OTHER_LEARNER) is None


def test_a_manager_may_join_a_path_for_someone_else(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.JoinPath(SEED_PATH, OTHER_LEARNER), MANAGER)

    assert participant(backend, username=OTHER_LEARNER) is not None


def test_a_learner_may_enrol_themselves_but_not_someone_else(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.Enrol(seed.course, LEARNER), learner(LEARNER))
    refused(backend, c.Enrol(seed.course, OTHER_LEARNER), learner(LEARNER))

    assert activity(backend, seed.course).enrolments == 1


@pytest.mark.parametrize(
    "username", [OTHER_LEARNER, "ghost"], ids=["registered", "unregistered"]
)
def test_a_learner_acting_for_another_username_is_forbidden_whether_or_not_it_exists(
    backend: Backend, seed: Seed, username: str
) -> None:
    joined = refused(backend, c.JoinPath(SEED_PATH, username), learner(LEARNER))
    enrolled = refused(backend, c.Enrol(seed.course, username), learner(LEARNER))

    # The answer names only what was asked, so it tells nothing about who exists.
    message = f"The learner role may not change {username}'s training records."
    assert (joined.message, joined.field) == (message, None)
    assert (enrolled.message, enrolled.field) == (message, None)


def test_rights_are_checked_before_the_path_or_content_is_looked_up(
    backend: Backend, seed: Seed
) -> None:
    refused(backend, c.JoinPath("NOPATH", "ghost"), learner(LEARNER))
    refused(
        backend, c.Enrol("00000000-0000-0000-0000-000000000000", "ghost"), learner()
    )


def test_a_learner_naming_themselves_in_another_case_acts_for_themselves(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.JoinPath(SEED_PATH, " Alice "), learner(LEARNER))
    run(backend, c.Enrol(seed.course, "ALICE"), learner(LEARNER))

    assert participant(backend) is not None
    assert activity(backend, seed.course).enrolments == 1


def test_a_manager_is_told_that_a_username_is_not_registered(
    backend: Backend, seed: Seed
) -> None:
    with pytest.raises(NotFound) as joined:
        run(backend, c.JoinPath(SEED_PATH, "ghost"), MANAGER)
    with pytest.raises(NotFound) as enrolled:
        run(backend, c.Enrol(seed.course, "ghost"), MANAGER)

    for error in (joined.value, enrolled.value):
        assert (error.code, error.field) == ("NOT_FOUND", "username")
        assert error.message == "No user is registered as ghost."
