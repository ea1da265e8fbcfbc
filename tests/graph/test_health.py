"""``/health``: up, how far the read models are, and whose store it is."""

from __future__ import annotations

import httpx

from tests.graph.conftest import Server
from tests.support import reshape


async def test_health_tells_the_read_models_position(server: Server) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(f"{server.url}/health")

    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "position": server.backend.follower.stored_position(),
    }


async def test_health_says_the_store_belongs_to_another_release(
    server: Server,
) -> None:
    reshape(server.backend)

    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(f"{server.url}/health")

    assert answer.status_code == 503
    assert answer.json()["status"] == "other release"
    assert "rebuilt it while this one ran" in answer.json()["error"]
