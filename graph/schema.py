"""The GraphQL schema: queries, mutations, limits, caches, a log line per operation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types.execution import ExecutionContext

from graph.documents import CachedDocuments, Documents
from graph.errors import RequestErrorCode, is_defect
from graph.execution import PlainFieldsExecutionContext
from graph.limits import CACHE_SIZE, Limits, RequestLimits
from graph.mutations import Mutation
from graph.prepared import PreparedQueries, ReachedExecution
from graph.queries import Query
from graph.resolvers import call_resolvers_directly
from graph.scalars import SCALARS
from qualify.config import Settings

logger = logging.getLogger(__name__)

DOCUMENTS = Documents(CACHE_SIZE)
"""Every schema's parsed documents and validation verdicts."""


class OperationName(SchemaExtension):
    """Remembers the operation's name and type for the request's log line."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        if hasattr(context, "operation"):
            name = self.execution_context.operation_name or "anonymous"
            kind = self.execution_context.operation_type.value
            context.operation = f"{kind} {name}"


class QualifySchema(strawberry.Schema):
    """Logs each defect once, with its trace; expected failures are not logged."""

    request_limits: RequestLimits
    prepared: PreparedQueries
    """Queries that reached execution once, by text and operation name."""

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            if is_defect(error):
                # The request id ties this trace to the answer the client saw.
                logger.error(
                    "unexpected error at %s id=%s",
                    ".".join(str(p) for p in error.path or ()) or "(request)",
                    getattr(
                        getattr(execution_context, "context", None),
                        "correlation_id",
                        "-",
                    ),
                    exc_info=error.original_error,
                )


def build_schema(settings: Settings) -> QualifySchema:
    """The schema with the limits of ``settings``; built once per application."""
    request_limits = RequestLimits(Limits.from_settings(settings))
    # The limits come first: their text check must run before the parser cache.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        request_limits.extension,
        lambda: CachedDocuments(DOCUMENTS),
        OperationName,
        ReachedExecution,
    ]
    if settings.is_production:
        extensions.append(DisableIntrospection)
    built = QualifySchema(
        query=Query,
        mutation=Mutation,
        types=[RequestErrorCode],
        extensions=extensions,
        execution_context_class=PlainFieldsExecutionContext,
        config=StrawberryConfig(scalar_map=SCALARS),
    )
    built.request_limits = request_limits
    built.prepared = PreparedQueries(CACHE_SIZE)
    call_resolvers_directly(built)
    return built


# The schema's text does not depend on the settings; `make schema` prints this one.
schema = build_schema(Settings())


if __name__ == "__main__":
    # `make schema` writes this to schema.graphql; a test compares the two.
    print(schema.as_str())
