"""GET /exports/training-records.csv and the template, over a real server."""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from domain import commands as c
from domain.principal import Role
from graph.exports import EXPORT_PATH, TEMPLATE_PATH
from qualify.bootstrap import Backend
from tests.csv_support import csv_file, edit_export, import_row, read_export, upload
from tests.graph.conftest import GraphQLClient, Server
from tests.support import (
    COURSE_TITLE,
    DAY_1,
    DAY_2,
    DAY_3,
    LATER,
    LEARNER,
    OTHER_LEARNER,
    busy_scenario,
    complete,
    load_seed,
    records_of,
    run,
    value,
)

HEADINGS = (
    "Record Id,Name,Email,Firstname,Lastname,Record Type,Object Id,Title,"
    "Training Provider,Completion Date,Other Information,Qualification Code,Delete?"
    "\r\n"
)
BOM = "\ufeff"


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


async def export(
    server: Server,
    params: dict[str, str] | None = None,
    token: str | None = "admin",
    path: str = EXPORT_PATH,
) -> httpx.Response:
    headers = {}
    if token == "admin":
        headers["Authorization"] = f"Bearer {server.token()}"
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(f"{server.url}{path}", params=params, headers=headers)


async def export_text(server: Server, params: dict[str, str] | None = None) -> str:
    response = await export(server, params)
    assert response.status_code == 200, response.text
    return response.content.decode("utf-8")


def position(backend: Backend) -> int:
    return backend.log.recorder.max_notification_id() or 0


def manual(
    backend: Backend,
    username: str = OTHER_LEARNER,
    title: str = "First aid",
    when: date = DAY_1,
    provider: str = "Red Cross",
    other: str = "",
    code: str | None = None,
) -> str:
    return value(
        backend,
        c.AddTrainingRecord(
            username,
            title,
            when,
            training_provider=provider,
            other_information=other,
            code=code,
        ),
    )


async def import_unchanged(server: Server, data: bytes) -> dict[str, Any]:
    """Import ``data``; every row must come back UNCHANGED and nothing be stored."""
    before = position(server.backend)
    response = await upload(server.url, data, server.token(), file_name="export.csv")
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["importTrainingRecords"]
    assert payload["userErrors"] == []
    report = payload["report"]
    assert {row["action"] for row in report["rows"]} == {"UNCHANGED"}
    assert position(server.backend) == before
    return report


# The file


async def test_the_export_has_the_columns_in_order_and_one_line_per_record(
    server: Server,
) -> None:
    seed = load_seed(server.backend)
    record_id = complete(server.backend, seed.course, DAY_1).value

    response = await export(server)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="training-records.csv"'
    )
    assert response.content == (
        BOM
        + HEADINGS
        + f"{record_id},alice,alice@example.com,Alice,Test,Course,{seed.course},"
        f"{COURSE_TITLE},,2023-07-20,,CLAESS,\r\n"
    ).encode("utf-8")


async def test_a_manual_record_has_object_id_0_and_an_empty_delete_cell(
    server: Server,
) -> None:
    load_seed(server.backend)
    run(server.backend, c.CreateCode("CPR"))
    record_id = manual(server.backend, other="Room 4", code="CPR")

    text = await export_text(server)

    assert text == (
        BOM
        + HEADINGS
        + f"{record_id},bob,bob@example.com,Bob,Test,Training Record,0,First aid,"
        "Red Cross,2023-07-20,Room 4,CPR,\r\n"
    )


async def test_an_export_of_no_records_is_the_headings_alone(server: Server) -> None:
    load_seed(server.backend)

    assert await export_text(server) == BOM + HEADINGS


async def test_the_export_is_utf8_with_a_bom_and_crlf_line_ends(
    server: Server,
) -> None:
    load_seed(server.backend)
    manual(server.backend, title="Café Ærø — 安全", provider="Zoë")

    response = await export(server)

    assert response.content.startswith(b"\xef\xbb\xbfRecord Id,")
    assert "Café Ærø — 安全,Zoë" in response.content.decode("utf-8")
    lines = response.content.split(b"\r\n")
    assert len(lines) == 3
    assert lines[-1] == b""
    assert b"\n" not in b"".join(lines)


async def test_cells_are_quoted_as_rfc_4180_has_it(server: Server) -> None:
    load_seed(server.backend)
    # A title is one line; free text may hold line breaks.
    record_id = manual(
        server.backend,
        title='Fire, "safety" and you',
        provider="Smith, Jones & Co",
        other="line one\nline two",
    )

    text = await export_text(server)

    assert text == (
        BOM
        + HEADINGS
        + f'{record_id},bob,bob@example.com,Bob,Test,Training Record,0,"Fire, '
        '""safety"" and you","Smith, Jones & Co",2023-07-20,"line one\nline two",,'
        "\r\n"
    )
    [row] = read_export(text.encode("utf-8"))
    assert (row["Title"], row["Training Provider"], row["Other Information"]) == (
        'Fire, "safety" and you',
        "Smith, Jones & Co",
        "line one\nline two",
    )


@pytest.mark.parametrize(
    ("title", "provider", "other", "cells"),
    [
        ("=1+1", "", "", ("'=1+1", "", "")),
        (
            "Fire safety",
            "+44 20 7946 0000",
            "",
            ("Fire safety", "'+44 20 7946 0000", ""),
        ),
        ("Fire safety", "", "-5", ("Fire safety", "", "'-5")),
        (
            "@SUM(A1)",
            "@home",
            '=HYPERLINK("x")',
            ("'@SUM(A1)", "'@home", '\'=HYPERLINK("x")'),
        ),
    ],
    ids=["equals", "plus", "minus", "at"],
)
async def test_formula_like_cells_are_neutralised_and_read_back_unchanged(
    server: Server,
    title: str,
    provider: str,
    other: str,
    cells: tuple[str, str, str],
) -> None:
    load_seed(server.backend)
    manual(server.backend, title=title, provider=provider, other=other)

    response = await export(server)

    [row] = read_export(response.content)
    assert (row["Title"], row["Training Provider"], row["Other Information"]) == cells
    await import_unchanged(server, response.content)
    [record] = records_of(server.backend, OTHER_LEARNER)
    assert (record.title, record.training_provider, record.other_information) == (
        title,
        provider,
        other,
    )


async def test_reimporting_an_export_twice_does_not_pile_up_quote_marks(
    server: Server,
) -> None:
    load_seed(server.backend)
    manual(server.backend, title="=1+1", other="-5")
    first = (await export(server)).content
    await import_unchanged(server, first)

    second = (await export(server)).content

    assert second == first
    [row] = read_export(second)
    assert (row["Title"], row["Other Information"]) == ("'=1+1", "'-5")


@pytest.mark.parametrize(
    "title",
    ["'=1+1", "''-5", "'@home"],
    ids=["quote-equals", "quotes-minus", "quote-at"],
)
async def test_a_title_that_starts_with_a_quote_survives_the_round_trip(
    server: Server, title: str
) -> None:
    load_seed(server.backend)
    manual(server.backend, title=title)

    response = await export(server)

    await import_unchanged(server, response.content)
    [record] = records_of(server.backend, OTHER_LEARNER)
    assert record.title == title


async def test_a_renamed_code_shows_its_new_name_in_the_export(
    server: Server,
) -> None:
    seed = load_seed(server.backend)
    complete(server.backend, seed.course, DAY_1)
    run(server.backend, c.RenameCode("CLAESS", "CLAESS2"))

    [row] = read_export((await export(server)).content)

    assert row["Qualification Code"] == "CLAESS2"


# Round trip


async def test_importing_an_export_unchanged_changes_nothing(server: Server) -> None:
    busy_scenario(server.backend)
    response = await export(server)
    rows = read_export(response.content)
    assert {row["Record Type"] for row in rows} == {
        "Course",
        "Training Event",
        "Learning Path",
        "Training Record",
    }

    report = await import_unchanged(server, response.content)

    assert [row["row"] for row in report["rows"]] == list(range(2, len(rows) + 2))
    assert [row["recordId"] for row in report["rows"]] == [
        row["Record Id"] for row in rows
    ]
    assert report["importId"] is None
    assert report["ignoredColumns"] == ["Email", "Firstname", "Lastname"]
    assert (await export(server)).content == response.content


async def test_an_edited_export_updates_and_deletes_the_rows_edited(
    server: Server,
) -> None:
    load_seed(server.backend)
    kept = manual(server.backend, title="Kept")
    edited = manual(server.backend, title="Edit me", when=DAY_2)
    deleted = manual(server.backend, title="Delete me", when=DAY_3)
    exported = (await export(server)).content
    index = {row["Record Id"]: n for n, row in enumerate(read_export(exported))}

    response = await upload(
        server.url,
        edit_export(
            exported,
            {
                index[edited]: {"Title": "Edited", "Other Information": "Room 4"},
                index[deleted]: {"Delete?": "T"},
            },
        ),
        server.token(),
    )

    report = response.json()["data"]["importTrainingRecords"]["report"]
    actions = {row["recordId"]: row["action"] for row in report["rows"]}
    assert actions == {kept: "UNCHANGED", edited: "UPDATED", deleted: "DELETED"}
    assert {
        (r.title, r.other_information) for r in records_of(server.backend, "bob")
    } == {
        ("Kept", ""),
        ("Edited", "Room 4"),
    }


async def test_an_export_of_many_pages_holds_every_record_once(
    server: Server,
) -> None:
    load_seed(server.backend)
    rows = [
        import_row(
            name=(LEARNER, OTHER_LEARNER)[n % 2],
            title=f"Record {n}",
            completed=f"2023-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
        )
        for n in range(2500)
    ]
    created = await upload(server.url, csv_file(*rows), server.token())
    report = created.json()["data"]["importTrainingRecords"]["report"]
    assert report["created"] == 2500

    exported = read_export((await export(server)).content)

    assert sorted(row["Record Id"] for row in exported) == sorted(
        row["recordId"] for row in report["rows"]
    )
    assert len({row["Record Id"] for row in exported}) == 2500


# Filters


def _filter_scenario(backend: Backend) -> None:
    seed = load_seed(backend)
    run(backend, c.CreateCode("CPR"))
    complete(backend, seed.course, DAY_1, username=LEARNER)
    manual(backend, LEARNER, title="CPR", when=LATER, code="CPR")
    complete(backend, seed.course, DAY_2, username=OTHER_LEARNER)
    manual(backend, OTHER_LEARNER, title="Reading", when=DAY_3)


def _seen(text: str) -> list[tuple[str, str, str]]:
    rows = read_export(text.encode("utf-8"))
    return sorted(
        (row["Name"], row["Completion Date"], row["Qualification Code"]) for row in rows
    )


ALICE_DAY_1 = ("alice", "2023-07-20", "CLAESS")
ALICE_LATER = ("alice", "2024-07-22", "CPR")
BOB_DAY_2 = ("bob", "2023-07-21", "CLAESS")
BOB_DAY_3 = ("bob", "2023-07-24", "")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [ALICE_DAY_1, ALICE_LATER, BOB_DAY_2, BOB_DAY_3]),
        ({"username": "alice"}, [ALICE_DAY_1, ALICE_LATER]),
        ({"username": " Bob "}, [BOB_DAY_2, BOB_DAY_3]),
        ({"code": "CLAESS"}, [ALICE_DAY_1, BOB_DAY_2]),
        ({"code": "cpr"}, [ALICE_LATER]),
        ({"from": "2023-07-21"}, [ALICE_LATER, BOB_DAY_2, BOB_DAY_3]),
        ({"to": "2023-07-21"}, [ALICE_DAY_1, BOB_DAY_2]),
        ({"from": "2023-07-21", "to": "2023-07-24"}, [BOB_DAY_2, BOB_DAY_3]),
        ({"from": "2023-07-21", "to": "2023-07-21"}, [BOB_DAY_2]),
        ({"username": "alice", "code": "CLAESS"}, [ALICE_DAY_1]),
        ({"username": "bob", "code": "CPR"}, []),
        ({"from": "2025-01-01"}, []),
    ],
)
async def test_filters_by_username_code_and_completion_dates(
    server: Server, params: dict[str, str], expected: list[tuple[str, str, str]]
) -> None:
    _filter_scenario(server.backend)

    assert _seen(await export_text(server, params)) == expected


async def test_a_learner_exports_only_their_own_records(server: Server) -> None:
    _filter_scenario(server.backend)
    token = server.token(LEARNER, Role.LEARNER)

    everything = await export(server, token=token)
    own = await export(server, {"username": "alice"}, token=token)

    assert everything.status_code == own.status_code == 200
    assert _seen(everything.content.decode()) == [ALICE_DAY_1, ALICE_LATER]
    assert own.content == everything.content


async def test_a_learner_is_refused_another_learners_records(server: Server) -> None:
    _filter_scenario(server.backend)

    response = await export(
        server, {"username": "bob"}, token=server.token(LEARNER, Role.LEARNER)
    )

    assert response.status_code == 403
    assert response.json() == {
        "errors": [
            {
                "message": "The learner role may not read bob's training records.",
                "extensions": {"code": "FORBIDDEN"},
            }
        ]
    }


async def test_a_manager_exports_their_subordinates_records(server: Server) -> None:
    _filter_scenario(server.backend)
    run(server.backend, c.SetManager(LEARNER, "mia"))
    token = server.token("mia", Role.MANAGER)

    response = await export(server, token=token)
    assert _seen(response.content.decode()) == [ALICE_DAY_1, ALICE_LATER]

    run(server.backend, c.SetManager(OTHER_LEARNER, LEARNER))
    response = await export(server, token=token)
    assert _seen(response.content.decode()) == [
        ALICE_DAY_1,
        ALICE_LATER,
        BOB_DAY_2,
        BOB_DAY_3,
    ]
    refused = await export(server, {"username": "carol"}, token=token)
    assert refused.status_code == 403


async def test_the_export_without_a_token_is_401(server: Server) -> None:
    response = await export(server, token=None)

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        (
            {"user": "alice"},
            400,
            {
                "message": "Unknown filter 'user'; use username, code, from, to.",
                "extensions": {"code": "INVALID_INPUT", "field": "user"},
            },
        ),
        (
            {"from": "03/04/2023"},
            400,
            {
                "message": "from must be a date, YYYY-MM-DD.",
                "extensions": {"code": "INVALID_INPUT", "field": "from"},
            },
        ),
        (
            {"to": "2023-06-31"},
            400,
            {
                "message": "to must be a date, YYYY-MM-DD.",
                "extensions": {"code": "INVALID_INPUT", "field": "to"},
            },
        ),
        (
            {"from": "2024-06-03", "to": "2024-06-01"},
            400,
            {
                "message": "from is later than to: no day lies between them.",
                "extensions": {"code": "INVALID_INPUT", "field": "from"},
            },
        ),
        (
            {"username": "zed"},
            404,
            {
                "message": "No user is registered as zed.",
                "extensions": {"code": "NOT_FOUND", "field": "username"},
            },
        ),
        (
            {"code": "NOPE1"},
            404,
            {
                "message": "There is no qualification code NOPE1.",
                "extensions": {"code": "NOT_FOUND", "field": "code"},
            },
        ),
    ],
)
async def test_a_bad_filter_is_refused_naming_it(
    server: Server, params: dict[str, str], status: int, error: dict[str, Any]
) -> None:
    load_seed(server.backend)

    response = await export(server, params)

    assert response.status_code == status
    assert response.json() == {"errors": [error]}


async def test_the_export_url_field_gives_the_filtered_path(
    server: Server, client: GraphQLClient
) -> None:
    _filter_scenario(server.backend)

    data = await client.data(
        '{ trainingRecordsExportUrl(username: " Alice ", code: "claess", '
        'completedFrom: "2023-07-01", completedTo: "2023-07-31") }'
    )

    url = data["trainingRecordsExportUrl"]
    assert url == (
        "/exports/training-records.csv?username=alice&code=CLAESS"
        "&from=2023-07-01&to=2023-07-31"
    )
    response = await export(server, path=url)
    assert _seen(response.content.decode()) == [ALICE_DAY_1]


async def test_the_export_url_field_refuses_a_range_ending_before_it_starts(
    server: Server, client: GraphQLClient
) -> None:
    response = await client.post(
        '{ trainingRecordsExportUrl(completedFrom: "2024-06-03", '
        'completedTo: "2024-06-01") }'
    )

    assert response.json()["errors"][0]["message"] == (
        "completedFrom is later than completedTo: no day lies between them."
    )
    assert response.json()["errors"][0]["extensions"] == {
        "code": "INVALID_INPUT",
        "field": "completedFrom",
    }


async def test_the_export_url_field_refuses_a_learner_another_learners_url(
    server: Server, client: GraphQLClient
) -> None:
    load_seed(server.backend)
    learner = client.as_user(LEARNER, Role.LEARNER)

    response = await learner.post('{ trainingRecordsExportUrl(username: "bob") }')

    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# The template


async def test_the_template_is_the_import_headings_alone(server: Server) -> None:
    response = await export(server, path=TEMPLATE_PATH)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="training-records-template.csv"'
    )
    assert response.content == (
        "\ufeffRecord Id,Name,Record Type,Object Id,Title,Training Provider,"
        "Completion Date,Other Information,Qualification Code,Delete?\r\n"
    ).encode("utf-8")


async def test_a_filled_in_template_imports(server: Server) -> None:
    load_seed(server.backend)
    template = (await export(server, path=TEMPLATE_PATH)).content
    line = ",alice,Training Record,0,First aid,Red Cross,2023-07-20,,CLAESS,\r\n"

    response = await upload(server.url, template + line.encode(), server.token())

    report = response.json()["data"]["importTrainingRecords"]["report"]
    assert (report["created"], report["problems"], report["ignoredColumns"]) == (
        1,
        [],
        [],
    )
    rows = list(csv.reader(io.StringIO(template.decode("utf-8-sig"))))
    assert rows == [
        [
            "Record Id",
            "Name",
            "Record Type",
            "Object Id",
            "Title",
            "Training Provider",
            "Completion Date",
            "Other Information",
            "Qualification Code",
            "Delete?",
        ]
    ]
