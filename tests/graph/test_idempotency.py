"""A mutation sent again under the same Idempotency-Key is carried out once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from domain.principal import Role
from tests.graph.conftest import GraphQLClient

CREATE = (
    'mutation { createCode(input: {code: "%s"}) { code { code } '
    "userErrors { code field message } } }"
)
ADD_RECORD = (
    'mutation { addTrainingRecord(input: {username: "ann", title: "First aid", '
    'completionDate: "2024-03-01"}) { trainingRecord { recordId } '
    "userErrors { code } } }"
)


def _head(client: GraphQLClient) -> int:
    return client.server.backend.log.recorder.max_notification_id() or 0


async def _with_key(client: GraphQLClient, query: str, key: str) -> Any:
    response = await client.post(query, **{"Idempotency-Key": key})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _register_ann(client: GraphQLClient) -> None:
    await client.data(
        'mutation { registerUser(input: {username: "ann", email: "ann@example.com",'
        ' firstName: "Ann", lastName: "Lee"}) { userErrors { code } } }'
    )


async def test_the_same_key_twice_returns_the_first_answer_and_appends_nothing(
    client: GraphQLClient,
) -> None:
    await _register_ann(client)

    first = await _with_key(client, ADD_RECORD, "req-1")
    head = _head(client)
    second = await _with_key(client, ADD_RECORD, "req-1")

    assert second == first
    assert first["addTrainingRecord"]["trainingRecord"]["recordId"]
    assert _head(client) == head
    records = await client.data('{ trainingRecords(username: "ann") { totalCount } }')
    assert records["trainingRecords"]["totalCount"] == 1


async def test_a_new_key_runs_the_request_again(client: GraphQLClient) -> None:
    await _register_ann(client)

    first = await _with_key(client, ADD_RECORD, "req-1")
    second = await _with_key(client, ADD_RECORD, "req-2")

    assert first != second
    records = await client.data('{ trainingRecords(username: "ann") { totalCount } }')
    assert records["trainingRecords"]["totalCount"] == 2


async def test_a_key_reused_for_another_request_is_refused(
    client: GraphQLClient,
) -> None:
    await _with_key(client, CREATE % "CPR", "req-1")
    head = _head(client)

    reused = await _with_key(client, CREATE % "EGMP", "req-1")

    [error] = reused["createCode"]["userErrors"]
    assert (error["code"], error["field"]) == (
        "IDEMPOTENCY_KEY_REUSED",
        "Idempotency-Key",
    )
    assert _head(client) == head
    assert (await client.data('{ code(code: "EGMP") { code } }'))["code"] is None


async def test_keys_of_different_users_do_not_meet(client: GraphQLClient) -> None:
    manager = client.as_user("mia", Role.MANAGER)
    await _register_ann(client)
    await client.data(
        'mutation { setManager(input: {username: "ann", manager: "mia"}) '
        "{ userErrors { code } } }"
    )

    mine = await _with_key(client, ADD_RECORD, "shared")
    theirs = await _with_key(manager, ADD_RECORD, "shared")

    assert mine != theirs
    records = await client.data('{ trainingRecords(username: "ann") { totalCount } }')
    assert records["trainingRecords"]["totalCount"] == 2


async def test_a_failed_request_does_not_use_up_its_key(client: GraphQLClient) -> None:
    refused = await _with_key(client, ADD_RECORD, "req-1")
    await _register_ann(client)
    accepted = await _with_key(client, ADD_RECORD, "req-1")

    assert [e["code"] for e in refused["addTrainingRecord"]["userErrors"]] == [
        "NOT_FOUND"
    ]
    assert accepted["addTrainingRecord"]["userErrors"] == []


async def test_simultaneous_sends_of_one_key_run_it_once(client: GraphQLClient) -> None:
    await _register_ann(client)

    answers = await asyncio.gather(
        *(_with_key(client, ADD_RECORD, "burst") for _ in range(8))
    )

    assert all(answer == answers[0] for answer in answers)
    records = await client.data('{ trainingRecords(username: "ann") { totalCount } }')
    assert records["trainingRecords"]["totalCount"] == 1


async def test_a_malformed_key_is_refused(client: GraphQLClient) -> None:
    refused = await _with_key(client, CREATE % "CPR", "x" * 201)

    assert [e["code"] for e in refused["createCode"]["userErrors"]] == ["INVALID_INPUT"]
    assert (await client.data('{ code(code: "CPR") { code } }'))["code"] is None


MALFORMED_KEY = {
    "code": "INVALID_INPUT",
    "field": "Idempotency-Key",
    "message": "An Idempotency-Key is 1 to 200 printable ASCII characters.",
}
TWO_CODES = (
    'mutation { a: createCode(input: {code: "CPR"}) { code { code } '
    "userErrors { code field message } } "
    'b: createCode(input: {code: "EGMP"}) { code { code } '
    "userErrors { code field message } } }"
)


async def _send_keys(client: GraphQLClient, query: str, *keys: str) -> Any:
    """Send ``query`` with one Idempotency-Key header per key."""
    return await client.http.post(
        f"{client.server.url}/graphql",
        json={"query": query},
        headers=[
            ("Authorization", f"Bearer {client.token}"),
            *(("Idempotency-Key", key) for key in keys),
        ],
    )


async def _with_keys(client: GraphQLClient, query: str, *keys: str) -> Any:
    response = await _send_keys(client, query, *keys)
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.parametrize(
    "keys", [("a1", "a2"), ("a1", "a1"), ("a1", "")], ids=["two", "same", "empty"]
)
async def test_two_key_headers_are_refused_and_nothing_runs(
    client: GraphQLClient, keys: tuple[str, str]
) -> None:
    head = _head(client)

    response = await _send_keys(client, TWO_CODES, *keys)

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Send one Idempotency-Key header; this request sent 2.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }
    assert _head(client) == head
    # Neither key was taken: each still guards a request of its own.
    for key in keys:
        if key:
            created = await _with_key(client, CREATE % f"K{key.upper()}", key)
            assert created["createCode"]["userErrors"] == []


@pytest.mark.parametrize("key", ["", "k" * 201], ids=["empty", "too long"])
async def test_a_malformed_key_refuses_every_mutation_of_the_request(
    client: GraphQLClient, key: str
) -> None:
    head = _head(client)

    response = await client.http.post(
        f"{client.server.url}/graphql",
        json={"query": TWO_CODES},
        headers={"Authorization": f"Bearer {client.token}", "Idempotency-Key": key},
    )

    assert response.json()["data"] == {
        "a": {"code": None, "userErrors": [MALFORMED_KEY]},
        "b": {"code": None, "userErrors": [MALFORMED_KEY]},
    }
    assert _head(client) == head


async def test_one_key_holding_a_comma_is_one_key(client: GraphQLClient) -> None:
    first = await _with_keys(client, CREATE % "CPR", "a1, a2")
    head = _head(client)
    again = await _with_keys(client, CREATE % "CPR", "a1, a2")
    reused = await _with_keys(client, CREATE % "EGMP", "a1, a2")

    assert first["createCode"] == {"code": {"code": "CPR"}, "userErrors": []}
    assert again == first
    assert [e["code"] for e in reused["createCode"]["userErrors"]] == [
        "IDEMPOTENCY_KEY_REUSED"
    ]
    assert _head(client) == head


async def test_a_replay_shows_nothing_the_caller_may_no_longer_see(
    client: GraphQLClient,
) -> None:
    manager = client.as_user("mia", Role.MANAGER)
    await _register_ann(client)
    set_manager = (
        'mutation { setManager(input: {username: "ann", manager: %s}) '
        "{ userErrors { code } } }"
    )
    await client.data(set_manager % '"mia"')
    first = await _with_key(manager, ADD_RECORD, "mia-1")
    assert first["addTrainingRecord"]["trainingRecord"]["recordId"]

    await client.data(set_manager % "null")
    head = _head(client)
    replayed = await _with_key(manager, ADD_RECORD, "mia-1")

    assert replayed["addTrainingRecord"] == {"trainingRecord": None, "userErrors": []}
    assert _head(client) == head
