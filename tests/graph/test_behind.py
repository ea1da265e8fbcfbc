"""A mutation stored while the read models cannot follow answers null, not an error.

Here the read models stop because another release reshaped one of them; a
PostgreSQL server without a worker is the other way (tests/postgres).
"""

from __future__ import annotations

from typing import Any

from tests.graph.conftest import GraphQLClient
from tests.support import reshape

REGISTER = (
    'mutation { registerUser(input: {username: "carol", email: "c@example.com", '
    'firstName: "Carol", lastName: "Test"}) { user { username } '
    "userErrors { code } } }"
)
JOIN = (
    'mutation { joinPath(input: {pathCode: "CLABEG", username: "carol"}) '
    "{ progress { complete } userErrors { code } } }"
)
PATH = (
    'mutation { createLearningPath(input: {code: "CLABEG", title: "Beginners", '
    'steps: [{code: "STEP1", title: "One", points: 10}]}) { userErrors { code } } }'
)


async def test_a_join_stored_behind_the_read_models_is_not_reported_as_failed(
    client: GraphQLClient,
) -> None:
    await client.data(PATH)
    reshape(client.server.backend)

    registered = await _behind(client, REGISTER)
    joined = await _behind(client, JOIN)

    assert registered["registerUser"] == {"user": None, "userErrors": []}
    assert joined["joinPath"] == {"progress": None, "userErrors": []}
    # Both were stored: put the version back, and the join shows.
    backend = client.server.backend
    reshape(backend, by=-1)
    backend.follower.catch_up()
    progress = await client.data(
        '{ pathProgress(pathCode: "CLABEG", username: "carol") { complete } }'
    )
    assert progress["pathProgress"] == {"complete": False}


async def _behind(client: GraphQLClient, mutation: str) -> Any:
    response = await client.post(mutation)
    body = response.json()
    assert "errors" not in body, body["errors"]
    assert body["extensions"]["readModelsBehind"] is True
    return body["data"]
