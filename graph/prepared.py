"""Documents that passed every check once, answered again without re-checking them.

Before a query or mutation runs, Strawberry's view and schema read the request
again, build an extension runner, and enter each extension's hooks for the
operation, the parse, the validation and the execution; with the parse and the
validation already cached, that machinery was a third of what a small page cost.
A document whose text and operation name have once reached execution will reach
it again every time, since the limits on the text and the validation rules do
not change while the server runs: only its cost depends on the variables. Such a
request, sent as a JSON POST, is executed here directly, with the same executor
and arguments, its cost worked out and refused as before, and its errors logged
and its answer shaped by the same methods. Anything else (an upload, a GET)
takes Strawberry's whole way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, GraphQLError
from graphql.execution.middleware import MiddlewareManager
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.execution import ExecutionContext
from strawberry.types.graphql import OperationType
from strawberry.utils.await_maybe import await_maybe

from graph.context import Context
from graph.limits import is_kept

if TYPE_CHECKING:
    from graph.schema import QualifySchema


# A mutation can only have come by POST, and only a POST takes the prepared path.
_PREPARED_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)


@dataclass(frozen=True)
class Prepared:
    """A query document known to pass every check made before execution."""

    document: DocumentNode
    operation_name: str | None
    """The operation that runs: the one named, or else the document's first."""
    operation: str
    """The operation's type and name, as the request's log line shows them."""


class PreparedQueries:
    """Query documents by text and operation name, the oldest dropped when full.

    A text too long to keep takes the whole way every time.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._known: dict[tuple[str, str | None], Prepared] = {}

    def get(self, query: str, operation_name: str | None) -> Prepared | None:
        """The prepared query sent as ``query`` with ``operation_name``, if known."""
        return self._known.get((query, operation_name))

    def remember(
        self, query: str, operation_name: str | None, prepared: Prepared
    ) -> None:
        """Keep ``prepared`` for requests sending the same text and name."""
        if not is_kept(query):
            return
        key = (query, operation_name)
        if key not in self._known and len(self._known) >= self.size:
            del self._known[next(iter(self._known))]
        self._known[key] = prepared


class ReachedExecution(SchemaExtension):
    """Notes on the request's context the document that reached execution.

    Queries and mutations are noted; a subscription never comes this way.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if (
            isinstance(context.context, Context)
            and context.graphql_document is not None
            and context.operation_type in _PREPARED_OPERATIONS
        ):
            context.context.executed = (
                context.graphql_document,
                context.operation_name,
            )
        yield


def request_fields(
    body: object,
) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """The query, variables and operation name of a JSON body that has nothing
    else Strawberry would read (extensions, a batch), or None."""
    if not isinstance(body, dict):
        return None
    query = body.get("query")
    variables = body.get("variables")
    operation_name = body.get("operationName")
    if (
        not isinstance(query, str)
        or not isinstance(variables, dict | None)
        or not isinstance(operation_name, str | None)
        or body.get("extensions") is not None
    ):
        return None
    return query, variables, operation_name


def prepared_cost(
    schema: QualifySchema,
    prepared: Prepared,
    query: str,
    variables: dict[str, Any] | None,
) -> int | None:
    """The query's cost when it may run, or None: a cost too high, or variables
    that do not fit, are refused by the whole way, in its words."""
    limits = schema.request_limits
    try:
        cost = limits.cost(
            schema._schema,
            query,
            prepared.document,
            prepared.operation_name,
            variables,
        )
    except Exception:
        # A page size out of range, say: the whole way refuses it in its words.
        return None
    if cost is None or cost > limits.limits.max_cost:
        return None
    return cost


async def execute_prepared(
    schema: QualifySchema,
    prepared: Prepared,
    cost: int,
    context: Context,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> ExecutionResult:
    """The query's result as Strawberry's schema would give it."""
    execute = schema._get_execute_function()
    result = await await_maybe(
        execute(
            schema._schema,
            prepared.document,
            # The view has no root value, and no extension resolves fields.
            root_value=None,
            middleware=MiddlewareManager(),
            variable_values=variables,
            operation_name=prepared.operation_name,
            context_value=context,
            is_awaitable=optimized_is_awaitable,
            executor_class=schema.execution_context_class,
            operation_extensions=None,
        )
    )
    errors: list[GraphQLError] | None = result.errors
    if errors:
        schema._process_errors(
            errors,
            ExecutionContext(
                query=query,
                schema=schema,
                allowed_operations=_PREPARED_OPERATIONS,
                context=context,
                variables=variables,
                provided_operation_name=operation_name,
                graphql_document=prepared.document,
            ),
        )
    context.operation = prepared.operation
    return ExecutionResult(
        data=result.data,
        errors=errors,
        extensions=schema.request_limits.results(cost),
    )
