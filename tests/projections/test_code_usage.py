"""The code list (paged, searchable) and the usage index ("Used In")."""

from __future__ import annotations

import pytest

from domain import commands as c
from domain.content import ContentKind
from domain.errors import InvalidInput
from projections import code_usage
from projections.paging import Page, check_page_size, encode_cursor
from qualify.bootstrap import Backend
from tests.support import (
    OTHER_LEARNER,
    Seed,
    complete,
    live_code,
    path_row,
    run,
    uses,
    value,
)

SEED_CODES = [
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
MORE_CODES = [f"GDPR{i:02d}" for i in range(11)]


def page(
    backend: Backend,
    search: str | None = None,
    first: int = 10,
    after: str | None = None,
) -> Page[code_usage.CodeRow]:
    with backend.store.reading() as db:
        return code_usage.code_page(db, search, first, after)


@pytest.fixture
def twenty_one_codes(backend: Backend) -> list[str]:
    for code in [*MORE_CODES, *SEED_CODES]:
        run(backend, c.CreateCode(code, f"About {code.lower()}"))
    return sorted([*SEED_CODES, *MORE_CODES])


def test_the_first_page_shows_1_to_10_of_21_entries(
    backend: Backend, twenty_one_codes: list[str]
) -> None:
    first = page(backend)

    assert [row.code for row in first.items] == SEED_CODES
    assert first.total_count == 21
    assert (first.has_next_page, first.has_previous_page) == (True, False)


def test_paging_after_a_cursor_walks_the_whole_list_once(
    backend: Backend, twenty_one_codes: list[str]
) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        current = page(backend, after=after)
        seen += [row.code for row in current.items]
        pages += 1
        if not current.has_next_page:
            break
        after = current.cursors[-1]

    assert seen == twenty_one_codes
    assert pages == 3
    assert [row.code for row in current.items] == ["GDPR10"]
    assert (current.total_count, current.has_previous_page) == (21, True)


def test_search_matches_code_or_description_case_insensitively(
    backend: Backend, twenty_one_codes: list[str]
) -> None:
    by_code = page(backend, search="cla", first=100)
    by_description = page(backend, search="ABOUT EG", first=100)

    assert [row.code for row in by_code.items] == [
        "CLABEG",
        "CLADROP",
        "CLAESS",
        "CLARODROP",
        "CLAROTAT",
        "CLATT",
    ]
    assert by_code.total_count == 6
    assert [row.code for row in by_description.items] == ["EG012", "EGMP", "EGPG"]


@pytest.mark.parametrize("wildcard", ["%", "_"])
def test_search_takes_like_wildcards_literally(backend: Backend, wildcard: str) -> None:
    run(backend, c.CreateCode("PLAIN", "nothing special"))
    run(backend, c.CreateCode("ODD", f"100{wildcard} odd"))

    found = page(backend, search=wildcard)

    assert [row.code for row in found.items] == ["ODD"]


def test_deleted_codes_leave_the_list_and_its_count(
    backend: Backend, twenty_one_codes: list[str]
) -> None:
    run(backend, c.DeleteCode("CLABEG"))

    first = page(backend)

    assert first.total_count == 20
    assert first.items[0].code == "CLADROP"
    with backend.store.reading() as db:
        assert code_usage.live_code(db, "CLABEG") is None


@pytest.mark.parametrize(
    "cursor", ["garbage!", encode_cursor("record", "2024-01-01", "x"), ""]
)
def test_a_damaged_or_foreign_cursor_is_refused(
    backend: Backend, twenty_one_codes: list[str], cursor: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        page(backend, after=cursor)

    assert (refused.value.code, refused.value.field) == ("BAD_USER_INPUT", "after")


@pytest.mark.parametrize("first", [0, 101])
def test_page_sizes_are_1_to_100(first: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_page_size(first)

    assert refused.value.field == "first"


def test_uses_list_content_then_paths_then_steps(backend: Backend, seed: Seed) -> None:
    quiz = value(
        backend,
        c.CreateContent(
            ContentKind.QUIZ, "Essentials quiz", code="CLAESS", pass_mark=70
        ),
    )
    run(
        backend,
        c.CreateLearningPath(
            "CLAESS", "Essentials path", steps=(c.StepInput("CPR", "First aid", 5),)
        ),
    )
    essentials_path = path_row(backend, "CLAESS").path_id

    found = uses(backend, "CLAESS")

    assert [(kind, title) for kind, _, title in found] == [
        ("COURSE", "Claromentis Essentials"),
        ("QUIZ", "Essentials quiz"),
        ("LEARNING_PATH", "Essentials path"),
        ("LEARNING_STEP", "Claromentis Essentials"),
    ]
    assert found[0][1] == seed.course
    assert found[1][1] == quiz
    assert found[2][1] == essentials_path


def test_a_step_use_names_the_path_it_belongs_to(backend: Backend, seed: Seed) -> None:
    code_id = live_code(backend, "CLAROTAT").code_id
    with backend.store.reading() as db:
        found = code_usage.uses_of(db, [code_id])[code_id]

    step = next(use for use in found if use.kind == "LEARNING_STEP")
    event = next(use for use in found if use.kind == "TRAINING_EVENT")
    assert step.path_id == path_row(backend).path_id
    assert (event.owner_id, event.path_id) == (seed.tips, seed.tips)


def test_a_retitled_step_shows_its_new_title(backend: Backend, seed: Seed) -> None:
    run(
        backend,
        c.SetPathSteps(
            "CLABEG",
            (
                c.StepInput("CLAESS", "Essentials (new title)", 20, mandatory=True),
                c.StepInput("CLARODROP", "Drop In Session", 10),
            ),
        ),
    )

    assert [title for kind, _, title in uses(backend, "CLAESS")] == [
        "Claromentis Essentials",
        "Essentials (new title)",
    ]


def test_active_record_count_follows_records_added_and_deleted(
    backend: Backend, seed: Seed
) -> None:
    first = complete(backend, seed.course).value
    complete(backend, seed.course, username=OTHER_LEARNER)
    assert live_code(backend, "CLAESS").active_record_count == 2
    assert first is not None

    run(backend, c.DeleteRecord(first))

    assert live_code(backend, "CLAESS").active_record_count == 1
    assert live_code(backend, "CLABEG").active_record_count == 0


def test_name_history_remembers_where_a_renamed_code_went(
    backend: Backend,
) -> None:
    run(backend, c.CreateCode("OLD"))
    code_id = live_code(backend, "OLD").code_id

    run(backend, c.RenameCode("OLD", "NEW"))

    with backend.store.reading() as db:
        old = code_usage.name_history(db, "OLD")
        new = code_usage.name_history(db, "NEW")
        unknown = code_usage.name_history(db, "NEVER")
    assert old == code_usage.NameRow("OLD", None, "NEW")
    assert new == code_usage.NameRow("NEW", code_id, None)
    assert unknown is None


def test_codes_by_id_still_names_a_deleted_code(backend: Backend) -> None:
    run(backend, c.CreateCode("GONE"))
    code_id = live_code(backend, "GONE").code_id
    run(backend, c.DeleteCode("GONE"))

    with backend.store.reading() as db:
        found = code_usage.codes_by_id(db, [code_id, code_id])

    assert list(found) == [code_id]
    assert found[code_id].code == "GONE"
