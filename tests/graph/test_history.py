"""The event log over GraphQL: events(filter), and history on codes, paths, records."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest

from domain import commands as c
from domain.principal import Principal, Role
from projections.integrity import chained_entries
from tests.graph.conftest import GraphQLClient, Server
from tests.support import LEARNER, complete, course, register, run, value

PAGE = (
    "totalCount pageInfo { hasNextPage endCursor } nodes { position type actor "
    "aggregateVersion correlationId payload }"
)


@pytest.fixture
def scripted(server: Server) -> dict[str, str]:
    """Create, rename twice, a validity, a course, a completion, a correction."""
    backend = server.backend
    carla = Principal("carla", Role.ADMIN)
    register(backend, LEARNER)
    run(backend, c.CreateCode("CPR", "First aid"))
    run(backend, c.RenameCode("CPR", "CPR2"))
    run(backend, c.RenameCode("CPR2", "CPR3"), carla)
    run(backend, c.SetCodeValidity("CPR3", 12))
    content = course(backend, "CPR Basics", "CPR3")
    record = complete(backend, content, date(2025, 1, 5)).value
    assert record is not None
    run(backend, c.UpdateTrainingRecord(record, title="CPR Basics (retaken)"))
    manual = value(
        backend,
        c.AddTrainingRecord(LEARNER, "Old paper", date(2020, 1, 1), code="CPR3"),
    )
    run(backend, c.DeleteRecord(manual))
    return {"record": record, "manual": manual, "content": content}


def types(page: dict[str, Any]) -> list[str]:
    return [node["type"] for node in page["nodes"]]


async def test_a_codes_history_shows_every_name_it_has_had(
    client: GraphQLClient, scripted: dict[str, str]
) -> None:
    data = await client.data(
        f'{{ code(code: "CPR3") {{ history(first: 100) {{ {PAGE} }} }} }}'
    )
    history = data["code"]["history"]
    assert types(history)[:4] == [
        "CodeCreated",
        "CodeRenamed",
        "CodeRenamed",
        "CodeValiditySet",
    ]
    created, first, second, validity = history["nodes"][:4]
    assert created["payload"] == {"code": "CPR", "description": "First aid"}
    assert first["payload"] == {"old_code": "CPR", "new_code": "CPR2"}
    assert (second["payload"], second["actor"]) == (
        {"old_code": "CPR2", "new_code": "CPR3"},
        "carla",
    )
    assert validity["payload"]["new_months"] == 12
    positions = [node["position"] for node in history["nodes"]]
    assert positions == sorted(positions)


async def test_a_records_history_follows_it_from_added_to_deleted(
    client: GraphQLClient, scripted: dict[str, str]
) -> None:
    data = await client.data(
        '{ trainingRecords(username: "alice") { nodes { recordId '
        f"history {{ {PAGE} }} }} }} }}"
    )
    (node,) = data["trainingRecords"]["nodes"]
    assert node["recordId"] == scripted["record"]
    # The completion that produced the record names it, so it is part of its story.
    assert types(node["history"]) == [
        "ContentCompleted",
        "TrainingRecordAdded",
        "TrainingRecordUpdated",
    ]
    assert node["history"]["nodes"][2]["payload"]["title"] == "CPR Basics (retaken)"

    # A deleted record is gone from the lists, but not from the log.
    gone = await client.data(
        f"query($id: ID) {{ events(filter: {{recordId: $id}}) {{ {PAGE} }} }}",
        {"id": scripted["manual"]},
    )
    assert types(gone["events"]) == ["TrainingRecordAdded", "TrainingRecordDeleted"]


async def test_events_page_by_position_and_filter_by_type_actor_and_request(
    client: GraphQLClient, scripted: dict[str, str]
) -> None:
    query = (
        "query($after: String, $filter: EventFilterInput) { events(first: 3, "
        f"after: $after, filter: $filter) {{ {PAGE} }} }}"
    )
    first = (await client.data(query))["events"]
    total = first["totalCount"]
    seen = list(first["nodes"])
    after = first["pageInfo"]["endCursor"]
    while after is not None and len(seen) < total:
        page = (await client.data(query, {"after": after}))["events"]
        seen += page["nodes"]
        after = (
            page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
        )
    assert len(seen) == total
    assert [n["position"] for n in seen] == sorted({n["position"] for n in seen})

    renames = (await client.data(query, {"filter": {"type": "CodeRenamed"}}))["events"]
    assert renames["totalCount"] == 2
    by_carla = (await client.data(query, {"filter": {"actor": "Carla"}}))["events"]
    assert sorted(types(by_carla)) == [
        "CodeNameClaimed",
        "CodeNameReleased",
        "CodeRenamed",
    ]

    correlation = renames["nodes"][0]["correlationId"]
    same_command = (
        await client.data(query, {"filter": {"correlationId": correlation}})
    )["events"]
    # A rename touches the code and both names' claims, in one command.
    assert sorted(types(same_command)) == [
        "CodeNameClaimed",
        "CodeNameReleased",
        "CodeRenamed",
    ]

    future = (await client.data(query, {"filter": {"from": "2999-01-01T00:00:00Z"}}))[
        "events"
    ]
    assert future["totalCount"] == 0
    past = (await client.data(query, {"filter": {"to": "2000-01-01T00:00:00Z"}}))[
        "events"
    ]
    assert past["totalCount"] == 0


async def test_a_registered_username_filters_the_log_to_that_learners_events(
    client: GraphQLClient, scripted: dict[str, str]
) -> None:
    query = (
        "query($filter: EventFilterInput) { events(first: 100, filter: $filter) "
        "{ nodes { type } } }"
    )

    mine = (await client.data(query, {"filter": {"username": LEARNER.upper()}}))[
        "events"
    ]

    assert types(mine) == [
        "UserRegistered",
        "Enrolled",
        "ContentCompleted",
        "TrainingRecordAdded",
        "TrainingRecordUpdated",
        "TrainingRecordAdded",
        "TrainingRecordDeleted",
    ]


async def test_a_user_known_only_by_their_rights_filters_the_log_to_them(
    client: GraphQLClient,
) -> None:
    await client.data(
        'mutation { assignRole(input: {username: "carol", role: AUDITOR}) '
        "{ userErrors { code } } }"
    )

    found = await client.data(
        '{ events(first: 10, filter: {username: "carol"}) { nodes { type } } }'
    )

    assert types(found["events"]) == ["AccessOpened", "RoleAssigned"]


async def test_a_requests_id_finds_the_events_it_caused(
    client: GraphQLClient, server: Server
) -> None:
    response = await client.post(
        'mutation { createCode(input: {code: "AED"}) { userErrors { code } } }',
        **{"X-Request-Id": "req-aed-1"},
    )
    assert response.status_code == 200
    data = await client.data(
        '{ events(filter: {correlationId: "req-aed-1"}) { nodes { type actor } } }'
    )
    assert data["events"]["nodes"] == [
        {"type": "CodeCreated", "actor": "admin"},
        {"type": "CodeNameClaimed", "actor": "admin"},
    ]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, True),
        (Role.AUDITOR, True),
        (Role.ANALYST, False),
        (Role.MANAGER, False),
        (Role.LEARNER, False),
    ],
)
async def test_only_auditors_and_admins_read_the_log(
    client: GraphQLClient, scripted: dict[str, str], role: Role, allowed: bool
) -> None:
    reader = client.as_user("reader", role)
    for query in (
        "{ events { totalCount } }",
        '{ code(code: "CPR3") { history { totalCount } } }',
    ):
        body = (await reader.post(query)).json()
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        assert codes == ([] if allowed else ["FORBIDDEN"])


async def test_a_learner_reads_the_history_of_their_own_records(
    client: GraphQLClient, scripted: dict[str, str]
) -> None:
    alice = client.as_user(LEARNER, Role.LEARNER)
    data = await alice.data(
        "{ trainingRecords { nodes { history { nodes { type } } } } }"
    )
    (node,) = data["trainingRecords"]["nodes"]
    assert [n["type"] for n in node["history"]["nodes"]] == [
        "ContentCompleted",
        "TrainingRecordAdded",
        "TrainingRecordUpdated",
    ]


@pytest.mark.parametrize(
    ("arguments", "code", "field", "message"),
    [
        (
            'filter: {type: "CodeRenamedd"}',
            "INVALID_INPUT",
            "type",
            "There is no event type 'CodeRenamedd'; types are named like "
            "CodeRenamed or TrainingRecordAdded.",
        ),
        (
            'filter: {recordId: "not-an-id"}',
            "BAD_USER_INPUT",
            "recordId",
            "'not-an-id' is not an id this system issued.",
        ),
        (
            'after: "WyJldmVudCIsIngiXQ"',
            "BAD_USER_INPUT",
            "after",
            "The cursor is damaged or belongs to another list; use one this list "
            "returned.",
        ),
        (
            'filter: {code: "NOSUCH"}',
            "NOT_FOUND",
            "code",
            "There is no qualification code NOSUCH.",
        ),
        (
            'filter: {username: " Nobody "}',
            "NOT_FOUND",
            "username",
            "No user named nobody appears in the log.",
        ),
        (
            'filter: {code: "CPR", username: "alice"}',
            "INVALID_INPUT",
            "username",
            "code and username each choose whose events to list, and an event "
            "belongs to one only: give one of code, username, pathCode, "
            "contentId, aggregateId.",
        ),
        (
            'filter: {actor: " "}',
            "INVALID_INPUT",
            "actor",
            "actor is empty; leave it out to list events of any actor.",
        ),
        (
            'filter: {correlationId: ""}',
            "INVALID_INPUT",
            "correlationId",
            "correlationId is empty; leave it out to list events of any correlationId.",
        ),
        (
            'filter: {from: "2026-01-02T00:00:00+01:00", to: "2026-01-01T22:00:00Z"}',
            "INVALID_INPUT",
            "from",
            "from is later than to: no moment lies between them.",
        ),
    ],
    ids=[
        "unknown type",
        "foreign record id",
        "foreign cursor",
        "unknown code",
        "unknown username",
        "two aggregates",
        "blank actor",
        "empty request id",
        "backwards range",
    ],
)
async def test_a_bad_filter_or_cursor_is_refused_by_name(
    client: GraphQLClient, arguments: str, code: str, field: str, message: str
) -> None:
    body = (await client.post(f"{{ events({arguments}) {{ totalCount }} }}")).json()
    (error,) = body["errors"]
    assert error["message"] == message
    assert error["extensions"]["code"] == code
    assert error["extensions"]["field"] == field


async def test_the_audit_log_integrity_holds_through_the_last_event(
    client: GraphQLClient, server: Server, scripted: dict[str, str]
) -> None:
    data = await client.data(
        "{ auditLogIntegrity { intact checkedEvents checkedThrough "
        "firstBrokenPosition reason } }"
    )
    last = server.backend.log.recorder.max_notification_id()
    # PostgreSQL may leave positions unused, so the events are counted, not assumed.
    stored = len(list(chained_entries(server.backend.log)))
    assert data["auditLogIntegrity"] == {
        "intact": True,
        "checkedEvents": stored,
        "checkedThrough": last,
        "firstBrokenPosition": None,
        "reason": None,
    }
    learner = client.as_user(LEARNER, Role.LEARNER)
    refused = (await learner.post("{ auditLogIntegrity { intact } }")).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_old_name_answers_with_where_the_code_went(
    client: GraphQLClient, server: Server, scripted: dict[str, str]
) -> None:
    for name in ("cpr", "CPR2", "CPR3"):
        found = await client.data(f'{{ code(code: "{name}") {{ code }} }}')
        assert found == {"code": {"code": "CPR3"}}

    # A name taken again by a new code belongs to that code now.
    run(server.backend, c.CreateCode("CPR", "A new code with the old name"))
    reclaimed = await client.data('{ code(code: "CPR") { code description } }')
    assert reclaimed == {
        "code": {"code": "CPR", "description": "A new code with the old name"}
    }
    assert (await client.data('{ code(code: "NEVER") { code } }')) == {"code": None}


@pytest.mark.parametrize(
    "position", ["9223372036854775808", "99999999999999999999999", "-1", "1.5"]
)
async def test_an_event_cursor_past_any_position_is_bad_user_input(
    client: GraphQLClient, position: str
) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(["event", position]).encode())
    body = (
        await client.post(
            "query($after: String) { events(after: $after) { totalCount } }",
            {"after": cursor.decode().rstrip("=")},
        )
    ).json()

    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
