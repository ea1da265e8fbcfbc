"""The ASGI application: GraphQL at /graphql, a health check at /health."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any
from uuid import uuid4

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from domain.errors import Unauthenticated
from domain.principal import Principal, Role
from graph.auth import principal_from_header
from graph.context import Context
from graph.errors import format_error
from graph.exports import (
    EXPIRATIONS_PATH,
    EXPORT_PATH,
    TEMPLATE_PATH,
    export_expirations,
    export_records,
    export_template,
)
from graph.schema import schema
from qualify.bootstrap import Backend

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Stands in for the caller while GraphiQL's page is served: it has no rights.
_NOBODY = Principal("nobody", Role.LEARNER)


class QualifyGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with bearer-token authentication and masked errors."""

    def __init__(self, backend: Backend) -> None:
        production = backend.settings.is_production
        # Uploads carry no cookies here: every request needs its bearer token,
        # which a cross-site form cannot send, so multipart opens no CSRF hole.
        super().__init__(
            schema,
            graphql_ide=None if production else "graphiql",
            multipart_uploads_enabled=True,
        )
        self.backend = backend

    async def run(  # type: ignore[override]
        self,
        request: Request | WebSocket,
        context: Any = UNSET,
        root_value: Any = UNSET,
    ) -> Response | WebSocket:
        if not isinstance(request, Request):
            return await super().run(request, context, root_value)

        started = time.perf_counter()
        request.state.correlation_id = _request_id(request)
        request.state.principal = _NOBODY
        adapter = self.request_adapter_class(request)
        if not self.should_render_graphql_ide(adapter):
            try:
                request.state.principal = principal_from_header(
                    self.backend.settings.jwt_secret,
                    request.headers.get("authorization"),
                )
            except Unauthenticated as error:
                _log(request, 401, started, "unauthenticated")
                return _error(
                    401, error.code, error.message, request.state.correlation_id
                )

        too_big = _oversized(request, self.backend.settings.import_max_bytes)
        if too_big is not None:
            _log(request, too_big[0], started, "body too large")
            return _error(
                too_big[0], "BAD_REQUEST", too_big[1], request.state.correlation_id
            )

        problem = await _body_problem(request)
        if problem is not None:
            _log(request, 400, started, "bad body")
            return _error(400, "BAD_REQUEST", problem, request.state.correlation_id)

        try:
            response = await super().run(request, context, root_value)
        finally:
            # Closes an uploaded form's spooled files, which Strawberry leaves open.
            await request.close()
        _log(request, response.status_code, started, _outcome(request))
        response.headers["X-Request-Id"] = request.state.correlation_id
        return response

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        # The token says who; the store says what they may do now.
        token = request.state.principal
        principal = await run_in_threadpool(
            self.backend.principal, token.username, token.role
        )
        request.state.principal = principal
        context = Context(
            backend=self.backend,
            principal=principal,
            correlation_id=request.state.correlation_id,
            idempotency_key=request.headers.get("idempotency-key"),
        )
        request.state.context = context
        return context

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        correlation_id = request.state.correlation_id
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [
                format_error(e, correlation_id) for e in result.errors
            ]
            request.state.errors = len(result.errors)
        extensions = dict(result.extensions or {})
        context = getattr(request.state, "context", None)
        if context is not None and context.behind:
            # The change is stored; the payload and the next queries may not show
            # it until the projection workers catch up.
            extensions["readModelsBehind"] = True
        if extensions:
            response["extensions"] = extensions
        return response


def _request_id(request: Request) -> str:
    # A caller's own request id is kept, so its logs and our events line up.
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.fullmatch(given) else str(uuid4())


def _oversized(request: Request, limit: int) -> tuple[int, str] | None:
    """Refuse an upload larger than the import limit before reading any of it."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if request.method != "POST" or media_type.lower() != "multipart/form-data":
        return None
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return 411, "An upload must state its Content-Length."
    # The form around the file adds a little; allow a few kilobytes for it.
    if int(length) > limit + 64 * 1024:
        return 413, f"The upload is larger than the import limit of {limit} bytes."
    return None


async def _body_problem(request: Request) -> str | None:
    """Why a JSON body cannot be a GraphQL request, checked before Strawberry reads it.

    Text that is not UTF-8, JSON that is not an object, and strings holding half of
    a surrogate pair would otherwise surface as server errors deep inside.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip()
    if request.method != "POST" or media_type.lower() != "application/json":
        return None

    body = await request.body()
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        return f"The body is not UTF-8 text: byte {error.start} is not valid."
    except ValueError:
        return "The body is not valid JSON."
    if not isinstance(data, dict):
        return "The body must be a JSON object with a query field."
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "The body holds a lone surrogate escape (\\ud800-\\udfff), not text."
    return None


def _error(status: int, code: str, message: str, correlation_id: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    headers = {"X-Request-Id": correlation_id}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=headers)


def _outcome(request: Request) -> str:
    context = getattr(request.state, "context", None)
    errors = getattr(request.state, "errors", 0)
    parts = []
    if context is not None and context.user_errors:
        parts.append("user_errors=" + ",".join(context.user_errors))
    if errors:
        parts.append(f"errors={errors}")
    return " ".join(parts) or "ok"


def _log(request: Request, status: int, started: float, outcome: str) -> None:
    context = getattr(request.state, "context", None)
    logger.info(
        "%s %s %s user=%s status=%s %.1fms %s id=%s",
        request.method,
        request.url.path,
        getattr(context, "operation", "-") if context else "-",
        request.state.principal.username,
        status,
        (time.perf_counter() - started) * 1000,
        outcome,
        request.state.correlation_id,
    )


async def health(request: Request) -> Response:
    """Liveness, and how far the read models have followed the log."""
    backend: Backend = request.app.state.backend
    # Read from the store: on PostgreSQL the workers, not this server, advance it.
    position = await run_in_threadpool(backend.follower.stored_position)
    return JSONResponse({"status": "ok", "position": position})


def create_app(backend: Backend) -> Starlette:
    """The ASGI app serving ``backend``."""
    app = Starlette(
        routes=[
            Route("/graphql", QualifyGraphQL(backend), methods=["GET", "POST"]),
            Route("/health", health, methods=["GET"]),
            Route(EXPORT_PATH, export_records, methods=["GET"]),
            Route(EXPIRATIONS_PATH, export_expirations, methods=["GET"]),
            Route(TEMPLATE_PATH, export_template, methods=["GET"]),
        ]
    )
    app.state.backend = backend
    return app
