"""Every `after:` argument refuses a damaged or foreign cursor as the caller's
fault, in the same words, and never as a server error."""

from __future__ import annotations

import base64
import logging
import random
from typing import Any

import pytest

from tests.graph.conftest import GraphQLClient

BAD_CURSOR = {
    "message": "The cursor is damaged or belongs to another list; use one this "
    "list returned.",
    "extensions": {"code": "BAD_USER_INPUT", "field": "after"},
}

LISTS = {
    "codes": "query($after: String) { codes(first: 1, after: $after) "
    "{ edges { cursor } } }",
    "trainingRecords": "query($after: String) { trainingRecords(first: 1, "
    "after: $after) { edges { cursor } } }",
    "participants": 'query($after: String) { learningPath(code: "SAFE") '
    "{ participants(first: 1, after: $after) { edges { cursor } } } }",
}


def _edges(data: dict[str, Any], name: str) -> list[dict[str, str]]:
    if name == "participants":
        edges: list[dict[str, str]] = data["learningPath"]["participants"]["edges"]
    else:
        edges = data[name]["edges"]
    return edges


@pytest.fixture
async def cursors(client: GraphQLClient) -> dict[str, str]:
    """A real cursor of each list: two of everything, so each has a next page."""
    for code in ("CPR", "AED"):
        await _ok(client, f'createCode(input: {{code: "{code}"}})')
    for username in ("lena", "omar"):
        await _ok(
            client,
            f'registerUser(input: {{username: "{username}", '
            f'email: "{username}@example.com", firstName: "A", lastName: "B"}})',
        )
        await _ok(
            client,
            f'addTrainingRecord(input: {{username: "{username}", '
            'title: "First aid", completionDate: "2024-01-02", code: "CPR"})',
        )
    await _ok(
        client,
        'createLearningPath(input: {code: "SAFE", title: "Safety", '
        'steps: [{code: "CPR", title: "CPR", points: 1}]})',
    )
    for username in ("lena", "omar"):
        await _ok(
            client, f'joinPath(input: {{pathCode: "SAFE", username: "{username}"}})'
        )
    found = {}
    for name, query in LISTS.items():
        [edge] = _edges(await client.data(query), name)
        found[name] = edge["cursor"]
    return found


async def _ok(client: GraphQLClient, mutation: str) -> None:
    data = await client.data(
        f"mutation {{ m: {mutation} {{ userErrors {{ code }} }} }}"
    )
    assert data["m"]["userErrors"] == []


def _random_base64(seed: int) -> str:
    raw = random.Random(seed).randbytes(24)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _damaged(kind: str, cursors: dict[str, str], name: str) -> str:
    if kind == "truncated":
        return cursors[name][:-3]
    if kind == "another-list":
        other = {"codes": "trainingRecords", "trainingRecords": "participants"}
        return cursors[other.get(name, "codes")]
    if kind == "random-base64":
        return _random_base64(len(name))
    return "A" * 600


@pytest.mark.parametrize("name", list(LISTS))
async def test_a_real_cursor_turns_the_page(
    client: GraphQLClient, cursors: dict[str, str], name: str
) -> None:
    data = await client.data(LISTS[name], {"after": cursors[name]})

    [edge] = _edges(data, name)
    assert edge["cursor"] != cursors[name]


@pytest.mark.parametrize(
    "kind", ["truncated", "another-list", "random-base64", "600-characters"]
)
@pytest.mark.parametrize("name", list(LISTS))
async def test_a_damaged_cursor_is_bad_user_input(
    client: GraphQLClient,
    cursors: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    name: str,
    kind: str,
) -> None:
    caplog.set_level(logging.ERROR, logger="graph.schema")
    cursor = _damaged(kind, cursors, name)
    assert cursor != cursors[name]

    response = await client.post(LISTS[name], {"after": cursor})

    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert {k: error[k] for k in ("message", "extensions")} == BAD_CURSOR
    assert caplog.records == []
