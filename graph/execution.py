"""Execution with a short path for plain fields, most of every answer.

A plain field returns a scalar or an enum read from its parent: a record's title,
a step's points. GraphQL's general path builds a resolve-info object, calls
Strawberry's resolver wrapper (which converts arguments even when there are
none), checks for an awaitable and dispatches on the type, for each one; that is
most of the time a page of twenty records takes. Here a plain field is read and
serialised directly. Anything else (a field with a resolver of its own or given
arguments, a null where one is not allowed, a value that does not serialise)
goes the general way, which also reports it as GraphQL would.

A field is plain when it is a Strawberry attribute with no resolver, or when its
resolver names, in its metadata under ``READ``, a function of the parent and
the request's context that gives the same answer when no argument is given.

This overrides three methods of graphql-core 3.3's executor (``execute_fields``,
``execute_field`` and ``complete_iterable_value``); a graphql-core that renamed
or reshaped them would need this module changed with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

READ = "qualify.read"
"""Metadata key: a field's answer without arguments, as ``read(parent, context)``."""

Leaf = GraphQLScalarType | GraphQLEnumType
Read = Callable[[Any, Any], Any]
Plain = tuple[Read, Leaf, bool]
"""How a plain field is read, its type, and whether null is refused."""

# Weakly held: tests build many schemas, each with types of its own.
_plain_fields: WeakKeyDictionary[GraphQLSchema, dict[str, dict[str, Plain]]] = (
    WeakKeyDictionary()
)


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with the short path for plain fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plain = plain_fields(self.schema)
        # Strawberry always passes a middleware manager; one holding nothing
        # leaves resolvers as they are.
        middleware = self.middleware_manager
        self.short = not (middleware and middleware.middlewares)

    def complete_iterable_value(
        self,
        item_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        items: Any,
        position_context: Any,
    ) -> Any:
        # A list of objects whose every field asked for is plain (a page's
        # records, a path's steps) is answered item by item in one loop.
        items = items if isinstance(items, list | tuple) else list(items)
        rows = self._plain_rows(item_type, field_details_list, info, items)
        if rows is not None:
            return rows
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def _plain_rows(
        self, item_type: Any, field_details_list: Any, info: Any, items: Sequence[Any]
    ) -> list[dict[str, Any]] | None:
        """The list's answer, or None when anything needs the general path."""
        kind = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(kind, GraphQLObjectType):
            return None
        grouped, deferred, _ = self.collect_subfields(kind, field_details_list)
        plan = None if deferred else self._plan(kind, grouped)
        if plan is None:
            return None

        rows = []
        for item in items:
            if item is None or (
                kind.is_type_of and kind.is_type_of(item, info) is not True
            ):
                return None
            row = _row(plan, item, self.context_value)
            if row is None:
                return None
            rows.append(row)
        return rows

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        # An object whose every field asked for is plain (a record on a page, a
        # step) is answered in one pass, without the per-field bookkeeping.
        plan = self._plan(parent_type, grouped_field_set)
        row = None if plan is None else _row(plan, source_value, self.context_value)
        if row is not None:
            return row
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def _plan(
        self, kind: GraphQLObjectType, grouped_field_set: Any
    ) -> list[tuple[str, Plain]] | None:
        """Each answer's name and plain field, or None unless all are plain."""
        fields = self.plain.get(kind.name)
        if not fields or not self.short:
            return None
        plan = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            plain = fields.get(node.name.value)
            if plain is None or node.arguments:
                return None
            plan.append((response_name, plain))
        return plan

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        fields = self.plain.get(parent_type.name)
        plain = fields.get(node.name.value) if fields else None
        if plain is not None and self.short and not node.arguments:
            value = _answer(plain, source, self.context_value)
            if value is not Undefined:
                return value
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )


def _row(
    plan: list[tuple[str, Plain]], source: Any, context: Any
) -> dict[str, Any] | None:
    """An object's answer from its plain fields, or None to take the general path."""
    row = {}
    for response_name, plain in plan:
        value = _answer(plain, source, context)
        if value is Undefined:
            return None
        row[response_name] = value
    return row


def _answer(plain: Plain, source: Any, context: Any) -> Any:
    """A plain field's serialised value, or Undefined to take the general path."""
    read, leaf, non_null = plain
    try:
        value = read(source, context)
        if value is None:
            return Undefined if non_null else None
        if value is Undefined:
            return Undefined
        return leaf.serialize(value)
    except Exception:
        return Undefined


def plain_fields(schema: GraphQLSchema) -> dict[str, dict[str, Plain]]:
    """Each object type's plain fields by name, found once per schema."""
    found = _plain_fields.get(schema)
    if found is None:
        found = {
            name: {
                field_name: plain
                for field_name, field in kind.fields.items()
                if (plain := _plain(field)) is not None
            }
            for name, kind in schema.type_map.items()
            if isinstance(kind, GraphQLObjectType)
        }
        _plain_fields[schema] = found
    return found


def _plain(field: GraphQLField) -> Plain | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or definition.extensions:
        return None
    metadata: dict[str, Any] = dict(definition.metadata or {})
    read: Read | None = metadata.get(READ)
    if read is None:
        # Only Strawberry's own attribute reader may be skipped unasked.
        if field.args or not getattr(field.resolve, "_is_default", False):
            return None
        read = _attribute(definition.python_name)
    kind = field.type
    non_null = isinstance(kind, GraphQLNonNull)
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if not isinstance(kind, GraphQLScalarType | GraphQLEnumType):
        return None
    return read, kind, non_null


def _attribute(name: str) -> Read:
    def read(source: Any, context: Any) -> Any:
        return getattr(source, name, Undefined)

    return read
