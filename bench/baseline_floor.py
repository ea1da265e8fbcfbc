"""The floor under ``completeContent``: the same mutation with nothing behind it.

A Strawberry schema with the mutation's input and payload types, whose resolver
answers at once without reading or storing anything, served on Starlette by
uvicorn exactly as ``qualify serve`` is (the parser and validation caches on, no
token check). The load generator sends it the same request bodies as the real
server. What it manages is the most any GraphQL mutation can do on this stack and
this machine, whatever the store behind it, so it shows how much of the goal the
frameworks alone leave within reach.

    uvicorn --factory bench.baseline_floor:app --host 127.0.0.1 --port 8002
"""

from __future__ import annotations

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

CACHE_SIZE = 100


@strawberry.input
class CompleteContentInput:
    content_id: str
    username: str
    completion_date: str


@strawberry.type
class TrainingRecord:
    record_id: str
    code: str | None
    completion_date: str


@strawberry.type
class UserError:
    code: str
    field: str | None
    message: str


@strawberry.type
class CompleteContentPayload:
    training_record: TrainingRecord | None
    user_errors: list[UserError]


@strawberry.type
class Query:
    @strawberry.field
    def ready(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def complete_content(
        self, input: CompleteContentInput
    ) -> CompleteContentPayload:
        record = TrainingRecord(
            record_id=input.content_id,
            code=None,
            completion_date=input.completion_date,
        )
        return CompleteContentPayload(training_record=record, user_errors=[])


async def _health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def app() -> Starlette:
    """The floor's ASGI app: ``/graphql`` and ``/health``."""
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
        ],
    )
    view = GraphQL[None, None](schema, graphql_ide=None)
    return Starlette(
        routes=[
            Route("/graphql", view, methods=["POST"]),
            Route("/health", _health),
        ]
    )
