"""Requests a browser could send from another site without asking: mutations over
GET, uploads without a preflight header, and bodies of simple content types."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from projections import code_usage
from tests.csv_support import csv_file, import_row, upload
from tests.graph.conftest import Server

CREATE = 'mutation { createCode(input: {code: "X1"}) { userErrors { code } } }'
NO_PREFLIGHT = (
    "A multipart upload must carry the header Apollo-Require-Preflight: true (or "
    "GraphQL-Preflight: 1), so that no browser sends it from another site without "
    "asking first."
)


@pytest.fixture
def server(start_server: Any) -> Server:
    return start_server()


def _stored(server: Server) -> int | None:
    return server.backend.log.recorder.max_notification_id()


def _no_code(server: Server) -> bool:
    with server.backend.store.reading() as db:
        return code_usage.live_code(db, "X1") is None


async def test_a_mutation_over_get_is_refused_and_changes_nothing(
    server: Server,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            f"{server.url}/graphql",
            params={"query": CREATE},
            headers={"Authorization": f"Bearer {server.token()}"},
        )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "mutations are not allowed when using GET",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }
    assert _no_code(server)


async def test_a_query_over_get_is_answered(server: Server) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            f"{server.url}/graphql",
            params={"query": "{ codes { totalCount } }"},
            headers={"Authorization": f"Bearer {server.token()}"},
        )

    assert response.status_code == 200
    assert response.json()["data"] == {"codes": {"totalCount": 0}}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Apollo-Require-Preflight": ""}, id="empty-apollo-header"),
    ],
)
async def test_an_upload_without_a_preflight_header_is_refused(
    server: Server, headers: dict[str, str]
) -> None:
    stored = _stored(server)
    operations = {"query": CREATE, "variables": {}}

    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            data={"operations": json.dumps(operations), "map": "{}"},
            files={"0": ("a.csv", b"x", "text/csv")},
            headers={"Authorization": f"Bearer {server.token()}", **headers},
        )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": NO_PREFLIGHT, "extensions": {"code": "BAD_REQUEST"}}]
    }
    assert _stored(server) == stored
    assert _no_code(server)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Apollo-Require-Preflight": "true"}, id="apollo"),
        pytest.param({"GraphQL-Preflight": "1"}, id="graphql"),
    ],
)
async def test_an_upload_with_a_preflight_header_is_imported(
    server: Server, headers: dict[str, str]
) -> None:
    response = await upload(
        server.url,
        csv_file(import_row()),
        server.token(),
        dry_run=True,
        headers=headers,
    )

    # The file was read and checked: the row names a learner nobody registered.
    assert response.status_code == 200
    report = response.json()["data"]["importTrainingRecords"]["report"]
    assert (report["fileName"], report["dryRun"], report["applied"]) == (
        "records.csv",
        True,
        False,
    )


async def test_a_multipart_form_with_nested_operations_is_a_bad_request(
    server: Server,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            data={"operations": "[" * 5000 + "]" * 5000, "map": "{}"},
            files={"0": ("a.csv", b"x", "text/csv")},
            headers={
                "Authorization": f"Bearer {server.token()}",
                "GraphQL-Preflight": "1",
            },
        )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "The request nests arrays and objects more than 64 "
                "levels deep.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded"]
)
async def test_a_body_of_a_simple_content_type_is_refused(
    server: Server, content_type: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.url}/graphql",
            content=json.dumps({"query": CREATE}).encode(),
            headers={
                "Authorization": f"Bearer {server.token()}",
                "Content-Type": content_type,
            },
        )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Unsupported content type: send application/json, or "
                "multipart/form-data for an upload.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ]
    }
    assert _no_code(server)
