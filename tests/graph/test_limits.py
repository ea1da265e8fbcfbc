"""Limits on what one request may ask for: each is refused before anything runs,
with its own code and a message naming the limit, and anything just under it is
answered."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from graphql import Node, get_introspection_query, parse
from starlette.routing import Route

from graph import execution, limits
from graph.schema import DOCUMENTS, QualifySchema, build_schema
from projections import code_usage
from qualify.config import Settings
from tests.graph.conftest import Server, post_json

Start = Callable[..., Server]

RECORD_FIELDS = [
    "recordId",
    "username",
    "recordType",
    "objectId",
    "title",
    "trainingProvider",
    "completionDate",
    "otherInformation",
    "code",
    "recordedAt",
]


@pytest.fixture
def server(start_server: Start) -> Server:
    return start_server()


def _stored(server: Server) -> int | None:
    return server.backend.log.recorder.max_notification_id()


async def _ask(server: Server, query: str, variables: Any = None) -> dict[str, Any]:
    response = await post_json(server, {"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _refusal(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}, **extra}


AT_START = {"locations": [{"line": 1, "column": 1}]}


def _nested(levels: int) -> str:
    """``{ a { a { ... } } }`` with ``levels`` fields, none of them real."""
    return "{" + " a {" * (levels - 1) + " a" + " }" * levels


# Depth


def _deep_error(depth: int, limit: int) -> dict[str, Any]:
    return _refusal(
        "QUERY_TOO_DEEP",
        f"The query is {depth} levels deep; at most {limit} are allowed.",
        **AT_START,
    )


NOT_A_FIELD = {
    "message": "Cannot query field 'a' on type 'Query'.",
    "locations": [{"line": 1, "column": 3}],
    "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
}


async def test_a_query_13_levels_deep_is_refused_by_default(server: Server) -> None:
    body = await _ask(server, _nested(13))

    assert body == {"data": None, "errors": [_deep_error(13, 12), NOT_A_FIELD]}


async def test_a_query_12_levels_deep_is_within_the_default_depth(
    server: Server,
) -> None:
    # No field of the schema nests that deep; only the unknown field is reported.
    body = await _ask(server, _nested(12))

    assert body == {"data": None, "errors": [NOT_A_FIELD]}


PATH_5 = (
    '{ learningPath(code: "SAFE") { participants { edges { node { username } } } } }'
)
PATH_6 = (
    '{ learningPath(code: "SAFE") { participants { edges { node '
    "{ satisfiedSteps { code } } } } } }"
)


async def test_a_configured_depth_is_answered_up_to_and_refused_past_it(
    start_server: Start,
) -> None:
    server = start_server(max_depth=5)

    answered = await _ask(server, PATH_5)
    refused = await _ask(server, PATH_6)

    assert answered["data"] == {"learningPath": None}
    assert "errors" not in answered
    assert refused == {"data": None, "errors": [_deep_error(6, 5)]}


async def test_depth_counts_through_fragments(start_server: Start) -> None:
    server = start_server(max_depth=5)
    query = (
        '{ ...P } fragment P on Query { learningPath(code: "SAFE") '
        "{ participants { ...E } } } "
        "fragment E on PathProgressConnection { edges { node { ...S } } } "
        "fragment S on PathProgress { satisfiedSteps { code } }"
    )

    body = await _ask(server, query)

    assert body == {"data": None, "errors": [_deep_error(6, 5)]}


async def test_introspection_is_not_held_to_the_depth_limit(server: Server) -> None:
    # GraphiQL's own introspection query is 15 levels deep.
    query = (
        '{ __type(name: "Query") { fields { type { ofType { ofType { ofType '
        "{ ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } "
        "} } } } } } }"
    )

    body = await _ask(server, query)

    assert "errors" not in body
    assert body["data"]["__type"]["fields"]


async def test_a_clients_whole_introspection_query_is_answered(
    server: Server,
) -> None:
    # GraphiQL and code generators send this to learn the schema; counting each
    # of its lists as 100 items priced it at about 35 million.
    query = get_introspection_query(descriptions=True, specified_by_url=True)

    body = await _ask(server, query)

    assert "errors" not in body
    types = body["data"]["__schema"]["types"]
    schema = build_schema(server.backend.settings)
    assert len(types) == len(schema._schema.type_map)
    allowed = limits.Limits.from_settings(server.backend.settings).max_cost
    assert body["extensions"]["cost"]["requested"] < allowed


async def test_introspection_through_a_types_members_twice_counts_as_lists_do(
    server: Server,
) -> None:
    # graphql-core refuses a third level of fields itself; the second already
    # counts its items as any list does.
    query = "{ __schema { types { fields { type { fields { name } } } } } }"

    body = await _ask(server, query)

    assert "errors" not in body
    assert body["extensions"] == _cost(1 + 1 + 1 + 1 + (1 + 100 * 1))


async def test_a_deep_query_is_refused_every_time_it_is_sent(server: Server) -> None:
    first = await _ask(server, _nested(13))
    second = await _ask(server, _nested(13))

    assert (
        first == second == {"data": None, "errors": [_deep_error(13, 12), NOT_A_FIELD]}
    )


async def test_a_valid_query_sent_twice_is_validated_once(server: Server) -> None:
    query = "{ codes(first: 3) { totalCount } __typename }"
    await _ask(server, query)
    before = DOCUMENTS.validations

    body = await _ask(server, query)

    assert body["data"] == {"codes": {"totalCount": 0}, "__typename": "Query"}
    assert DOCUMENTS.validations == before


# Nesting of the text itself


def _nesting_error(limit: int = 44) -> dict[str, Any]:
    return _refusal(
        "QUERY_TOO_DEEP",
        f"The query nests brackets more than {limit} levels deep; at most {limit} "
        "are allowed.",
    )


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(_nested(500), id="500-selection-sets"),
        pytest.param(
            "{ codes(search: " + "[" * 500 + "]" * 500 + ") { totalCount } }",
            id="500-list-brackets-in-an-argument",
        ),
        pytest.param(
            'mutation { createCode(input: {code: "A1", description: '
            + "{x: " * 500
            + "1"
            + "}" * 500
            + "}) { userErrors { code } } }",
            id="500-input-objects-in-a-mutation",
        ),
        pytest.param("{" * 100_000, id="100000-open-braces"),
    ],
)
async def test_text_nested_hundreds_deep_is_refused_before_parsing(
    server: Server, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    caplog.set_level(logging.ERROR)
    stored = _stored(server)

    body = await _ask(server, query)

    assert body == {"data": None, "errors": [_nesting_error()]}
    assert _stored(server) == stored
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def _listed(brackets: int) -> str:
    # The selection set and the argument list are two of the brackets.
    lists = brackets - 2
    return "{ codes(search: " + "[" * lists + '"x"' + "]" * lists + ") { totalCount } }"


async def test_brackets_nested_44_deep_reach_the_parser_and_45_do_not(
    server: Server,
) -> None:
    within = await _ask(server, _listed(44))
    past = await _ask(server, _listed(45))

    [error] = within["errors"]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert error["message"].startswith("String cannot represent a non string value")
    assert past == {"data": None, "errors": [_nesting_error()]}


@pytest.mark.parametrize("levels", [500, 100_000])
async def test_a_variable_nested_hundreds_deep_is_a_bad_request(
    server: Server, levels: int
) -> None:
    body = (
        b'{"query": "query($s: String) { codes(search: $s) { totalCount } }", '
        b'"variables": {"s": ' + b"[" * levels + b"]" * levels + b"}}"
    )
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            content=body,
            headers={
                "Authorization": f"Bearer {server.token()}",
                "Content-Type": "application/json",
            },
        )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            _refusal(
                "BAD_REQUEST",
                "The request nests arrays and objects more than 64 levels deep.",
            )
        ]
    }


async def test_a_get_with_variables_nested_hundreds_deep_is_a_bad_request(
    server: Server,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            f"{server.url}/graphql",
            params={
                "query": "query($s: String) { codes(search: $s) { totalCount } }",
                "variables": '{"s": ' + "[" * 500 + "]" * 500 + "}",
            },
            headers={"Authorization": f"Bearer {server.token()}"},
        )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            _refusal(
                "BAD_REQUEST",
                "The request nests arrays and objects more than 64 levels deep.",
            )
        ]
    }


async def test_a_variable_nested_within_the_limit_is_an_input_error(
    server: Server,
) -> None:
    # With the body and its variables, 64 levels in all.
    nested = json.loads("[" * 62 + "]" * 62)

    body = await _ask(
        server,
        "query($s: String) { codes(search: $s) { totalCount } }",
        {"s": nested},
    )

    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert error["message"] == (
        "Variable '$s' has invalid value: String cannot represent a non string "
        "value: [[[...]]]"
    )


# Circular fragments


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param(
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            "Cannot spread fragment 'A' within itself via 'B'.",
            id="two-fragments",
        ),
        pytest.param(
            "{ ...A } fragment A on Query { x: __typename ...A }",
            "Cannot spread fragment 'A' within itself.",
            id="one-fragment",
        ),
        pytest.param(
            "{ ...A } fragment A on Query { codes { nodes { ...B } } } "
            "fragment B on QualificationCode { ...C } "
            "fragment C on QualificationCode { ...B }",
            "Cannot spread fragment 'B' within itself via 'C'.",
            id="deeper-down",
        ),
    ],
)
async def test_circular_fragments_fail_validation(
    server: Server, caplog: pytest.LogCaptureFixture, query: str, message: str
) -> None:
    caplog.set_level(logging.ERROR)

    body = await _ask(server, query)

    assert body["data"] is None
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        (message, {"code": "GRAPHQL_VALIDATION_FAILED"})
    ]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# Aliases


def _aliases(count: int, prefix: str = "a") -> str:
    return " ".join(f"{prefix}{i}: __typename" for i in range(count))


def _alias_error(count: int, limit: int = 30) -> dict[str, Any]:
    return _refusal(
        "TOO_MANY_ALIASES",
        f"The query uses {count} aliases, counting each use of a fragment; at most "
        f"{limit} are allowed.",
        **AT_START,
    )


async def test_30_aliases_are_answered(server: Server) -> None:
    body = await _ask(server, "{ " + _aliases(30) + " }")

    assert body["data"] == {f"a{i}": "Query" for i in range(30)}


async def test_31_aliases_are_refused(server: Server) -> None:
    body = await _ask(server, "{ " + _aliases(31) + " }")

    assert body == {"data": None, "errors": [_alias_error(31)]}


FRAGMENT_OF_10 = "fragment F on Query { " + _aliases(10) + " }"


async def test_a_fragment_spread_three_times_counts_its_aliases_three_times(
    server: Server,
) -> None:
    within = await _ask(server, "{ ...F ...F ...F } " + FRAGMENT_OF_10)
    past = await _ask(server, "{ b: __typename ...F ...F ...F } " + FRAGMENT_OF_10)

    assert within["data"] == {f"a{i}": "Query" for i in range(10)}
    assert past == {"data": None, "errors": [_alias_error(31)]}


async def test_aliases_hidden_in_nested_fragments_are_counted(server: Server) -> None:
    query = (
        "{ ...Outer } fragment Outer on Query { codes { ...Inner ...Inner } "
        "...Inner2 } "
        "fragment Inner on QualificationCodeConnection { "
        + _aliases(15, "c")
        + " } fragment Inner2 on Query { x: __typename }"
    )

    body = await _ask(server, query)

    assert body == {"data": None, "errors": [_alias_error(31)]}


async def test_fragments_doubling_at_each_level_are_counted_without_expanding(
    server: Server,
) -> None:
    levels = 40
    fragments = ["fragment F0 on Query { a: __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}"
        for i in range(1, levels + 1)
    ]
    query = f"{{ ...F{levels} }} " + " ".join(fragments)

    body = await _ask(server, query)

    assert body == {"data": None, "errors": [_alias_error(2**levels)]}


async def test_too_many_aliased_mutations_change_nothing(server: Server) -> None:
    stored = _stored(server)
    mutations = " ".join(
        f'm{i}: createCode(input: {{code: "C{i}"}}) {{ userErrors {{ code }} }}'
        for i in range(31)
    )

    body = await _ask(server, f"mutation {{ {mutations} }}")

    assert body == {"data": None, "errors": [_alias_error(31)]}
    assert _stored(server) == stored
    with server.backend.store.reading() as db:
        assert code_usage.live_code(db, "C0") is None


# Tokens


GROUPS = 8
ANSWER = {"trainingRecords": {f"n{g}": [] for g in range(GROUPS)}}


def _of_tokens(count: int) -> str:
    # `{ trainingRecords ( first : 1 ) {` and its two closing braces: 10 tokens;
    # each `nK : nodes { ... }` group, 5 more. The fields are spread over groups
    # since one selection set holds at most 300 of them side by side.
    fields = count - 10 - 5 * GROUPS
    groups = []
    for group in range(GROUPS):
        share = range(group, fields, GROUPS)
        names = " ".join(RECORD_FIELDS[i % len(RECORD_FIELDS)] for i in share)
        groups.append(f"n{group}: nodes {{ {names} }}")
    return f"{{ trainingRecords(first: 1) {{ {' '.join(groups)} }} }}"


TOKENS_ERROR = _refusal(
    "TOO_MANY_TOKENS",
    "The query has more than 2000 tokens; at most 2000 are allowed.",
)


async def test_a_query_of_2000_tokens_is_answered(server: Server) -> None:
    body = await _ask(server, _of_tokens(2000))

    assert body["data"] == ANSWER
    assert "errors" not in body


async def test_a_query_of_2001_tokens_is_refused(server: Server) -> None:
    body = await _ask(server, _of_tokens(2001))

    assert body == {"data": None, "errors": [TOKENS_ERROR]}


async def test_comments_and_commas_are_not_tokens(server: Server) -> None:
    query = "# " + "x" * 5000 + "\n" + _of_tokens(2000).replace(" ", ", ")

    body = await _ask(server, query)

    assert body["data"] == ANSWER


async def test_a_mutation_of_too_many_tokens_changes_nothing(server: Server) -> None:
    stored = _stored(server)

    # 2,000 tokens in groups of 200 fields, each group under an alias.
    groups = " ".join(f"e{g}: userErrors {{ {'code ' * 200}}}" for g in range(10))
    body = await _ask(
        server, 'mutation { createCode(input: {code: "A1"}) { ' + groups + " } }"
    )

    assert body == {"data": None, "errors": [TOKENS_ERROR]}
    assert _stored(server) == stored


# Cost


def _cost(requested: int, limit: int = 50_000) -> dict[str, Any]:
    return {"cost": {"requested": requested, "limit": limit}}


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        # 1 for codes, and 10 (the default page) times 1 for totalCount.
        pytest.param("{ codes { totalCount } }", None, 11, id="default-page"),
        pytest.param(
            "{ codes(first: 5) { totalCount nodes { code } } }",
            None,
            1 + 5 * (1 + 2),
            id="page-of-5",
        ),
        pytest.param(
            "query($n: Int!) { codes(first: $n) { totalCount } }",
            {"n": 100},
            101,
            id="page-size-in-a-variable",
        ),
        pytest.param("{ __typename }", None, 1, id="one-field"),
        pytest.param(
            '{ learningPath(code: "X") { title participants(first: 3) '
            "{ nodes { username missingSteps { code } } } } }",
            None,
            # missingSteps is a plain list, costed as LIST_ESTIMATE (100) items.
            1 + 1 + 1 + 3 * (1 + 1 + 1 + 100 * 1),
            id="nested-connection",
        ),
        pytest.param(
            '{ __type(name: "Query") { fields { name args { name } } } }',
            None,
            # Introspection lists count as one item each.
            1 + (1 + 1 * (1 + (1 + 1 * 1))),
            id="introspection-lists",
        ),
        pytest.param(
            '{ __type(name: "Query") { fields { type { fields { name } } } } }',
            None,
            # A type's members beneath another's count as any list does.
            1 + (1 + 1 * (1 + (1 + 100 * 1))),
            id="introspection-recursing",
        ),
        pytest.param(
            "fragment T on __Type { fields { name } } "
            '{ __type(name: "Query") { ...T fields { type { ...T } } } }',
            None,
            # The same fragment counts once outside a type's members, and as any
            # list beneath them.
            1 + (1 + 1) + (1 + 1 * (1 + (1 + 100 * 1))),
            id="introspection-fragment",
        ),
    ],
)
async def test_every_answer_reports_its_cost(
    server: Server, query: str, variables: Any, cost: int
) -> None:
    body = await _ask(server, query, variables)

    assert "errors" not in body
    assert body["extensions"] == _cost(cost)


def _costing(extra: int) -> str:
    """A query costing 50,000 plus ``extra``: 21 aliases and some __typename."""
    record = "fragment R on TrainingRecord { " + " ".join(RECORD_FIELDS) + " }"
    # Beneath each page: nodes (1 + 10) and edges (1 + cursor + node (1 + 10)).
    page = "{ nodes { ...R } edges { cursor node { ...R } } }"
    full = " ".join(f"p{i}: trainingRecords(first: 100) {page}" for i in range(20))
    # 20 full pages cost 20 * (1 + 100 * 24) = 48,020; 82 items cost 1,969.
    part = f"q: trainingRecords(first: 82) {page}"
    return "{ " + full + " " + part + " __typename" * (11 + extra) + " } " + record


async def test_a_query_costing_50000_is_answered(server: Server) -> None:
    body = await _ask(server, _costing(0))

    assert "errors" not in body
    assert body["extensions"] == _cost(50_000)


async def test_a_query_costing_50001_is_refused_with_its_cost(server: Server) -> None:
    body = await _ask(server, _costing(1))

    assert body == {
        "data": None,
        "errors": [
            _refusal(
                "QUERY_TOO_COSTLY",
                "The query would cost 50001; at most 50000 is allowed. Each field "
                "costs 1, and a list's `first` multiplies the cost of what it holds.",
            )
        ],
        "extensions": _cost(50_001),
    }


async def test_a_costly_query_is_refused_every_time_it_is_sent(
    server: Server,
) -> None:
    first = await _ask(server, _costing(1))
    second = await _ask(server, _costing(1))

    assert first == second
    assert first["errors"][0]["extensions"] == {"code": "QUERY_TOO_COSTLY"}


async def test_a_page_size_from_a_variable_is_costed(start_server: Start) -> None:
    server = start_server(max_cost=100)
    query = "query($n: Int!) { codes(first: $n) { totalCount } }"

    within = await _ask(server, query, {"n": 99})
    past = await _ask(server, query, {"n": 100})

    assert within["extensions"] == _cost(100, 100)
    assert past["errors"] == [
        _refusal(
            "QUERY_TOO_COSTLY",
            "The query would cost 101; at most 100 is allowed. Each field costs 1, "
            "and a list's `first` multiplies the cost of what it holds.",
        )
    ]


@pytest.mark.parametrize("first", [0, -5, 101, 2_000_000_000])
async def test_a_page_size_out_of_range_is_refused_before_anything_runs(
    server: Server, monkeypatch: pytest.MonkeyPatch, first: int
) -> None:
    def must_not_run(*args: Any) -> Any:
        raise AssertionError("the resolver ran")

    monkeypatch.setattr(code_usage, "code_page", must_not_run)

    body = await _ask(
        server, "query($n: Int!) { codes(first: $n) { totalCount } }", {"n": first}
    )

    assert body == {
        "data": None,
        "errors": [
            {
                "message": f"first must be from 1 to 100; got {first}.",
                "extensions": {"code": "INVALID_INPUT", "field": "first"},
            }
        ],
    }


LEARNING_PATH = (
    'mutation { createLearningPath(input: {code: "SAFE", title: "Safety", '
    'steps: [{code: "CPR", title: "CPR", points: 1}]}) { learningPath '
    "{ participants(first: %d) { totalCount } } userErrors { code } } }"
)


async def test_a_mutation_over_its_cost_changes_nothing(start_server: Start) -> None:
    server = start_server(max_cost=100)
    stored = _stored(server)

    # createLearningPath, learningPath, participants, userErrors and code: 5.
    refused = await _ask(server, LEARNING_PATH % 96)
    stored_after = _stored(server)
    answered = await _ask(server, LEARNING_PATH % 95)

    assert refused["data"] is None
    assert refused["errors"] == [
        _refusal(
            "QUERY_TOO_COSTLY",
            "The query would cost 101; at most 100 is allowed. Each field costs 1, "
            "and a list's `first` multiplies the cost of what it holds.",
        )
    ]
    assert stored_after == stored
    assert answered["extensions"] == _cost(100, 100)
    assert answered["data"]["createLearningPath"]["userErrors"] == []


async def test_a_fault_in_a_limit_is_masked_and_logged_once(
    server: Server,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("costing on fire")

    monkeypatch.setattr(limits, "operation_cost", broken)
    caplog.set_level(logging.ERROR, logger="graph.schema")

    response = await post_json(
        server, {"query": "{ __typename }"}, **{"X-Request-Id": "req-7"}
    )

    assert response.status_code == 200
    assert response.json()["errors"] == [
        {
            "message": "Internal server error; quote request id req-7 when "
            "reporting it.",
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert "costing on fire" not in response.text
    defects = [r for r in caplog.records if r.name == "graph.schema"]
    assert len(defects) == 1
    assert defects[0].exc_info is not None


# Body size


def _padded(size: int) -> bytes:
    head = b'{"query": "{ __typename }", "pad": "'
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def _post_bytes(server: Server, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{server.url}/graphql",
            content=body,
            headers={
                "Authorization": f"Bearer {server.token()}",
                "Content-Type": "application/json",
            },
        )


TOO_LARGE = {
    "errors": [
        _refusal(
            "BAD_REQUEST",
            "The request body is larger than the limit of 1048576 bytes.",
        )
    ]
}


async def test_a_body_of_1_mb_is_answered(server: Server) -> None:
    response = await _post_bytes(server, _padded(1024 * 1024))

    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_a_body_over_1_mb_is_refused_before_it_is_read(server: Server) -> None:
    response = await _post_bytes(server, _padded(1024 * 1024 + 1))

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


def _chunked(body: bytes) -> Any:
    async def chunks() -> Any:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    return chunks()


async def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(
    server: Server,
) -> None:
    response = await _post_bytes(server, _chunked(_padded(1024 * 1024 + 1)))

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_a_chunked_body_within_the_limit_is_answered(server: Server) -> None:
    response = await _post_bytes(server, _chunked(_padded(1024 * 1024)))

    assert "content-length" not in response.request.headers
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_a_configured_body_limit_applies(start_server: Start) -> None:
    server = start_server(max_body_bytes=100)

    within = await _post_bytes(server, _padded(100))
    past = await _post_bytes(server, _padded(101))

    assert within.status_code == 200
    assert past.status_code == 413
    assert past.json()["errors"][0]["message"] == (
        "The request body is larger than the limit of 100 bytes."
    )


async def test_a_page_of_plain_lists_is_costed_as_the_lists_it_may_hold(
    server: Server,
) -> None:
    # One page of 100 participants, each with up to 100 missing steps of 5 fields.
    query = (
        '{ learningPath(code: "BIG") { participants(first: 100) { nodes { '
        "missingSteps { id code title points mandatory } } } } }"
    )
    body = await _ask(server, query)

    assert body["data"] is None
    assert body["errors"] == [
        _refusal(
            "QUERY_TOO_COSTLY",
            "The query would cost 50202; at most 50000 is allowed. Each field costs "
            "1, and a list's `first` multiplies the cost of what it holds.",
        )
    ]


@pytest.mark.parametrize("count", [300, 301])
async def test_fields_side_by_side_are_limited_by_name(
    server: Server, count: int
) -> None:
    body = await _ask(server, "{ " + " ".join(["__typename"] * count) + " }")

    if count == 300:
        assert body["data"] == {"__typename": "Query"}
        return
    assert body["data"] is None
    assert body["errors"] == [
        _refusal(
            "TOO_MANY_FIELDS",
            "A selection set asks for more than 300 fields side by side; at most "
            "300 are allowed.",
        )
    ]


async def test_aliases_spreads_and_arguments_count_as_the_selections_they_are(
    server: Server,
) -> None:
    # 299 plain fields, one aliased field with arguments and a directive, and one
    # inline fragment: 301 selections, of which only 300 are side by side at the top.
    fields = " ".join(["__typename"] * 299)
    query = (
        f'{{ {fields} a: codes(first: 1, search: "x") @include(if: true) '
        "{ totalCount } }"
    )
    body = await _ask(server, query)
    assert "errors" not in body, body

    spread = query.replace(
        "{ totalCount } }", "{ totalCount } ... on Query { __typename } }"
    )
    refused = await _ask(server, spread)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["TOO_MANY_FIELDS"]


@pytest.mark.parametrize(("first", "refused"), [(5, False), (6, True)])
async def test_the_page_size_limit_is_configurable(
    start_server: Start, first: int, refused: bool
) -> None:
    server = start_server(max_page_size=5)
    body = await _ask(server, f"{{ codes(first: {first}) {{ totalCount }} }}")

    if not refused:
        assert body["data"] == {"codes": {"totalCount": 0}}
        return
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["message"] == "first must be from 1 to 5; got 6."
    assert error["extensions"]["field"] == "first"


async def test_a_remembered_cost_follows_the_page_size_it_was_asked_with(
    server: Server,
) -> None:
    # Costs are remembered by query and whole-number variables: a new page size
    # is costed afresh, another search is not a reason to.
    query = (
        "query($n: Int!, $s: String) { codes(first: $n, search: $s) { totalCount } }"
    )
    answers = [
        await _ask(server, query, {"n": n, "s": s})
        for n, s in ((5, "a"), (5, "b"), (7, "a"), (5, None))
    ]

    assert [a["extensions"]["cost"]["requested"] for a in answers] == [6, 6, 8, 6]


def _variable_error(message: str, column: int) -> dict[str, Any]:
    return {
        "message": message,
        "locations": [{"line": 1, "column": column}],
        "extensions": {"code": "BAD_USER_INPUT"},
    }


@pytest.mark.parametrize(
    ("query", "valid", "invalid", "error"),
    [
        pytest.param(
            "query($n: Int!, $s: String!) "
            "{ codes(first: $n, search: $s) { totalCount } }",
            {"n": 5, "s": "a"},
            {"n": 5},
            _variable_error(
                "Variable '$s' has invalid value: Expected a value of non-null "
                "type 'String!' to be provided.",
                17,
            ),
            id="a-variable-left-out",
        ),
        pytest.param(
            "query($n: Int!, $s: String) "
            "{ codes(first: $n, search: $s) { totalCount } }",
            {"n": 5, "s": "a"},
            {"n": 5, "s": 7},
            _variable_error(
                "Variable '$s' has invalid value: String cannot represent a non "
                "string value: 7",
                17,
            ),
            id="a-number-for-a-string",
        ),
        pytest.param(
            "query($n: Int!) { codes(first: $n) { totalCount } }",
            {"n": 5},
            {"n": "5"},
            _variable_error(
                "Variable '$n' has invalid value: Int cannot represent "
                "non-integer value: '5'",
                7,
            ),
            id="a-string-for-a-page-size",
        ),
        pytest.param(
            "query($n: Int) { codes(first: $n) { totalCount } }",
            {},
            {"n": None},
            {
                "message": "Argument 'first' has invalid value: Expected variable "
                "'$n' provided to non-null type 'Int!' not to be None.",
                "locations": [{"line": 1, "column": 31}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            },
            id="null-for-a-page-size-left-out-before",
        ),
    ],
)
async def test_a_request_is_answered_alike_whatever_was_sent_before_it(
    start_server: Start,
    query: str,
    valid: dict[str, Any],
    invalid: dict[str, Any],
    error: dict[str, Any],
) -> None:
    # A cost remembered for the valid variables must not answer for the others.
    fresh = await _ask(start_server(), query, invalid)
    server = start_server()
    earlier = await _ask(server, query, valid)
    after_valid = await _ask(server, query, invalid)

    assert earlier["data"] == {"codes": {"totalCount": 0}}
    assert fresh == after_valid == {"data": None, "errors": [error]}


async def test_a_page_size_sent_as_a_float_is_costed_as_the_number_it_is(
    start_server: Start,
) -> None:
    # GraphQL reads 100.0 as the Int 100: it must not share a cheaper cost
    # remembered for 1.0, nor skip the page-size check.
    server = start_server(max_cost=100)
    query = "query($n: Int!) { codes(first: $n) { totalCount } }"

    cheap = await _ask(server, query, {"n": 1.0})
    costly = await _ask(server, query, {"n": 100.0})
    too_large = await _ask(server, query, {"n": 1000.0})

    assert cheap["extensions"] == _cost(2, 100)
    assert costly["errors"][0]["extensions"] == {"code": "QUERY_TOO_COSTLY"}
    assert costly["data"] is None
    assert too_large["data"] is None
    assert "first must be from 1 to 100; got 1000." in too_large["errors"][0]["message"]


# What is kept between requests


def _schema(server: Server) -> QualifySchema:
    (view,) = (
        route.endpoint
        for route in server.app.routes
        if isinstance(route, Route) and route.path == "/graphql"
    )
    schema: QualifySchema = view.qualify_schema
    return schema


def _caches_holding(server: Server, query: str) -> set[str]:
    """The caches kept between requests that hold ``query`` or nodes parsed from it;
    the two caches of functions are measured by their sizes instead."""

    def parsed_from_query(node: Node) -> bool:
        return node.loc is not None and node.loc.source.body == query

    schema = _schema(server)
    answers = execution._compiled.get(schema._schema, {})
    held = {
        "verdicts": any(
            parsed_from_query(document)
            for _, document, _ in DOCUMENTS._verdicts.values()
        ),
        "costs": any(key[0] == query for key in schema.request_limits.costs.costs),
        "prepared": schema.prepared.get(query, None) is not None,
        "answers": any(
            parsed_from_query(node)
            for _, nodes, _ in answers.values()
            for node in nodes
        ),
    }
    return {name for name, holds in held.items() if holds}


def _cache_sizes() -> tuple[int, int]:
    """How many texts the parser's and the text check's caches hold."""
    return (
        DOCUMENTS.parsed.cache_info().currsize,
        limits._cached_text_problem.cache_info().currsize,
    )


PAGE_OF_CODES = "query($n: Int!) { codes(first: $n) { totalCount nodes { code } } }"
NO_CODES = {
    "data": {"codes": {"totalCount": 0, "nodes": []}},
    "extensions": _cost(1 + 5 * (1 + 2)),
}


async def test_a_query_of_ordinary_length_is_kept_for_the_next_requests(
    server: Server,
) -> None:
    # A comment of its own makes the text new to the module-wide caches.
    query = f"{PAGE_OF_CODES} # {server.url}"
    sizes = _cache_sizes()

    answers = [await _ask(server, query, {"n": 5}) for _ in range(3)]

    assert answers == [NO_CODES] * 3
    assert _cache_sizes() == (sizes[0] + 1, sizes[1] + 1)
    assert _caches_holding(server, query) == {
        "verdicts",
        "costs",
        "prepared",
        "answers",
    }


async def test_a_query_padded_past_the_kept_length_is_answered_but_never_kept(
    server: Server,
) -> None:
    # Distinct texts padded with comments up to the body limit would otherwise
    # pile up in memory, however few tokens they hold.
    query = f"{PAGE_OF_CODES} # {server.url} " + "x" * limits.CACHED_TEXT_LENGTH
    sizes = _cache_sizes()
    validations = DOCUMENTS.validations

    answers = [await _ask(server, query, {"n": 5}) for _ in range(3)]

    assert answers == [NO_CODES] * 3
    assert _cache_sizes() == sizes
    assert _caches_holding(server, query) == set()
    assert DOCUMENTS.validations == validations + 3


def test_a_text_at_the_kept_length_is_kept_and_one_past_it_is_not() -> None:
    at_limit = "{ __typename }".ljust(limits.CACHED_TEXT_LENGTH)

    assert limits.is_kept(at_limit)
    assert not limits.is_kept(at_limit + " ")
    assert limits.is_kept_node(parse(at_limit))
    assert not limits.is_kept_node(parse(at_limit + " "))
    assert limits.is_kept_node(parse(at_limit + " ", no_location=True))


def test_the_oldest_cost_goes_when_the_cache_is_full() -> None:
    schema = build_schema(Settings())._schema
    costs = limits.CostCache(size=2)
    texts = ["{ codes { totalCount } }", "{ __typename }", "{ a: __typename }"]

    for text in texts:
        costs.cost(schema, text, parse(text), None, None, 100)

    assert [key[0] for key in costs.costs] == texts[1:]
