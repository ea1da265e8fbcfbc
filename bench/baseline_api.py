"""The read baseline: the same three pages as plain JSON, with no GraphQL.

A Starlette app over the read-model tables of ``QUALIFY_DATABASE_URL`` (SQLite),
run by uvicorn in a process of its own, as ``qualify serve`` is. Each endpoint
does what the GraphQL server does for the same page apart from GraphQL itself:
it checks the bearer token, reads the caller's rights, runs the same read-model
functions (so the same SQL, on the event loop, as the GraphQL server reads a
SQLite file) and writes the JSON by hand. The difference between the two is then
what parsing, validating and executing a GraphQL document and serialising its
answer cost.

    POST /dashboard     {"username": ..., "paths": [three path codes]}
    POST /codes         {"first": 10, "search": null, "after": null}
    POST /participants  {"path": ..., "first": 50, "after": null}

    QUALIFY_DATABASE_URL=sqlite:///... QUALIFY_JWT_SECRET=... \\
        uvicorn bench.baseline_api:app --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.paths import Progress, Step
from domain.validity import expiry_date, status_on, today
from graph.auth import TokenKeys, principal_from_header
from projections import access, code_usage, learners, path_progress
from projections import training_records as records
from projections.database import Db, SQLiteStore
from projections.paging import Page
from qualify.config import Settings, store_location

Handler = Callable[[Db, dict[str, Any], Settings], dict[str, Any]]


def dashboard(db: Db, body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A learner's newest 20 records and their progress on three paths."""
    learner = learners.learner_by_username(db, body["username"])
    if learner is None:
        return {"error": "no such learner"}
    page = records.record_page(db, learner.learner_id, None, 20, None, None)
    day = today()
    progress = {}
    for code in body["paths"]:
        path = _path(db, code)
        row = path_progress.participant_named(db, path.path_id, learner.username)
        if row is None:
            progress[code] = None
            continue
        steps = path_progress.steps_of(db, path.path_id)
        measured = path_progress.progress_of(
            db, path, steps, [learner.learner_id], day
        )[learner.learner_id]
        names = _names(db, [s.code_id for s in steps])
        progress[code] = _progress(measured, names)
    return {
        "records": {
            "totalCount": page.total_count,
            "pageInfo": _page_info(page),
            "edges": [
                {"node": _record(row, day, settings.expiring_days)}
                for row in page.items
            ],
        },
        "progress": progress,
    }


def codes(db: Db, body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A page of codes with what uses each and how many records carry it."""
    page = code_usage.code_page(
        db, body.get("search"), body["first"], body.get("after")
    )
    ids = [row.code_id for row in page.items]
    uses = code_usage.uses_of(db, ids)
    # Read as the resolver reads them, though the page does not show them.
    code_usage.validity_changes(db, ids)
    return {
        "totalCount": page.total_count,
        "pageInfo": _page_info(page),
        "edges": [
            {
                "node": {
                    "code": row.code,
                    "description": row.description,
                    "activeRecordCount": row.active_record_count,
                    "validityMonths": row.validity_months,
                    "inUse": bool(uses[row.code_id]) or row.active_record_count > 0,
                    "usedIn": [
                        {"kind": use.kind, "id": use.owner_id, "title": use.title}
                        for use in uses[row.code_id]
                    ],
                }
            }
            for row in page.items
        ],
    }


def participants(db: Db, body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A page of a path's participants with their progress today."""
    path = _path(db, body["path"])
    steps = path_progress.steps_of(db, path.path_id)
    names = _names(db, [path.code_id, *(s.code_id for s in steps)])
    page = path_progress.participant_page(
        db, path, body["first"], body.get("after"), today(), None
    )
    return {
        "code": names[path.code_id],
        "title": path.title,
        "participants": {
            "totalCount": page.total_count,
            "pageInfo": _page_info(page),
            "edges": [
                {
                    "node": {
                        "username": item.participant.username,
                        **_progress(item.progress, names),
                    }
                }
                for item in page.items
            ],
        },
    }


def _path(db: Db, code: str) -> path_progress.PathRow:
    row = code_usage.live_code(db, code)
    path = path_progress.path_by_code_id(db, row.code_id) if row else None
    if path is None:
        raise LookupError(f"no path {code}")
    return path


def _names(db: Db, code_ids: list[str]) -> dict[str, str]:
    return {i: row.code for i, row in code_usage.codes_by_id(db, code_ids).items()}


def _page_info(page: Page[Any]) -> dict[str, Any]:
    return {
        "hasNextPage": page.has_next_page,
        "endCursor": page.cursors[-1] if page.cursors else None,
    }


def _record(row: records.RecordRow, day: date, window: int) -> dict[str, Any]:
    completed = date.fromisoformat(row.completion_date)
    expires = expiry_date(completed, row.validity_months)
    status = status_on(completed, expires, day, window)
    return {
        "recordId": row.record_id,
        "recordType": row.record_type,
        "title": row.title,
        "trainingProvider": row.training_provider,
        "completionDate": row.completion_date,
        "code": row.code,
        "expiresOn": expires.isoformat() if expires else None,
        "status": status.name if status else None,
    }


def _progress(progress: Progress, names: dict[str, str]) -> dict[str, Any]:
    return {
        "pointsEarned": progress.points_earned,
        "pointsTotal": progress.points_total,
        "percent": progress.percent,
        "complete": progress.complete,
        "missingSteps": [_step(step, names) for step in progress.missing],
    }


def _step(step: Step, names: dict[str, str]) -> dict[str, Any]:
    return {"code": names.get(step.code_id, ""), "title": step.title}


def _endpoint(
    handler: Handler, store: SQLiteStore, settings: Settings
) -> Callable[[Request], Awaitable[Response]]:
    keys = TokenKeys.from_settings(settings)

    async def endpoint(request: Request) -> Response:
        token = principal_from_header(keys, request.headers.get("authorization"))
        body = json.loads(await request.body())

        def read() -> dict[str, Any]:
            with store.reading() as db:
                access.principal_for(db, token.username, token.role)
                return handler(db, body, settings)

        answer = read()
        return Response(json.dumps({"data": answer}), media_type="application/json")

    return endpoint


def create_app(settings: Settings | None = None) -> Starlette:
    """The baseline over the store ``settings`` name (from the environment)."""
    settings = settings or Settings.from_environment()
    location = store_location(settings.database_url)
    path = getattr(location, "path", None)
    if path is None:
        raise SystemExit("the read baseline runs on a SQLite store only")
    store = SQLiteStore(path)
    routes = [
        Route(f"/{name}", _endpoint(handler, store, settings), methods=["POST"])
        for name, handler in (
            ("dashboard", dashboard),
            ("codes", codes),
            ("participants", participants),
        )
    ]

    async def health(request: Request) -> Response:
        return Response("ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    routes.append(Route("/health", health))
    return Starlette(routes=routes, lifespan=lifespan)


def app_from_env() -> Starlette:
    """uvicorn's factory: ``uvicorn --factory bench.baseline_api:app_from_env``."""
    return create_app()
