"""A server on SQLite applies what another process stored and left unapplied.

A bulk import run from the command line applies its own events; killed between its
commit and that catch-up, it leaves them in the log only. Here a second backend
that does not follow the log plays that process: it stores a command's events and
stops there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from domain import commands as c
from domain.principal import SYSTEM
from qualify.bootstrap import Backend, build, catching_up
from qualify.config import Settings
from tests.support import live_code_names, reshape

WAIT_SECONDS = 10.0


def _leave_unapplied(url: str, code: str) -> None:
    other = build(Settings(database_url=url), follow=False)
    try:
        other.write_model.execute(c.CreateCode(code), SYSTEM)
    finally:
        other.close()


def _eventually(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_events_left_unapplied_are_applied_by_the_next_look(
    tmp_path: Path, open_backend: Callable[[str], Backend]
) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    server = open_backend(url)
    _leave_unapplied(url, "LEFT")
    assert live_code_names(server) == []

    applied = server.catch_up_with_others()

    assert applied == 2  # the code and the claim on its name
    assert live_code_names(server) == ["LEFT"]
    assert server.catch_up_with_others() == 0


def test_a_serving_backend_looks_by_itself(
    tmp_path: Path, open_backend: Callable[[str], Backend]
) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    server = open_backend(url)

    with catching_up(server):
        _leave_unapplied(url, "LEFT")
        seen = _eventually(lambda: live_code_names(server) == ["LEFT"])

    assert seen
    assert not any(t.name == "catch-up" for t in threading.enumerate())


def test_a_backend_left_to_workers_starts_no_thread(tmp_path: Path) -> None:
    server = build(Settings(database_url=f"sqlite:///{tmp_path}/q.db"), follow=False)
    try:
        with catching_up(server):
            names = [t.name for t in threading.enumerate()]
    finally:
        server.close()

    assert "catch-up" not in names


def test_the_looks_stop_once_another_release_has_reshaped_the_store(
    tmp_path: Path,
    open_backend: Callable[[str], Backend],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    server = open_backend(url)
    _leave_unapplied(url, "LEFT")
    reshape(server)

    with catching_up(server):
        stopped = _eventually(
            lambda: not any(t.name == "catch-up" for t in threading.enumerate())
        )

    assert stopped
    refusals = [
        r for r in caplog.records if "rebuilt it while this one ran" in r.message
    ]
    assert len(refusals) == 1
    assert live_code_names(server) == []
