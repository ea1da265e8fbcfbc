"""Requests the caller got wrong: a clear error naming the fault, never a masked
defect; nothing is stored and nothing is logged as a defect."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import jwt
import pytest

from domain.principal import Role
from graph.auth import AUDIENCE
from graph.exports import EXPORT_PATH
from projections import code_usage
from tests.graph.conftest import GraphQLClient, Server

CODES_BODY = b'{"query": "{ codes { totalCount } }"}'
ERRORS = "userErrors { code field message }"

RECORD = (
    'mutation($day: Date!) { addTrainingRecord(input: {username: "lena", '
    'title: "First aid", completionDate: $day}) { userErrors { code } } }'
)
QUIZ = (
    'mutation($mark: Int!) { createQuiz(input: {title: "CPR theory", '
    "passMark: $mark}) { userErrors { code } } }"
)
COURSE = (
    'mutation($status: Status!) { createCourse(input: {title: "CPR", '
    "status: $status}) { userErrors { code } } }"
)
PATH = (
    "mutation($input: CreateLearningPathInput!) { createLearningPath(input: $input) "
    "{ userErrors { code } } }"
)
COMPLETE = (
    "mutation($input: CompleteContentInput!) { completeContent(input: $input) "
    "{ userErrors { code } } }"
)
EVENT = (
    'mutation($at: DateTime!) { createTrainingEvent(input: {title: "Drill", '
    "sessions: [{startsAt: $at}]}) { userErrors { code } } }"
)
STEPS = [{"code": "CPR", "title": "CPR", "points": 10}]
NO_ID = "00000000-0000-0000-0000-000000000000"

NOT_AN_OBJECT = "The body must be a JSON object with a query field."
NOT_JSON = "The body is not valid JSON."
LONE_SURROGATE = "The body holds a lone surrogate escape (\\ud800-\\udfff), not text."
BAD_CURSOR = (
    "The cursor is damaged or belongs to another list; use one this list returned."
)
NOT_OURS = "The token is not a valid token signed by this service."


def _stored(server: Server) -> int | None:
    """The position of the last event in the log."""
    return server.backend.log.recorder.max_notification_id()


def _defects(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def _post_raw(
    server: Server,
    body: bytes,
    *,
    content_type: str = "application/json",
    authorization: bytes | str | None = None,
    **headers: str,
) -> httpx.Response:
    """Post ``body`` byte for byte, as a client that builds its own JSON would."""
    if authorization is None:
        authorization = f"Bearer {server.token()}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{server.url}/graphql",
            content=body,
            headers={
                "Authorization": authorization,
                "Content-Type": content_type,
                **headers,
            },
        )


async def _register(client: GraphQLClient, username: str) -> None:
    await client.data(
        f'mutation {{ registerUser(input: {{username: "{username}", '
        f'email: "{username}@example.com", firstName: "Lena", lastName: "Park"}}) '
        "{ userErrors { code } } }"
    )


def _forge(secret: str, drop: tuple[str, ...] = (), **overrides: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "admin",
        "role": "admin",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(hours=1),
        **overrides,
    }
    kept = {name: claim for name, claim in claims.items() if name not in drop}
    return jwt.encode(kept, secret, algorithm="HS256")


NOT_UTF8_SEGMENTS = ".".join(_b64(raw) for raw in (b"\xff\xfe", b"\x80", b"\x00"))
NOT_UTF8_CLAIMS = ".".join((_b64(b'{"alg":"HS256"}'), _b64(b"\xff"), "c2ln"))


# Variables of the wrong type or with an invalid scalar value


@pytest.fixture
async def lena(client: GraphQLClient) -> GraphQLClient:
    """The admin's client, with lena registered so that a valid record is stored."""
    await _register(client, "lena")
    return client


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        pytest.param(
            RECORD,
            {"day": "2023-02-29"},
            "Variable '$day' has invalid value: Value cannot represent a Date: "
            '"2023-02-29".',
            id="date-29-february-2023",
        ),
        pytest.param(
            RECORD,
            {"day": "2024-1-1"},
            "Variable '$day' has invalid value: Value cannot represent a Date: "
            '"2024-1-1".',
            id="date-without-leading-zeros",
        ),
        pytest.param(
            RECORD,
            {"day": ""},
            "Variable '$day' has invalid value: Value cannot represent a Date: \"\".",
            id="date-empty",
        ),
        pytest.param(
            COMPLETE,
            {
                "input": {
                    "contentId": NO_ID,
                    "username": "lena",
                    "completionDate": "2023-02-29",
                }
            },
            "Variable '$input' has invalid value at .completionDate: Value cannot "
            'represent a Date: "2023-02-29".',
            id="date-inside-an-input",
        ),
        pytest.param(
            EVENT,
            {"at": "2024-13-01T10:00:00"},
            "Variable '$at' has invalid value: Value cannot represent a DateTime: "
            '"2024-13-01T10:00:00".',
            id="datetime-month-13",
        ),
    ],
)
async def test_an_invalid_date_variable_is_bad_user_input_and_stores_nothing(
    lena: GraphQLClient,
    caplog: pytest.LogCaptureFixture,
    query: str,
    variables: dict[str, Any],
    message: str,
) -> None:
    caplog.set_level(logging.ERROR, logger="graph.schema")
    stored = _stored(lena.server)

    response = await lena.post(query, variables)

    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    # The rest of the message is Python's own reason, such as "day is out of range".
    assert error["message"].startswith(message + " ")
    assert _stored(lena.server) == stored
    assert _defects(caplog) == []


DAY_FORMAT = "A date is written YYYY-MM-DD, as 2023-06-01."


@pytest.mark.parametrize(
    "day",
    [
        pytest.param("20230601", id="basic-format"),
        pytest.param("2023-W22-4", id="week-date"),
        pytest.param("2023W224", id="basic-week-date"),
        pytest.param("2023-06-01T00:00:00", id="with-a-time"),
        pytest.param(" 2023-06-01", id="with-a-space"),
        pytest.param("\uff12\uff10\uff12\uff13-06-01", id="full-width-digits"),
    ],
)
async def test_a_date_variable_is_read_only_as_yyyy_mm_dd(
    lena: GraphQLClient, day: str
) -> None:
    stored = _stored(lena.server)

    response = await lena.post(RECORD, {"day": day})

    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "Variable '$day' has invalid value: Value cannot "
                f'represent a Date: "{day}". {DAY_FORMAT}',
                "locations": [{"line": 1, "column": 10}],
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ],
    }
    assert _stored(lena.server) == stored


async def test_a_date_literal_is_read_only_as_yyyy_mm_dd(
    lena: GraphQLClient,
) -> None:
    response = await lena.post(
        'mutation { addTrainingRecord(input: {username: "lena", title: "CPR", '
        'completionDate: "20230601"}) { userErrors { code } } }'
    )

    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": f'Value cannot represent a Date: "20230601". {DAY_FORMAT}',
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ],
    }


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        pytest.param(
            QUIZ,
            {"mark": 2147483648},
            "Variable '$mark' has invalid value: Int cannot represent non 32-bit "
            "signed integer value: 2147483648",
            id="int-over-32-bits",
        ),
        pytest.param(
            QUIZ,
            {"mark": 50.5},
            "Variable '$mark' has invalid value: Int cannot represent non-integer "
            "value: 50.5",
            id="int-with-a-fraction",
        ),
        pytest.param(
            QUIZ,
            {"mark": "50"},
            "Variable '$mark' has invalid value: Int cannot represent non-integer "
            "value: '50'",
            id="int-as-a-string",
        ),
        pytest.param(
            PATH,
            {
                "input": {
                    "code": "EGPG",
                    "title": "Safety",
                    "steps": STEPS,
                    "passMark": 2147483648,
                }
            },
            "Variable '$input' has invalid value at .passMark: Int cannot represent "
            "non 32-bit signed integer value: 2147483648",
            id="int-inside-an-input",
        ),
        pytest.param(
            COURSE,
            {"status": "PUBLISHED"},
            "Variable '$status' has invalid value: Value 'PUBLISHED' does not exist "
            "in 'Status' enum.",
            id="enum-unknown-value",
        ),
        pytest.param(
            COURSE,
            {"status": "draft"},
            "Variable '$status' has invalid value: Value 'draft' does not exist in "
            "'Status' enum. Did you mean the enum value 'DRAFT'?",
            id="enum-lower-case",
        ),
        pytest.param(
            RECORD,
            {"day": None},
            "Variable '$day' has invalid value: Expected value of non-null type "
            "'Date!' not to be None.",
            id="null-for-a-required-date",
        ),
        pytest.param(
            "mutation($code: String!) { createCode(input: {code: $code}) "
            "{ userErrors { code } } }",
            {"code": 5},
            "Variable '$code' has invalid value: String cannot represent a non "
            "string value: 5",
            id="number-for-a-string",
        ),
    ],
)
async def test_a_variable_of_the_wrong_type_is_bad_user_input_and_stores_nothing(
    lena: GraphQLClient,
    caplog: pytest.LogCaptureFixture,
    query: str,
    variables: dict[str, Any],
    message: str,
) -> None:
    caplog.set_level(logging.ERROR, logger="graph.schema")
    stored = _stored(lena.server)

    response = await lena.post(query, variables)

    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert (error["message"], error["extensions"]) == (
        message,
        {"code": "BAD_USER_INPUT"},
    )
    assert _stored(lena.server) == stored
    assert _defects(caplog) == []


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param(RECORD, {"day": "2024-02-29"}, id="date"),
        pytest.param(QUIZ, {"mark": 80}, id="int"),
        pytest.param(COURSE, {"status": "DRAFT"}, id="enum"),
        pytest.param(
            PATH,
            {"input": {"code": "EGPG", "title": "Safety", "steps": STEPS}},
            id="input",
        ),
        pytest.param(EVENT, {"at": "2024-12-01T10:00:00"}, id="datetime"),
    ],
)
async def test_the_same_operations_with_valid_variables_are_stored(
    lena: GraphQLClient, query: str, variables: dict[str, Any]
) -> None:
    stored = _stored(lena.server)
    assert stored is not None

    data = await lena.data(query, variables)

    [payload] = data.values()
    assert payload == {"userErrors": []}
    stored_now = _stored(lena.server)
    assert stored_now is not None
    assert stored_now > stored


async def test_an_invalid_literal_in_the_query_text_fails_validation_not_the_server(
    lena: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="graph.schema")
    stored = _stored(lena.server)

    response = await lena.post(
        'mutation { createQuiz(input: {title: "CPR theory", passMark: 2147483648}) '
        "{ userErrors { code } } }"
    )

    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert error["message"] == (
        "Int cannot represent non 32-bit signed integer value: 2147483648"
    )
    assert _stored(lena.server) == stored
    assert _defects(caplog) == []


# Bodies that are not a GraphQL request


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"null", NOT_AN_OBJECT, id="null"),
        pytest.param(b'"hello"', NOT_AN_OBJECT, id="string"),
        pytest.param(b"123", NOT_AN_OBJECT, id="number"),
        pytest.param(b"true", NOT_AN_OBJECT, id="boolean"),
        pytest.param(
            b'[{"query": "{ codes { totalCount } }"}]', NOT_AN_OBJECT, id="list"
        ),
        pytest.param(b'{"query": ', NOT_JSON, id="truncated"),
        pytest.param(b"{not json}", NOT_JSON, id="not-json"),
        pytest.param(b"", NOT_JSON, id="empty"),
        pytest.param(
            b'{"query": "\xff"}',
            "The body is not UTF-8 text: byte 11 is not valid.",
            id="not-utf-8",
        ),
        pytest.param(
            b'{"query": "{ codes { totalCount } }", "x": "\xc3"}',
            "The body is not UTF-8 text: byte 44 is not valid.",
            id="cut-utf-8-sequence",
        ),
    ],
)
async def test_a_json_body_that_is_not_a_graphql_request_is_a_bad_request(
    server: Server, caplog: pytest.LogCaptureFixture, body: bytes, message: str
) -> None:
    caplog.set_level(logging.ERROR)

    response = await _post_raw(server, body)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }
    request_id = response.headers["X-Request-Id"]
    assert str(UUID(request_id)) == request_id
    assert _defects(caplog) == []


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;charset=UTF-8",
    ],
)
async def test_a_bad_body_is_refused_whatever_the_spelling_of_its_media_type(
    server: Server, content_type: str
) -> None:
    response = await _post_raw(server, b"null", content_type=content_type)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_a_bad_request_answers_with_the_callers_own_request_id(
    server: Server,
) -> None:
    response = await _post_raw(server, b"123", **{"X-Request-Id": "req-42"})

    assert response.status_code == 400
    assert response.headers["X-Request-Id"] == "req-42"
    assert "WWW-Authenticate" not in response.headers


# Methods, addresses and bodies no route reads


def _refused(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/graphql", "GET, HEAD, POST"),
        ("DELETE", "/graphql", "GET, HEAD, POST"),
        ("POST", EXPORT_PATH, "GET, HEAD"),
        ("PATCH", "/health", "GET, HEAD"),
    ],
)
async def test_a_method_a_route_does_not_take_is_refused_as_json(
    start_server: Any,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    allowed: str,
) -> None:
    caplog.set_level(logging.ERROR)
    server = start_server()

    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.request(
            method,
            f"{server.url}{path}",
            json={"query": "{ __typename }"},
            headers={
                "Authorization": f"Bearer {server.token()}",
                "X-Request-Id": "req-405",
            },
        )

    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Request-Id"] == "req-405"
    assert response.json() == _refused(
        f"The method {method} is not allowed at {path}; it takes {allowed}."
    )
    assert _defects(caplog) == []


async def test_an_address_nothing_serves_is_refused_as_json(
    start_server: Any,
) -> None:
    server = start_server()

    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{server.url}/graphql/nope")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == _refused("Nothing is served at /graphql/nope.")


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        pytest.param(
            "multipart/form-data",
            "The multipart body cannot be read: missing boundary in multipart.",
            id="no-boundary",
        ),
        pytest.param(
            "multipart/form-data; boundary=qualify",
            "The multipart body cannot be read: invalid multipart data.",
            id="no-part-on-that-boundary",
        ),
    ],
)
async def test_a_multipart_body_that_cannot_be_read_is_refused_as_json(
    start_server: Any,
    caplog: pytest.LogCaptureFixture,
    content_type: str,
    message: str,
) -> None:
    caplog.set_level(logging.ERROR)
    server = start_server()
    stored = server.backend.log.recorder.max_notification_id()

    response = await _post_raw(
        server,
        b"operations=1",
        content_type=content_type,
        **{"Apollo-Require-Preflight": "true", "X-Request-Id": "req-400"},
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Request-Id"] == "req-400"
    assert response.json() == _refused(message)
    assert server.backend.log.recorder.max_notification_id() == stored
    assert _defects(caplog) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            {"query": "{ __typename }", "variables": "{bad"},
            "The `variables` query parameter is not valid JSON.",
            id="variables",
        ),
        pytest.param(
            {"query": "{ __typename }", "extensions": "[1,"},
            "The `extensions` query parameter is not valid JSON.",
            id="extensions",
        ),
    ],
)
async def test_a_get_parameter_that_is_not_json_is_named(
    server: Server, params: dict[str, str], message: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            f"{server.url}/graphql",
            params=params,
            headers={"Authorization": f"Bearer {server.token()}"},
        )

    assert response.status_code == 400
    assert response.json() == _refused(message)


@pytest.mark.parametrize("name", [5, True, ["Q"], {"a": 1}])
async def test_an_operation_name_that_is_not_text_is_refused_as_such(
    server: Server, name: object
) -> None:
    body = {"query": "query Q { __typename }", "operationName": name}

    response = await _post_raw(server, json.dumps(body).encode())

    assert response.status_code == 400
    assert response.json() == _refused(
        "The GraphQL operation's `operationName` must be a string or null, if provided."
    )


UPLOAD = '{"query": "{ __typename }", "variables": {}}'


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        pytest.param(
            [("operations", "{bad"), ("map", "{}")],
            "The multipart form's `operations` field is not valid JSON.",
            id="operations",
        ),
        pytest.param(
            [("operations", UPLOAD), ("map", "[1,")],
            "The multipart form's `map` field is not valid JSON.",
            id="map",
        ),
        pytest.param(
            [("map", "{}")],
            "The multipart body has no `operations` field; it may have been cut short.",
            id="no-operations",
        ),
    ],
)
async def test_a_multipart_field_that_is_not_json_is_named(
    server: Server, parts: list[tuple[str, str]], message: str
) -> None:
    body = (
        "".join(
            f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in parts
        )
        + "--b--\r\n"
    )

    response = await _post_raw(
        server,
        body.encode(),
        content_type="multipart/form-data; boundary=b",
        **{"Apollo-Require-Preflight": "true"},
    )

    assert response.status_code == 400
    assert response.json() == _refused(message)


async def test_a_multipart_body_cut_before_its_fields_is_refused_as_cut(
    server: Server,
) -> None:
    whole = (
        '--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        f"{UPLOAD}\r\n--b--\r\n"
    )

    response = await _post_raw(
        server,
        whole[:30].encode(),
        content_type="multipart/form-data; boundary=b",
        **{"Apollo-Require-Preflight": "true"},
    )

    assert response.status_code == 400
    assert response.json() == _refused(
        "The multipart body has no `operations` field; it may have been cut short."
    )


# Lone surrogate escapes


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"query": "mutation { createCode(input: {code: \\"A1\\", '
            b'description: \\"\\ud800\\"}) { userErrors { code } } }"}',
            id="in-the-query",
        ),
        pytest.param(
            b'{"query": "mutation($d: String!) { createCode(input: {code: \\"A1\\", '
            b'description: $d}) { userErrors { code } } }", '
            b'"variables": {"d": "first aid \\ud800"}}',
            id="high-half-in-a-variable",
        ),
        pytest.param(
            b'{"query": "mutation($d: String!) { createCode(input: {code: \\"A1\\", '
            b'description: $d}) { userErrors { code } } }", '
            b'"variables": {"d": "\\udc00 first aid"}}',
            id="low-half-in-a-variable",
        ),
        pytest.param(
            b'{"query": "mutation($d: String!) { createCode(input: {code: \\"A1\\", '
            b'description: $d}) { userErrors { code } } }", '
            b'"variables": {"d": "\\ude00\\ud83d"}}',
            id="pair-in-the-wrong-order",
        ),
        pytest.param(
            b'{"query": "mutation { createCode(input: {code: \\"A1\\"}) '
            b'{ userErrors { code } } }", "\\ud800": 1}',
            id="in-a-key",
        ),
        pytest.param(
            b'{"query": "mutation M { createCode(input: {code: \\"A1\\"}) '
            b'{ userErrors { code } } }", "operationName": "M\\udfff"}',
            id="in-the-operation-name",
        ),
    ],
)
async def test_a_lone_surrogate_escape_in_the_json_is_a_bad_request(
    server: Server, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.set_level(logging.ERROR)
    stored = _stored(server)

    response = await _post_raw(server, body)

    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": LONE_SURROGATE, "extensions": {"code": "BAD_REQUEST"}}]
    }
    assert "X-Request-Id" in response.headers
    assert _stored(server) == stored
    with server.backend.store.reading() as db:
        assert code_usage.live_code(db, "A1") is None
    assert _defects(caplog) == []


async def test_a_surrogate_pair_escape_in_the_json_is_ordinary_text(
    server: Server,
) -> None:
    response = await _post_raw(
        server,
        b'{"query": "mutation($d: String!) { createCode(input: {code: \\"A1\\", '
        b'description: $d}) { code { description } userErrors { code } } }", '
        b'"variables": {"d": "First aid \\ud83d\\ude91 caf\\u00e9"}}',
    )

    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "createCode": {
                "code": {"description": "First aid \U0001f691 caf\u00e9"},
                "userErrors": [],
            }
        },
        "extensions": {"cost": {"requested": 5, "limit": 50000}},
    }


async def test_a_lone_surrogate_escaped_in_the_graphql_text_is_a_syntax_error(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # Here JSON carries a backslash: the escape belongs to GraphQL's own string.
    caplog.set_level(logging.ERROR)
    stored = _stored(server)

    response = await _post_raw(
        server,
        b'{"query": "mutation { createCode(input: {code: \\"A1\\", '
        b'description: \\"\\\\ud800\\"}) { userErrors { code } } }"}',
    )

    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert (
        error["message"] == "Syntax Error: Invalid Unicode escape sequence: '\\ud800'."
    )
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert _stored(server) == stored
    assert _defects(caplog) == []


# Search and cursors


async def test_a_search_longer_than_100_characters_is_refused(
    client: GraphQLClient,
) -> None:
    response = await client.post(
        "query($search: String) { codes(search: $search) { totalCount } }",
        {"search": "x" * 101},
    )

    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": "search"}
    assert error["message"] == "A search has at most 100 characters; this one has 101."


@pytest.mark.parametrize(
    "search", ["x" * 100, "  " + "x" * 100 + "  "], ids=["100", "100-with-spaces"]
)
async def test_a_search_of_100_characters_is_answered(
    client: GraphQLClient, search: str
) -> None:
    data = await client.data(
        "query($search: String) { codes(search: $search) { totalCount } }",
        {"search": search},
    )

    assert data == {"codes": {"totalCount": 0}}


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("A" * 513, id="513-characters"),
        pytest.param("A" * 512, id="512-characters-not-ours"),
        pytest.param(_b64(b"[" * 100_000), id="100000-brackets"),
        pytest.param(_b64(b"[" * 380), id="380-brackets"),
        pytest.param(_b64(b'["codes",' * 40), id="nested-lists"),
        pytest.param("\u00e9" * 20, id="not-base64"),
        pytest.param(_b64(b'["codes","\xff"]'), id="not-utf-8"),
    ],
)
async def test_a_long_or_deeply_nested_cursor_is_invalid_input_not_a_defect(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture, cursor: str
) -> None:
    caplog.set_level(logging.ERROR, logger="graph.schema")

    responses = [
        await client.post(
            "query($after: String) { codes(after: $after) { totalCount } }",
            {"after": cursor},
        ),
        await client.post(
            "query($after: String) { trainingRecords(after: $after) { totalCount } }",
            {"after": cursor},
        ),
    ]

    for response in responses:
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
        assert error["message"] == BAD_CURSOR
    assert _defects(caplog) == []


# Drafts and ids


@pytest.fixture
async def catalogue(client: GraphQLClient) -> dict[str, str]:
    """A live and a draft course, a live and a draft path, and learner lena."""
    ids = {}
    for name, status in (("live", "LIVE"), ("draft", "DRAFT")):
        data = await client.data(
            "mutation($status: Status!, $title: String!) { createCourse(input: "
            "{title: $title, status: $status}) { content { id } "
            "userErrors { code } } }",
            {"status": status, "title": f"A {name} course"},
        )
        ids[name] = data["createCourse"]["content"]["id"]
        await client.data(
            f'mutation {{ createLearningPath(input: {{code: "{name}P", '
            f'title: "A {name} path", status: {status}, steps: '
            f'[{{code: "{name}S", title: "Step", points: 1}}]}}) '
            f"{{ {ERRORS} }} }}"
        )
    await _register(client, "lena")
    return ids


CONTENT = "query($id: ID!) { content(contentId: $id) { id title status } }"
PATH_BY_CODE = "query($code: String!) { learningPath(code: $code) { code status } }"


async def test_a_learner_gets_null_for_draft_content_and_a_draft_path(
    client: GraphQLClient, catalogue: dict[str, str]
) -> None:
    learner = client.as_user("lena", Role.LEARNER)

    content = await learner.data(CONTENT, {"id": catalogue["draft"]})
    upper = await learner.data(CONTENT, {"id": catalogue["draft"].upper()})
    path = await learner.data(PATH_BY_CODE, {"code": "draftP"})

    assert content == upper == {"content": None}
    assert path == {"learningPath": None}


async def test_a_learner_sees_live_content_and_a_live_path(
    client: GraphQLClient, catalogue: dict[str, str]
) -> None:
    learner = client.as_user("lena", Role.LEARNER)

    content = await learner.data(CONTENT, {"id": catalogue["live"]})
    path = await learner.data(PATH_BY_CODE, {"code": "liveP"})

    assert content == {
        "content": {"id": catalogue["live"], "title": "A live course", "status": "LIVE"}
    }
    assert path == {"learningPath": {"code": "LIVEP", "status": "LIVE"}}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER])
async def test_admins_and_managers_see_drafts(
    client: GraphQLClient, catalogue: dict[str, str], role: Role
) -> None:
    author = client.as_user("mia", role)

    content = await author.data(CONTENT, {"id": catalogue["draft"]})
    path = await author.data(PATH_BY_CODE, {"code": "draftP"})

    assert content == {
        "content": {
            "id": catalogue["draft"],
            "title": "A draft course",
            "status": "DRAFT",
        }
    }
    assert path == {"learningPath": {"code": "DRAFTP", "status": "DRAFT"}}


@pytest.mark.parametrize(
    "spell",
    [str.upper, lambda id: f"  {id}  ", lambda id: f"\t{id.upper()}\n"],
    ids=["upper-case", "surrounding-spaces", "upper-case-and-whitespace"],
)
async def test_a_content_id_in_another_spelling_finds_the_same_content(
    client: GraphQLClient, catalogue: dict[str, str], spell: Any
) -> None:
    learner = client.as_user("lena", Role.LEARNER)
    spelled = spell(catalogue["live"])
    assert spelled != catalogue["live"]

    content = await learner.data(CONTENT, {"id": spelled})
    activity = await client.data(
        "query($id: ID!) { courseActivity(contentId: $id) "
        "{ content { id } enrolments } }",
        {"id": spelled},
    )

    assert content["content"]["id"] == catalogue["live"]
    assert activity == {
        "courseActivity": {"content": {"id": catalogue["live"]}, "enrolments": 0}
    }


@pytest.mark.parametrize(
    "content_id",
    ["not-an-id", "", "12345", NO_ID + "0"],
    ids=["word", "empty", "number", "uuid-one-digit-too-long"],
)
async def test_a_content_id_that_is_not_a_uuid_is_bad_user_input(
    client: GraphQLClient, catalogue: dict[str, str], content_id: str
) -> None:
    learner = client.as_user("lena", Role.LEARNER)

    content = (await learner.post(CONTENT, {"id": content_id})).json()
    activity = (
        await client.post(
            "query($id: ID!) { courseActivity(contentId: $id) { enrolments } }",
            {"id": content_id},
        )
    ).json()

    for body in (content, activity):
        (error,) = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "contentId"}
        assert error["message"] == f"{content_id!r} is not an id this system issued."


# Acting for another username


@pytest.mark.parametrize(
    "username", ["bob", "ghost"], ids=["registered", "unregistered"]
)
async def test_a_learner_acting_for_another_username_is_forbidden_either_way(
    client: GraphQLClient, catalogue: dict[str, str], username: str
) -> None:
    await _register(client, "bob")
    learner = client.as_user("lena", Role.LEARNER)
    stored = _stored(client.server)

    data = await learner.data(
        "mutation($id: ID!, $user: String!) { "
        f'joinPath(input: {{pathCode: "liveP", username: $user}}) {{ {ERRORS} }} '
        f"enrol(input: {{contentId: $id, username: $user}}) {{ {ERRORS} }} }}",
        {"id": catalogue["live"], "user": username},
    )

    forbidden = {
        "code": "FORBIDDEN",
        "field": None,
        "message": f"The learner role may not change {username}'s training records.",
    }
    assert data == {
        "joinPath": {"userErrors": [forbidden]},
        "enrol": {"userErrors": [forbidden]},
    }
    assert _stored(client.server) == stored


# Tokens


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(b"Bearer \xff\xfe\x80garbage", id="bytes-outside-ascii"),
        pytest.param(b"Bearer \xff.\xfe.\x80", id="three-segments-of-bytes"),
        pytest.param(
            f"Bearer {NOT_UTF8_SEGMENTS}".encode(), id="segments-that-are-not-utf-8"
        ),
        pytest.param(
            f"Bearer {NOT_UTF8_CLAIMS}".encode(), id="claims-that-are-not-utf-8"
        ),
        pytest.param(b"Bearer not-a-token", id="one-word"),
        pytest.param(b"Bearer a.b.c", id="three-words"),
        pytest.param(b"Bearer ....", id="only-dots"),
    ],
)
async def test_a_garbage_token_is_unauthenticated_in_our_own_words(
    server: Server, authorization: bytes
) -> None:
    response = await _post_raw(server, CODES_BODY, authorization=authorization)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "X-Request-Id" in response.headers
    assert response.json() == {
        "errors": [{"message": NOT_OURS, "extensions": {"code": "UNAUTHENTICATED"}}]
    }


@pytest.mark.parametrize(
    ("claims", "drop", "message"),
    [
        pytest.param(
            {"aud": "other"}, (), "The token was issued for another service.", id="aud"
        ),
        pytest.param(
            {"aud": ["other", "more"]},
            (),
            "The token was issued for another service.",
            id="aud-list",
        ),
        pytest.param(
            {"nbf": datetime.now(UTC) + timedelta(days=1)},
            (),
            "The token is not valid yet.",
            id="not-before",
        ),
        pytest.param({}, ("sub",), "The token lacks the sub claim.", id="no-sub"),
        pytest.param({}, ("exp",), "The token lacks the exp claim.", id="no-exp"),
        pytest.param(
            {"sub": "\u212aate"},
            (),
            "The token names no known role or user.",
            id="kelvin-sign-sub",
        ),
    ],
)
async def test_a_signed_token_that_does_not_fit_says_why(
    server: Server, claims: dict[str, Any], drop: tuple[str, ...], message: str
) -> None:
    token = _forge(server.backend.settings.jwt_secret, drop, **claims)

    response = await _post_raw(server, CODES_BODY, authorization=f"Bearer {token}")

    assert response.status_code == 401
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]
    }


@pytest.mark.parametrize(
    ("mutation", "field", "value"),
    [
        (
            'updateTrainingRecord(input: {{recordId: {v}, title: "x"}})',
            "recordId",
            "nope",
        ),
        ("deleteRecord(input: {{recordId: {v}}})", "recordId", "1a13712f-0b64-49b5"),
        (
            'completeContent(input: {{contentId: {v}, username: "lena", '
            'completionDate: "2024-01-01"}})',
            "contentId",
            "12345",
        ),
    ],
    ids=["garbage record", "truncated record", "wrong content"],
)
async def test_an_id_this_system_never_issued_is_bad_user_input(
    client: GraphQLClient, mutation: str, field: str, value: str
) -> None:
    await _register(client, "lena")
    stored = _stored(client.server)
    document = mutation.format(v='"' + value + '"')
    data = await client.data(f"mutation {{ {document} {{ {ERRORS} }} }}")

    (payload,) = data.values()
    assert payload["userErrors"] == [
        {
            "code": "BAD_USER_INPUT",
            "field": field,
            "message": f"{value!r} is not an id this system issued.",
        }
    ]
    assert _stored(client.server) == stored


@pytest.mark.parametrize(
    "query",
    [
        "query($id: ID!) { content(contentId: $id) { title } }",
        "query($id: ID!) { courseActivity(contentId: $id) { completions } }",
    ],
    ids=["content", "course activity"],
)
@pytest.mark.parametrize("value", ["garbage", "1a13712f-0b64-49b5", "a\u0000b"])
async def test_a_content_id_this_system_never_issued_is_bad_user_input(
    client: GraphQLClient, query: str, value: str
) -> None:
    body = (await client.post(query, {"id": value})).json()

    (error,) = body["errors"]
    assert error["message"] == f"{value!r} is not an id this system issued."
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "contentId"}


async def test_a_long_rejected_value_is_quoted_cut_short(client: GraphQLClient) -> None:
    value = "x" * 100_000
    data = await client.data(
        f'mutation {{ deleteRecord(input: {{recordId: "{value}"}}) {{ {ERRORS} }} }}'
    )

    (error,) = data["deleteRecord"]["userErrors"]
    assert error["message"] == (
        f"{'x' * 60!r}... (100000 characters) is not an id this system issued."
    )
