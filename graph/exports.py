"""CSV exports of training records and of certificate expirations, page by page.

The file opens in a spreadsheet as it is: UTF-8 with a byte-order mark (so Excel
shows accents right), CRLF line ends, RFC 4180 quoting, and no cell that a
spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import logging
import re
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
from domain.principal import Principal, Right
from domain.validity import CertificateStatus, status_on
from graph.auth import principal_from_header
from graph.scope import code_name, reach_of, record_keys, whose_records
from projections.certificates import CertificateRow, ExpiryFilter, expiring
from projections.training_records import ExportFilter, ExportRow, export_page
from qualify.bootstrap import Backend

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000
BOM = "\ufeff"
EXPORT_PATH = "/exports/training-records.csv"
TEMPLATE_PATH = "/exports/training-records-template.csv"
EXPIRATIONS_PATH = "/exports/certificate-expirations.csv"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EXPIRATION_HEADINGS = (
    "Username",
    "Email",
    "Firstname",
    "Lastname",
    "Code",
    "Record ID",
    "Completion Date",
    "Expires On",
    "Status",
)


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


def expirations_url(
    status: CertificateStatus | None, before: date | None, code: str | None
) -> str:
    """The expiration report's CSV path with its filters."""
    query = {
        key: value
        for key, value in (
            ("status", status.value if status else None),
            ("before", before.isoformat() if before else None),
            ("code", code),
        )
        if value
    }
    return EXPIRATIONS_PATH + (f"?{urlencode(query)}" if query else "")


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


def _filter(backend: Backend, token: Principal, request: Request) -> ExportFilter:
    principal = backend.principal(token.username, token.role)
    params = request.query_params
    _once(request, ("username", "code", "from", "to"))
    unknown = set(params) - {"username", "code", "from", "to"}
    if unknown:
        raise InvalidInput(
            f"Unknown filter {sorted(unknown)[0]!r}; use username, code, from, to.",
            field=sorted(unknown)[0],
        )
    whose = whose_records(principal, params.get("username"))
    code = code_name(params.get("code"))
    completed_from = _day(params.get("from"), "from")
    completed_to = _day(params.get("to"), "to")
    if completed_from and completed_to and completed_from > completed_to:
        # An empty file would read as "no records in that range".
        raise InvalidInput(
            "from is later than to: no day lies between them.", field="from"
        )
    with backend.store.reading() as db:
        learner_id, code_id = record_keys(db, whose.username, code, whose.implied)
    return ExportFilter(
        learner_id=learner_id,
        code_id=code_id,
        among=whose.learner_ids(),
        completed_from=completed_from,
        completed_to=completed_to,
    )


def _expiry_filter(
    backend: Backend, token: Principal, request: Request
) -> ExpiryFilter:
    principal = backend.principal(token.username, token.role)
    principal.require(Right.VIEW_REPORTS)
    params = request.query_params
    _once(request, ("status", "before", "code"))
    unknown = set(params) - {"status", "before", "code"}
    if unknown:
        raise InvalidInput(
            f"Unknown filter {sorted(unknown)[0]!r}; use status, before, code.",
            field=sorted(unknown)[0],
        )
    raw_status = (params.get("status") or "").strip()
    status = None
    if raw_status:
        try:
            status = CertificateStatus(raw_status.strip().upper())
        except ValueError:
            raise InvalidInput(
                "status must be VALID, EXPIRING or EXPIRED.", field="status"
            ) from None
    code = code_name(params.get("code"))
    with backend.store.reading() as db:
        _, code_id = record_keys(db, None, code)
    before = _day(params.get("before"), "before")
    return ExpiryFilter(
        status=status,
        before=date.fromisoformat(before) if before else None,
        code_id=code_id,
        among=reach_of(principal).learner_ids(),
    )


def _once(request: Request, names: tuple[str, ...]) -> None:
    # Two values for one filter would leave the export to pick one silently.
    for name in names:
        if len(request.query_params.getlist(name)) > 1:
            raise InvalidInput(f"Give the {name} filter once.", field=name)


def _day(value: str | None, field: str) -> str | None:
    # An empty filter is no filter, as a form with a blank field sends it.
    text = (value or "").strip()
    if not text:
        return None
    try:
        # fromisoformat alone also takes 20250101 and week dates.
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
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


def _expiry_cells(row: CertificateRow, on: date, expiring_days: int) -> list[str]:
    completed = date.fromisoformat(row.completion_date)
    expires = date.fromisoformat(row.expires_on) if row.expires_on else None
    status = status_on(completed, expires, on, expiring_days)
    return [
        neutralise(cell)
        for cell in (
            row.username,
            row.email,
            row.first_name,
            row.last_name,
            row.code or "",
            row.record_id,
            row.completion_date,
            row.expires_on or "",
            status.value if status else "",
        )
    ]


def _stream_expirations(backend: Backend, only: ExpiryFilter) -> Iterator[str]:
    yield BOM + _line(list(EXPIRATION_HEADINGS))
    # One day for the whole file, even if it is still streaming at midnight.
    on = backend.today()
    window = backend.settings.expiring_days
    after: tuple[str, str] | None = None
    while True:
        with backend.store.reading() as db:
            page = expiring(db, only, on, window, after, PAGE_SIZE)
        if not page:
            return
        yield "".join(_line(_expiry_cells(row, on, window)) for row in page)
        last = page[-1]
        after = (last.expires_on or "", last.record_id)


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


async def export_expirations(request: Request) -> Response:
    """GET /exports/certificate-expirations.csv, filtered by status, before, code."""
    backend: Backend = request.app.state.backend
    try:
        principal = principal_from_header(
            backend.settings, request.headers.get("authorization")
        )
        only = await run_in_threadpool(_expiry_filter, backend, principal, request)
    except QualifyError as error:
        return _refuse(error)

    logger.info(
        "export of certificate expirations for %s: %s", principal.username, only
    )
    return StreamingResponse(
        (chunk.encode("utf-8") for chunk in _stream_expirations(backend, only)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="certificate-expirations.csv"'
        },
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
