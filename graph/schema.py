"""The GraphQL schema: queries, mutations, caches and the one log line per operation."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.types.execution import ExecutionContext

from graph.errors import is_defect
from graph.mutations import Mutation
from graph.queries import Query

logger = logging.getLogger(__name__)

CACHE_SIZE = 512


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

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            if is_defect(error):
                logger.error(
                    "unexpected error at %s",
                    ".".join(str(p) for p in error.path or ()) or "(request)",
                    exc_info=error.original_error,
                )


schema = QualifySchema(
    query=Query,
    mutation=Mutation,
    extensions=[
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        OperationName,
    ],
)


if __name__ == "__main__":
    # `make schema` writes this to schema.graphql; a test compares the two.
    print(schema.as_str())
