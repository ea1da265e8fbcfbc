"""The ASGI application: GraphQL at /graphql, a health check at /health."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from uuid import uuid4

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from domain.errors import Unauthenticated
from domain.principal import Principal, Role
from graph.auth import TokenCache, TokenKeys
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
from graph.prepared import (
    Prepared,
    execute_prepared,
    prepared_cost,
    request_fields,
)
from graph.schema import QualifySchema, build_schema
from projections.follower import StoreChanged
from qualify.bootstrap import Backend
from qualify.config import Settings

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Stands in for the caller while GraphiQL's page is served: it has no rights.
_NOBODY = Principal("nobody", Role.LEARNER)
# Real requests nest a handful of levels; json's decoder recurses once per level.
MAX_JSON_NESTING = 64
# A browser sends a cross-site form without asking first, but never one carrying a
# header of its own; the clients that upload files (Apollo's, urql) send one.
PREFLIGHT_HEADERS = ("apollo-require-preflight", "graphql-preflight")


class QualifyGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with bearer-token authentication and masked errors."""

    def __init__(self, backend: Backend) -> None:
        production = backend.settings.is_production
        # Every request needs its bearer token, which a cross-site form cannot
        # send, and no cookie is ever read. Uploads must still carry a preflight
        # header, so that a browser could not send one cross-site even if a proxy
        # in front of us came to add credentials of its own.
        schema = build_schema(backend.settings)
        super().__init__(
            schema,
            graphql_ide=None if production else "graphiql",
            multipart_uploads_enabled=True,
        )
        self.backend = backend
        self.qualify_schema: QualifySchema = schema
        self.tokens = TokenCache(TokenKeys.from_settings(backend.settings))

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
                request.state.principal = self.tokens.principal(
                    request.headers.get("authorization")
                )
            except Unauthenticated as error:
                _log(request, 401, started, "unauthenticated")
                return _error(
                    401, error.code, error.message, request.state.correlation_id
                )

        refused = (
            _two_keys(request)
            or _no_preflight(request)
            or _oversized(request, self.backend.settings)
            or await _read_bounded(request, self.backend.settings.max_body_bytes)
            or await _body_problem(request)
        )
        if refused is not None:
            status, message = refused
            _log(request, status, started, "bad request")
            return _error(status, "BAD_REQUEST", message, request.state.correlation_id)

        try:
            response = await self._run_prepared(request)
            if response is None:
                response = await super().run(request, context, root_value)
                self._remember(request)
        except HTTPException as error:
            # Strawberry's own refusals (a mutation over GET, say) come as plain
            # text; clients get them in the same shape as every other error.
            _log(request, error.status_code, started, "bad request")
            return _error(
                error.status_code,
                "BAD_REQUEST",
                error.reason,
                request.state.correlation_id,
            )
        finally:
            # Closes an uploaded form's spooled files, which Strawberry leaves open.
            await request.close()
        _log(request, response.status_code, started, _outcome(request))
        response.headers["X-Request-Id"] = request.state.correlation_id
        return response

    async def _run_prepared(self, request: Request) -> Response | None:
        """The answer to a query that has reached execution before, given as
        Strawberry's view would give it, or None for the view to answer."""
        fields = _json_fields(request)
        prepared = fields and self.qualify_schema.prepared.get(fields[0], fields[2])
        if not fields or not prepared:
            return None
        query, variables, operation_name = fields
        # A client asking for a streamed answer gets it from the view.
        if self._get_stream_transport_from_headers(request.headers) is not None:
            return None
        cost = prepared_cost(self.qualify_schema, prepared, query, variables)
        if cost is None:
            return None

        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        result = await execute_prepared(
            self.qualify_schema,
            prepared,
            cost,
            context,
            query,
            variables,
            operation_name,
        )
        response_data = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(
            response_data=response_data, sub_response=sub_response
        )

    def _remember(self, request: Request) -> None:
        """Keep a query that reached execution for the next request sending it."""
        context = getattr(request.state, "context", None)
        fields = _json_fields(request)
        if fields and context is not None and context.executed is not None:
            query, _, operation_name = fields
            document, runs = context.executed
            self.qualify_schema.prepared.remember(
                query, operation_name, Prepared(document, runs, context.operation)
            )

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        # Strawberry follows the form's map into the operations as given; a path
        # that does not lead to a variable holding null fails deep inside it.
        try:
            form = await request.get_form_data()
        except ValueError:
            raise HTTPException(400, "The multipart body cannot be read.") from None
        except StarletteHTTPException as error:
            # Starlette's own refusal (no boundary, a damaged part) is plain text.
            reason = error.detail[:1].lower() + error.detail[1:]
            raise HTTPException(
                400, f"The multipart body cannot be read: {reason}"
            ) from None
        # A body cut short before its closing boundary reads as a form without
        # its fields, which would otherwise be answered as a request without a query.
        if "operations" not in form.form:
            raise HTTPException(
                400,
                "The multipart body has no `operations` field; it may have been "
                "cut short.",
            )
        problem = upload_map_problem(
            self._form_json("operations", form.form.get("operations", "{}")),
            self._form_json("map", form.form.get("map", "{}")),
            set(form.files),
        )
        if problem is not None:
            raise HTTPException(400, problem)
        return await super().parse_multipart(request)

    def _form_json(self, name: str, value: object) -> object:
        if isinstance(value, bytes | str):
            return self._named_json(f"The multipart form's `{name}` field", value)
        return value

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        # Strawberry's own message blames the body, which a GET does not have.
        decoded = dict(params)
        for name in ("variables", "extensions"):
            if decoded.get(name):
                decoded[name] = self._named_json(
                    f"The `{name}` query parameter", decoded[name]
                )
        return decoded

    def _named_json(self, what: str, data: str | bytes) -> object:
        try:
            return self.decode_json(data)
        except ValueError:
            raise HTTPException(400, f"{what} is not valid JSON.") from None

    async def parse_http_body(self, request: Any) -> Any:
        content_type = _media_type(request)
        if (
            request.method == "POST"
            and "application/json" not in content_type
            and content_type != "multipart/form-data"
        ):
            raise HTTPException(
                400,
                "Unsupported content type: send application/json, or "
                "multipart/form-data for an upload.",
            )
        data = await super().parse_http_body(request)
        # Any other operation name would be looked for as text and not found.
        if not isinstance(data, list) and not isinstance(
            data.operation_name, str | None
        ):
            raise HTTPException(
                400,
                "The GraphQL operation's `operationName` must be a string or null, "
                "if provided.",
            )
        return data

    def decode_json(self, data: str | bytes) -> object:
        # GET parameters and a form's operations reach the decoder unchecked.
        if json_nesting(data) > MAX_JSON_NESTING:
            raise HTTPException(400, _too_nested()[1])
        return json.loads(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        # The token says who; the store says what they may do now.
        token = request.state.principal
        # One short read of the access model; see Context.read for why inline.
        if self.backend.store.reads_inline:
            principal = self.backend.principal(token.username, token.role)
        else:
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
            suggestions = not self.backend.settings.is_production
            response["errors"] = [
                format_error(e, correlation_id, suggestions=suggestions)
                for e in result.errors
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


def _two_keys(request: Request) -> tuple[int, str] | None:
    """Refuse a request with more than one Idempotency-Key header.

    Either key could be the one meant: guessing could replay another request's
    answer, or run again what the other key already guards. One key holding a
    comma is a single key.
    """
    sent = len(request.headers.getlist("idempotency-key"))
    if sent < 2:
        return None
    return 400, f"Send one Idempotency-Key header; this request sent {sent}."


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _no_preflight(request: Request) -> tuple[int, str] | None:
    """Refuse an upload a browser could have sent from another site unasked."""
    if request.method != "POST" or _media_type(request) != "multipart/form-data":
        return None
    if any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return None
    return 400, (
        "A multipart upload must carry the header Apollo-Require-Preflight: true "
        "(or GraphQL-Preflight: 1), so that no browser sends it from another site "
        "without asking first."
    )


def _oversized(request: Request, settings: Settings) -> tuple[int, str] | None:
    """Refuse a body larger than its limit before reading any of it.

    An upload may be as large as the import limit; any other body holds one query
    and its variables, and gets the much smaller body limit.
    """
    if request.method != "POST":
        return None
    length = request.headers.get("content-length")
    if _media_type(request) == "multipart/form-data":
        if length is None or not length.isdigit():
            return 411, "An upload must state its Content-Length."
        # The form around the file adds a little; allow a few kilobytes for it.
        limit = settings.import_max_bytes
        if int(length) > limit + 64 * 1024:
            return 413, (
                f"The upload is larger than the import limit of {limit} bytes."
            )
        return None
    if (
        length is not None
        and length.isdigit()
        and int(length) > settings.max_body_bytes
    ):
        return _too_large(settings.max_body_bytes)
    return None


def _too_large(limit: int) -> tuple[int, str]:
    return 413, f"The request body is larger than the limit of {limit} bytes."


async def _read_bounded(request: Request, limit: int) -> tuple[int, str] | None:
    """Read a body sent without a Content-Length, stopping once it passes ``limit``.

    What is read is kept on the request, where Strawberry reads it from.
    """
    if (
        request.method != "POST"
        or _media_type(request) == "multipart/form-data"
        or request.headers.get("content-length") is not None
    ):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _too_large(limit)
        chunks.append(chunk)
    request._body = b"".join(chunks)
    return None


def json_nesting(text: str | bytes) -> int:
    """How deeply arrays and objects nest in JSON ``text``, read without recursion.

    Brackets inside strings do not count; the text need not be valid JSON. Text
    with too few brackets to pass the limit at all is not read byte by byte, and
    counts as 0.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_NESTING:
        return 0
    deepest = depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth = max(depth - 1, 0)
    return deepest


def _too_nested() -> tuple[int, str]:
    return 400, (
        f"The request nests arrays and objects more than {MAX_JSON_NESTING} levels "
        "deep."
    )


async def _body_problem(request: Request) -> tuple[int, str] | None:
    """Why a JSON body cannot be a GraphQL request, checked before Strawberry reads it.

    Text that is not UTF-8, JSON that is not an object, JSON nested deeper than
    its decoder can follow, and strings holding half of a surrogate pair would
    otherwise surface as server errors deep inside.
    """
    # Strawberry reads any body whose type mentions JSON as JSON.
    if request.method != "POST" or "application/json" not in _media_type(request):
        return None

    body = await request.body()
    if json_nesting(body) > MAX_JSON_NESTING:
        return _too_nested()
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        return 400, f"The body is not UTF-8 text: byte {error.start} is not valid."
    except ValueError:
        return 400, "The body is not valid JSON."
    if not isinstance(data, dict):
        return 400, "The body must be a JSON object with a query field."
    # Only an escape can put half of a surrogate pair into the decoded text.
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return 400, (
                "The body holds a lone surrogate escape (\\ud800-\\udfff), not text."
            )
    request.state.json = data
    return None


def _json_fields(
    request: Request,
) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """The query, variables and operation name of a plain JSON POST, or None."""
    if request.method != "POST" or _media_type(request) != "application/json":
        return None
    return request_fields(getattr(request.state, "json", None))


def upload_map_problem(
    operations: object, files_map: object, files: set[str]
) -> str | None:
    """Why a multipart form's map cannot place its files, or None when it can.

    Each map entry names a form part holding a file and the places in the
    operations' variables (``variables.input.file``) that stand for it with null.
    """
    if not isinstance(operations, dict) or not isinstance(
        operations.get("variables", {}), dict
    ):
        return "The operations part must be a JSON object with a variables object."
    if not isinstance(files_map, dict):
        return "The map part must be a JSON object of form part names to paths."
    placed: set[tuple[str | int, ...]] = set()
    for part, paths in files_map.items():
        if part not in files:
            return f"The map names the form part {part!r}, which holds no file."
        if not isinstance(paths, list) or not paths:
            return f"The map's entry {part!r} must be a list of variable paths."
        for path in paths:
            place = _null_placeholder(operations, path)
            if place is None:
                return (
                    f"The map's path {path!r} does not lead to a variable holding "
                    "null in the operations."
                )
            # Strawberry would put each file there in turn, and keep the last.
            if place in placed:
                return (
                    f"The map names the path {path!r} twice; a variable holds one file."
                )
            placed.add(place)
    return None


def _null_placeholder(
    operations: dict[str, Any], path: object
) -> tuple[str | int, ...] | None:
    """Where ``path`` leads when a null stands there, else None.

    List indices come back as numbers, so that ``files.0`` and ``files.00``, which
    Strawberry reads as the same item, are seen to be the same place.
    """
    if not isinstance(path, str) or not path.startswith("variables."):
        return None
    node: Any = operations
    place: list[str | int] = []
    for key in path.split("."):
        if isinstance(node, dict) and key in node:
            place.append(key)
            node = node[key]
        # isdigit() would let through digits such as "²", which int() refuses.
        elif isinstance(node, list) and key.isdecimal() and int(key) < len(node):
            place.append(int(key))
            node = node[int(key)]
        else:
            return None
    return tuple(place) if node is None else None


def _error(
    status: int,
    code: str,
    message: str,
    correlation_id: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    sent = {**(headers or {}), "X-Request-Id": correlation_id}
    if status == 401:
        sent["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, headers=sent)


async def refuse_route(request: Request, error: Exception) -> Response:
    """A method or address no route serves, refused in the shape of every error.

    Starlette's router answers these in plain text before any endpoint runs.
    """
    if not isinstance(error, StarletteHTTPException):
        raise error
    headers = dict(error.headers or {})
    if error.status_code == 405 and "Allow" in headers:
        # Starlette lists a route's methods from a set, in no fixed order.
        allowed = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
        headers["Allow"] = allowed
        message = (
            f"The method {request.method} is not allowed at {request.url.path}; "
            f"it takes {allowed}."
        )
    elif error.status_code == 404:
        message = f"Nothing is served at {request.url.path}."
    else:
        message = error.detail
    correlation_id = _request_id(request)
    logger.info(
        "%s %s status=%s refused id=%s",
        request.method,
        request.url.path,
        error.status_code,
        correlation_id,
    )
    return _error(error.status_code, "BAD_REQUEST", message, correlation_id, headers)


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
    try:
        position = await run_in_threadpool(backend.follower.stored_position)
    except StoreChanged as error:
        return JSONResponse({"status": "other release", "error": str(error)}, 503)
    return JSONResponse({"status": "ok", "position": position})


class FaultGuard:
    """Answers a fault no handler caught in the shape of every other error.

    Starlette's last resort answers plain text, and re-raises for the server to
    log its own trace without the request id. A fault before the first byte of
    an answer (the store's connection lost while the caller is looked up, say)
    gets the JSON a masked defect gets, and one log line with its trace and id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            if started:
                # Part of an answer is out: only dropping the connection tells.
                raise
            request = Request(scope)
            correlation_id = getattr(request.state, "correlation_id", None)
            correlation_id = correlation_id or _request_id(request)
            logger.exception(
                "%s %s status=500 fault id=%s",
                request.method,
                request.url.path,
                correlation_id,
            )
            message = (
                f"Internal server error; quote request id {correlation_id} when "
                "reporting it."
            )
            response = _error(500, "INTERNAL_SERVER_ERROR", message, correlation_id)
            await response(scope, receive, send)


def create_app(backend: Backend) -> Starlette:
    """The ASGI app serving ``backend``."""
    app = Starlette(
        routes=[
            Route("/graphql", QualifyGraphQL(backend), methods=["GET", "POST"]),
            Route("/health", health, methods=["GET"]),
            Route(EXPORT_PATH, export_records, methods=["GET"]),
            Route(EXPIRATIONS_PATH, export_expirations, methods=["GET"]),
            Route(TEMPLATE_PATH, export_template, methods=["GET"]),
        ],
        exception_handlers={StarletteHTTPException: refuse_route},
        middleware=[Middleware(FaultGuard)],
    )
    app.state.backend = backend
    return app
