"""A real uvicorn server on a loopback port, and a GraphQL client for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from domain.principal import Role
from graph.app import create_app
from graph.auth import issue_token
from qualify.bootstrap import Backend, build
from qualify.config import Settings


@dataclass
class Server:
    url: str
    backend: Backend
    app: Starlette

    def token(self, username: str = "admin", role: Role = Role.ADMIN) -> str:
        return issue_token(self.backend.settings.jwt_secret, username, role)


class GraphQLClient:
    """Posts operations the way browser clients do: JSON body, bearer token."""

    def __init__(self, http: httpx.AsyncClient, server: Server, token: str) -> None:
        self.http = http
        self.server = server
        self.token = token

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> httpx.Response:
        return await self.http.post(
            f"{self.server.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.token}", **headers},
        )

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """The ``data`` of a response that must have no ``errors``."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def as_user(self, username: str, role: Role) -> GraphQLClient:
        return GraphQLClient(self.http, self.server, self.server.token(username, role))


def serve(backend: Backend) -> Iterator[Server]:
    app = create_app(backend)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Server(f"http://127.0.0.1:{port}", backend, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    backend = build(Settings(database_url=database_url), follow=True)
    try:
        yield from serve(backend)
    finally:
        backend.close()


@pytest.fixture
async def client(server: Server) -> Any:
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(http, server, server.token())


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    """Start servers on the in-memory store with settings of the test's choosing."""
    running: list[tuple[Iterator[Server], Backend]] = []

    def start(**settings: Any) -> Server:
        backend = build(Settings(database_url="memory://", **settings), follow=True)
        serving = serve(backend)
        running.append((serving, backend))
        return next(serving)

    yield start
    for serving, backend in running:
        next(serving, None)
        backend.close()


async def post_json(server: Server, body: Any, **headers: str) -> httpx.Response:
    """POST ``body`` as JSON with the admin's token."""
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{server.url}/graphql",
            json=body,
            headers={"Authorization": f"Bearer {server.token()}", **headers},
        )
