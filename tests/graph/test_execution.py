"""The short path for plain fields answers exactly as GraphQL's general path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, NewType

import pytest
import strawberry
from strawberry.extensions import ParserCache
from strawberry.schema.config import StrawberryConfig
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
        (Loose("c", 2**31, None, Colour.RED), "count"),  # past 32 bits
        (Loose("d", -(2**31) - 1, None, Colour.RED), "count"),
    ],
    ids=["null", "not-a-number", "not-an-enum-value", "too-large", "too-small"],
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


# Objects and lists of objects, answered whole


@strawberry.type
class Tag:
    label: str
    weight: int | None


@strawberry.type
class Shelf:
    title: str
    items: list[Item]
    tags: list[Tag | None]
    labels: list[str]
    top: Item | None
    first_tag: Tag


@dataclass
class LooseTag:
    label: Any
    weight: Any


SHELVES: list[Any] = []


@strawberry.type
class ShelfQuery:
    @strawberry.field
    def shelves(self) -> list[Shelf]:
        return SHELVES

    @strawberry.field
    def shelf(self) -> Shelf | None:
        return SHELVES[0] if SHELVES else None


def _shelf_schema(short: bool) -> strawberry.Schema:
    return strawberry.Schema(
        query=ShelfQuery,
        extensions=[ParserCache],
        execution_context_class=PlainFieldsExecutionContext
        if short
        else StrawberryGraphQLCoreExecutionContext,
    )


def _answer(
    query: str,
    shelves: list[Any],
    short: bool,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    SHELVES[:] = shelves
    result = _shelf_schema(short).execute_sync(query, variable_values=variables)
    return {
        "data": result.data,
        "errors": [(e.message, e.path) for e in result.errors or []],
    }


def _item(name: str, count: int = 1) -> Item:
    return Item(name=name, count=count, note=None, colour=Colour.RED)


def _good_shelf(title: str = "s") -> Shelf:
    return Shelf(
        title=title,
        items=[_item("a"), _item("b", 2)],
        tags=[Tag(label="x", weight=None), None],
        labels=["l1", "l2"],
        top=None,
        first_tag=Tag(label="y", weight=3),
    )


SHELF_QUERY = """
{ shelves { title items { name count colour shade } tags { label weight }
  labels top { name } firstTag { label weight } }
  one: shelf { ...more } }
fragment more on Shelf { title firstTag { label } firstTag { weight } }
"""


def test_nested_objects_and_lists_answer_the_same_both_ways() -> None:
    shelves = [_good_shelf("s1"), _good_shelf("s2")]

    short = _answer(SHELF_QUERY, shelves, short=True)

    assert short == _answer(SHELF_QUERY, shelves, short=False)
    assert short["errors"] == []
    assert short["data"]["one"] == {
        "title": "s1",
        "firstTag": {"label": "y", "weight": 3},
    }
    assert short["data"]["shelves"][0]["tags"] == [{"label": "x", "weight": None}, None]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda: {"first_tag": None}, id="null-object-not-allowed"),
        pytest.param(lambda: {"items": [_item("a"), None]}, id="null-item-not-allowed"),
        pytest.param(lambda: {"items": _item("a")}, id="object-where-a-list-belongs"),
        pytest.param(lambda: {"labels": "l1"}, id="text-where-a-list-belongs"),
        pytest.param(lambda: {"labels": ["l1", 3.5]}, id="wrong-leaf-in-a-list"),
        pytest.param(
            lambda: {"tags": [LooseTag("x", 1), LooseTag(None, 1)]},
            id="null-leaf-deep-inside",
        ),
        pytest.param(lambda: {"first_tag": object()}, id="missing-attributes"),
        pytest.param(
            lambda: {"items": (_item("a"), _item("b", 2))}, id="tuple-as-list"
        ),
        pytest.param(
            lambda: {"items": iter([_item("a"), None])}, id="iterator-as-list"
        ),
    ],
)
def test_bad_values_inside_objects_fail_the_same_way_both_ways(
    change: Callable[[], dict[str, Any]],
) -> None:
    def shelf() -> Shelf:
        made = _good_shelf()
        for name, value in change().items():
            setattr(made, name, value)
        return made

    short = _answer(SHELF_QUERY, [shelf()], short=True)

    assert short == _answer(SHELF_QUERY, [shelf()], short=False)


Blank = NewType("Blank", str)
"""A scalar that serialises to nothing, which GraphQL refuses."""
BLANK = StrawberryConfig(
    scalar_map={
        Blank: strawberry.scalar(
            name="Blank", serialize=lambda value: None, parse_value=lambda value: value
        )
    }
)


@strawberry.type
class Holder:
    value: Blank


@strawberry.type
class HolderQuery:
    @strawberry.field
    def holders(self) -> list[Holder]:
        return [Holder(value=Blank("x"))]


def test_a_leaf_that_serialises_to_nothing_fails_the_same_way_both_ways() -> None:
    answers = []
    for context in (PlainFieldsExecutionContext, StrawberryGraphQLCoreExecutionContext):
        result = strawberry.Schema(
            query=HolderQuery, execution_context_class=context, config=BLANK
        ).execute_sync("{ holders { value } }")
        answers.append(
            (result.data, [(e.message, e.path) for e in result.errors or []])
        )

    assert answers[0] == answers[1]
    assert answers[0][1][0][1] == ["holders", 0, "value"]


def test_skip_and_include_follow_each_requests_variables() -> None:
    query = """
    query ($skip: Boolean!) { shelves { title items { name @skip(if: $skip) count } } }
    """
    shelves = [_good_shelf()]
    schema = _shelf_schema(short=True)
    SHELVES[:] = shelves

    shown = schema.execute_sync(query, variable_values={"skip": False})
    skipped = schema.execute_sync(query, variable_values={"skip": True})

    assert shown.data == {
        "shelves": [
            {
                "title": "s",
                "items": [{"name": "a", "count": 1}, {"name": "b", "count": 2}],
            }
        ]
    }
    assert skipped.data == {
        "shelves": [{"title": "s", "items": [{"count": 1}, {"count": 2}]}]
    }


def test_a_query_is_compiled_once_and_answered_from_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = _shelf_schema(short=True)
    SHELVES[:] = [_good_shelf()]
    compiled: list[str] = []
    compile_object = PlainFieldsExecutionContext._object

    def counting(self: Any, kind: Any, details: Any) -> Any:
        compiled.append(kind.name)
        return compile_object(self, kind, details)

    monkeypatch.setattr(PlainFieldsExecutionContext, "_object", counting)

    first = schema.execute_sync(SHELF_QUERY)
    count = len(compiled)
    again = schema.execute_sync(SHELF_QUERY)

    assert first.data == again.data
    assert count > 0
    assert len(compiled) == count


def test_values_graphql_converts_are_converted_the_same_both_ways() -> None:
    query = "{ items { name count note } }"
    items = [
        Loose(name=7, count=True, note=False, colour=Colour.RED),
        Loose(name="x", count=2**31 - 1, note=1.5, colour=Colour.RED),
        Loose(name="y", count=-(2**31), note="", colour=Colour.RED),
    ]

    short = _run(query, items, short=True)

    assert short == _run(query, items, short=False)
    assert short["data"]["items"][0] == {"name": "7", "count": 1, "note": "false"}
