"""QUALIFY_ENV=production keeps the schema to itself: no introspection, no "Did you
mean", no GraphiQL, and defects masked; development keeps the conveniences."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from projections import code_usage
from qualify.config import Environment
from tests.graph.conftest import Server, post_json

SECRET = "a-production-secret-that-is-long-enough-0123"


@pytest.fixture
def production(start_server: Any) -> Server:
    return start_server(environment=Environment.PRODUCTION, jwt_secret=SECRET)


@pytest.fixture
def development(start_server: Any) -> Server:
    return start_server()


async def _errors(server: Server, query: str, variables: Any = None) -> list[Any]:
    response = await post_json(server, {"query": query, "variables": variables})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    return [(e["message"], e["extensions"]["code"]) for e in body["errors"]]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("{ __schema { types { name } } }", ["__schema", "types"]),
        ('{ __type(name: "Query") { fields { name } } }', ["__type", "fields"]),
    ],
)
async def test_production_refuses_introspection(
    production: Server, query: str, fields: list[str]
) -> None:
    assert await _errors(production, query) == [
        (
            "GraphQL introspection has been disabled, but the requested query "
            f"contained the field '{field}'.",
            "GRAPHQL_VALIDATION_FAILED",
        )
        for field in fields
    ]


async def test_production_still_answers_typename(production: Server) -> None:
    response = await post_json(production, {"query": "{ __typename }"})

    assert response.json()["data"] == {"__typename": "Query"}


async def test_development_answers_introspection(development: Server) -> None:
    response = await post_json(
        development, {"query": '{ __type(name: "Status") { enumValues { name } } }'}
    )

    assert response.json()["data"] == {
        "__type": {"enumValues": [{"name": "DRAFT"}, {"name": "LIVE"}]}
    }


COURSE = (
    'mutation($status: Status!) { createCourse(input: {title: "CPR", '
    "status: $status}) { userErrors { code } } }"
)

SUGGESTIONS = [
    pytest.param(
        "{ codes { totalCont } }",
        None,
        "Cannot query field 'totalCont' on type 'QualificationCodeConnection'.",
        " Did you mean 'totalCount'?",
        "GRAPHQL_VALIDATION_FAILED",
        id="field",
    ),
    pytest.param(
        "{ codes(frist: 3) { totalCount } }",
        None,
        "Unknown argument 'frist' on field 'Query.codes'.",
        " Did you mean 'first'?",
        "GRAPHQL_VALIDATION_FAILED",
        id="argument",
    ),
    pytest.param(
        COURSE,
        {"status": "draft"},
        "Variable '$status' has invalid value: Value 'draft' does not exist in "
        "'Status' enum.",
        " Did you mean the enum value 'DRAFT'?",
        "BAD_USER_INPUT",
        id="enum-value",
    ),
]


@pytest.mark.parametrize(
    ("query", "variables", "message", "suggestion", "code"), SUGGESTIONS
)
async def test_production_leaves_out_suggestions(
    production: Server,
    query: str,
    variables: Any,
    message: str,
    suggestion: str,
    code: str,
) -> None:
    assert await _errors(production, query, variables) == [(message, code)]


@pytest.mark.parametrize(
    ("query", "variables", "message", "suggestion", "code"), SUGGESTIONS
)
async def test_development_keeps_suggestions(
    development: Server,
    query: str,
    variables: Any,
    message: str,
    suggestion: str,
    code: str,
) -> None:
    assert await _errors(development, query, variables) == [
        (message + suggestion, code)
    ]


async def test_production_serves_no_graphiql(production: Server) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            f"{production.url}/graphql",
            headers={
                "Accept": "text/html",
                "Authorization": f"Bearer {production.token()}",
            },
        )

    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


async def test_production_masks_a_defect_and_logs_it_once(
    production: Server,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("disk on fire at /srv/qualify")

    monkeypatch.setattr(code_usage, "code_page", broken)
    caplog.set_level(logging.ERROR, logger="graph.schema")

    response = await post_json(
        production, {"query": "{ codes { totalCount } }"}, **{"X-Request-Id": "r-9"}
    )

    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "Internal server error; quote request id r-9 when "
                "reporting it.",
                "locations": [{"line": 1, "column": 3}],
                "path": ["codes"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
        "extensions": {"cost": {"requested": 11, "limit": 50000}},
    }
    defects = [r for r in caplog.records if r.name == "graph.schema"]
    assert len(defects) == 1
    assert defects[0].exc_info is not None
    assert "disk on fire" not in response.text
