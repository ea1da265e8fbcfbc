"""Shared fixtures: every contract test runs once per store.

``STORES`` is the one place that lists the stores. A PostgreSQL store joins every
parametrisation by adding an entry here; marking it durable also runs the restart
and concurrency tests on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qualify.bootstrap import Backend, build
from qualify.config import Settings
from tests.support import Seed, load_seed


@dataclass(frozen=True)
class Store:
    """A kind of store the backend runs on."""

    name: str
    url: Callable[[Path], str]
    """The database URL of a store private to a test's temporary directory."""
    durable: bool
    """Whether it outlives a backend and serves several threads at once."""


STORES: tuple[Store, ...] = (
    Store("memory", lambda tmp_path: "memory://", durable=False),
    Store("sqlite", lambda tmp_path: f"sqlite:///{tmp_path}/q.db", durable=True),
)
DURABLE_STORES = tuple(store for store in STORES if store.durable)


@pytest.fixture(params=STORES, ids=[store.name for store in STORES])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of each store in turn."""
    store: Store = request.param
    return store.url(tmp_path)


@pytest.fixture(params=DURABLE_STORES, ids=[store.name for store in DURABLE_STORES])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each durable store in turn, for restarts and threads (SQLite file, ...)."""
    store: Store = request.param
    return store.url(tmp_path)


@pytest.fixture
def open_backend() -> Iterator[Callable[[str], Backend]]:
    """Build backends on demand; every one is closed at the end of the test."""
    opened: list[Backend] = []

    def open_(url: str) -> Backend:
        backend = build(Settings(database_url=url))
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
