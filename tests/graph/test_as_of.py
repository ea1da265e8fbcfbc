"""asOf: answers as the system would have given them at a moment in the past."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

import pytest

from domain import commands as c
from domain.imports import read_file
from domain.principal import SYSTEM
from tests.csv_support import csv_file, import_row
from tests.graph.conftest import GraphQLClient, Server
from tests.support import LEARNER, complete, course, register, run, value


def moment() -> str:
    # Events are stamped to the microsecond; a pause keeps moments apart from them.
    time.sleep(0.005)
    now = datetime.now(UTC).isoformat()
    time.sleep(0.005)
    return now


@pytest.fixture
def story(server: Server) -> dict[str, str]:
    """A course and path on CPR; alice completes, CPR is renamed, the record goes."""
    backend = server.backend
    register(backend, LEARNER)
    before_code = moment()
    content = course(backend, "CPR Basics", "CPR")
    run(
        backend,
        c.CreateLearningPath(
            "SAFETY", "Safety", steps=(c.StepInput("CPR", "CPR", 10),)
        ),
    )
    run(backend, c.JoinPath("SAFETY", LEARNER))
    before_completion = moment()
    record = complete(backend, content, date(2025, 3, 1)).value
    assert record is not None
    completed = moment()
    run(backend, c.RenameCode("CPR", "CPR2"))
    renamed = moment()
    run(backend, c.SetCodeValidity("CPR2", 12))
    run(backend, c.DeleteRecord(record))
    deleted = moment()
    old_paper = value(
        backend,
        c.AddTrainingRecord(LEARNER, "CPR, old paper", date(2024, 3, 2), code="CPR2"),
    )
    before_import = moment()
    data = csv_file(
        import_row(
            name=LEARNER, title="CPR, imported", completed="2025-05-10", code="CPR2"
        )
    )
    imported = backend.handle(
        c.ImportTrainingRecords("cpr.csv", read_file(data, date(2026, 1, 1))), SYSTEM
    )
    assert imported.report is not None
    (row,) = imported.report.rows
    return {
        "before_import": before_import,
        "imported": row.record_id,
        "before_code": before_code,
        "before_completion": before_completion,
        "completed": completed,
        "renamed": renamed,
        "deleted": deleted,
        "record": record,
        "old_paper": old_paper,
    }


RECORDS = (
    'query($at: DateTime) { trainingRecords(username: "alice", asOf: $at) { '
    "totalCount nodes { recordId code title completionDate recordedAt } } }"
)
PROGRESS = (
    'query($at: DateTime) { pathProgress(pathCode: "SAFETY", username: "alice", '
    'on: "2025-06-01", asOf: $at) { pointsEarned complete satisfiedSteps { code } } }'
)
CODE = (
    "query($name: String!, $at: DateTime) { code(code: $name, asOf: $at) { code "
    "activeRecordCount validityMonths usedIn { kind } } }"
)


async def records(client: GraphQLClient, at: str | None) -> dict[str, Any]:
    return (await client.data(RECORDS, {"at": at}))["trainingRecords"]


async def test_a_deleted_record_is_still_listed_as_of_before_it_went(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    def codes(page: dict[str, Any]) -> dict[str, str]:
        return {n["recordId"]: n["code"] for n in page["nodes"]}

    assert (await records(client, story["before_completion"]))["totalCount"] == 0

    # The completion also awarded the path, whose record carries its own code.
    then = codes(await records(client, story["completed"]))
    assert then.pop(story["record"]) == "CPR"
    assert list(then.values()) == ["SAFETY"]
    # As of after the rename, the same record shows the code's new name.
    renamed = codes(await records(client, story["renamed"]))
    assert renamed[story["record"]] == "CPR2"
    # Deleted: the record is gone; the award, never taken back, stays.
    assert list(codes(await records(client, story["deleted"])).values()) == ["SAFETY"]


async def test_known_since_and_held_since_are_two_questions(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    # Recorded after everything else, though it says it happened in 2024.
    now = {n["recordId"]: n for n in (await records(client, None))["nodes"]}
    paper = now[story["old_paper"]]
    assert paper["completionDate"] == "2024-03-02"
    assert paper["recordedAt"] > story["deleted"]
    then = await records(client, story["deleted"])
    assert story["old_paper"] not in {n["recordId"] for n in then["nodes"]}

    held = await client.data(
        'query { certificate(username: "alice", code: "CPR2", on: "2024-03-05") '
        "{ completionDate status } }"
    )
    assert held["certificate"] == {"completionDate": "2024-03-02", "status": "VALID"}


async def test_progress_as_of_shows_the_points_as_they_were(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    then = (await client.data(PROGRESS, {"at": story["completed"]}))["pathProgress"]
    assert then == {
        "pointsEarned": 10,
        "complete": True,
        "satisfiedSteps": [{"code": "CPR"}],
    }
    before = (await client.data(PROGRESS, {"at": story["before_completion"]}))[
        "pathProgress"
    ]
    assert before["pointsEarned"] == 0
    # Before the import, only the 2024 paper record was held; it expired on
    # 2025-03-02, before the day measured.
    lapsed = (await client.data(PROGRESS, {"at": story["before_import"]}))[
        "pathProgress"
    ]
    assert (lapsed["pointsEarned"], lapsed["complete"]) == (0, False)


async def test_a_code_as_of_a_moment_has_its_name_count_and_validity_of_then(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    async def code(name: str, at: str) -> Any:
        return (await client.data(CODE, {"name": name, "at": at}))["code"]

    assert await code("CPR", story["before_code"]) is None
    assert await code("CPR", story["completed"]) == {
        "code": "CPR",
        "activeRecordCount": 1,
        "validityMonths": None,
        "usedIn": [{"kind": "COURSE"}, {"kind": "LEARNING_STEP"}],
    }
    assert await code("CPR2", story["completed"]) is None
    moved = await code("CPR", story["renamed"])
    assert (moved["code"], moved["activeRecordCount"]) == ("CPR2", 1)
    gone = await code("CPR2", story["deleted"])
    assert (gone["activeRecordCount"], gone["validityMonths"]) == (0, 12)


async def test_a_path_as_of_before_it_existed_is_null_and_lists_no_participants(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    query = (
        'query($at: DateTime) { learningPath(code: "SAFETY", asOf: $at) '
        "{ title steps { code } } }"
    )
    assert (await client.data(query, {"at": story["before_code"]})) == {
        "learningPath": None
    }
    then = await client.data(query, {"at": story["completed"]})
    assert then["learningPath"] == {"title": "Safety", "steps": [{"code": "CPR"}]}

    response = await client.post(
        'query($at: DateTime) { learningPath(code: "SAFETY", asOf: $at) '
        "{ participants { totalCount } } }",
        {"at": story["completed"]},
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert error["extensions"]["field"] == "asOf"


async def test_as_of_for_everyones_records_is_refused_by_name(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    response = await client.post(
        "query($at: DateTime) { trainingRecords(asOf: $at) { totalCount } }",
        {"at": story["completed"]},
    )
    (error,) = response.json()["errors"]
    assert error["message"] == (
        "asOf rebuilds one learner's records: name the username."
    )
    assert error["extensions"]["field"] == "username"


async def test_an_import_is_known_from_the_moment_it_was_applied(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    before = {
        n["recordId"] for n in (await records(client, story["before_import"]))["nodes"]
    }
    now = {n["recordId"]: n for n in (await records(client, None))["nodes"]}

    assert story["imported"] not in before
    assert now[story["imported"]]["completionDate"] == "2025-05-10"
    assert now[story["imported"]]["title"] == "CPR, imported"
    # The renewal counts on the path from its own completion date.
    renewed = (await client.data(PROGRESS))["pathProgress"]
    assert (renewed["pointsEarned"], renewed["complete"]) == (10, True)


async def test_history_under_an_as_of_answer_ends_at_that_moment(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    data = await client.data(
        'query($at: DateTime) { trainingRecords(username: "alice", asOf: $at) { '
        "nodes { recordId history { nodes { type } } } } "
        'code(code: "CPR", asOf: $at) { history(first: 100) { nodes { type } } } '
        'learningPath(code: "SAFETY", asOf: $at) { history { nodes { type } } } }',
        {"at": story["completed"]},
    )

    (record,) = [
        n for n in data["trainingRecords"]["nodes"] if n["recordId"] == story["record"]
    ]
    assert [n["type"] for n in record["history"]["nodes"]] == [
        "ContentCompleted",
        "TrainingRecordAdded",
    ]
    code_types = {n["type"] for n in data["code"]["history"]["nodes"]}
    assert "CodeRenamed" not in code_types
    assert "CodeValiditySet" not in code_types
    assert [n["type"] for n in data["learningPath"]["history"]["nodes"]] == [
        "PathCreated",
        "PathStepsSet",
    ]


async def test_moments_at_the_ends_of_the_calendar_are_answered(
    client: GraphQLClient, story: dict[str, str]
) -> None:
    # Their UTC time lies outside what a date can hold; every event lies between.
    latest = "9999-12-31T23:59:59-12:00"
    earliest = "0001-01-01T00:00:00+01:00"

    assert await records(client, latest) == await records(client, None)
    # Before the beginning nobody was registered yet, which is what it says.
    before = (await client.post(RECORDS, {"at": earliest})).json()
    assert [e["extensions"]["code"] for e in before["errors"]] == ["NOT_FOUND"]
    events = await client.data(
        "query($from: DateTime, $to: DateTime) { after: events(filter: {from: $from})"
        " { totalCount } before: events(filter: {to: $to}) { totalCount } }",
        {"from": latest, "to": earliest},
    )
    assert events == {"after": {"totalCount": 0}, "before": {"totalCount": 0}}
