"""Execution with a short path for plain fields, most of every answer.

A plain field reads an attribute of its parent and returns a scalar or an enum:
a record's title, a step's points. GraphQL's general path builds a resolve-info
object, calls Strawberry's resolver wrapper, checks for an awaitable and
dispatches on the type for each one, which is most of the time a page of twenty
records takes. Here such a field reads the attribute and serialises it directly.
Anything else (a field with a resolver or arguments, a null where one is not
allowed, a value that does not serialise) goes the general way, which also
reports it as GraphQL would.
"""

from __future__ import annotations

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

Leaf = GraphQLScalarType | GraphQLEnumType
Plain = tuple[str, Leaf, bool]
"""The attribute a plain field reads, its type, and whether null is refused."""

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

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        fields = self.plain.get(parent_type.name)
        plain = fields.get(field_details_list[0].node.name.value) if fields else None
        if plain is not None and self.short:
            attribute, leaf, non_null = plain
            value = getattr(source, attribute, Undefined)
            if value is None and not non_null:
                return None
            if value is not None and value is not Undefined:
                try:
                    serialized = leaf.serialize(value)
                except Exception:
                    serialized = Undefined
                if serialized is not Undefined:
                    return serialized
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )


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
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    # Only Strawberry's own attribute reader qualifies: it is what is skipped.
    if field.args or not getattr(field.resolve, "_is_default", False):
        return None
    kind = field.type
    non_null = isinstance(kind, GraphQLNonNull)
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if not isinstance(kind, GraphQLScalarType | GraphQLEnumType):
        return None
    return definition.python_name, kind, non_null
