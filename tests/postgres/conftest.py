"""A PostgreSQL schema of its own for each test, and the tools to work on it.

The schema comes from the same helper as the suite's store parametrisation, so the
same rule holds: skipped with the reason when PostgreSQL is unreachable, a failure
where CI promises a server (``CI=true``); the schema is dropped afterwards.

Every connection the product opens in these tests carries an application name
naming the test's schema (libpq reads ``PGAPPNAME``), so a test can find, and
terminate, its own connections and nobody else's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain import commands as c
from domain.principal import SYSTEM
from qualify.bootstrap import Backend
from qualify.config import PostgresLocation, store_location
from tests.conftest import STORES, _open_store

POSTGRES_STORE = next(store for store in STORES if store.name == "postgres")
QUALIFY = Path(sys.executable).with_name("qualify")
# Connections the tests open to stage races or look into the store carry this name.
CONTROL_APPLICATION = "qualify-tests-control"
STOP_SECONDS = 10.0


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """``postgresql://...?schema=t_<random>``: a fresh schema, dropped afterwards."""
    yield from _open_store(POSTGRES_STORE, tmp_path)


def location_of(url: str) -> PostgresLocation:
    location = store_location(url)
    assert isinstance(location, PostgresLocation)
    return location


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection of the test's own to the store's database."""
    return psycopg.connect(
        location_of(url).conninfo,
        autocommit=autocommit,
        application_name=CONTROL_APPLICATION,
    )


def application_name(url: str, role: str) -> str:
    """The application name of one product process (or thread) of this test."""
    return f"{location_of(url).schema}-{role}"


def wait_until(
    condition: Callable[[], bool], seconds: float, failure: Callable[[], str]
) -> None:
    """Poll ``condition`` until it holds; fail with ``failure()`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure())
        time.sleep(0.005)


def positions(url: str) -> list[int]:
    """Every read model's stored position, read by the test's own connection."""
    schema = location_of(url).schema
    with connect(url) as connection:
        rows = connection.execute(
            f'SELECT position FROM "{schema}".projection_positions ORDER BY name'
        ).fetchall()
    return [int(row[0]) for row in rows]


def head(backend: Backend) -> int:
    """The newest stored position."""
    return backend.log.recorder.max_notification_id() or 0


# Bulk writing: genuine commands, a few thousand events in a few seconds.

PATH_STEPS = 100
"""A path of 100 new codes stores 305 events in one command."""


def write_paths(backend: Backend, paths: int, prefix: str = "P") -> None:
    """Learning paths whose every step brings a code of its own."""
    execute = backend.write_model.execute
    for p in range(paths):
        steps = tuple(
            c.StepInput(f"{prefix}{p}S{i}", f"Step {i}", 1) for i in range(PATH_STEPS)
        )
        execute(
            c.CreateLearningPath(f"{prefix}{p}PATH", f"Path {p}", steps=steps), SYSTEM
        )


def write_learners(
    backend: Backend, users: int, records: int, prefix: str = "u"
) -> None:
    """Registered users, each with a code of their own on ``records`` records.

    Four threads write at once; no two commands touch the same aggregate.
    """
    execute = backend.write_model.execute

    def learner(u: int) -> None:
        username = f"{prefix}{u}"
        code = f"{prefix.upper()}{u}CODE"
        execute(c.CreateCode(code), SYSTEM)
        execute(
            c.RegisterUser(username, f"{username}@example.com", "Test", "User"), SYSTEM
        )
        for k in range(records):
            day = date(2024, 1, 1) + timedelta(days=k)
            execute(
                c.AddTrainingRecord(username, f"Record {k}", day, code=code), SYSTEM
            )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(learner, range(users)))


# Processes


@dataclass
class Process:
    """A ``qualify`` subprocess; its output goes to a file for failure messages."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=STOP_SECONDS)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_SECONDS)


def qualify_env(url: str | None = None, name: str | None = None) -> dict[str, str]:
    """The test's environment without the developer's own QUALIFY_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALIFY_")}
    env["PYTHONUNBUFFERED"] = "1"
    if url is not None:
        env["QUALIFY_DATABASE_URL"] = url
    if name is not None:
        env["PGAPPNAME"] = name
    return env


Spawn = Callable[..., Process]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start ``qualify ARGS...`` on a store; every process is stopped afterwards."""
    started: list[Process] = []

    def spawn_(url: str, role: str, *args: str) -> Process:
        name = application_name(url, role)
        log = tmp_path / f"{role}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [str(QUALIFY), *args],
                env=qualify_env(url, name),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, log)
        started.append(process)
        return process

    try:
        yield spawn_
    finally:
        for process in reversed(started):
            process.stop()
