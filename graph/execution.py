"""Execution with a short path for plain fields, most of every answer.

A plain field is read from its parent without a resolver of its own: a record's
title, a step's points, a connection's edges and each edge's node. GraphQL's
general path builds a resolve-info object, calls Strawberry's resolver wrapper
(which converts arguments even when there are none), checks for an awaitable and
dispatches on the type, for each field of each object; that was most of the time
a page of twenty records took. Here an object whose every field asked for is
plain, down to its leaves, is answered in one pass by a function compiled once
for that part of the query and kept across requests. Anything else (a field with
a resolver of its own or given arguments, a null where one is not allowed, a
value that does not serialise) goes the general way, from the object where it
was met, which also reports it as GraphQL would.

A field is plain when it is a Strawberry attribute with no resolver, or when its
resolver names, in its metadata under ``READ``, a function of the parent and
the request's context that gives the same answer when no argument is given.

This overrides three methods of graphql-core 3.3's executor
(``collect_and_execute_subfields``, ``execute_field`` and
``complete_iterable_value``) and reads its ``collect_subfields``; a graphql-core
that renamed or reshaped them would need this module changed with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    FieldNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
    get_nullable_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from graph.limits import is_kept_node

READ = "qualify.read"
"""Metadata key: a field's answer without arguments, as ``read(parent, context)``."""

Leaf = GraphQLScalarType | GraphQLEnumType
Read = Callable[[Any, Any], Any]
Plain = tuple[Read, Leaf, bool]
"""How a plain leaf field is read, its type, and whether null is refused."""
Complete = Callable[[Any, Any], Any]
"""A value's answer as ``complete(value, context)``, or Undefined for the general
path; the value is never None."""

ANSWERS_KEPT = 1024
"""Compiled answers kept per schema: each is one object or list of one query."""

# Weakly held: tests build many schemas, each with types of its own.
_plain_fields: WeakKeyDictionary[GraphQLSchema, dict[str, dict[str, Plain]]] = (
    WeakKeyDictionary()
)
Readable = tuple[Read, GraphQLOutputType, str | None]
"""How a plain field is read, its type, and the attribute it is, if it is one."""
_readable: WeakKeyDictionary[GraphQLSchema, dict[str, dict[str, Readable]]] = (
    WeakKeyDictionary()
)
_Kept = tuple[GraphQLOutputType, tuple[FieldNode, ...], Complete | None]
_compiled: WeakKeyDictionary[GraphQLSchema, dict[tuple[int, ...], _Kept]] = (
    WeakKeyDictionary()
)


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with the short path for plain fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plain = plain_fields(self.schema)
        self.readable = readable_fields(self.schema)
        self.compiled = _compiled.setdefault(self.schema, {})
        # Kept answers hold their field nodes, and the nodes their whole text.
        self.keep = is_kept_node(self.operation)
        # Strawberry always passes a middleware manager; one holding nothing
        # leaves resolvers as they are.
        middleware = self.middleware_manager
        self.short = not (middleware and middleware.middlewares)

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        # An object whose every field asked for is plain, all the way down (a
        # page of records with their edges and page info), is answered at once.
        complete = self._compiled(return_type, field_details_list, listed=False)
        if complete is not None:
            answer = complete(result, self.context_value)
            if answer is not Undefined:
                return answer
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    def complete_iterable_value(
        self,
        item_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        items: Any,
        position_context: Any,
    ) -> Any:
        # A list met on the general path (a path's steps beside its resolved
        # fields) is answered in one loop when its items are plain.
        items = items if isinstance(items, list | tuple) else list(items)
        complete = self._compiled(item_type, field_details_list, listed=True)
        if complete is not None:
            answer = complete(items, self.context_value)
            if answer is not Undefined:
                return answer
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        # A plain leaf beside resolved fields (a path's title) is read directly.
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

    def _compiled(
        self, kind: Any, field_details_list: Any, *, listed: bool
    ) -> Complete | None:
        """How a value of ``kind`` (a list of them, if ``listed``) answers these
        fields, or None when they are not all plain.

        Kept across requests by the identity of the query's field nodes, which the
        parser cache hands out again for the same query text; the entry holds the
        nodes, so their ids cannot be reused while it is kept. A query whose
        selections carry directives is compiled for this request only, since
        ``@skip`` and ``@include`` may depend on its variables, and so is one
        whose text is too long to keep.
        """
        if not self.short:
            return None
        nodes = tuple(details.node for details in field_details_list)
        key = (listed, id(kind), *map(id, nodes))
        kept = self.compiled.get(key)
        if kept is not None:
            return kept[2]

        complete = self._complete(kind, field_details_list)
        if listed and complete is not None:
            complete = _list(complete, isinstance(kind, GraphQLNonNull))
        if self.keep and _directive_free(nodes, self.fragments):
            if len(self.compiled) >= ANSWERS_KEPT:
                del self.compiled[next(iter(self.compiled))]
            self.compiled[key] = (kind, nodes, complete)
        return complete

    def _complete(self, kind: Any, field_details_list: Any) -> Complete | None:
        """A compiled answer for a non-null value of ``kind``, or None."""
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if isinstance(kind, GraphQLScalarType | GraphQLEnumType):
            return _leaf(kind)
        if isinstance(kind, GraphQLList):
            item_type = kind.of_type
            item = self._complete(item_type, field_details_list)
            if item is None:
                return None
            return _list(item, isinstance(item_type, GraphQLNonNull))
        if isinstance(kind, GraphQLObjectType) and kind.is_type_of is None:
            return self._object(kind, field_details_list)
        return None

    def _object(
        self, kind: GraphQLObjectType, field_details_list: Any
    ) -> Complete | None:
        readable = self.readable.get(kind.name)
        if not readable:
            return None
        grouped, deferred, forbidden = self.collect_subfields(kind, field_details_list)
        if deferred or forbidden:
            return None

        fields = []
        for response_name, details in grouped.items():
            node = details[0].node
            found = readable.get(node.name.value)
            if (
                found is None
                or node.arguments
                or any(d.fragment_variable_values for d in details)
            ):
                return None
            read, field_type, attribute = found
            complete = self._complete(field_type, details)
            if complete is None:
                return None
            non_null = isinstance(field_type, GraphQLNonNull)
            leaf = get_nullable_type(field_type)
            fields.append(
                (response_name, attribute, read, _EXACT.get(leaf), complete, non_null)
            )
        return _object(tuple(fields))


def _leaf(kind: Leaf) -> Complete:
    coerce = _coercer(kind)

    def complete(value: Any, context: Any) -> Any:
        try:
            answer = coerce(value)
        except Exception:
            return Undefined
        # GraphQL refuses a leaf that coerces to nothing.
        return Undefined if answer is None else answer

    return complete


def _coercer(kind: Leaf) -> Callable[[Any], Any]:
    """``kind``'s output coercion, with enum members looked up by identity.

    Strawberry's enum types compare a member with each of their values in turn.
    """
    coerce: Callable[[Any], Any] = kind.coerce_output_value
    wrapped = getattr(kind, "wrapped_cls", None)
    if not isinstance(kind, GraphQLEnumType) or wrapped is None:
        return coerce
    names = {}
    for member in wrapped:
        for name, value in kind.values.items():
            if member.value == value.value:
                names[member] = name
                break

    def coerce_member(value: Any) -> Any:
        if type(value) is wrapped and value in names:
            return names[value]
        return coerce(value)

    return coerce_member


def _list(item: Complete, items_non_null: bool) -> Complete:
    def complete(value: Any, context: Any) -> Any:
        # Any other iterable (a generator, a string) takes the general path.
        if not isinstance(value, list | tuple):
            return Undefined
        answers: list[Any] = []
        for entry in value:
            if entry is None:
                if items_non_null:
                    return Undefined
                answers.append(None)
                continue
            answer = item(entry, context)
            if answer is Undefined:
                return Undefined
            answers.append(answer)
        return answers

    return complete


_EXACT: dict[Any, type] = {
    GraphQLString: str,
    GraphQLID: str,
    GraphQLBoolean: bool,
    GraphQLInt: int,
}
"""Leaf types whose output coercion gives back a value of exactly this type."""
_INT = range(GRAPHQL_MIN_INT, GRAPHQL_MAX_INT + 1)
Field = tuple[str, str | None, Read, type | None, Complete, bool]
"""An answer's name, the attribute it reads (or None to call ``read``), the type
that answers as it is, how any other value is completed, and whether null is
refused."""


def _object(fields: tuple[Field, ...]) -> Complete:
    def complete(value: Any, context: Any) -> Any:
        row: dict[str, Any] = {}
        try:
            for (
                response_name,
                attribute,
                read,
                exact,
                complete_field,
                non_null,
            ) in fields:
                field_value = (
                    read(value, context)
                    if attribute is None
                    else getattr(value, attribute, Undefined)
                )
                if field_value is None:
                    if non_null:
                        return Undefined
                    row[response_name] = None
                elif type(field_value) is exact and (
                    exact is not int or field_value in _INT
                ):
                    # A text, a flag or a 32-bit number answers as it is.
                    row[response_name] = field_value
                else:
                    answer = (
                        Undefined
                        if field_value is Undefined
                        else complete_field(field_value, context)
                    )
                    if answer is Undefined:
                        return Undefined
                    row[response_name] = answer
        except Exception:
            return Undefined
        return row

    return complete


def _directive_free(nodes: tuple[FieldNode, ...], fragments: Any) -> bool:
    """Whether no selection beneath ``nodes`` carries a directive."""
    pending: list[SelectionSetNode] = [
        node.selection_set for node in nodes if node.selection_set is not None
    ]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if selection.directives:
                return False
            if isinstance(selection, FieldNode | InlineFragmentNode):
                if selection.selection_set is not None:
                    pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in seen:
                    seen.add(name)
                    pending.append(fragment.definition.selection_set)
    return True


def _answer(plain: Plain, source: Any, context: Any) -> Any:
    """A plain leaf's serialised value, or Undefined to take the general path."""
    read, leaf, non_null = plain
    try:
        value = read(source, context)
        if value is None:
            return Undefined if non_null else None
        if value is Undefined:
            return Undefined
        answer = leaf.coerce_output_value(value)
    except Exception:
        return Undefined
    return Undefined if answer is None else answer


def plain_fields(schema: GraphQLSchema) -> dict[str, dict[str, Plain]]:
    """Each object type's plain leaf fields by name, found once per schema."""
    found = _plain_fields.get(schema)
    if found is None:
        found = {}
        for name, fields in readable_fields(schema).items():
            leaves = {}
            for field_name, (read, kind, _) in fields.items():
                non_null = isinstance(kind, GraphQLNonNull)
                if isinstance(kind, GraphQLNonNull):
                    kind = kind.of_type
                if isinstance(kind, GraphQLScalarType | GraphQLEnumType):
                    leaves[field_name] = (read, kind, non_null)
            found[name] = leaves
        _plain_fields[schema] = found
    return found


def readable_fields(schema: GraphQLSchema) -> dict[str, dict[str, Readable]]:
    """Each object type's plain fields of any type, with how each is read."""
    found = _readable.get(schema)
    if found is None:
        found = {
            name: {
                field_name: read
                for field_name, field in kind.fields.items()
                if (read := _readable_field(field)) is not None
            }
            for name, kind in schema.type_map.items()
            if isinstance(kind, GraphQLObjectType)
        }
        _readable[schema] = found
    return found


def _readable_field(field: GraphQLField) -> Readable | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or definition.extensions:
        return None
    metadata: dict[str, Any] = dict(definition.metadata or {})
    read: Read | None = metadata.get(READ)
    if read is not None:
        return read, field.type, None
    # Only Strawberry's own attribute reader may be skipped unasked.
    if field.args or not getattr(field.resolve, "_is_default", False):
        return None
    return _attribute(definition.python_name), field.type, definition.python_name


def _attribute(name: str) -> Read:
    def read(source: Any, context: Any) -> Any:
        return getattr(source, name, Undefined)

    return read
