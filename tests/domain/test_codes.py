"""Creating, describing, renaming and deleting qualification codes."""

from __future__ import annotations

import pytest

from domain import commands as c
from domain.errors import CodeRenamed, CodeTaken, InvalidInput, NotFound
from qualify.bootstrap import Backend
from tests.support import (
    code_name_of,
    code_row,
    complete,
    content,
    course,
    live_code,
    live_code_names,
    load_seed,
    records_of,
    run,
    step_codes,
    uses,
)


def test_create_code_lists_the_code_with_its_trimmed_description(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("CLAESS", "  Claromentis Essentials  "))

    row = live_code(backend, "CLAESS")
    assert row.description == "Claromentis Essentials"
    assert row.active_record_count == 0


def test_creating_a_live_code_again_is_refused_with_code_taken(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("CLAESS", "first"))

    with pytest.raises(CodeTaken) as refused:
        run(backend, c.CreateCode(" claess ", "second"))

    assert refused.value.code == "CODE_TAKEN"
    assert refused.value.field == "code"
    assert refused.value.message == "The qualification code CLAESS is already taken."
    assert live_code(backend, "CLAESS").description == "first"


def test_a_description_longer_than_2000_characters_is_refused(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("CPR", "x" * 2000))

    with pytest.raises(InvalidInput) as refused:
        run(backend, c.CreateCode("EGMP", "x" * 2001))

    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "description")
    assert live_code_names(backend) == ["CPR"]


def test_update_code_description_changes_only_the_description(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("CPR", "old"))
    before = live_code(backend, "CPR")

    run(backend, c.UpdateCodeDescription("cpr", "Cardiopulmonary resuscitation"))

    after = live_code(backend, "CPR")
    assert after.description == "Cardiopulmonary resuscitation"
    assert (after.code_id, after.code) == (before.code_id, before.code)


def test_setting_the_same_description_again_stores_nothing(backend: Backend) -> None:
    run(backend, c.CreateCode("CPR", "same"))

    outcome = run(backend, c.UpdateCodeDescription("CPR", "  same "))

    assert outcome.position is None


def test_describing_an_unknown_code_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as refused:
        run(backend, c.UpdateCodeDescription("NOPE", "text"))

    assert refused.value.code == "NOT_FOUND"
    assert refused.value.message == "There is no qualification code NOPE."


# Rename


def test_rename_keeps_the_code_identity_and_description(backend: Backend) -> None:
    run(backend, c.CreateCode("CLAESS", "Essentials"))
    before = live_code(backend, "CLAESS")

    outcome = run(backend, c.RenameCode("claess", " claess2 "))

    assert outcome.value == "CLAESS2"
    after = live_code(backend, "CLAESS2")
    assert (after.code_id, after.description) == (before.code_id, "Essentials")
    assert code_row(backend, "CLAESS") is None
    assert live_code_names(backend) == ["CLAESS2"]


def test_rename_shows_the_new_code_on_content_steps_records_and_uses(
    backend: Backend,
) -> None:
    seed = load_seed(backend)
    complete(backend, seed.course)

    run(backend, c.RenameCode("CLAESS", "CLAESSV2"))

    assert code_name_of(backend, content(backend, seed.course).code_id) == "CLAESSV2"
    assert step_codes(backend) == ["CLAESSV2", "CLARODROP", "CLAROTAT"]
    assert [r.code for r in records_of(backend)] == ["CLAESSV2"]
    assert [(kind, title) for kind, _, title in uses(backend, "CLAESSV2")] == [
        ("COURSE", "Claromentis Essentials"),
        ("LEARNING_STEP", "Claromentis Essentials"),
    ]
    assert live_code(backend, "CLAESSV2").active_record_count == 1


def test_renaming_to_a_taken_code_is_refused_and_changes_nothing(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("CLAESS"))
    run(backend, c.CreateCode("CPR"))

    with pytest.raises(CodeTaken) as refused:
        run(backend, c.RenameCode("CLAESS", "cpr"))

    assert refused.value.code == "CODE_TAKEN"
    assert refused.value.field == "newCode"
    assert live_code_names(backend) == ["CLAESS", "CPR"]


def test_renaming_to_the_same_code_stores_nothing(backend: Backend) -> None:
    run(backend, c.CreateCode("CLAESS"))

    outcome = run(backend, c.RenameCode("CLAESS", " claess"))

    assert outcome == type(outcome)("CLAESS", None)


def test_after_a_rename_the_old_code_is_free_for_a_new_code(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("CLAESS", "original"))
    renamed_id = live_code(backend, "CLAESS").code_id
    run(backend, c.RenameCode("CLAESS", "CLAESS2"))

    run(backend, c.CreateCode("CLAESS", "newcomer"))

    fresh = live_code(backend, "CLAESS")
    assert fresh.code_id != renamed_id
    assert fresh.description == "newcomer"
    assert live_code(backend, "CLAESS2").code_id == renamed_id


def test_a_command_naming_a_renamed_away_code_says_what_it_was_renamed_to(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("CLAESS"))
    run(backend, c.RenameCode("CLAESS", "CLAESS2"))

    with pytest.raises(NotFound) as refused:
        run(backend, c.DeleteCode("CLAESS"))

    assert refused.value.code == "NOT_FOUND"
    assert refused.value.message == (
        "The qualification code CLAESS was renamed to CLAESS2."
    )


def test_setting_a_renamed_away_code_on_content_is_refused_not_registered(
    backend: Backend,
) -> None:
    essentials = course(backend, "Essentials", "CLAESS")
    run(backend, c.RenameCode("CLAESS", "CLAESS2"))
    other = course(backend, "Other", None)

    with pytest.raises(CodeRenamed) as refused:
        run(backend, c.SetContentCode(other, "claess"))

    assert (refused.value.code, refused.value.field) == ("CODE_RENAMED", "code")
    assert refused.value.message == (
        "CLAESS was renamed to CLAESS2; use CLAESS2, or create CLAESS anew with "
        "createCode first."
    )
    assert content(backend, other).code_id is None
    assert code_row(backend, "CLAESS") is None
    assert content(backend, essentials).code_id == live_code(backend, "CLAESS2").code_id


def test_not_found_follows_a_chain_of_renames_to_the_live_code(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("A1"))
    run(backend, c.RenameCode("A1", "B2"))
    run(backend, c.RenameCode("B2", "C3"))

    with pytest.raises(NotFound) as refused:
        run(backend, c.RenameCode("A1", "D4"))

    assert refused.value.message == "The qualification code A1 was renamed to C3."


def test_a_code_renamed_away_and_then_deleted_is_not_found_as_deleted(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("A1"))
    run(backend, c.RenameCode("A1", "B2"))
    run(backend, c.DeleteCode("B2"))

    with pytest.raises(NotFound) as refused:
        run(backend, c.DeleteCode("A1"))

    assert refused.value.message == "The qualification code A1 was deleted."


def test_renaming_back_to_the_old_name_reclaims_it(backend: Backend) -> None:
    run(backend, c.CreateCode("A1"))
    code_id = live_code(backend, "A1").code_id
    run(backend, c.RenameCode("A1", "B2"))

    run(backend, c.RenameCode("B2", "A1"))

    assert live_code(backend, "A1").code_id == code_id
    with pytest.raises(NotFound) as refused:
        run(backend, c.DeleteCode("B2"))
    assert refused.value.message == "The qualification code B2 was renamed to A1."


def test_renaming_an_unknown_code_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as refused:
        run(backend, c.RenameCode("NOPE", "OTHER"))

    assert refused.value.code == "NOT_FOUND"
    assert refused.value.field == "code"
    assert live_code_names(backend) == []


# Delete


def test_delete_of_an_unused_code_removes_it_from_the_list(backend: Backend) -> None:
    run(backend, c.CreateCode("CPR"))
    run(backend, c.CreateCode("EGMP"))

    outcome = run(backend, c.DeleteCode(" cpr "))

    assert outcome.value == "CPR"
    assert live_code_names(backend) == ["EGMP"]


def test_after_a_delete_the_code_can_be_created_anew(backend: Backend) -> None:
    run(backend, c.CreateCode("CPR", "old"))
    old_id = live_code(backend, "CPR").code_id
    run(backend, c.DeleteCode("CPR"))

    run(backend, c.CreateCode("CPR", "new"))

    fresh = live_code(backend, "CPR")
    assert (fresh.description, fresh.code_id != old_id) == ("new", True)


def test_deleting_a_code_twice_is_not_found(backend: Backend) -> None:
    run(backend, c.CreateCode("CPR"))
    run(backend, c.DeleteCode("CPR"))

    with pytest.raises(NotFound) as refused:
        run(backend, c.DeleteCode("CPR"))

    assert refused.value.code == "NOT_FOUND"
    assert refused.value.message == "The qualification code CPR was deleted."


def test_a_code_whose_course_dropped_it_keeps_its_name_free_to_reuse(
    backend: Backend,
) -> None:
    essentials = course(backend, "Essentials", "CLAESS")
    run(backend, c.SetContentCode(essentials, None))
    run(backend, c.DeleteCode("CLAESS"))

    run(backend, c.SetContentCode(essentials, "claess"))

    assert code_name_of(backend, content(backend, essentials).code_id) == "CLAESS"
    assert [kind for kind, _, _ in uses(backend, "CLAESS")] == ["COURSE"]
