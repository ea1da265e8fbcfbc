"""The GraphQL endpoint's contract with clients: tokens, errors, schema, races."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from domain.errors import ERROR_CODES
from domain.principal import Role
from graph.auth import AUDIENCE, issue_token
from graph.errors import UserErrorCode
from graph.schema import schema
from projections import code_usage
from qualify.bootstrap import build
from qualify.config import Settings
from tests.graph.conftest import GraphQLClient, Server, serve

ROOT = Path(__file__).resolve().parents[2]
CODES = "{ codes { totalCount } }"


def _forge(secret: str, **overrides: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "admin",
        "role": "admin",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(hours=1),
        **overrides,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


async def _status_and_code(server: Server, authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{server.url}/graphql", json={"query": CODES}, headers=headers
        )
    body = response.json()
    return response.status_code, body["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda s: None, id="missing"),
        pytest.param(lambda s: "Basic YWRtaW46YWRtaW4=", id="not-bearer"),
        pytest.param(lambda s: "Bearer not-a-token", id="garbage"),
        pytest.param(lambda s: "Bearer " + _forge("x" * 40), id="forged"),
        pytest.param(
            lambda s: (
                "Bearer " + _forge(s, exp=datetime.now(UTC) - timedelta(minutes=1))
            ),
            id="expired",
        ),
        pytest.param(lambda s: "Bearer " + _forge(s, aud="other"), id="audience"),
        pytest.param(lambda s: "Bearer " + _forge(s, role="root"), id="role"),
        pytest.param(
            lambda s: (
                "Bearer "
                + jwt.encode(
                    {"sub": "admin", "role": "admin", "aud": AUDIENCE}, None, "none"
                )
            ),
            id="alg-none",
        ),
    ],
)
async def test_requests_without_a_valid_token_are_unauthenticated(
    server: Server, make_header: Any
) -> None:
    header = make_header(server.backend.settings.jwt_secret)

    status, code = await _status_and_code(server, header)

    assert (status, code) == (401, "UNAUTHENTICATED")


async def test_a_learner_cannot_read_someone_elses_records(
    client: GraphQLClient,
) -> None:
    learner = client.as_user("bob", Role.LEARNER)

    response = await learner.post(
        '{ trainingRecords(username: "alice") { totalCount } }'
    )

    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_learner_gets_forbidden_in_user_errors_for_admin_mutations(
    client: GraphQLClient,
) -> None:
    learner = client.as_user("bob", Role.LEARNER)

    data = await learner.data(
        'mutation { createCode(input: {code: "X1"}) { code { code } '
        "userErrors { code message } } }"
    )

    assert data["createCode"]["code"] is None
    assert [e["code"] for e in data["createCode"]["userErrors"]] == ["FORBIDDEN"]
    assert (await client.data(CODES))["codes"]["totalCount"] == 0


async def test_a_defect_is_masked_for_the_client_and_logged_once(
    client: GraphQLClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(code_usage, "code_page", broken)
    caplog.set_level(logging.ERROR, logger="graph.schema")

    response = await client.post(CODES, **{"X-Request-Id": "req-42"})

    body = response.json()
    assert response.status_code == 200
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert error["message"] == (
        "Internal server error; quote request id req-42 when reporting it."
    )
    assert "disk on fire" not in response.text
    defects = [r for r in caplog.records if r.name == "graph.schema"]
    assert len(defects) == 1
    assert defects[0].exc_info is not None


async def test_a_fault_outside_graphql_answers_json_and_is_logged_once(
    client: GraphQLClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Looking the caller up happens before GraphQL runs, so nothing masks it there.
    def lost(*args: Any) -> Any:
        raise ConnectionResetError("server closed the connection unexpectedly")

    monkeypatch.setattr(client.server.backend, "principal", lost)
    caplog.set_level(logging.INFO)

    response = await client.post(CODES, **{"X-Request-Id": "req-43"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "req-43"
    assert response.json() == {
        "errors": [
            {
                "message": "Internal server error; quote request id req-43 when "
                "reporting it.",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ]
    }
    assert "closed the connection" not in response.text
    traced = [r for r in caplog.records if r.exc_info is not None]
    assert [r.getMessage() for r in traced] == [
        "POST /graphql status=500 fault id=req-43"
    ]

    monkeypatch.undo()
    assert (await client.data(CODES))["codes"]["totalCount"] == 0


async def test_mutations_over_get_are_refused(server: Server) -> None:
    query = 'mutation { createCode(input: {code: "X1"}) { userErrors { code } } }'
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{server.url}/graphql",
            params={"query": query},
            headers={"Authorization": f"Bearer {server.token()}"},
        )

    assert response.status_code == 400
    assert "mutations are not allowed" in response.text.lower()
    with server.backend.store.reading() as db:
        assert code_usage.live_code(db, "X1") is None


async def test_graphiql_page_is_served_without_a_token(server: Server) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{server.url}/graphql", headers={"Accept": "text/html"}
        )

    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_a_bad_cursor_is_a_clear_input_error(client: GraphQLClient) -> None:
    response = await client.post('{ codes(after: "bm90LWEtY3Vyc29y") { totalCount } }')

    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


async def test_page_size_outside_1_to_100_is_refused(client: GraphQLClient) -> None:
    for first in (0, 101):
        response = await client.post(f"{{ codes(first: {first}) {{ totalCount }} }}")
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": "first"}


async def test_two_simultaneous_creates_of_one_code_let_exactly_one_win(
    client: GraphQLClient,
) -> None:
    mutation = (
        'mutation { createCode(input: {code: "CPR"}) { code { code } '
        "userErrors { code } } }"
    )

    results = await asyncio.gather(*(client.data(mutation) for _ in range(8)))

    outcomes = sorted(
        "won" if r["createCode"]["code"] else r["createCode"]["userErrors"][0]["code"]
        for r in results
    )
    assert outcomes == ["CODE_TAKEN"] * 7 + ["won"]
    assert (await client.data(CODES))["codes"]["totalCount"] == 1


async def test_codes_page_by_cursor_shows_one_to_ten_of_21(
    client: GraphQLClient,
) -> None:
    for number in range(21):
        await client.data(
            f'mutation {{ createCode(input: {{code: "EG{number:03}"}}) '
            "{ userErrors { code } } }"
        )

    first = (
        await client.data(
            "{ codes(first: 10) { totalCount pageInfo { hasNextPage endCursor } "
            "nodes { code } } }"
        )
    )["codes"]
    second = (
        await client.data(
            "query($after: String) { codes(first: 10, after: $after) "
            "{ pageInfo { hasNextPage hasPreviousPage } nodes { code } } }",
            {"after": first["pageInfo"]["endCursor"]},
        )
    )["codes"]

    assert first["totalCount"] == 21
    assert [n["code"] for n in first["nodes"]] == [f"EG{i:03}" for i in range(10)]
    assert first["pageInfo"]["hasNextPage"] is True
    assert [n["code"] for n in second["nodes"]] == [f"EG{i:03}" for i in range(10, 20)]
    assert second["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": True}


async def test_restarting_over_the_same_file_keeps_everything_once(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/q.db")
    codes = "{ codes { totalCount nodes { code activeRecordCount } } }"
    records = '{ trainingRecords(username: "ann") { totalCount } }'
    answers = []
    positions = []

    for attempt in range(2):
        backend = build(settings)
        for server in serve(backend):
            async with httpx.AsyncClient() as http:
                admin = GraphQLClient(http, server, server.token())
                if attempt == 0:
                    await admin.data(
                        'mutation { createCode(input: {code: "CPR"}) '
                        "{ userErrors { code } } }"
                    )
                    await admin.data(
                        'mutation { registerUser(input: {username: "ann", email: '
                        '"ann@example.com", firstName: "Ann", lastName: "Lee"}) '
                        "{ userErrors { code } } }"
                    )
                    await admin.data(
                        'mutation { addTrainingRecord(input: {username: "ann", '
                        'title: "First aid", completionDate: "2024-02-29", '
                        'code: "CPR"}) { userErrors { code } } }'
                    )
                answers.append((await admin.data(codes), await admin.data(records)))
        positions.append(backend.follower.position)
        backend.close()

    assert answers[0] == answers[1]
    assert answers[1][0]["codes"] == {
        "totalCount": 1,
        "nodes": [{"code": "CPR", "activeRecordCount": 1}],
    }
    assert answers[1][1]["trainingRecords"] == {"totalCount": 1}
    assert positions[0] == positions[1] > 0


def test_schema_file_matches_the_schema_the_code_builds() -> None:
    committed = (ROOT / "schema.graphql").read_text()

    assert committed == schema.as_str() + "\n", "run `make schema` and commit it"


def test_every_domain_error_code_has_a_graphql_value() -> None:
    assert {code.value for code in UserErrorCode} == set(ERROR_CODES)


def test_tokens_issued_for_development_name_user_and_role() -> None:
    token = issue_token("s" * 40, "Alice", Role.MANAGER)

    claims = jwt.decode(token, "s" * 40, algorithms=["HS256"], audience=AUDIENCE)

    assert (claims["sub"], claims["role"]) == ("alice", "manager")
