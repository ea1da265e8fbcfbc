"""Roles, single grants and managers, kept as events and read back per request."""

from __future__ import annotations

from datetime import date

import pytest

from domain import commands as c
from domain.errors import Forbidden, InvalidInput
from domain.imports import ImportRejected
from domain.principal import Principal, Right, Role
from projections import access
from qualify.bootstrap import Backend
from tests.csv_support import csv_file, import_row
from tests.domain.test_import_rules import do_import
from tests.support import (
    DAY_1,
    LEARNER,
    OTHER_LEARNER,
    Seed,
    complete,
    learner,
    records_of,
    run,
    value,
)

ADMIN = Principal("root", Role.ADMIN)


def position(backend: Backend) -> int | None:
    return backend.log.recorder.max_notification_id()


def resolved(backend: Backend, username: str, token_role: Role) -> Principal:
    return backend.principal(username, token_role)


def test_an_assigned_role_replaces_the_tokens_and_grants_add_single_rights(
    backend: Backend,
) -> None:
    assert resolved(backend, "nina", Role.LEARNER).rights == {
        Right.VIEW_OWN_RECORDS,
        Right.LEARN,
    }

    run(backend, c.AssignRole("Nina", Role.AUDITOR), ADMIN)
    run(backend, c.GrantRight("nina", Right.MANAGE_CODES), ADMIN)
    nina = resolved(backend, "nina", Role.ADMIN)
    assert nina.role is Role.AUDITOR
    assert nina.granted == {Right.MANAGE_CODES}
    assert nina.can(Right.MANAGE_CODES)
    assert not nina.can(Right.MANAGE_CONTENT)

    run(backend, c.RevokeRight("nina", Right.MANAGE_CODES), ADMIN)
    assert not resolved(backend, "nina", Role.LEARNER).can(Right.MANAGE_CODES)


def test_subordinates_are_everyone_whose_chain_of_managers_reaches_you(
    backend: Backend,
) -> None:
    run(backend, c.SetManager("alice", "mia"), ADMIN)
    run(backend, c.SetManager("bob", "alice"), ADMIN)
    run(backend, c.SetManager("carol", "bob"), ADMIN)
    run(backend, c.SetManager("dave", "zoe"), ADMIN)

    assert resolved(backend, "mia", Role.MANAGER).subordinates == {
        "alice",
        "bob",
        "carol",
    }
    assert resolved(backend, "bob", Role.MANAGER).subordinates == {"carol"}
    assert resolved(backend, "carol", Role.MANAGER).subordinates == set()

    run(backend, c.SetManager("bob", None), ADMIN)
    assert resolved(backend, "mia", Role.MANAGER).subordinates == {"alice"}
    with backend.store.reading() as db:
        assert access.manager_of(db, "carol") == "bob"
        assert access.manager_of(db, "bob") is None


@pytest.mark.parametrize(
    ("chain", "command", "message"),
    [
        (
            (),
            c.SetManager("mia", "mia"),
            "mia cannot manage mia: mia is already in mia's chain of managers.",
        ),
        (
            (("alice", "mia"),),
            c.SetManager("mia", "alice"),
            "alice cannot manage mia: mia is already in alice's chain of managers.",
        ),
        (
            (("alice", "mia"), ("bob", "alice")),
            c.SetManager("mia", "bob"),
            "bob cannot manage mia: mia is already in bob's chain of managers.",
        ),
    ],
)
def test_a_manager_chain_cannot_loop(
    backend: Backend,
    chain: tuple[tuple[str, str], ...],
    command: c.SetManager,
    message: str,
) -> None:
    for username, manager in chain:
        run(backend, c.SetManager(username, manager), ADMIN)
    before = position(backend)

    with pytest.raises(InvalidInput) as refused:
        run(backend, command, ADMIN)
    assert refused.value.message == message
    assert refused.value.field == "manager"
    assert position(backend) == before


def test_revoking_a_right_that_only_a_role_gives_is_refused(backend: Backend) -> None:
    run(backend, c.AssignRole("mia", Role.MANAGER), ADMIN)
    before = position(backend)

    with pytest.raises(InvalidInput) as refused:
        run(backend, c.RevokeRight("mia", Right.MANAGE_CONTENT), ADMIN)
    assert refused.value.message == (
        "mia was never granted the right to manage content and paths on its own; "
        "a role's rights change only by assigning another role."
    )
    assert position(backend) == before


def test_a_change_that_changes_nothing_stores_nothing(backend: Backend) -> None:
    assert run(backend, c.SetManager("ghost", None), ADMIN).position is None
    run(backend, c.AssignRole("mia", Role.MANAGER), ADMIN)
    assert run(backend, c.AssignRole("mia", Role.MANAGER), ADMIN).position is None
    run(backend, c.GrantRight("mia", Right.VIEW_REPORTS), ADMIN)
    assert run(backend, c.GrantRight("mia", Right.VIEW_REPORTS), ADMIN).position is None


@pytest.mark.parametrize(
    "command",
    [
        c.AssignRole("bob", Role.ADMIN),
        c.GrantRight("bob", Right.MANAGE_CODES),
        c.RevokeRight("bob", Right.MANAGE_CODES),
        c.SetManager("bob", "mia"),
    ],
    ids=["assign", "grant", "revoke", "manager"],
)
@pytest.mark.parametrize("role", [Role.MANAGER, Role.LEARNER, Role.AUDITOR])
def test_only_an_admin_manages_permissions(
    backend: Backend, command: c.Command, role: Role
) -> None:
    before = position(backend)
    with pytest.raises(Forbidden) as refused:
        run(backend, command, Principal("mia", role))
    assert refused.value.message == (
        f"The {role.value} role may not manage permissions."
    )
    assert position(backend) == before


def test_a_manager_changes_only_their_subordinates_records(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.SetManager(LEARNER, "mia"), ADMIN)
    mia = resolved(backend, "mia", Role.MANAGER)

    complete(backend, seed.course, DAY_1)  # by the system, to have a record
    run(backend, c.CompleteContent(seed.drop_in, LEARNER, DAY_1), mia)
    assert len(records_of(backend, LEARNER)) == 2

    bobs = value(backend, c.AddTrainingRecord(OTHER_LEARNER, "First aid", DAY_1))
    before = position(backend)
    for command in (
        c.CompleteContent(seed.course, OTHER_LEARNER, DAY_1),
        c.AddTrainingRecord(OTHER_LEARNER, "Fire safety", DAY_1),
        c.UpdateTrainingRecord(bobs, title="Changed"),
        c.DeleteRecord(bobs),
        c.JoinPath(seed.path, OTHER_LEARNER),
    ):
        with pytest.raises(Forbidden) as refused:
            run(backend, command, mia)
        assert refused.value.message == (
            "The manager role may not change bob's training records."
        )
    assert position(backend) == before


def test_a_manager_imports_rows_only_for_subordinates(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.SetManager(LEARNER, "mia"), ADMIN)
    mia = resolved(backend, "mia", Role.MANAGER)

    report = do_import(backend, csv_file(import_row(name=LEARNER)), by=mia)
    assert report.applied

    before = position(backend)
    data = csv_file(import_row(name=LEARNER, title="Fire"), import_row(name="bob"))
    with pytest.raises(ImportRejected) as refused:
        do_import(backend, data, by=mia)
    assert position(backend) == before
    problems = refused.value.report.problems
    assert [(p.row, p.column, p.value, p.reason) for p in problems] == [
        (3, "Name", OTHER_LEARNER, "You may not change this user's training records"),
    ]


def test_a_learner_granted_their_own_records_may_add_to_them(
    backend: Backend, seed: Seed
) -> None:
    alice = learner(LEARNER)
    with pytest.raises(Forbidden) as refused:
        run(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1), alice)
    assert refused.value.message == (
        "The learner role may not change their own training records."
    )

    run(backend, c.GrantRight(LEARNER, Right.EDIT_OWN_RECORDS), ADMIN)
    alice = resolved(backend, LEARNER, Role.LEARNER)
    value(backend, c.AddTrainingRecord(LEARNER, "First aid", date(2024, 1, 2)), alice)
    assert [r.title for r in records_of(backend)] == ["First aid"]
    with pytest.raises(Forbidden):
        run(backend, c.AddTrainingRecord(OTHER_LEARNER, "First aid", DAY_1), alice)
