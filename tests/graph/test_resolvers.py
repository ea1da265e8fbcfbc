"""Resolvers called directly answer exactly as through Strawberry's wrapper."""

from __future__ import annotations

import asyncio
from datetime import date
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry.permission import BasePermission

from graph.resolvers import call_resolvers_directly


class Size(Enum):
    SMALL = "small"
    LARGE = "large"


@strawberry.input
class Window:
    start: date


class Nobody(BasePermission):
    message = "No."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Box:
    label: str

    @strawberry.field
    def described(self, info: strawberry.Info, suffix: str = "!") -> str:
        return f"{self.label}{suffix} ({info.field_name})"

    @strawberry.field
    def owner(self, root: Box) -> str:
        return root.label.upper()


@strawberry.type
class Query:
    @strawberry.field
    async def box(
        self,
        info: strawberry.Info,
        label: str,
        on: date | None = None,
        count: int = 2,
        key: strawberry.ID | None = strawberry.UNSET,
    ) -> Box:
        given = "unset" if key is strawberry.UNSET else repr(key)
        return Box(label=f"{label}/{on}/{count}/{given}/{info.path.key}")

    @strawberry.field
    def broken(self, why: str) -> str | None:
        raise ValueError(why)

    @strawberry.field
    def sized(self, size: Size) -> str:
        return size.value

    @strawberry.field
    def windowed(self, window: Window) -> str:
        return window.start.isoformat()

    @strawberry.field(permission_classes=[Nobody])
    def secret(self) -> str | None:
        return "s"


QUERY = """
query ($on: Date, $key: ID) {
  a: box(label: "x") { label described owner }
  b: box(label: "y", on: $on, count: 5, key: $key) { described(suffix: "?") }
  c: box(label: "z", key: null) { label }
  broken(why: "because")
  sized(size: LARGE)
  windowed(window: {start: "2024-02-29"})
  secret
}
"""


def _schema(direct: bool) -> strawberry.Schema:
    schema = strawberry.Schema(query=Query)
    if direct:
        call_resolvers_directly(schema)
    return schema


def _answer(direct: bool, variables: dict[str, Any]) -> dict[str, Any]:
    result = asyncio.run(_schema(direct).execute(QUERY, variable_values=variables))
    return {
        "data": result.data,
        "errors": sorted((e.message, tuple(e.path or ())) for e in result.errors or []),
    }


@pytest.mark.parametrize(
    "variables",
    [{}, {"on": "2024-03-01", "key": "k1"}, {"on": None, "key": None}],
    ids=["left-out", "given", "null"],
)
def test_fields_answer_and_fail_the_same_called_directly(
    variables: dict[str, Any],
) -> None:
    direct = _answer(True, variables)

    assert direct == _answer(False, variables)
    assert ("because", ("broken",)) in direct["errors"]
    assert ("No.", ("secret",)) in direct["errors"]


def test_only_fields_with_nothing_to_convert_or_run_are_called_directly() -> None:
    schema = _schema(direct=True)
    query = schema._schema.query_type
    assert query is not None

    direct = sorted(
        name
        for name, field in query.fields.items()
        if field.resolve is not None and field.resolve.__module__ == "graph.resolvers"
    )

    assert direct == ["box", "broken"]
