"""A store changed outside the application, a scratch file's place taken, a store
busy beyond the wait: each is said in one line, without a traceback, and nothing
is changed."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import pytest

from projections import database
from projections.database import SQLiteStore
from projections.follower import Follower
from qualify import cli
from qualify.bootstrap import Backend, build
from qualify.cli import main
from qualify.config import Settings
from tests.csv_support import csv_file, import_row
from tests.support import busy_scenario

UNREADABLE = (
    "the event at position 5 cannot be read (Expecting value: line 1 column 1 "
    "(char 0)): the store was changed outside the application"
)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own QUALIFY_* settings must not leak into these tests.
    for name in list(os.environ):
        if name.startswith("QUALIFY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A SQLite store holding the busy scenario, named by QUALIFY_DATABASE_URL."""
    path = tmp_path / "q.db"
    url = f"sqlite:///{path}"
    backend = build(Settings(database_url=url))
    try:
        busy_scenario(backend)
    finally:
        backend.close()
    monkeypatch.setenv("QUALIFY_DATABASE_URL", url)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.out, captured.err


def _last_line(err: str) -> str:
    # An import draws its reading progress bar above the error line.
    return err.rsplit("\r", 1)[-1].splitlines(keepends=True)[-1]


def _dump(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return list(connection.iterdump())


def _tamper(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(
            "UPDATE stored_events SET state = CAST('garbage' AS BLOB) WHERE rowid = 5"
        )


# An event that cannot be read


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events", "export"], f"qualify: {UNREADABLE}.\n"),
        (["projections", "verify"], f"qualify: {UNREADABLE}.\n"),
        (["projections", "rebuild"], f"qualify: {UNREADABLE}; nothing was rebuilt.\n"),
        (
            ["projections", "rebuild", "path_progress"],
            f"qualify: {UNREADABLE}; nothing was rebuilt.\n",
        ),
    ],
)
def test_an_unreadable_event_is_named_by_its_position(
    capsys: pytest.CaptureFixture[str], store: Path, args: list[str], message: str
) -> None:
    _tamper(store)
    before = _dump(store)

    status, _, err = _run(args, capsys)

    assert (status, err) == (1, message)
    assert _dump(store) == before
    assert not Path(f"{store}.rebuild").exists()


def test_an_export_checked_against_an_unreadable_event_breaks_there(
    capsys: pytest.CaptureFixture[str], store: Path, tmp_path: Path
) -> None:
    export = tmp_path / "log.ndjson"
    assert main(["events", "export"]) == 0
    export.write_text(capsys.readouterr().out)
    _tamper(store)
    before = _dump(store)

    status, out, err = _run(["events", "verify", str(export)], capsys)

    assert (status, out) == (1, "")
    assert err == (
        f"log.ndjson: {UNREADABLE}.\n"
        "hash chain broken at position 5: the stored event cannot be read any more "
        "(Expecting value: line 1 column 1 (char 0))\n"
    )
    assert _dump(store) == before


# The scratch file's place


def test_a_directory_where_the_scratch_file_goes_is_refused(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    taken = Path(f"{store}.rebuild")
    taken.mkdir()
    (taken / "kept").write_text("mine")
    before = _dump(store)

    status, out, err = _run(["projections", "rebuild", "path_progress"], capsys)

    assert (status, out) == (2, "")
    assert err == (
        f"qualify: {taken} is a directory, where a rebuild keeps its scratch file "
        "beside the store; move it away and rebuild again. Nothing was changed.\n"
    )
    assert (taken / "kept").read_text() == "mine"
    assert _dump(store) == before


# A store busy beyond the wait


@contextmanager
def _held(store: Path) -> Iterator[None]:
    """The store's write lock, held by another connection throughout."""
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize(
    "args",
    [["import", "RECORDS"], ["import", "RECORDS", "--dry-run"], ["events", "export"]],
)
def test_a_store_locked_beyond_the_wait_is_said_to_be_busy(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    store: Path,
    tmp_path: Path,
    args: list[str],
) -> None:
    # Not the half a minute a command waits for the lock outside tests.
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    records = tmp_path / "records.csv"
    records.write_bytes(csv_file(import_row()))
    before = _dump(store)

    with _held(store):
        status, out, err = _run(
            [str(records) if arg == "RECORDS" else arg for arg in args], capsys
        )

    assert (status, out) == (2, "")
    assert _last_line(err) == (
        f"qualify: the SQLite store at {store} is busy: another process has held "
        "its write lock for 0.2 s; try again once it is done.\n"
    )
    assert _dump(store) == before


def test_a_rebuild_whose_switch_waits_beyond_the_wait_changes_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    before = _dump(store)
    holding = ExitStack()
    end_bulk = Follower.end_bulk

    def then_hold_the_lock(follower: Follower) -> None:
        # Built by now: another process takes the lock the switch needs.
        end_bulk(follower)
        holding.enter_context(_held(store))

    monkeypatch.setattr(Follower, "end_bulk", then_hold_the_lock)

    with holding:
        status, out, err = _run(["projections", "rebuild"], capsys)

    assert (status, out) == (2, "")
    assert err.endswith(
        f"events/s\nqualify: the SQLite store at {store} is busy: another process "
        "has held its write lock for 0.2 s; try again once it is done. Nothing was "
        "changed.\n"
    )
    assert _dump(store) == before
    assert not Path(f"{store}.rebuild").exists()


def test_a_rebuild_of_a_store_it_cannot_write_refuses_before_building(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path
) -> None:
    before = _dump(store)
    built: list[Follower] = []
    monkeypatch.setattr(Follower, "end_bulk", lambda follower: built.append(follower))

    def read_only(settings: Settings) -> Backend:
        # As a file the user may only read: SQLite refuses every write to it.
        backend = build(settings)
        with backend.store.writing() as db:
            db.execute("PRAGMA query_only = 1")
        return backend

    monkeypatch.setattr(cli, "build", read_only)

    status, out, err = _run(["projections", "rebuild"], capsys)

    assert (status, out) == (2, "")
    assert _last_line(err) == (
        f"qualify: the SQLite store at {store} cannot be written: its file, or the "
        "folder it is in, is read-only to this user. Nothing was changed.\n"
    )
    assert built == []
    assert _dump(store) == before


def test_a_rebuild_that_runs_out_of_room_changes_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path
) -> None:
    before = _dump(store)
    connect = SQLiteStore._connect

    def cramped(self: SQLiteStore) -> sqlite3.Connection:
        connection = connect(self)
        if self.path.endswith(".rebuild"):
            # As a full disk would: SQLite may not grow the scratch file further.
            connection.execute("PRAGMA max_page_count = 20")
        return connection

    monkeypatch.setattr(SQLiteStore, "_connect", cramped)

    status, out, err = _run(["projections", "rebuild"], capsys)

    assert (status, out) == (2, "")
    assert _last_line(err) == (
        f"qualify: the disk of the SQLite store at {store} is full: the store, or a "
        "rebuild's scratch file beside it, could not grow; free some space and try "
        "again. Nothing was changed.\n"
    )
    assert _dump(store) == before
    assert not Path(f"{store}.rebuild").exists()
