"""Random operations built from the schema, sent to a real server: whatever they
ask, the answer is never a server error and never shows a trace."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.schema import schema
from qualify.bootstrap import build
from qualify.config import Settings
from tests.graph.conftest import Server, serve

SCHEMA = schema._schema
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
TEXT = st.text(max_size=12)
# Values of every shape, for arguments of the wrong type.
JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3)
    ),
    max_leaves=8,
)


def _literal(value: Any) -> str:
    """``value`` written as a GraphQL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    return str(value)


@st.composite
def _value(draw: st.DrawFn, type_: GraphQLInputType, depth: int = 0) -> str:
    """A literal for ``type_``: usually of that type, sometimes not at all."""
    if draw(st.integers(0, 9)) == 0 or depth > 3:
        return _literal(draw(JUNK))
    if isinstance(type_, GraphQLNonNull):
        return draw(_value(type_.of_type, depth))
    if isinstance(type_, GraphQLList):
        items = draw(st.lists(_value(type_.of_type, depth + 1), max_size=3))
        return "[" + ", ".join(items) + "]"
    if isinstance(type_, GraphQLEnumType):
        return draw(st.sampled_from(list(type_.values)))
    if isinstance(type_, GraphQLInputObjectType):
        fields = draw(
            st.lists(st.sampled_from(list(type_.fields)), unique=True, max_size=6)
        )
        parts = [
            f"{f}: {draw(_value(type_.fields[f].type, depth + 1))}" for f in fields
        ]
        return "{" + ", ".join(parts) + "}"
    assert isinstance(type_, GraphQLScalarType)
    scalars = {
        "Int": st.integers(-5, 200).map(str),
        "Boolean": st.sampled_from(["true", "false"]),
        "Date": st.sampled_from(['"2024-02-29"', '"2023-02-29"', '"yesterday"']),
        "DateTime": st.sampled_from(['"2024-01-01T10:00:00"', '"2024-13-01T00:00"']),
    }
    return draw(scalars.get(type_.name, TEXT.map(json.dumps)))


@st.composite
def _arguments(draw: st.DrawFn, field: GraphQLField) -> str:
    names = draw(st.lists(st.sampled_from(list(field.args) or ["x"]), unique=True))
    parts = []
    for name in names:
        argument = field.args.get(name)
        if argument is None or draw(st.integers(0, 19)) == 0:
            parts.append(f"{draw(NAMES)}: {_literal(draw(JUNK))}")
        elif draw(st.integers(0, 4)) == 0:
            parts.append(f"{name}: $v{len(parts)}")
        else:
            parts.append(f"{name}: {draw(_value(argument.type))}")
    return "(" + ", ".join(parts) + ")" if parts else ""


@st.composite
def _selection(draw: st.DrawFn, type_: GraphQLObjectType, depth: int) -> str:
    """A selection set on ``type_``: random fields, aliases and arguments."""
    chosen = draw(st.lists(st.sampled_from(list(type_.fields)), min_size=1, max_size=4))
    parts = []
    for name in chosen:
        if draw(st.integers(0, 14)) == 0:
            name = draw(NAMES)  # a field the type does not have
        field = type_.fields.get(name)
        alias = f"{draw(NAMES)}: " if draw(st.integers(0, 3)) == 0 else ""
        arguments = draw(_arguments(field)) if field is not None else ""
        inner = ""
        if field is not None:
            named = get_named_type(field.type)
            if isinstance(named, GraphQLObjectType) and depth < 14:
                inner = " " + draw(_selection(named, depth + 1))
        if draw(st.integers(0, 19)) == 0:
            inner = " { __typename }"
        parts.append(f"{alias}{name}{arguments}{inner}")
    if draw(st.integers(0, 9)) == 0:
        parts.append(f"... on {type_.name} {{ __typename }}")
    return "{ " + " ".join(parts) + " }"


@st.composite
def _operation(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    root = draw(st.sampled_from(["query", "mutation"]))
    type_ = SCHEMA.query_type if root == "query" else SCHEMA.mutation_type
    assert type_ is not None
    body = draw(_selection(type_, 1))
    count = body.count("$v")
    definitions = ", ".join(
        f"$v{i}: {draw(st.sampled_from(['Int', 'String', 'Int!', '[String]', 'ID']))}"
        for i in range(count + 1)
        if f"$v{i}" in body
    )
    header = f"{root}({definitions}) " if definitions else f"{root} "
    query = header + body
    if draw(st.integers(0, 9)) == 0:
        # A cut or spliced text, for the parser.
        cut = draw(st.integers(0, len(query)))
        query = query[:cut] + draw(st.sampled_from(["", "{", "}", '"', "...", "$"]))
    variables = draw(st.dictionaries(st.sampled_from(["v0", "v1", "v2"]), JUNK))
    return query, variables


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[Server]:
    backend = build(Settings(database_url="memory://"), follow=True)
    try:
        yield from serve(backend)
    finally:
        backend.close()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operation=_operation())
def test_random_operations_never_fail_the_server(
    fuzz_server: Server, operation: tuple[str, dict[str, Any]]
) -> None:
    query, variables = operation
    logger = logging.getLogger("graph.schema")
    defects: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = defects.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        response = httpx.post(
            f"{fuzz_server.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {fuzz_server.token()}"},
            timeout=30,
        )
    finally:
        logger.removeHandler(handler)

    assert response.status_code in (200, 400), (query, response.text)
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    assert "INTERNAL_SERVER_ERROR" not in response.text, (query, response.text)
    assert defects == [], query
    body = response.json()
    assert body.get("data") is not None or body.get("errors"), (query, body)
