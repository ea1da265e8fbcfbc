"""Shared fixtures: every contract test runs once per store.

``STORES`` is the one place that lists the stores. A PostgreSQL store joins every
parametrisation by adding an entry here; marking it durable also runs the restart
and concurrency tests on it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from qualify.bootstrap import Backend, build
from qualify.config import PostgresLocation, Settings, store_location
from tests.support import Seed, load_seed


@dataclass(frozen=True)
class Store:
    """A kind of store the backend runs on."""

    name: str
    url: Callable[[Path], str]
    """The database URL of a store private to a test's temporary directory."""
    durable: bool
    """Whether it outlives a backend and serves several threads at once."""


POSTGRES = os.environ.get(
    "QUALIFY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_url(tmp_path: Path) -> str:
    # Each test gets a schema of its own in the shared test database.
    return f"{POSTGRES}?schema=t_{uuid4().hex[:12]}"


STORES: tuple[Store, ...] = (
    Store("memory", lambda tmp_path: "memory://", durable=False),
    Store("sqlite", lambda tmp_path: f"sqlite:///{tmp_path}/q.db", durable=True),
    Store("postgres", _postgres_url, durable=True),
)
DURABLE_STORES = tuple(store for store in STORES if store.durable)


@functools.cache
def _postgres_unreachable() -> str | None:
    location = store_location(POSTGRES)
    assert isinstance(location, PostgresLocation)
    try:
        with psycopg.connect(location.conninfo, connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return f"PostgreSQL at {POSTGRES} is not reachable: {error}".strip()


def _open_store(store: Store, tmp_path: Path) -> Iterator[str]:
    if store.name != "postgres":
        yield store.url(tmp_path)
        return

    reason = _postgres_unreachable()
    if reason is not None:
        # CI promises a PostgreSQL server: there, a missing one is a failure.
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    url = store.url(tmp_path)
    yield url
    location = store_location(url)
    assert isinstance(location, PostgresLocation)
    with psycopg.connect(location.conninfo, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(location.schema)
            )
        )


@pytest.fixture(params=STORES, ids=[store.name for store in STORES])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database URL of each store in turn."""
    yield from _open_store(request.param, tmp_path)


@pytest.fixture(params=DURABLE_STORES, ids=[store.name for store in DURABLE_STORES])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each durable store in turn, for restarts and threads (SQLite file, ...)."""
    yield from _open_store(request.param, tmp_path)


@pytest.fixture
def open_backend() -> Iterator[Callable[[str], Backend]]:
    """Build backends on demand; every one is closed at the end of the test."""
    opened: list[Backend] = []

    def open_(url: str) -> Backend:
        # Each backend follows the log itself, so contract tests need no worker.
        backend = build(Settings(database_url=url), follow=True)
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(database_url: str, open_backend: Callable[[str], Backend]) -> Backend:
    """A fresh, empty backend on each store."""
    return open_backend(database_url)


@pytest.fixture
def durable_backend(
    durable_url: str, open_backend: Callable[[str], Backend]
) -> Backend:
    """A fresh, empty backend on each durable store."""
    return open_backend(durable_url)


@pytest.fixture
def seed(backend: Backend) -> Seed:
    """The seed's example loaded into ``backend``: path CLABEG, alice and bob."""
    return load_seed(backend)
