"""Training records per learner and per code, newest first."""

from __future__ import annotations

from datetime import date

from domain import commands as c
from projections import training_records as records
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    DAY_2,
    DAY_3,
    LEARNER,
    OTHER_LEARNER,
    Seed,
    complete,
    learner_id,
    live_code,
    records_of,
    records_with_code,
    run,
    value,
)


def test_records_of_a_learner_come_newest_first(backend: Backend, seed: Seed) -> None:
    complete(backend, seed.drop_in, DAY_2)
    complete(backend, seed.course, DAY_3)
    complete(backend, seed.tips, DAY_1)

    assert [(r.completion_date, r.code) for r in records_of(backend)] == [
        (DAY_3.isoformat(), "CLAESS"),
        (DAY_2.isoformat(), "CLARODROP"),
        (DAY_1.isoformat(), "CLAROTAT"),
    ]


def test_records_of_a_code_span_learners(backend: Backend, seed: Seed) -> None:
    complete(backend, seed.course, DAY_1, username=LEARNER)
    complete(backend, seed.course, DAY_2, username=OTHER_LEARNER)
    complete(backend, seed.drop_in, DAY_2, username=OTHER_LEARNER)

    assert [r.username for r in records_with_code(backend, "CLAESS")] == [
        OTHER_LEARNER,
        LEARNER,
    ]


def test_records_filtered_by_learner_and_code_together(
    backend: Backend, seed: Seed
) -> None:
    complete(backend, seed.course, DAY_1, username=LEARNER)
    complete(backend, seed.drop_in, DAY_1, username=LEARNER)
    complete(backend, seed.course, DAY_1, username=OTHER_LEARNER)
    user = learner_id(backend, LEARNER)
    code_id = live_code(backend, "CLAESS").code_id

    with backend.store.reading() as db:
        found = records.record_page(db, user, code_id, 10, None)

    assert found.total_count == 1
    assert [(r.username, r.code) for r in found.items] == [(LEARNER, "CLAESS")]


def test_paging_records_visits_each_once_even_on_the_same_date(
    backend: Backend, seed: Seed
) -> None:
    made = {
        value(backend, c.AddTrainingRecord(LEARNER, f"Record {i}", DAY_1))
        for i in range(5)
    }
    user = learner_id(backend)
    seen: list[str] = []
    after = None
    with backend.store.reading() as db:
        while True:
            current = records.record_page(db, user, None, 2, after)
            assert current.total_count == 5
            seen += [r.record_id for r in current.items]
            if not current.has_next_page:
                break
            after = current.cursors[-1]

    assert sorted(seen) == sorted(made)
    assert seen == sorted(made, reverse=True)


def test_a_deleted_record_disappears_from_every_list(
    backend: Backend, seed: Seed
) -> None:
    record_id = complete(backend, seed.course, DAY_1).value
    assert record_id is not None

    run(backend, c.DeleteRecord(record_id))

    assert records_of(backend) == []
    assert records_with_code(backend, "CLAESS") == []
    with backend.store.reading() as db:
        assert records.record_by_id(db, record_id) is None
        assert records.learner_of_record(db, record_id) is None


def test_record_by_id_shows_an_updated_record(backend: Backend, seed: Seed) -> None:
    record_id = value(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1))

    run(backend, c.UpdateTrainingRecord(record_id, completion_date=date(2020, 1, 31)))

    with backend.store.reading() as db:
        row = records.record_by_id(db, record_id)
    assert row is not None
    assert (row.title, row.completion_date, row.code) == (
        "First aid",
        "2020-01-31",
        None,
    )


def test_records_show_the_current_name_of_a_renamed_code(
    backend: Backend, seed: Seed
) -> None:
    complete(backend, seed.course, DAY_1)
    complete(backend, seed.course, DAY_2, username=OTHER_LEARNER)

    run(backend, c.RenameCode("CLAESS", "ESSENTIALS"))

    assert [r.code for r in records_with_code(backend, "ESSENTIALS")] == [
        "ESSENTIALS",
        "ESSENTIALS",
    ]
    assert [r.code for r in records_of(backend)] == ["ESSENTIALS"]


def test_the_learner_of_a_record_is_known(backend: Backend, seed: Seed) -> None:
    record_id = complete(backend, seed.course, username=OTHER_LEARNER).value
    assert record_id is not None

    with backend.store.reading() as db:
        holder = records.learner_of_record(db, record_id)

    assert holder == learner_id(backend, OTHER_LEARNER)
