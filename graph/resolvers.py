"""Resolvers called as they are, where Strawberry's wrapper would change nothing.

Strawberry calls each resolver through a wrapper that builds its ``Info``,
converts every argument to its Python type, runs the field's extensions and
awaits the result again; for a dashboard's four root fields that was a twentieth
of the request. A field whose arguments are all scalars (or optional scalars)
has nothing to convert, and one with no extensions has nothing to run, so its
resolver is called here directly with the same arguments, its ``Info`` and its
parent where it asks for them. Any other field keeps Strawberry's wrapper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLObjectType
from strawberry import Schema
from strawberry.relay.types import GlobalID
from strawberry.schema.compat import is_scalar
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryMaybe, StrawberryOptional, StrawberryType
from strawberry.types.field import StrawberryField

Resolve = Callable[..., Any]


def call_resolvers_directly(schema: Schema) -> None:
    """Point each field that needs no wrapper straight at its resolver."""
    # A handler of exceptions would have to run around every resolver.
    if schema.exception_handlers:
        return
    for kind in schema._schema.type_map.values():
        if isinstance(kind, GraphQLObjectType) and not kind.name.startswith("__"):
            for field in kind.fields.values():
                direct = _direct(schema, field)
                if direct is not None:
                    field.resolve = direct


def _direct(schema: Schema, field: GraphQLField) -> Resolve | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or definition.extensions:
        return None
    resolver = definition.base_resolver
    if resolver is None or not callable(resolver.wrapped_func):
        return None

    registry = schema.schema_converter.scalar_registry
    names = {}
    for argument in definition.arguments:
        if not _as_given(argument.type, registry):
            return None
        names[schema.config.name_converter.from_argument(argument)] = (
            argument.python_name
        )

    function = resolver.wrapped_func
    takes_self = resolver.self_parameter is not None
    parents = [
        parameter.name
        for parameter in (resolver.parent_parameter, resolver.root_parameter)
        if parameter is not None
    ]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    info_class = schema.config.info_class

    def resolve(source: Any, info: Any, **given: Any) -> Any:
        kwargs = {names[name]: value for name, value in given.items()}
        for name in parents:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=definition)
        if takes_self:
            return function(source, **kwargs)
        return function(**kwargs)

    return resolve


def _as_given(kind: StrawberryType | type, registry: Any) -> bool:
    """Whether Strawberry passes an argument of ``kind`` on as GraphQL gives it."""
    if isinstance(kind, StrawberryMaybe):
        return False
    if isinstance(kind, StrawberryOptional):
        kind = kind.of_type
    return kind is not GlobalID and is_scalar(kind, registry)
