"""Importing training records against a store: what each row does, all or nothing."""

from __future__ import annotations

import gc
import hashlib
from dataclasses import replace
from datetime import date
from uuid import UUID, uuid4, uuid5

import pytest

from domain import commands as c
from domain.application import name_based_id
from domain.commands import ImportTrainingRecords
from domain.content import ContentKind
from domain.errors import CodeInUse, Forbidden
from domain.events import Event
from domain.imports import (
    CODE,
    COMPLETION_DATE,
    DELETE,
    EXPORT_HEADINGS,
    NAME,
    OBJECT_ID,
    RECORD_ID,
    RECORD_TYPE,
    TITLE,
    Action,
    ImportRejected,
    ImportReport,
    Problem,
    RecordsImported,
    RowOutcome,
    read_file,
)
from domain.principal import SYSTEM, Principal, Role
from projections.training_records import RecordRow
from qualify.bootstrap import Backend
from tests.csv_support import csv_file, import_row
from tests.support import (
    COURSE_TITLE,
    DAY_1,
    LEARNER,
    OTHER_LEARNER,
    SEED_PATH,
    SEED_PATH_TITLE,
    Seed,
    code_row,
    complete,
    learner,
    live_code,
    participant,
    path_records,
    path_row,
    points,
    records_of,
    run,
    value,
)

TODAY = date(2025, 1, 15)
FILE = "records.csv"
DATE_REASON = (
    "The Completion Date must be written YYYY-MM-DD: 03/04/2023 could be "
    "day/month or month/day"
)
DELETE_REASON = "Delete? is empty to keep the row's record, or T to delete it"


def do_import(
    backend: Backend,
    data: bytes,
    *,
    dry_run: bool = False,
    by: Principal = SYSTEM,
    correlation_id: str | None = None,
) -> ImportReport:
    command = ImportTrainingRecords(FILE, read_file(data, TODAY), dry_run=dry_run)
    outcome = backend.handle(command, by, correlation_id)
    assert outcome.report is not None
    return outcome.report


def rejected(backend: Backend, data: bytes, *, dry_run: bool = False) -> ImportReport:
    """The report of an import refused for its rows; nothing may have been written."""
    before = position(backend)
    with pytest.raises(ImportRejected) as refused:
        do_import(backend, data, dry_run=dry_run)
    assert position(backend) == before
    assert refused.value.code == "IMPORT_REJECTED"
    return refused.value.report


def position(backend: Backend) -> int:
    return backend.log.recorder.max_notification_id() or 0


def events_since(backend: Backend, start: int) -> list[Event]:
    notifications = backend.log.recorder.select_notifications(
        start=start + 1, limit=1000
    )
    return [backend.log.mapper.to_domain_event(n) for n in notifications]


def actions(report: ImportReport) -> list[tuple[int, Action]]:
    return [(row.row, row.action) for row in report.rows]


def summary(record: RecordRow) -> tuple[object, ...]:
    return (
        record.record_type,
        record.object_id,
        record.title,
        record.training_provider,
        record.completion_date,
        record.other_information,
        record.code,
    )


def manual_record(
    backend: Backend,
    username: str = LEARNER,
    code: str | None = "CLAESS",
    title: str = "First aid",
    provider: str = "Red Cross",
) -> str:
    """A manual record completed on DAY_1 (2023-07-20), as import_row's defaults."""
    return value(
        backend,
        c.AddTrainingRecord(
            username, title, DAY_1, training_provider=provider, code=code
        ),
    )


def record_count(backend: Backend, code: str) -> int:
    return live_code(backend, code).active_record_count


# Creating


@pytest.mark.parametrize("record_id", ["", "0"])
def test_a_row_with_record_id_empty_or_0_creates_a_record(
    backend: Backend, seed: Seed, record_id: str
) -> None:
    data = csv_file(import_row(record_id=record_id, code="CLAESS", other="Room 4"))

    report = do_import(backend, data)

    [record] = records_of(backend)
    assert summary(record) == (
        "TRAINING_RECORD",
        None,
        "First aid",
        "Red Cross",
        "2023-07-20",
        "Room 4",
        "CLAESS",
    )
    assert report.rows == [RowOutcome(2, Action.CREATED, record.record_id)]
    assert (report.file_name, report.dry_run, report.applied) == (FILE, False, True)
    assert report.checksum == hashlib.sha256(data).hexdigest()
    assert (report.problems, report.ignored_columns, report.blank_rows) == ([], [], [])
    assert record_count(backend, "CLAESS") == 1


def test_a_row_without_a_code_creates_a_record_without_one(
    backend: Backend, seed: Seed
) -> None:
    do_import(backend, csv_file(import_row(code="")))

    assert [summary(r)[-1] for r in records_of(backend)] == [None]


def test_two_identical_new_rows_in_one_file_create_one_record(
    backend: Backend, seed: Seed
) -> None:
    row = import_row(code="CLAESS")

    report = do_import(backend, csv_file(row, row))

    [record] = records_of(backend)
    assert report.rows == [
        RowOutcome(2, Action.CREATED, record.record_id),
        RowOutcome(3, Action.DUPLICATE, record.record_id),
    ]
    assert record_count(backend, "CLAESS") == 1


# Updating


def test_an_existing_record_id_updates_that_record(
    backend: Backend, seed: Seed
) -> None:
    record_id = manual_record(backend, code=None)
    row = import_row(
        record_id=record_id,
        title="First aid refresher",
        provider="St John",
        completed="2023-07-21",
        other="Room 4",
        code="CLAESS",
    )

    report = do_import(backend, csv_file(row))

    assert report.rows == [RowOutcome(2, Action.UPDATED, record_id)]
    [record] = records_of(backend)
    assert record.record_id == record_id
    assert summary(record) == (
        "TRAINING_RECORD",
        None,
        "First aid refresher",
        "St John",
        "2023-07-21",
        "Room 4",
        "CLAESS",
    )
    assert record_count(backend, "CLAESS") == 1


def test_an_update_to_another_code_moves_the_record_counts(
    backend: Backend, seed: Seed
) -> None:
    record_id = manual_record(backend, code="CLAESS")

    do_import(backend, csv_file(import_row(record_id=record_id, code="CLARODROP")))

    assert (record_count(backend, "CLAESS"), record_count(backend, "CLARODROP")) == (
        0,
        1,
    )


def test_an_update_of_a_course_record_keeps_its_type_and_object(
    backend: Backend, seed: Seed
) -> None:
    record_id = complete(backend, seed.course).value
    assert record_id is not None
    row = import_row(
        record_id=record_id,
        record_type="Course",
        object_id=seed.course,
        title=COURSE_TITLE,
        provider="Claromentis",
        code="CLAESS",
    )

    report = do_import(backend, csv_file(row))

    assert report.rows == [RowOutcome(2, Action.UPDATED, record_id)]
    assert summary(records_of(backend)[0]) == (
        "COURSE",
        seed.course,
        COURSE_TITLE,
        "Claromentis",
        "2023-07-20",
        "",
        "CLAESS",
    )


def test_a_records_type_and_object_cannot_change(backend: Backend, seed: Seed) -> None:
    record_id = complete(backend, seed.course).value
    assert record_id is not None
    row = import_row(record_id=record_id, title=COURSE_TITLE, code="CLAESS")

    report = rejected(backend, csv_file(row))

    assert report.problems == [
        Problem(
            2,
            RECORD_TYPE,
            "Training Record",
            "A record's type and object cannot change; the record is a Course",
        )
    ]


def test_a_record_id_of_another_learners_record_is_a_row_error(
    backend: Backend, seed: Seed
) -> None:
    bobs = manual_record(backend, username=OTHER_LEARNER)

    report = rejected(backend, csv_file(import_row(record_id=bobs, name=LEARNER)))

    assert report.problems == [
        Problem(2, RECORD_ID, bobs, "That Record Id belongs to another learner")
    ]
    assert [r.record_id for r in records_of(backend, OTHER_LEARNER)] == [bobs]


def test_a_record_id_of_no_record_is_a_row_error(backend: Backend, seed: Seed) -> None:
    unknown = str(uuid4())

    report = rejected(backend, csv_file(import_row(record_id=unknown)))

    assert report.problems == [
        Problem(2, RECORD_ID, unknown, "That Record Id belongs to no active record")
    ]


# Deleting


@pytest.mark.parametrize("delete", ["T", "t", " T ", " t"])
def test_delete_T_in_any_case_deletes_the_record(
    backend: Backend, seed: Seed, delete: str
) -> None:
    record_id = manual_record(backend, code="CLAESS")
    row = import_row(record_id=record_id, code="CLAESS", delete=delete)

    report = do_import(backend, csv_file(row))

    assert report.rows == [RowOutcome(2, Action.DELETED, record_id)]
    assert records_of(backend) == []
    assert record_count(backend, "CLAESS") == 0


@pytest.mark.parametrize("how", ["import", "DeleteRecord"])
def test_deleting_by_import_frees_the_code_for_delete_code_as_delete_record_does(
    backend: Backend, seed: Seed, how: str
) -> None:
    run(backend, c.CreateCode("CPR", "First aid"))
    record_id = manual_record(backend, username=OTHER_LEARNER, code="CPR")
    with pytest.raises(CodeInUse) as refused:
        run(backend, c.DeleteCode("CPR"))
    assert refused.value.message == (
        "CPR cannot be deleted while it is used by 1 active training record. "
        "Remove the code from each of them first."
    )

    if how == "import":
        row = import_row(
            record_id=record_id, name=OTHER_LEARNER, code="CPR", delete="T"
        )
        do_import(backend, csv_file(row))
    else:
        run(backend, c.DeleteRecord(record_id))

    assert record_count(backend, "CPR") == 0
    assert value(backend, c.DeleteCode("CPR")) == "CPR"
    assert code_row(backend, "CPR") is None


@pytest.mark.parametrize("delete", ["Y", "yes", "F", "1"])
def test_delete_values_other_than_T_are_row_errors_and_delete_nothing(
    backend: Backend, seed: Seed, delete: str
) -> None:
    record_id = manual_record(backend)

    report = rejected(backend, csv_file(import_row(record_id=record_id, delete=delete)))

    assert report.problems == [Problem(2, DELETE, delete, DELETE_REASON)]
    assert [r.record_id for r in records_of(backend)] == [record_id]


# Names, codes, objects


def test_an_unknown_username_is_a_row_error(backend: Backend, seed: Seed) -> None:
    report = rejected(backend, csv_file(import_row(name="zed")))

    assert report.problems == [Problem(2, NAME, "zed", "No user is registered as zed")]


def test_a_row_with_an_unknown_user_reports_its_other_faults_too(
    backend: Backend, seed: Seed
) -> None:
    report = rejected(backend, csv_file(import_row(name="zed", code="NOPE1")))

    assert report.problems == [
        Problem(2, NAME, "zed", "No user is registered as zed"),
        Problem(2, CODE, "NOPE1", "There is no qualification code NOPE1"),
    ]


def test_a_huge_bad_cell_is_shown_cut_short(backend: Backend, seed: Seed) -> None:
    title = "x" * 1_000_000

    report = rejected(
        backend, csv_file(import_row(title=title), import_row(name="zed"))
    )

    problem, other = report.problems
    assert (problem.row, problem.column) == (2, TITLE)
    assert problem.value == "x" * 200 + "… (1,000,000 characters in all)"
    assert other == Problem(3, NAME, "zed", "No user is registered as zed")
    assert problem.reason.startswith("A title has at most 200 characters")


def test_an_unknown_code_is_a_row_error(backend: Backend, seed: Seed) -> None:
    report = rejected(backend, csv_file(import_row(code="NOPE1")))

    assert report.problems == [
        Problem(2, CODE, "NOPE1", "There is no qualification code NOPE1")
    ]


def test_a_renamed_code_is_a_row_error_saying_what_it_was_renamed_to(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.RenameCode("CLAESS", "CLAESS2"))
    run(backend, c.RenameCode("CLAESS2", "CLAESS3"))

    report = rejected(
        backend, csv_file(import_row(code="CLAESS"), import_row(code="CLAESS2"))
    )

    assert report.problems == [
        Problem(
            2, CODE, "CLAESS", "The qualification code CLAESS was renamed to CLAESS3"
        ),
        Problem(
            3, CODE, "CLAESS2", "The qualification code CLAESS2 was renamed to CLAESS3"
        ),
    ]


def test_a_deleted_code_is_a_row_error(backend: Backend, seed: Seed) -> None:
    run(backend, c.CreateCode("CPR"))
    run(backend, c.DeleteCode("CPR"))

    report = rejected(backend, csv_file(import_row(code="CPR")))

    assert report.problems == [
        Problem(2, CODE, "CPR", "The qualification code CPR was deleted")
    ]


def _object(backend: Backend, seed: Seed, which: str) -> str:
    if which == "course":
        return seed.course
    if which == "event":
        return seed.drop_in
    if which == "path":
        return path_row(backend).path_id
    if which == "quiz":
        return value(
            backend, c.CreateContent(ContentKind.QUIZ, "CPR theory", pass_mark=80)
        )
    return str(uuid4())


@pytest.mark.parametrize(
    ("label", "which", "kind"),
    [
        ("Course", "course", "COURSE"),
        ("Quiz", "quiz", "QUIZ"),
        ("Training Event", "event", "TRAINING_EVENT"),
        ("Learning Path", "path", "LEARNING_PATH"),
    ],
)
def test_a_content_or_path_row_naming_an_existing_object_of_its_kind_creates(
    backend: Backend, seed: Seed, label: str, which: str, kind: str
) -> None:
    object_id = _object(backend, seed, which)
    row = import_row(record_type=label, object_id=object_id, code="CLAROTAT")

    report = do_import(backend, csv_file(row))

    [record] = records_of(backend)
    assert report.rows == [RowOutcome(2, Action.CREATED, record.record_id)]
    assert (record.record_type, record.object_id) == (kind, object_id)


@pytest.mark.parametrize(
    ("label", "which", "reason"),
    [
        ("Quiz", "course", "That id is a course, not a quiz"),
        ("Training Event", "course", "That id is a course, not a training event"),
        ("Course", "event", "That id is a training event, not a course"),
        ("Course", "quiz", "That id is a quiz, not a course"),
        ("Learning Path", "course", "That id is a course, not a learning path"),
        ("Course", "path", "That id is a learning path, not a course"),
        ("Course", "none", "There is no course with that id"),
        ("Learning Path", "none", "There is no learning path with that id"),
    ],
)
def test_a_row_naming_no_object_of_its_kind_is_a_row_error_saying_what_it_names(
    backend: Backend, seed: Seed, label: str, which: str, reason: str
) -> None:
    object_id = _object(backend, seed, which)

    report = rejected(
        backend, csv_file(import_row(record_type=label, object_id=object_id))
    )

    assert report.problems == [Problem(2, OBJECT_ID, object_id, reason)]


# Dates


@pytest.mark.parametrize(
    ("completed", "reason"),
    [
        ("03/04/2023", DATE_REASON),
        ("2023-06-31", "There is no such day in the calendar"),
        ("2025-01-16", "The Completion Date is in the future"),
    ],
    ids=["ambiguous", "impossible", "future"],
)
def test_a_bad_completion_date_is_a_row_error_naming_row_column_and_value(
    backend: Backend, seed: Seed, completed: str, reason: str
) -> None:
    data = csv_file(import_row(), import_row(completed=completed, title="Other"))

    with pytest.raises(ImportRejected) as refused:
        do_import(backend, data)

    assert refused.value.report.problems == [
        Problem(3, COMPLETION_DATE, completed, reason)
    ]
    assert refused.value.message == (
        "1 problem in records.csv; nothing was imported. Fix the rows listed and "
        "import the file again."
    )
    assert refused.value.field == "file"
    assert records_of(backend) == []


# All or nothing


def test_any_row_error_writes_nothing_and_the_report_lists_every_bad_row(
    backend: Backend, seed: Seed
) -> None:
    to_update = manual_record(backend, code="CLAESS", title="Update me")
    to_delete = manual_record(backend, code="CLARODROP", title="Delete me")
    before = [summary(r) for r in records_of(backend)]
    data = csv_file(
        import_row(code="CLAROTAT"),
        import_row(record_id=to_update, code="CLAROTAT", title="Updated"),
        import_row(record_id=to_delete, code="CLARODROP", delete="T"),
        import_row(completed="2023-06-31"),
        import_row(name="zed"),
        import_row(code="NOPE1"),
        import_row(title="Last", code="CLAESS"),
    )

    with pytest.raises(ImportRejected) as refused:
        do_import(backend, data)

    report = refused.value.report
    assert report.problems == [
        Problem(
            5, COMPLETION_DATE, "2023-06-31", "There is no such day in the calendar"
        ),
        Problem(6, NAME, "zed", "No user is registered as zed"),
        Problem(7, CODE, "NOPE1", "There is no qualification code NOPE1"),
    ]
    assert actions(report) == [
        (2, Action.CREATED),
        (3, Action.UPDATED),
        (4, Action.DELETED),
        (8, Action.CREATED),
    ]
    assert report.applied is False
    assert refused.value.message.startswith("3 problems in records.csv; ")
    assert [summary(r) for r in records_of(backend)] == before
    assert [
        record_count(backend, code) for code in ("CLAESS", "CLARODROP", "CLAROTAT")
    ] == [1, 1, 0]


def test_the_same_record_id_twice_is_an_error_on_both_rows(
    backend: Backend, seed: Seed
) -> None:
    record_id = manual_record(backend)
    data = csv_file(
        import_row(record_id=record_id, title="One"),
        import_row(title="New"),
        import_row(record_id=record_id, delete="T"),
    )

    report = rejected(backend, data)

    reason = "The same Record Id is on rows 2, 4"
    assert report.problems == [
        Problem(2, RECORD_ID, record_id, reason),
        Problem(4, RECORD_ID, record_id, reason),
    ]
    assert [summary(r)[2] for r in records_of(backend)] == ["First aid"]


def test_the_same_record_id_twice_is_reported_on_both_rows_beside_other_errors(
    backend: Backend, seed: Seed
) -> None:
    record_id = manual_record(backend)
    data = csv_file(
        import_row(record_id=record_id, completed="2023-06-31"),
        import_row(record_id=record_id, title="Two"),
    )

    report = rejected(backend, data)

    reason = "The same Record Id is on rows 2, 3"
    assert report.problems == [
        Problem(
            2, COMPLETION_DATE, "2023-06-31", "There is no such day in the calendar"
        ),
        Problem(2, RECORD_ID, record_id, reason),
        Problem(3, RECORD_ID, record_id, reason),
    ]


# Duplicates and importing twice


def test_a_new_row_matching_an_existing_record_is_a_duplicate_not_created(
    backend: Backend, seed: Seed
) -> None:
    record_id = manual_record(backend, code="CLAESS")
    before = position(backend)

    report = do_import(backend, csv_file(import_row(code="CLAESS", other="a note")))

    assert report.rows == [RowOutcome(2, Action.DUPLICATE, record_id)]
    assert report.import_id is None
    assert position(backend) == before
    assert [r.record_id for r in records_of(backend)] == [record_id]
    assert record_count(backend, "CLAESS") == 1


def test_a_new_row_matching_a_completion_record_is_a_duplicate(
    backend: Backend, seed: Seed
) -> None:
    record_id = complete(backend, seed.course).value
    assert record_id is not None
    row = import_row(title=COURSE_TITLE, provider="", code="CLAESS")

    report = do_import(backend, csv_file(row))

    assert report.rows == [RowOutcome(2, Action.DUPLICATE, record_id)]


@pytest.mark.parametrize(
    "change",
    [
        {"name": OTHER_LEARNER},
        {"code": "CLARODROP"},
        {"completed": "2023-07-21"},
        {"provider": "St John"},
        {"title": "First aid, part 2"},
    ],
    ids=["learner", "code", "date", "provider", "title"],
)
def test_a_new_row_differing_in_learner_code_date_provider_or_title_is_created(
    backend: Backend, seed: Seed, change: dict[str, str]
) -> None:
    existing = manual_record(backend, code="CLAESS")

    report = do_import(backend, csv_file(import_row(**{"code": "CLAESS", **change})))

    assert actions(report) == [(2, Action.CREATED)]
    assert report.rows[0].record_id != existing


def test_importing_the_same_file_twice_changes_nothing_the_second_time(
    backend: Backend, seed: Seed
) -> None:
    to_update = manual_record(backend, code="CLAESS", title="Update me")
    to_delete = manual_record(backend, code="CLARODROP", title="Delete me")
    data = csv_file(
        import_row(code="CLAROTAT", title="New"),
        import_row(record_id=to_update, code="CLAESS", title="Updated"),
        import_row(record_id=to_delete, code="CLARODROP", delete="T"),
        import_row(name=OTHER_LEARNER, code="CLAESS"),
    )
    first = do_import(backend, data)
    after_first = position(backend)
    records = [summary(r) for r in records_of(backend)]

    second = do_import(backend, data)

    assert actions(first) == [
        (2, Action.CREATED),
        (3, Action.UPDATED),
        (4, Action.DELETED),
        (5, Action.CREATED),
    ]
    assert second.rows == [
        RowOutcome(2, Action.UNCHANGED, first.rows[0].record_id),
        RowOutcome(3, Action.UNCHANGED, to_update),
        RowOutcome(4, Action.UNCHANGED, to_delete),
        RowOutcome(5, Action.UNCHANGED, first.rows[3].record_id),
    ]
    assert second.import_id is None
    assert position(backend) == after_first
    assert [summary(r) for r in records_of(backend)] == records


def test_a_file_imported_again_still_reports_its_duplicates_as_duplicates(
    backend: Backend, seed: Seed
) -> None:
    existing = manual_record(backend, code="CLAESS")
    data = csv_file(
        import_row(code="CLAESS"),
        import_row(code="CLAROTAT"),
        import_row(code="CLAROTAT"),
    )
    first = do_import(backend, data)

    second = do_import(backend, data)

    made = first.rows[1].record_id
    assert first.rows == [
        RowOutcome(2, Action.DUPLICATE, existing),
        RowOutcome(3, Action.CREATED, made),
        RowOutcome(4, Action.DUPLICATE, made),
    ]
    assert second.rows == [
        RowOutcome(2, Action.DUPLICATE, existing),
        RowOutcome(3, Action.UNCHANGED, made),
        RowOutcome(4, Action.DUPLICATE, made),
    ]


@pytest.mark.parametrize("how", ["deleted", "changed"])
def test_a_file_imported_again_after_its_record_was_deleted_or_changed_makes_another(
    backend: Backend, seed: Seed, how: str
) -> None:
    data = csv_file(import_row(code="CLAROTAT", title="Rotation"))
    made = do_import(backend, data).rows[0].record_id
    if how == "deleted":
        run(backend, c.DeleteRecord(made))
    else:
        changed = import_row(record_id=made, code="CLAROTAT", title="Other")
        do_import(backend, csv_file(changed))

    again = do_import(backend, data)

    assert actions(again) == [(2, Action.CREATED)]
    assert again.rows[0].record_id != made
    kept = {"deleted": [], "changed": [(made, "Other")]}[how]
    assert sorted((r.record_id, r.title) for r in records_of(backend)) == sorted(
        [*kept, (again.rows[0].record_id, "Rotation")]
    )
    assert do_import(backend, data).rows == [
        RowOutcome(2, Action.UNCHANGED, again.rows[0].record_id)
    ]


def test_a_file_imported_again_finds_its_own_record_beside_one_made_to_match_it(
    backend: Backend, seed: Seed
) -> None:
    data = csv_file(import_row(code="CLAROTAT", title="Rotation"))
    made = do_import(backend, data).rows[0].record_id
    other = (
        do_import(
            backend, csv_file(import_row(code="CLAROTAT", title="Rotation, part 2"))
        )
        .rows[0]
        .record_id
    )
    do_import(
        backend,
        csv_file(import_row(record_id=other, code="CLAROTAT", title="Rotation")),
    )

    again = do_import(backend, data)

    assert again.rows == [RowOutcome(2, Action.UNCHANGED, made)]


def test_a_dry_run_names_a_row_made_anew_as_the_real_import_does(
    backend: Backend, seed: Seed
) -> None:
    data = csv_file(import_row(code="CLAROTAT"))
    run(backend, c.DeleteRecord(do_import(backend, data).rows[0].record_id))
    dry = do_import(backend, data, dry_run=True)
    manual_record(backend, code="CLAESS", title="Meanwhile")

    real = do_import(backend, data)

    assert actions(real) == [(2, Action.CREATED)]
    assert real.rows == dry.rows


# Dry runs


def test_a_dry_run_writes_nothing(backend: Backend, seed: Seed) -> None:
    record_id = manual_record(backend, code="CLAESS")
    before = position(backend)
    data = csv_file(
        import_row(code="CLAROTAT", title="New"),
        import_row(record_id=record_id, delete="T", code="CLAESS"),
    )

    report = do_import(backend, data, dry_run=True)

    assert actions(report) == [(2, Action.CREATED), (3, Action.DELETED)]
    assert (report.dry_run, report.import_id, report.applied) == (True, None, False)
    assert position(backend) == before
    assert [r.record_id for r in records_of(backend)] == [record_id]
    assert record_count(backend, "CLAESS") == 1


@pytest.mark.parametrize("new_rows", [False, True], ids=["changes", "with-new-rows"])
def test_a_dry_run_report_equals_the_real_one_but_for_dry_run_and_import_id(
    backend: Backend, seed: Seed, new_rows: bool
) -> None:
    to_update = manual_record(backend, code="CLAESS", title="Update me")
    to_delete = manual_record(backend, code="CLARODROP", title="Delete me")
    to_keep = manual_record(backend, code="CLAROTAT", title="Keep me")
    rows = [
        import_row(record_id=to_update, code="CLAESS", title="Updated"),
        import_row(record_id=to_delete, code="CLARODROP", delete="T"),
        import_row(record_id=to_keep, code="CLAROTAT", title="Keep me"),
        import_row(code="CLAROTAT", title="Keep me"),
    ]
    if new_rows:
        rows.append(import_row(code="CLAROTAT", title="New"))
    data = csv_file(*rows, headings=EXPORT_HEADINGS)

    dry = do_import(backend, data, dry_run=True)
    real = do_import(backend, data)

    assert real.import_id is not None
    assert replace(dry, dry_run=False, import_id=real.import_id) == real


def test_a_dry_run_names_new_records_as_the_real_import_does_after_other_changes(
    backend: Backend, seed: Seed
) -> None:
    data = csv_file(import_row(code="CLAROTAT", title="New"))
    dry = do_import(backend, data, dry_run=True)
    manual_record(backend, code="CLAESS", title="Meanwhile")

    real = do_import(backend, data)

    assert actions(real) == [(2, Action.CREATED)]
    assert real.rows == dry.rows


def test_a_dry_run_of_a_bad_file_is_rejected_with_the_real_runs_problems(
    backend: Backend, seed: Seed
) -> None:
    data = csv_file(import_row(code="NOPE1"), import_row(completed="03/04/2023"))

    dry = rejected(backend, data, dry_run=True)
    real = rejected(backend, data)

    assert (
        dry.problems
        == real.problems
        == [
            Problem(2, CODE, "NOPE1", "There is no qualification code NOPE1"),
            Problem(3, COMPLETION_DATE, "03/04/2023", DATE_REASON),
        ]
    )
    assert replace(dry, dry_run=False, import_id=real.import_id) == real


# The report's notes


def test_ignored_columns_and_blank_rows_are_in_the_report(
    backend: Backend, seed: Seed
) -> None:
    data = (
        csv_file(
            {**import_row(code="CLAESS"), "Email": "alice@example.com"},
            headings=EXPORT_HEADINGS,
            bom=True,
        )
        + b",,,,,,,,,,,,\r\n,,,,,,,,,,,,\r\n"
    )

    report = do_import(backend, data)

    assert actions(report) == [(2, Action.CREATED)]
    assert report.ignored_columns == ["Email", "Firstname", "Lastname"]
    assert report.blank_rows == [3, 4]


# Audit


def test_every_event_of_an_import_carries_the_imports_id(
    backend: Backend, seed: Seed
) -> None:
    to_update = manual_record(backend, code="CLAESS", title="Update me")
    to_delete = manual_record(backend, code="CLARODROP", title="Delete me")
    data = csv_file(
        import_row(code="CLAROTAT", title="New"),
        import_row(record_id=to_update, code="CLAESS", title="Updated"),
        import_row(record_id=to_delete, code="CLARODROP", delete="T"),
        import_row(code="CLAESS", title="Updated"),
    )
    before = position(backend)

    report = do_import(backend, data)

    events = events_since(backend, before)
    assert report.import_id is not None
    assert {(e.actor, e.correlation_id) for e in events} == {
        ("system", report.import_id)
    }
    [imported] = [e for e in events if isinstance(e, RecordsImported)]
    assert imported.originator_id == UUID(report.import_id)
    assert (imported.file_name, imported.checksum) == (
        FILE,
        hashlib.sha256(data).hexdigest(),
    )
    assert (
        imported.created,
        imported.updated,
        imported.deleted,
        imported.unchanged,
        imported.duplicates,
    ) == (1, 1, 1, 0, 1)


def test_an_import_under_a_request_id_carries_that_id(
    backend: Backend, seed: Seed
) -> None:
    before = position(backend)

    report = do_import(
        backend, csv_file(import_row(code="CLAESS")), correlation_id="req-42"
    )

    events = events_since(backend, before)
    assert report.import_id == "req-42"
    assert {e.correlation_id for e in events} == {"req-42"}
    assert [type(e).__name__ for e in events if isinstance(e, RecordsImported)] == [
        "RecordsImported"
    ]


def test_a_file_that_changes_nothing_appends_no_event_not_even_its_own(
    backend: Backend, seed: Seed
) -> None:
    record_id = manual_record(backend, code="CLAESS")
    before = position(backend)
    data = csv_file(import_row(record_id=record_id, code="CLAESS"))

    report = do_import(backend, data)

    assert report.rows == [RowOutcome(2, Action.UNCHANGED, record_id)]
    assert report.import_id is None
    assert position(backend) == before


# Read models


def test_path_progress_and_code_usage_reflect_an_import_as_soon_as_it_returns(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.JoinPath(SEED_PATH, LEARNER))
    assert points(backend) == (0, 40, 0)

    do_import(backend, csv_file(import_row(code="CLAESS")))

    assert points(backend) == (20, 40, 50)
    assert record_count(backend, "CLAESS") == 1


def test_an_import_completing_a_path_awards_it(backend: Backend, seed: Seed) -> None:
    run(backend, c.JoinPath(SEED_PATH, LEARNER))
    data = csv_file(
        import_row(code="CLAESS", completed="2023-07-20"),
        import_row(code="CLARODROP", completed="2023-07-24", title="Drop in"),
        import_row(code="CLAROTAT", completed="2023-07-21", title="Tips"),
    )

    report = do_import(backend, data)

    assert actions(report) == [(n, Action.CREATED) for n in (2, 3, 4)]
    assert points(backend) == (40, 40, 100)
    [award] = path_records(backend)
    assert (award.title, award.code, award.completion_date) == (
        SEED_PATH_TITLE,
        SEED_PATH,
        "2023-07-24",
    )
    found = participant(backend)
    assert found is not None
    assert found.award_record_id == award.record_id
    assert record_count(backend, SEED_PATH) == 1


def test_deleting_a_step_record_by_import_lowers_progress_at_once(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.JoinPath(SEED_PATH, LEARNER))
    record_id = manual_record(backend, code="CLARODROP")
    assert points(backend) == (10, 40, 25)

    do_import(
        backend,
        csv_file(import_row(record_id=record_id, code="CLARODROP", delete="T")),
    )

    assert points(backend) == (0, 40, 0)
    assert record_count(backend, "CLARODROP") == 0


# Rights


def test_a_learner_may_not_import(backend: Backend, seed: Seed) -> None:
    before = position(backend)

    with pytest.raises(Forbidden) as refused:
        do_import(backend, csv_file(import_row()), by=learner(LEARNER))

    assert refused.value.message == (
        "The learner role may not add, edit and delete everyone's training records."
    )
    assert position(backend) == before


def test_a_manager_may_import_their_subordinates_records(
    backend: Backend, seed: Seed
) -> None:
    mia = Principal("mia", Role.MANAGER, subordinates=frozenset({LEARNER}))
    report = do_import(backend, csv_file(import_row()), by=mia)

    assert actions(report) == [(2, Action.CREATED)]


def test_a_deleting_file_re_imports_unchanged_after_its_code_is_deleted(
    backend: Backend, seed: Seed
) -> None:
    run(backend, c.CreateCode("CPR", "First aid"))
    record_id = manual_record(backend, username=OTHER_LEARNER, code="CPR")
    data = csv_file(
        import_row(record_id=record_id, name=OTHER_LEARNER, code="CPR", delete="T")
    )
    do_import(backend, data)
    run(backend, c.DeleteCode("CPR"))
    head = backend.log.recorder.max_notification_id()

    again = do_import(backend, data)

    assert [(row.action, row.record_id) for row in again.rows] == [
        (Action.UNCHANGED, record_id)
    ]
    assert again.applied is False
    assert backend.log.recorder.max_notification_id() == head


def test_a_file_that_changes_nothing_is_not_applied(
    backend: Backend, seed: Seed
) -> None:
    data = csv_file(import_row(code="CLAESS"))
    first = do_import(backend, data)

    second = do_import(backend, data)

    assert first.applied is True
    assert second.applied is False
    assert [row.action for row in second.rows] == [Action.UNCHANGED]


def test_an_import_runs_with_garbage_collection_paused_and_gives_it_back(
    backend: Backend, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool]] = []
    execute = backend.write_model.execute

    def watched(command: c.Command, *args: object) -> object:
        seen.append((type(command).__name__, gc.isenabled()))
        return execute(command, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(backend.write_model, "execute", watched)
    gc.enable()

    do_import(backend, csv_file(import_row(code="CLAESS")))
    run(backend, c.CreateCode("NEWCODE", "New"))

    assert seen == [("ImportTrainingRecords", False), ("CreateCode", True)]
    assert gc.isenabled()


@pytest.mark.parametrize("name", ["", "abc:2:7", "Zoë ✓ 😀", "x" * 500])
def test_a_new_records_id_is_the_uuid5_of_its_learner_and_row(name: str) -> None:
    # Stores made before hold ids derived with uuid5 itself: they must agree.
    namespace = uuid4()

    assert name_based_id(namespace, name) == str(uuid5(namespace, name))
