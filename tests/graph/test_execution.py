"""The short path for plain fields answers exactly as GraphQL's general path."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph.execution import READ, PlainFieldsExecutionContext, plain_fields


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


def _shade(item: Item, context: Any) -> Colour:
    return Colour.BLUE if item.count > 1 else Colour.RED


@strawberry.type
class Item:
    name: str
    count: int
    note: str | None
    colour: Colour

    @strawberry.field(metadata={READ: _shade})
    def shade(self, dark: bool = False) -> Colour:
        return Colour.RED if dark else _shade(self, None)

    @strawberry.field
    def doubled(self) -> int:
        return self.count * 2


@dataclass
class Loose:
    """What a resolver may hand back by mistake: wrong types, missing values."""

    name: Any
    count: Any
    note: Any
    colour: Any


ITEMS: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return ITEMS


def _run(query: str, items: list[Any], short: bool) -> dict[str, Any]:
    ITEMS[:] = items
    schema = strawberry.Schema(
        query=Query,
        execution_context_class=PlainFieldsExecutionContext
        if short
        else StrawberryGraphQLCoreExecutionContext,
    )
    result = schema.execute_sync(query)
    return {
        "data": result.data,
        "errors": [(e.message, e.path) for e in result.errors or []],
    }


QUERY = "{ items { name count note colour shade dark: shade(dark: true) doubled } }"


def test_plain_fields_are_attributes_and_fields_that_read_without_arguments() -> None:
    schema = strawberry.Schema(query=Query)

    plain = plain_fields(schema._schema)["Item"]

    assert sorted(plain) == ["colour", "count", "name", "note", "shade"]
    assert "items" not in plain_fields(schema._schema)["Query"]


@pytest.mark.parametrize(
    "query",
    [QUERY, "{ items { name count note colour shade } }"],
    ids=["some-fields-resolved", "every-field-plain"],
)
def test_good_values_answer_the_same_both_ways(query: str) -> None:
    items = [
        Item(name="a", count=1, note=None, colour=Colour.RED),
        Item(name="b", count=2, note="x", colour=Colour.BLUE),
    ]

    short = _run(query, items, short=True)

    assert short == _run(query, items, short=False)
    expected = {
        "name": "b",
        "count": 2,
        "note": "x",
        "colour": "BLUE",
        "shade": "BLUE",
        "dark": "RED",
        "doubled": 4,
    }
    answer = short["data"]["items"][1]
    assert answer == {key: expected[key] for key in answer}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (Loose(None, 1, None, Colour.RED), "name"),  # null where it is not allowed
        (Loose("a", "many", None, Colour.RED), "count"),  # not a number
        (Loose("b", 1, None, "PURPLE"), "colour"),  # not one of the enum's values
    ],
    ids=["null", "not-a-number", "not-an-enum-value"],
)
def test_bad_values_fail_the_same_way_both_ways(item: Loose, field: str) -> None:
    query = "{ items { name count note colour } }"

    short = _run(query, [item], short=True)

    assert short == _run(query, [item], short=False)
    assert short["data"] is None
    assert [path for _, path in short["errors"]] == [["items", 0, field]]


def test_a_missing_attribute_fails_as_graphql_would() -> None:
    @dataclass
    class Nameless:
        count: int
        note: None
        colour: Colour

    query = "{ items { name } }"

    short = _run(query, [Nameless(1, None, Colour.RED)], short=True)

    assert short == _run(query, [Nameless(1, None, Colour.RED)], short=False)
    assert short["errors"][0][1] == ["items", 0, "name"]
