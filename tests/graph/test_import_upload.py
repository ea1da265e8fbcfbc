"""importTrainingRecords over GraphQL multipart, on a real server."""

from __future__ import annotations

import gc
import hashlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from domain.events import Event
from domain.imports import RecordsImported
from domain.principal import Role
from qualify.bootstrap import Backend, build
from qualify.config import Settings
from tests.csv_support import IMPORT_QUERY, csv_file, import_row, upload
from tests.graph.conftest import GraphQLClient, Server, serve
from tests.support import LEARNER, SEED_PATH, load_seed, records_of

LIMIT = 2000
REQUEST_ID = "0b9c1f5e-7d3a-4e2b-9c8d-1a2b3c4d5e6f"
DATE_REASON = (
    "The Completion Date must be written YYYY-MM-DD: 03/04/2023 could be "
    "day/month or month/day"
)


@pytest.fixture(autouse=True)
def collect_garbage() -> Iterator[None]:
    # Set up first, so torn down last: after the server has stopped. Whatever an
    # upload left unclosed is then reported against the test that uploaded it, at
    # its teardown (see test_an_uploaded_file_is_closed_once_the_import_is_answered).
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.fixture
def small_server(database_url: str) -> Iterator[Server]:
    """A server whose import limit is LIMIT bytes."""
    backend = build(
        Settings(database_url=database_url, import_max_bytes=LIMIT), follow=True
    )
    try:
        yield from serve(backend)
    finally:
        backend.close()


def position(backend: Backend) -> int:
    return backend.log.recorder.max_notification_id() or 0


def events_since(backend: Backend, start: int) -> list[Event]:
    notifications = backend.log.recorder.select_notifications(
        start=start + 1, limit=1000
    )
    return [backend.log.mapper.to_domain_event(n) for n in notifications]


def payload(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]["importTrainingRecords"]


def report(
    data: bytes,
    *,
    import_id: str | None = REQUEST_ID,
    file_name: str = "records.csv",
    dry_run: bool = False,
    rows: list[dict[str, Any]] | None = None,
    problems: list[dict[str, Any]] | None = None,
    ignored: list[str] | None = None,
    blank: list[int] | None = None,
) -> dict[str, Any]:
    """The report as GraphQL sends it, counting the rows' actions."""
    rows = rows or []
    problems = problems or []

    def count(action: str) -> int:
        return sum(1 for row in rows if row["action"] == action)

    return {
        "importId": import_id,
        "fileName": file_name,
        "checksum": hashlib.sha256(data).hexdigest(),
        "dryRun": dry_run,
        "applied": not dry_run and not problems,
        "created": count("CREATED"),
        "updated": count("UPDATED"),
        "deleted": count("DELETED"),
        "unchanged": count("UNCHANGED"),
        "duplicates": count("DUPLICATE"),
        "rows": rows,
        "problems": problems,
        "ignoredColumns": ignored or [],
        "blankRows": blank or [],
    }


async def send(
    server: Server,
    data: bytes,
    *,
    token: str | None = "admin",
    dry_run: bool = False,
    file_name: str = "records.csv",
) -> httpx.Response:
    return await upload(
        server.url,
        data,
        server.token() if token == "admin" else token,
        dry_run=dry_run,
        file_name=file_name,
        headers={"X-Request-Id": REQUEST_ID},
    )


# Uploading


async def test_an_upload_with_a_bearer_token_imports_the_file(server: Server) -> None:
    load_seed(server.backend)
    data = csv_file(import_row(code="CLAESS"))

    response = await send(server, data, file_name="July records.csv")

    [record] = records_of(server.backend)
    assert payload(response) == {
        "report": report(
            data,
            file_name="July records.csv",
            rows=[{"row": 2, "action": "CREATED", "recordId": record.record_id}],
        ),
        "userErrors": [],
    }
    assert (record.title, record.code) == ("First aid", "CLAESS")


async def test_an_upload_without_a_token_is_401_and_imports_nothing(
    server: Server,
) -> None:
    load_seed(server.backend)
    before = position(server.backend)

    response = await send(server, csv_file(import_row()), token=None)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert position(server.backend) == before


async def test_an_upload_with_a_bad_token_is_401(server: Server) -> None:
    response = await send(server, csv_file(import_row()), token="not-a-token")

    assert response.status_code == 401


async def test_a_learner_may_not_import(server: Server) -> None:
    load_seed(server.backend)
    before = position(server.backend)

    response = await send(
        server, csv_file(import_row()), token=server.token(LEARNER, Role.LEARNER)
    )

    assert payload(response) == {
        "report": None,
        "userErrors": [
            {
                "code": "FORBIDDEN",
                "field": None,
                "message": "The learner role may not add, edit and delete everyone's "
                "training records.",
            }
        ],
    }
    assert position(server.backend) == before


async def test_a_dry_run_upload_reports_and_writes_nothing(server: Server) -> None:
    load_seed(server.backend)
    before = position(server.backend)
    data = csv_file(import_row(code="CLAESS"))

    response = await send(server, data, dry_run=True)

    body = payload(response)
    [row] = body["report"]["rows"]
    assert body == {
        "report": report(
            data,
            import_id=None,
            dry_run=True,
            rows=[{"row": 2, "action": "CREATED", "recordId": row["recordId"]}],
        ),
        "userErrors": [],
    }
    assert position(server.backend) == before
    assert records_of(server.backend) == []


async def test_a_rejected_upload_lists_every_bad_row_and_writes_nothing(
    server: Server,
) -> None:
    load_seed(server.backend)
    before = position(server.backend)
    data = csv_file(
        import_row(completed="03/04/2023"),
        import_row(code="CLAESS"),
        import_row(name="zed", delete="yes"),
    )

    body = payload(await send(server, data))

    assert body["report"]["problems"] == [
        {
            "row": 2,
            "column": "Completion Date",
            "value": "03/04/2023",
            "reason": DATE_REASON,
        },
        {
            "row": 4,
            "column": "Delete?",
            "value": "yes",
            "reason": "Delete? is empty to keep the row's record, or T to delete it",
        },
    ]
    assert body["report"]["applied"] is False
    assert body["userErrors"] == [
        {
            "code": "IMPORT_REJECTED",
            "field": "file",
            "message": "2 problems in records.csv; nothing was imported. Fix the "
            "rows listed and import the file again.",
        }
    ]
    assert position(server.backend) == before
    # Nothing was imported, so there is no import for an id to name.
    assert body["report"]["importId"] is None


async def test_a_file_that_is_not_utf8_is_refused_with_the_byte_offset(
    server: Server,
) -> None:
    load_seed(server.backend)
    data = "Record Id,Name,Café".encode("cp1252")

    body = payload(await send(server, data))

    assert body == {
        "report": None,
        "userErrors": [
            {
                "code": "IMPORT_REFUSED",
                "field": None,
                "message": "The file is not UTF-8 text: byte 18 (counting from 0) "
                "is 0xE9. Save it as CSV UTF-8 and try again.",
            }
        ],
    }


async def test_a_file_lacking_a_heading_is_refused_naming_it(server: Server) -> None:
    load_seed(server.backend)
    row = import_row()
    headings = tuple(name for name in row if name != "Name")

    body = payload(await send(server, csv_file(row, headings=headings)))

    assert body["userErrors"] == [
        {
            "code": "IMPORT_REFUSED",
            "field": None,
            "message": "The file lacks the heading 'Name'.",
        }
    ]


async def test_a_file_as_excel_saves_it_imports_noting_the_blank_rows(
    server: Server,
) -> None:
    load_seed(server.backend)
    cells = list(import_row(code="CLAESS").values())
    lines = [list(import_row()), cells]
    text = "".join(",".join(f'"{c}"' for c in line) + "\r\n" for line in lines)
    data = ("\ufeff" + text + ",,,,,,,,,\r\n,,,,,,,,,\r\n").encode()

    body = payload(await send(server, data))

    [record] = records_of(server.backend)
    assert body["report"] == report(
        data,
        rows=[{"row": 2, "action": "CREATED", "recordId": record.record_id}],
        blank=[3, 4],
    )


# Size


def _file_of(size: int) -> bytes:
    """A good one-row file of exactly ``size`` bytes."""
    base = len(csv_file(import_row()))
    data = csv_file(import_row(other="x" * (size - base)))
    assert len(data) == size
    return data


async def test_a_file_at_the_limit_is_imported(small_server: Server) -> None:
    load_seed(small_server.backend)

    body = payload(await send(small_server, _file_of(LIMIT)))

    assert (body["report"]["created"], body["userErrors"]) == (1, [])


async def test_a_file_over_the_limit_is_refused_before_it_is_parsed(
    small_server: Server,
) -> None:
    load_seed(small_server.backend)
    before = position(small_server.backend)
    # Parsed, this would be refused as not UTF-8; it is refused for its size.
    data = b"\xff" * (LIMIT + 1)

    body = payload(await send(small_server, data))

    assert body == {
        "report": None,
        "userErrors": [
            {
                "code": "IMPORT_REFUSED",
                "field": "file",
                "message": "The file is larger than the import limit of 2000 bytes.",
            }
        ],
    }
    assert position(small_server.backend) == before


async def test_an_upload_whose_content_length_is_over_the_limit_is_413(
    small_server: Server,
) -> None:
    load_seed(small_server.backend)
    before = position(small_server.backend)

    response = await send(small_server, _file_of(LIMIT + 100_000))

    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": "The upload is larger than the import limit of 2000 bytes.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }
    assert position(small_server.backend) == before


async def test_an_upload_without_a_content_length_is_411(
    small_server: Server,
) -> None:
    boundary = "qualify-test-boundary"
    operations = json.dumps(
        {"query": IMPORT_QUERY, "variables": {"input": {"file": None}}}
    )
    parts = [
        ("operations", None, operations.encode()),
        ("map", None, b'{"0": ["variables.input.file"]}'),
        ("0", "records.csv", csv_file(import_row())),
    ]
    body = b""
    for name, file_name, content in parts:
        disposition = f'form-data; name="{name}"'
        if file_name:
            disposition += f'; filename="{file_name}"'
        body += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()

    async def chunks() -> Any:
        yield body

    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{small_server.url}/graphql",
            content=chunks(),
            headers={
                "Authorization": f"Bearer {small_server.token()}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Apollo-Require-Preflight": "true",
            },
        )

    assert "content-length" not in response.request.headers
    assert response.status_code == 411
    assert response.json()["errors"][0] == {
        "message": "An upload must state its Content-Length.",
        "extensions": {"code": "BAD_REQUEST"},
    }


# Audit and read models


async def test_the_events_of_an_uploaded_import_carry_its_id_file_and_checksum(
    server: Server,
) -> None:
    load_seed(server.backend)
    before = position(server.backend)
    data = csv_file(import_row(code="CLAESS"), import_row(title="Second"))

    body = payload(await send(server, data, file_name="july.csv"))

    assert body["report"]["importId"] == REQUEST_ID
    events = events_since(server.backend, before)
    assert {(e.actor, e.correlation_id) for e in events} == {("admin", REQUEST_ID)}
    [imported] = [e for e in events if isinstance(e, RecordsImported)]
    assert str(imported.originator_id) == REQUEST_ID
    assert (imported.file_name, imported.checksum, imported.created) == (
        "july.csv",
        hashlib.sha256(data).hexdigest(),
        2,
    )


async def test_progress_and_code_usage_reflect_an_upload_as_soon_as_it_returns(
    server: Server, client: GraphQLClient
) -> None:
    load_seed(server.backend)
    await client.data(
        f'mutation {{ joinPath(input: {{pathCode: "{SEED_PATH}", username: "alice"}})'
        " { userErrors { code } } }"
    )

    payload(await send(server, csv_file(import_row(code="CLAESS"))))

    data = await client.data(
        '{ pathProgress(pathCode: "CLABEG", username: "alice") '
        "{ pointsEarned pointsTotal percent } "
        'code(code: "CLAESS") { activeRecordCount } }'
    )
    assert data == {
        "pathProgress": {"pointsEarned": 20, "pointsTotal": 40, "percent": 50},
        "code": {"activeRecordCount": 1},
    }


# Resources


async def test_an_uploaded_file_is_closed_once_the_import_is_answered(
    database_url: str,
) -> None:
    backend = build(Settings(database_url=database_url), follow=True)
    served = serve(backend)
    server = next(served)
    try:
        load_seed(backend)
        gc.collect()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            response = await send(server, csv_file(import_row()))
            served.close()
            gc.collect()
    finally:
        served.close()
        backend.close()

    assert payload(response)["userErrors"] == []
    assert [
        str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
    ] == []


async def test_a_string_where_the_file_should_be_is_refused_not_a_server_error(
    client: GraphQLClient,
) -> None:
    body = {"query": IMPORT_QUERY, "variables": {"input": {"file": "not a file"}}}

    response = await client.http.post(
        f"{client.server.url}/graphql",
        json=body,
        headers={"Authorization": f"Bearer {client.token}"},
    )

    data = response.json()["data"]["importTrainingRecords"]
    assert data["report"] is None
    assert [(e["code"], e["field"]) for e in data["userErrors"]] == [
        ("IMPORT_REFUSED", "file")
    ]


UPLOAD_OPERATIONS = json.dumps(
    {"query": IMPORT_QUERY, "variables": {"input": {"file": None, "dryRun": True}}}
)
LIST_OPERATIONS = json.dumps({"query": IMPORT_QUERY, "variables": {"files": [None]}})


@pytest.mark.parametrize(
    ("operations", "files_map", "message"),
    [
        (
            UPLOAD_OPERATIONS,
            '{"0": ["variables.input.file.x.y"]}',
            "The map's path 'variables.input.file.x.y' does not lead to a variable "
            "holding null in the operations.",
        ),
        (
            UPLOAD_OPERATIONS,
            '{"0": ["variables.input.5"]}',
            "The map's path 'variables.input.5' does not lead to a variable holding "
            "null in the operations.",
        ),
        (
            UPLOAD_OPERATIONS,
            '{"0": ["query.x"]}',
            "The map's path 'query.x' does not lead to a variable holding null in "
            "the operations.",
        ),
        (
            UPLOAD_OPERATIONS,
            '{"0": [5]}',
            "The map's path 5 does not lead to a variable holding null in the "
            "operations.",
        ),
        (
            UPLOAD_OPERATIONS,
            '{"0": ["variables.input.file", "variables.input.file.a"]}',
            "The map's path 'variables.input.file.a' does not lead to a variable "
            "holding null in the operations.",
        ),
        (
            "null",
            '{"0": ["variables.input.file"]}',
            "The operations part must be a JSON object with a variables object.",
        ),
        (
            UPLOAD_OPERATIONS,
            "[1]",
            "The map part must be a JSON object of form part names to paths.",
        ),
        (
            UPLOAD_OPERATIONS,
            '{"1": ["variables.input.file"]}',
            "The map names the form part '1', which holds no file.",
        ),
        (
            UPLOAD_OPERATIONS,
            '{"0": ["variables.input.file", "variables.input.file"]}',
            "The map names the path 'variables.input.file' twice; a variable holds "
            "one file.",
        ),
        (
            LIST_OPERATIONS,
            '{"0": ["variables.files.0", "variables.files.00"]}',
            "The map names the path 'variables.files.00' twice; a variable holds "
            "one file.",
        ),
        (
            LIST_OPERATIONS,
            '{"0": ["variables.files.\u00b2"]}',
            "The map's path 'variables.files.\u00b2' does not lead to a variable "
            "holding null in the operations.",
        ),
    ],
    ids=[
        "past the file",
        "index",
        "outside variables",
        "not a path",
        "twice",
        "null operations",
        "list map",
        "missing part",
        "one path twice",
        "one item by two names",
        "digit not a number",
    ],
)
async def test_a_map_that_cannot_place_the_file_is_a_bad_request(
    server: Server, operations: str, files_map: str, message: str
) -> None:
    load_seed(server.backend)
    before = records_of(server.backend)
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            data={"operations": operations, "map": files_map},
            files={"0": ("records.csv", csv_file(import_row()), "text/csv")},
            headers={
                "Authorization": f"Bearer {server.token(LEARNER, Role.LEARNER)}",
                "Apollo-Require-Preflight": "true",
            },
        )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
    }
    assert response.headers["X-Request-Id"]
    assert records_of(server.backend) == before


async def test_two_files_mapped_to_one_path_are_refused_and_nothing_imported(
    server: Server,
) -> None:
    load_seed(server.backend)
    before = records_of(server.backend)
    start = position(server.backend)
    operations = {
        "query": IMPORT_QUERY,
        "variables": {"input": {"file": None, "dryRun": False}},
    }
    path = "variables.input.file"
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": [path], "1": [path]}),
            },
            files={
                "0": ("first.csv", csv_file(import_row(title="First")), "text/csv"),
                "1": ("second.csv", csv_file(import_row(title="Second")), "text/csv"),
            },
            headers={
                "Authorization": f"Bearer {server.token()}",
                "Apollo-Require-Preflight": "true",
            },
        )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "The map names the path 'variables.input.file' twice; "
                "a variable holds one file.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }
    assert records_of(server.backend) == before
    assert events_since(server.backend, start) == []
