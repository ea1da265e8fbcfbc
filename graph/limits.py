"""Limits on what one GraphQL request may ask for, all checked before anything runs.

Three checks, one per stage of a request:

* the query text, before the parser sees it: its tokens are counted and its
  brackets' nesting is followed, both without recursion, since graphql-core's
  parser recurses once per level;
* the parsed document, as a validation rule (so the validation cache keeps the
  verdict): its depth and its aliases, with every fragment counted at each spread;
* the operation with its variables, just before execution: its cost, which depends
  on the page sizes the variables may carry.

The rule class and the limits are built once per schema; each request only gets a
small extension pointing at them, so cached validations stay valid across
requests and a refused query is refused every time it is sent.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    Lexer,
    ListTypeNode,
    NamedTypeNode,
    Node,
    NonNullTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    Token,
    TokenKind,
    TypeNode,
    Undefined,
    get_named_type,
)
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_variable_values,
)
from graphql.type.introspection import (
    SchemaMetaFieldDef,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
)
from strawberry.extensions import SchemaExtension

from projections.paging import MAX_PAGE_SIZE, check_page_size
from qualify.config import Settings

# Arguments, input objects and lists add brackets beyond a query's depth; this
# many more levels of them are allowed before the text is refused unparsed.
NESTING_ALLOWANCE = 32
CACHE_SIZE = 512
"""How many entries each cache of query texts, documents and costs may hold."""
CACHED_TEXT_LENGTH = 16 * 1024
"""The longest query text kept between requests, in any cache.

A client may pad a query with comments up to the body limit; keeping such texts
(or documents, whose locations hold their text) would let distinct ones fill
memory. A longer text is still answered, only worked out afresh each time.
"""
# Introspection answers from the schema in memory and is off in production;
# GraphiQL's own introspection query is 15 levels deep.
_INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
_META_FIELDS: dict[str, GraphQLField] = {
    "__schema": SchemaMetaFieldDef,
    "__type": TypeMetaFieldDef,
    "__typename": TypeNameMetaFieldDef,
}
_OPENERS = frozenset({TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L})
_CLOSERS = frozenset({TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R})

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
TOO_MANY_FIELDS = "TOO_MANY_FIELDS"
MAX_SELECTIONS = 300
"""Fields and spreads side by side in one selection set.

graphql-core compares every pair of sibling fields to check they can merge, and
gives up with a bare "Validation aborted." somewhere past 700 of them; far fewer
are refused first, by name.
"""
QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"


@dataclass(frozen=True)
class Limits:
    """How much one request may ask for."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int
    max_page_size: int = MAX_PAGE_SIZE

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_cost=settings.max_cost,
            max_page_size=settings.max_page_size,
        )

    @property
    def max_nesting(self) -> int:
        """How deeply brackets of any kind may nest in the query text."""
        return self.max_depth + NESTING_ALLOWANCE


def is_kept(query: str) -> bool:
    """Whether ``query`` is short enough to be kept between requests."""
    return len(query) <= CACHED_TEXT_LENGTH


def is_kept_node(node: Node) -> bool:
    """Whether ``node`` was parsed from a text short enough to be kept.

    A node's location refers to the whole text it was parsed from.
    """
    return node.loc is None or is_kept(node.loc.source.body)


def limit_error(code: str, message: str) -> GraphQLError:
    """An error that refuses the whole request, with its code for clients."""
    return GraphQLError(message, extensions={"code": code})


# The query text


def text_problem(
    query: str, max_tokens: int, max_nesting: int
) -> tuple[str, str] | None:
    """The code and message refusing ``query`` unparsed, or None.

    Verdicts on texts of ordinary length are remembered; a long text is read
    again each time, so that a stream of distinct large texts cannot fill memory.
    """
    if is_kept(query):
        return _cached_text_problem(query, max_tokens, max_nesting)
    return _text_problem(query, max_tokens, max_nesting)


def _text_problem(
    query: str, max_tokens: int, max_nesting: int
) -> tuple[str, str] | None:
    """The code and message refusing ``query`` unparsed, or None.

    Reading stops at the first token past a limit, so a huge text costs no more
    than a small one that is refused. A syntax error is left for the parser, whose
    message points at it.
    """
    lexer = Lexer(Source(query))
    tokens = 0
    # One entry per open bracket: how many selections it holds, or None for a
    # bracket that holds values (arguments, lists, input objects), not fields.
    frames: list[int | None] = []
    previous: Token | None = None
    try:
        token = lexer.advance()
        while token.kind is not TokenKind.EOF:
            tokens += 1
            if tokens > max_tokens:
                return TOO_MANY_TOKENS, (
                    f"The query has more than {max_tokens} tokens; at most "
                    f"{max_tokens} are allowed."
                )
            if token.kind in _OPENERS:
                frames.append(_opened(token, frames))
                if len(frames) > max_nesting:
                    return QUERY_TOO_DEEP, (
                        f"The query nests brackets more than {max_nesting} levels "
                        f"deep; at most {max_nesting} are allowed."
                    )
            elif token.kind in _CLOSERS:
                if frames:
                    frames.pop()
            elif (
                frames and frames[-1] is not None and _starts_selection(token, previous)
            ):
                frames[-1] += 1
                if frames[-1] > MAX_SELECTIONS:
                    return TOO_MANY_FIELDS, (
                        f"A selection set asks for more than {MAX_SELECTIONS} "
                        f"fields side by side; at most {MAX_SELECTIONS} are allowed."
                    )
            previous = token
            token = lexer.advance()
    except GraphQLError:
        return None
    return None


def _opened(token: Token, frames: list[int | None]) -> int | None:
    # A brace opens a selection set unless it sits among values.
    inside_values = bool(frames) and frames[-1] is None
    if token.kind is TokenKind.BRACE_L and not inside_values:
        return 0
    return None


def _starts_selection(token: Token, previous: Token | None) -> bool:
    """Whether ``token`` begins a field or fragment spread in a selection set."""
    if token.kind is TokenKind.SPREAD:
        return True
    if token.kind is not TokenKind.NAME or previous is None:
        return token.kind is TokenKind.NAME
    # The field after an alias, a spread's fragment, a directive's name and an
    # inline fragment's type are parts of one selection, not new ones.
    if previous.kind in (TokenKind.COLON, TokenKind.SPREAD, TokenKind.AT):
        return False
    return not (previous.kind is TokenKind.NAME and previous.value == "on")


_cached_text_problem = lru_cache(maxsize=CACHE_SIZE)(_text_problem)


# The document: depth and aliases


@dataclass
class _Shape:
    """What a selection set holds by itself, its fragment spreads aside."""

    depth: int
    aliases: int
    spreads: list[tuple[str, int]]
    """Each spread's fragment and the depth it is spread at."""


def _shape(selection_set: SelectionSetNode, exempt: bool = False) -> _Shape:
    shape = _Shape(depth=0, aliases=0, spreads=[])
    stack = [(selection_set, 0, exempt)]
    while stack:
        selections, level, exempt_here = stack.pop()
        for selection in selections.selections:
            if isinstance(selection, FragmentSpreadNode):
                if not exempt_here:
                    shape.spreads.append((selection.name.value, level))
                continue
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    shape.aliases += 1
                inner_exempt = (
                    exempt_here or selection.name.value in _INTROSPECTION_FIELDS
                )
                inner_level = level if inner_exempt else level + 1
                if not inner_exempt:
                    shape.depth = max(shape.depth, inner_level)
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, inner_level, inner_exempt))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner_exempt = exempt_here or (
                    condition is not None and condition.name.value.startswith("__")
                )
                stack.append((selection.selection_set, level, inner_exempt))
    return shape


def _fragment_order(
    shapes: Mapping[str, _Shape],
) -> list[str]:
    """Fragments ordered so that each comes after every fragment it spreads.

    Walked without recursion, since a chain of fragments can be as long as the
    token limit allows; a spread closing a cycle is skipped here, and the
    specification's own rule reports the cycle.
    """
    order: list[str] = []
    done: set[str] = set()
    for root in shapes:
        if root in done:
            continue
        path = [(root, iter(shapes[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread, _level in spreads:
                if spread in shapes and spread not in done and spread not in on_path:
                    path.append((spread, iter(shapes[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                done.add(name)
                order.append(name)
    return order


def measure(document: DocumentNode) -> list[tuple[OperationDefinitionNode, int, int]]:
    """Each operation's depth and alias count, fragments counted at every spread."""
    shapes: dict[str, _Shape] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            exempt = definition.type_condition.name.value.startswith("__")
            shapes[definition.name.value] = _shape(definition.selection_set, exempt)

    depths: dict[str, int] = {}
    aliases: dict[str, int] = {}

    def total(shape: _Shape) -> tuple[int, int]:
        depth, count = shape.depth, shape.aliases
        for spread, level in shape.spreads:
            depth = max(depth, level + depths.get(spread, 0))
            count += aliases.get(spread, 0)
        return depth, count

    for name in _fragment_order(shapes):
        depths[name], aliases[name] = total(shapes[name])

    measured = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            depth, count = total(_shape(definition.selection_set))
            measured.append((definition, depth, count))
    return measured


def depth_and_alias_rule(limits: Limits) -> type[ASTValidationRule]:
    """A validation rule refusing operations too deep or with too many aliases."""

    class DepthAndAliasLimit(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            for operation, depth, count in measure(node):
                if depth > limits.max_depth:
                    self.report_error(
                        GraphQLError(
                            f"The query is {depth} levels deep; at most "
                            f"{limits.max_depth} are allowed.",
                            operation,
                            extensions={"code": QUERY_TOO_DEEP},
                        )
                    )
                if count > limits.max_aliases:
                    self.report_error(
                        GraphQLError(
                            f"The query uses {count} aliases, counting each use of "
                            f"a fragment; at most {limits.max_aliases} are allowed.",
                            operation,
                            extensions={"code": TOO_MANY_ALIASES},
                        )
                    )

    return DepthAndAliasLimit


# The operation: cost


def _is_connection(field: GraphQLField) -> bool:
    named = get_named_type(field.type)
    return "first" in field.args and named.name.endswith("Connection")


# A list that is not paged (a path's steps, a code's uses) is costed as this many
# items: as many as a path may have steps, so 30 aliases of a page of participants
# with their missing steps cannot pass as cheap.
LIST_ESTIMATE = 100


def _is_plain_list(field: GraphQLField, parent: GraphQLNamedType | None) -> bool:
    # A connection's edges and nodes are already counted by its page size, and a
    # payload's userErrors hold the one error that stopped its command.
    if parent is not None and parent.name.endswith("Connection"):
        return False
    if _is_user_errors(field):
        return False
    kind = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    return isinstance(kind, GraphQLList)


def _is_user_errors(field: GraphQLField) -> bool:
    return get_named_type(field.type).name == "UserError"


# A type's members, each of which can lead to more types and so to more members.
_TYPE_MEMBERS = frozenset(
    {"fields", "inputFields", "interfaces", "possibleTypes", "enumValues"}
)


def _introspection_list_items(
    node: FieldNode, parent: GraphQLNamedType | None, beneath_members: bool
) -> int | None:
    """How many items an introspection list counts as, or None if not one.

    Introspection answers from the schema in memory, whose lists are short and
    fixed: each counts as one item, so that a client's own introspection query
    (GraphiQL's, a code generator's) fits the cost limit. A type's members
    listed beneath another type's members count as any list does, since that
    is how a query makes introspection recurse and grow with every level.
    """
    if parent is None or not parent.name.startswith("__"):
        return None
    if beneath_members and node.name.value in _TYPE_MEMBERS:
        return LIST_ESTIMATE
    return 1


class _Costing:
    """The cost of one operation with its variables.

    Every field costs 1 plus what lies beneath it; beneath a connection, that is
    multiplied by the page size asked for (``first``, or its default). Fragments are
    costed once each, in an order that needs no recursion through them.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
        max_page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.max_page_size = max_page_size
        self.costs: dict[tuple[str, bool], int] = {}
        """Each fragment's cost, spread outside and beneath a type's members."""

    def fragment_costs(self) -> None:
        shapes = {
            name: _shape(fragment.selection_set)
            for name, fragment in self.fragments.items()
        }
        for name in _fragment_order(shapes):
            fragment = self.fragments[name]
            parent = self.schema.get_type(fragment.type_condition.name.value)
            for beneath_members in (False, True):
                self.costs[name, beneath_members] = self.selection_cost(
                    fragment.selection_set, parent, beneath_members
                )

    def selection_cost(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        beneath_members: bool = False,
    ) -> int:
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FragmentSpreadNode):
                cost += self.costs.get((selection.name.value, beneath_members), 0)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = (
                    self.schema.get_type(condition.name.value) if condition else parent
                )
                cost += self.selection_cost(
                    selection.selection_set, inner, beneath_members
                )
            elif isinstance(selection, FieldNode):
                cost += self.field_cost(selection, parent, beneath_members)
        return cost

    def field_cost(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        beneath_members: bool = False,
    ) -> int:
        field = self._field(node.name.value, parent)
        if node.selection_set is None or field is None:
            return 1
        introspected = _introspection_list_items(node, parent, beneath_members)
        members = introspected is not None and node.name.value in _TYPE_MEMBERS
        beneath = self.selection_cost(
            node.selection_set, get_named_type(field.type), beneath_members or members
        )
        if _is_connection(field):
            arguments = get_argument_values(field, node, self.variables)
            # The same check the resolver makes, made before anything runs: a page
            # size out of range would make the cost meaningless, or negative.
            beneath *= check_page_size(arguments["first"], self.max_page_size)
        elif _is_plain_list(field, parent):
            beneath *= LIST_ESTIMATE if introspected is None else introspected
        return 1 + beneath

    def _field(self, name: str, parent: GraphQLNamedType | None) -> GraphQLField | None:
        meta = _META_FIELDS.get(name)
        if meta is not None:
            return meta
        if isinstance(parent, GraphQLObjectType):
            field: GraphQLField | None = parent.fields.get(name)
            return field
        return None


Runnable = list[tuple[int, OperationDefinitionNode, VariableValues]]
"""Operations that may run: each one's place in the document, and its variables."""


def runnable_operations(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    raw_variables: dict[str, Any] | None,
) -> Runnable:
    """The operations named (every one, with no name) whose variables fit.

    An operation whose variables do not fit their types cannot run: execution
    refuses them itself, before any resolver.
    """
    runnable: Runnable = []
    for index, definition in enumerate(document.definitions):
        if not isinstance(definition, OperationDefinitionNode) or (
            operation_name is not None
            and (definition.name is None or definition.name.value != operation_name)
        ):
            continue
        variables = get_variable_values(
            schema, definition.variable_definitions or (), raw_variables or {}
        )
        if not isinstance(variables, list):
            runnable.append((index, definition, variables))
    return runnable


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    runnable: Runnable,
    max_page_size: int = MAX_PAGE_SIZE,
) -> int | None:
    """The cost of the operation that would run, or None when none can.

    With no operation name every operation is costed and the dearest one counts,
    whichever one execution picks.
    """
    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    worst: int | None = None
    for _index, operation, variables in runnable:
        root = schema.get_root_type(operation.operation)
        costing = _Costing(schema, fragments, variables, max_page_size)
        costing.fragment_costs()
        cost = costing.selection_cost(operation.selection_set, root)
        worst = cost if worst is None else max(worst, cost)
    return worst


def _page_sizes(runnable: Runnable) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """What a cost depends on beyond the text: which operations may run, and the
    value each gives its Int variables, the only ones a ``first`` can take.

    The values are read after coercion, so ``100.0`` is the Int 100, and a
    variable left out (the argument's default applies) differs from one sent as
    null (refused by a ``first`` that must not be null).
    """
    return tuple(
        (
            index,
            tuple(
                repr(variables.coerced.get(definition.variable.name.value, Undefined))
                for definition in operation.variable_definitions or ()
                if _names_int(definition.type)
            ),
        )
        for index, operation, variables in runnable
    )


def _names_int(node: TypeNode) -> bool:
    while isinstance(node, ListTypeNode | NonNullTypeNode):
        node = node.type
    return isinstance(node, NamedTypeNode) and node.name.value == "Int"


# The extension


CostKey = tuple[str, str | None, tuple[tuple[int, tuple[str, ...]], ...]]


class CostCache:
    """Costs already worked out, by query text, operation and page sizes.

    Only ``first`` arguments change a cost, so two requests that differ in other
    variables (a username, say) cost the same; but variables that do not fit leave
    no operation to cost, so they are checked on every request, before the cache
    is read. A text too long to keep is costed afresh each time.
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.costs: OrderedDict[CostKey, int | None] = OrderedDict()

    def cost(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        max_page_size: int,
    ) -> int | None:
        """The operation's cost, from the cache or worked out and kept."""
        runnable = runnable_operations(schema, document, operation_name, variables)
        if not runnable:
            return None
        if not is_kept(query):
            return operation_cost(schema, document, runnable, max_page_size)

        key = (query, operation_name, _page_sizes(runnable))
        if key in self.costs:
            self.costs.move_to_end(key)
            return self.costs[key]
        cost = operation_cost(schema, document, runnable, max_page_size)
        self.costs[key] = cost
        if len(self.costs) > self.size:
            self.costs.popitem(last=False)
        return cost


class RequestLimits:
    """One schema's limits with their validation rule and cost cache, built once."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.rule = depth_and_alias_rule(limits)
        self.costs = CostCache()

    def extension(self) -> SchemaExtension:
        """The extension applying the limits to one request."""
        return QueryLimits(self.limits, self.rule, self.costs)

    def cost(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> int | None:
        """The operation's cost, as the extension works it out before execution."""
        return self.costs.cost(
            schema,
            query,
            document,
            operation_name,
            variables,
            self.limits.max_page_size,
        )

    def results(self, cost: int | None) -> dict[str, Any]:
        """What an answer carries in ``extensions`` for ``cost``."""
        if cost is None:
            return {}
        return {"cost": {"requested": cost, "limit": self.limits.max_cost}}


def limits_extension(limits: Limits) -> Callable[[], SchemaExtension]:
    """A factory of the per-request extension; its rule and cache are built once."""
    return RequestLimits(limits).extension


class QueryLimits(SchemaExtension):
    """Applies ``limits`` to one request; listed before the parser cache."""

    def __init__(
        self, limits: Limits, rule: type[ASTValidationRule], costs: CostCache
    ) -> None:
        self.limits = limits
        self.rule = rule
        self.costs = costs
        self.cost: int | None = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, self.rule)
        yield

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query:
            problem = text_problem(
                query, self.limits.max_tokens, self.limits.max_nesting
            )
            if problem is not None:
                raise limit_error(*problem)
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.query is not None:
            self.cost = self.costs.cost(
                context.schema._schema,
                context.query,
                context.graphql_document,
                context.operation_name,
                context.variables,
                self.limits.max_page_size,
            )
            if self.cost is not None and self.cost > self.limits.max_cost:
                raise limit_error(
                    QUERY_TOO_COSTLY,
                    f"The query would cost {self.cost}; at most "
                    f"{self.limits.max_cost} is allowed. Each field costs 1, and a "
                    "list's `first` multiplies the cost of what it holds.",
                )
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": self.limits.max_cost}}
