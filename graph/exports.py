"""CSV exports of training records, streamed page by page.

The file opens in a spreadsheet as it is: UTF-8 with a byte-order mark (so Excel
shows accents right), CRLF line ends, RFC 4180 quoting, and no cell that a
spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from domain.errors import InvalidInput, QualifyError
from domain.imports import (
    EXPORT_HEADINGS,
    IMPORT_HEADINGS,
    RECORD_TYPE_LABELS,
    neutralise,
)
from domain.learners import RecordType
from domain.principal import Principal
from graph.auth import principal_from_header
from graph.scope import code_name, record_keys, whose_records
from projections.training_records import ExportFilter, ExportRow, export_page
from qualify.bootstrap import Backend

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000
BOM = "\ufeff"
EXPORT_PATH = "/exports/training-records.csv"
TEMPLATE_PATH = "/exports/training-records-template.csv"


def export_url(
    username: str | None,
    code: str | None,
    completed_from: date | None,
    completed_to: date | None,
) -> str:
    """The export's path with its filters, for a client to fetch with its token."""
    query = {
        key: value
        for key, value in (
            ("username", username),
            ("code", code),
            ("from", completed_from.isoformat() if completed_from else None),
            ("to", completed_to.isoformat() if completed_to else None),
        )
        if value
    }
    return EXPORT_PATH + (f"?{urlencode(query)}" if query else "")


def _line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def _cells(row: ExportRow) -> list[str]:
    record_type = RecordType(row.record_type)
    return [
        neutralise(cell)
        for cell in (
            row.record_id,
            row.username,
            row.email,
            row.first_name,
            row.last_name,
            RECORD_TYPE_LABELS[record_type],
            row.object_id or "0",
            row.title,
            row.training_provider,
            row.completion_date,
            row.other_information,
            row.code or "",
            "",
        )
    ]


def _filter(backend: Backend, principal: Principal, request: Request) -> ExportFilter:
    params = request.query_params
    unknown = set(params) - {"username", "code", "from", "to"}
    if unknown:
        raise InvalidInput(
            f"Unknown filter {sorted(unknown)[0]!r}; use username, code, from, to.",
            field=sorted(unknown)[0],
        )
    username = whose_records(principal, params.get("username"))
    code = code_name(params.get("code"))
    with backend.store.reading() as db:
        learner_id, code_id = record_keys(db, username, code)
    return ExportFilter(
        learner_id=learner_id,
        code_id=code_id,
        completed_from=_day(params.get("from"), "from"),
        completed_to=_day(params.get("to"), "to"),
    )


def _day(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise InvalidInput(
            f"{field} must be a date, YYYY-MM-DD.", field=field
        ) from None


def _stream(backend: Backend, only: ExportFilter) -> Iterator[str]:
    yield BOM + _line(list(EXPORT_HEADINGS))
    after: tuple[str, str, str] | None = None
    while True:
        # One short read per page: memory stays flat however many records.
        with backend.store.reading() as db:
            page = export_page(db, only, after, PAGE_SIZE)
        if not page:
            return
        yield "".join(_line(_cells(row)) for row in page)
        last = page[-1]
        after = (last.learner_id, last.completion_date, last.record_id)


def _refuse(error: QualifyError) -> Response:
    status = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404}.get(
        error.code, 400
    )
    extensions: dict[str, str] = {"code": error.code}
    if error.field:
        extensions["field"] = error.field
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": extensions}]},
        status_code=status,
    )


async def export_records(request: Request) -> Response:
    """GET /exports/training-records.csv, filtered by username, code, from, to."""
    backend: Backend = request.app.state.backend
    try:
        principal = principal_from_header(
            backend.settings, request.headers.get("authorization")
        )
        # The look-ups block, so they run on a worker thread.
        only = await run_in_threadpool(_filter, backend, principal, request)
    except QualifyError as error:
        return _refuse(error)

    logger.info("export of training records for %s: %s", principal.username, only)
    return StreamingResponse(
        (chunk.encode("utf-8") for chunk in _stream(backend, only)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="training-records.csv"'},
    )


async def export_template(request: Request) -> Response:
    """GET /exports/training-records-template.csv: the import's headings alone."""
    return Response(
        (BOM + _line(list(IMPORT_HEADINGS))).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                'attachment; filename="training-records-template.csv"'
            )
        },
    )
