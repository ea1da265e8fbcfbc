"""A query sent again is answered on the prepared path exactly as the whole way
answers it: data, errors, cost and log line alike."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from graphql import parse

import graph.app
from domain.principal import Role
from graph.limits import CACHED_TEXT_LENGTH
from graph.prepared import Prepared, PreparedQueries, request_fields
from tests.graph.conftest import Server
from tests.support import LEARNER, OTHER_LEARNER, SEED_PATH, load_seed, register

CODES = (
    "query Codes($search: String, $first: Int!) { codes(search: $search, "
    "first: $first) { totalCount pageInfo { hasNextPage endCursor } "
    "nodes { code inUse usedIn { kind title } } } }"
)
RECORDS = (
    "query Records($username: String!) { trainingRecords(username: $username) "
    "{ totalCount nodes { title status } } }"
)
PROGRESS = (
    "query Progress($path: String!, $username: String!) { pathProgress("
    "pathCode: $path, username: $username) { percent missingSteps { code } } }"
)
TWO = (
    "query First { codes(first: 1) { totalCount } } "
    "query Second { trainingRecords(first: 1) { totalCount } }"
)


@pytest.fixture
def seeded(start_server: Any) -> Server:
    server: Server = start_server(max_cost=1000)
    load_seed(server.backend)
    return server


@pytest.fixture
def prepared_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The query text of every request answered on the prepared path."""
    runs: list[str] = []
    execute = graph.app.execute_prepared

    async def counting(*args: Any) -> Any:
        runs.append(args[4])
        return await execute(*args)

    monkeypatch.setattr(graph.app, "execute_prepared", counting)
    return runs


async def _post(
    server: Server,
    body: dict[str, Any],
    username: str = "admin",
    role: Role = Role.ADMIN,
) -> tuple[int, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            json=body,
            headers={"Authorization": f"Bearer {server.token(username, role)}"},
        )
    return response.status_code, response.json()


def _whole_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PreparedQueries, "get", lambda self, query, name: None)


@pytest.mark.parametrize(
    ("body", "user", "prepared"),
    [
        pytest.param(
            {"query": CODES, "variables": {"first": 2, "search": "CLA"}},
            ("admin", Role.ADMIN),
            True,
            id="a-page",
        ),
        pytest.param(
            {"query": CODES, "variables": {"first": 0}},
            ("admin", Role.ADMIN),
            False,
            id="a-page-size-out-of-range",
        ),
        pytest.param(
            {"query": CODES, "variables": {"first": 50}},
            ("admin", Role.ADMIN),
            False,
            id="too-costly",
        ),
        pytest.param(
            {"query": CODES, "variables": {"first": "two"}},
            ("admin", Role.ADMIN),
            False,
            id="a-variable-of-the-wrong-type",
        ),
        pytest.param(
            {"query": RECORDS, "variables": {"username": OTHER_LEARNER}},
            (LEARNER, Role.LEARNER),
            True,
            id="forbidden",
        ),
        pytest.param(
            {"query": PROGRESS, "variables": {"path": "NOPE", "username": LEARNER}},
            ("admin", Role.ADMIN),
            True,
            id="not-found",
        ),
        pytest.param(
            {"query": PROGRESS, "variables": {"path": SEED_PATH, "username": LEARNER}},
            ("admin", Role.ADMIN),
            True,
            id="progress",
        ),
        pytest.param(
            {"query": TWO, "operationName": "Second"},
            ("admin", Role.ADMIN),
            True,
            id="one-of-two-operations",
        ),
        pytest.param(
            {"query": TWO},
            ("admin", Role.ADMIN),
            True,
            id="two-operations-and-no-name",
        ),
    ],
)
async def test_a_query_sent_again_is_answered_as_the_whole_way_answers_it(
    seeded: Server,
    monkeypatch: pytest.MonkeyPatch,
    prepared_runs: list[str],
    body: dict[str, Any],
    user: tuple[str, Role],
    prepared: bool,
) -> None:
    # The same text runs first, with a page size that may run, so it is known.
    variables = body.get("variables", {})
    warm = (
        {**body, "variables": {**variables, "first": 1}}
        if "first" in variables
        else body
    )
    await _post(seeded, warm, *user)

    again = await _post(seeded, body, *user)
    _whole_way(monkeypatch)
    whole = await _post(seeded, body, *user)

    assert again == whole
    # A cost that cannot be worked out, or is too high, is refused the whole way.
    assert prepared_runs == ([body["query"]] if prepared else [])


async def test_a_query_is_answered_on_the_prepared_path_from_its_second_time(
    seeded: Server, prepared_runs: list[str]
) -> None:
    first = await _post(seeded, {"query": CODES, "variables": {"first": 3}})
    second = await _post(seeded, {"query": CODES, "variables": {"first": 3}})

    assert first == second
    # 1 + 3 x (totalCount, pageInfo's 3, nodes, and a node's 203 with usedIn).
    cost = 1 + 3 * (1 + 3 + 1 + 203)
    assert first[1]["extensions"] == {"cost": {"requested": cost, "limit": 1000}}
    assert prepared_runs == [CODES]


CREATE = (
    "mutation Create($code: String!) { createCode(input: {code: $code}) "
    "{ code { code inUse } userErrors { code field message } } }"
)


async def test_a_mutation_sent_again_is_answered_as_the_whole_way_answers_it(
    seeded: Server, monkeypatch: pytest.MonkeyPatch, prepared_runs: list[str]
) -> None:
    await _post(seeded, {"query": CREATE, "variables": {"code": "NEW1"}})

    again = await _post(seeded, {"query": CREATE, "variables": {"code": "NEW2"}})
    taken_again = await _post(seeded, {"query": CREATE, "variables": {"code": "NEW2"}})
    _whole_way(monkeypatch)
    whole = await _post(seeded, {"query": CREATE, "variables": {"code": "NEW3"}})
    taken_whole = await _post(seeded, {"query": CREATE, "variables": {"code": "NEW3"}})

    assert again[1]["data"] == {
        "createCode": {"code": {"code": "NEW2", "inUse": False}, "userErrors": []}
    }
    assert whole[1]["data"] == {
        "createCode": {"code": {"code": "NEW3", "inUse": False}, "userErrors": []}
    }
    assert again[1]["extensions"] == whole[1]["extensions"]
    # The same user error either way, but for the name it quotes.
    refused_again = taken_again[1]["data"]["createCode"]["userErrors"]
    refused_whole = taken_whole[1]["data"]["createCode"]["userErrors"]
    assert [e["code"] for e in refused_again] == ["CODE_TAKEN"]
    assert [e["code"] for e in refused_whole] == ["CODE_TAKEN"]
    assert refused_again[0]["message"].replace("NEW2", "X") == refused_whole[0][
        "message"
    ].replace("NEW3", "X")
    assert prepared_runs == [CREATE, CREATE]


async def test_an_idempotent_mutation_is_replayed_on_the_prepared_path(
    seeded: Server, prepared_runs: list[str]
) -> None:
    body = {"query": CREATE, "variables": {"code": "ONCE"}}
    await _post(seeded, {"query": CREATE, "variables": {"code": "WARM"}})

    answers = []
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(2):
            response = await http.post(
                f"{seeded.url}/graphql",
                json=body,
                headers={
                    "Authorization": f"Bearer {seeded.token('admin', Role.ADMIN)}",
                    "Idempotency-Key": "create-once",
                },
            )
            answers.append(response.json()["data"])

    assert answers[0] == answers[1]
    assert answers[0]["createCode"]["code"] == {"code": "ONCE", "inUse": False}
    assert prepared_runs == [CREATE, CREATE]
    notifications = seeded.backend.log.recorder.select_notifications(1, 10_000)
    events = [seeded.backend.log.mapper.to_domain_event(n) for n in notifications]
    assert sum(getattr(e, "code", None) == "ONCE" for e in events) == 1


async def test_a_mutation_over_get_is_refused_even_once_prepared(
    seeded: Server,
) -> None:
    await _post(seeded, {"query": CREATE, "variables": {"code": "WARM"}})

    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            f"{seeded.url}/graphql",
            params={"query": CREATE, "variables": '{"code": "VIAGET"}'},
            headers={"Authorization": f"Bearer {seeded.token('admin', Role.ADMIN)}"},
        )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_the_log_line_names_the_operation_on_the_prepared_path(
    seeded: Server, prepared_runs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="graph.app")
    for _ in range(2):
        await _post(seeded, {"query": CODES, "variables": {"first": 1}})

    lines = [r.getMessage() for r in caplog.records if r.name == "graph.app"]
    assert len(lines) == 2
    assert all(" query Codes user=admin status=200 " in line for line in lines)
    assert prepared_runs == [CODES]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"query": "{ a }"}, ("{ a }", None, None)),
        (
            {"query": "{ a }", "variables": {"x": 1}, "operationName": "A"},
            ("{ a }", {"x": 1}, "A"),
        ),
        ({"query": "{ a }", "extensions": {"persistedQuery": {}}}, None),
        ({"query": None}, None),
        ({"query": "{ a }", "variables": [1]}, None),
        ({"query": "{ a }", "operationName": 3}, None),
        ([{"query": "{ a }"}], None),
    ],
)
def test_only_a_plain_request_body_can_take_the_prepared_path(
    body: object, fields: object
) -> None:
    assert request_fields(body) == fields


def test_the_oldest_prepared_query_goes_when_the_cache_is_full() -> None:
    queries = PreparedQueries(size=2)
    texts = ["{ a }", "{ b }", "{ c }"]
    prepared = [Prepared(parse(text), None, "query anonymous") for text in texts]

    for text, known in zip(texts, prepared, strict=True):
        queries.remember(text, None, known)

    assert [queries.get(text, None) for text in texts] == [None, *prepared[1:]]


def test_a_query_too_long_to_keep_is_never_prepared() -> None:
    queries = PreparedQueries(size=2)
    text = "{ a } #" + "x" * CACHED_TEXT_LENGTH

    queries.remember(text, None, Prepared(parse(text), None, "query anonymous"))

    assert queries.get(text, None) is None


@pytest.mark.parametrize("sent", [1, 2])
async def test_progress_tells_an_unknown_user_from_one_who_has_not_joined(
    seeded: Server, sent: int
) -> None:
    # Sent twice, the second answer comes from the prepared path.
    register(seeded.backend, "carol")
    body = {"query": PROGRESS, "variables": {"path": SEED_PATH, "username": "zed"}}
    for _ in range(sent):
        unknown = await _post(seeded, body)
    body = {"query": PROGRESS, "variables": {"path": SEED_PATH, "username": "carol"}}
    for _ in range(sent):
        not_joined = await _post(seeded, body)

    status, answer = unknown
    assert status == 200
    assert answer["data"] == {"pathProgress": None}
    assert [
        (e["message"], e["extensions"]["code"], e["extensions"]["field"])
        for e in answer["errors"]
    ] == [("No user is registered as zed.", "NOT_FOUND", "username")]
    assert not_joined[0] == 200
    assert not_joined[1]["data"] == {"pathProgress": None}
    assert "errors" not in not_joined[1]
