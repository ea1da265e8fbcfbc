"""`qualify events export` and `qualify events verify FILE`, on a SQLite file."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from domain.commands import CreateCode
from domain.principal import SYSTEM
from qualify.bootstrap import Backend, build
from qualify.cli import main
from qualify.config import Settings
from tests.support import busy_scenario


@pytest.fixture(autouse=True)
def database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    # The developer's own QUALIFY_* settings must not leak into these tests.
    for name in ("QUALIFY_ENV", "QUALIFY_JWT_SECRET", "QUALIFY_JWT_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path}/q.db"
    monkeypatch.setenv("QUALIFY_DATABASE_URL", url)
    return url


@contextmanager
def opened(url: str) -> Iterator[Backend]:
    backend = build(Settings(database_url=url))
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def last(database_url: str) -> int:
    with opened(database_url) as backend:
        busy_scenario(backend)
        return backend.log.recorder.max_notification_id() or 0


def export(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["events", "export", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_an_export_holds_every_event_in_order_with_stable_fields(
    capsys: pytest.CaptureFixture[str], last: int
) -> None:
    items = export(capsys)

    assert [item["position"] for item in items] == list(range(1, last + 1))
    assert items[0]["type"] == "ContentCreated"
    assert sorted(items[0]) == [
        "actor",
        "aggregate_id",
        "aggregate_version",
        "correlation_id",
        "hash",
        "occurred_at",
        "payload",
        "position",
        "type",
    ]
    since = export(capsys, "--since", str(last - 3))
    assert since == items[-3:]


def test_an_export_verifies_against_the_store_it_came_from(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, last: int
) -> None:
    path = tmp_path / "log.ndjson"
    assert main(["events", "export"]) == 0
    path.write_text(capsys.readouterr().out)

    assert main(["events", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"log.ndjson: {last} events, each as the store holds it\n"
        f"hash chain intact through position {last}\n"
    )


def test_an_edited_export_is_caught_by_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, last: int
) -> None:
    lines = [json.dumps(item) for item in export(capsys)]
    edited = json.loads(lines[4])
    edited["actor"] = "mallory"
    lines[4] = json.dumps(edited)
    path = tmp_path / "log.ndjson"
    path.write_text("\n".join(lines) + "\n")

    assert main(["events", "verify", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err == "log.ndjson: line 5 (position 5): actor differs\n"


def test_a_store_edited_behind_the_application_fails_verification(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str, last: int
) -> None:
    path = tmp_path / "log.ndjson"
    assert main(["events", "export"]) == 0
    path.write_text(capsys.readouterr().out)

    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        (state,) = db.execute(
            "SELECT state FROM stored_events WHERE rowid = 1"
        ).fetchone()
        forged = bytes(state).replace(b'"Claromentis Essentials"', b'"Forged"')
        assert forged != bytes(state)
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = 1", (forged,))

    assert main(["events", "verify", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "log.ndjson: line 1 (position 1): hash differs\n"
        "hash chain broken at position 1: the stored event, or one before it, "
        "differs from what was recorded\n"
    )


def test_a_file_that_is_not_an_export_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, last: int
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")

    assert main(["events", "verify", str(path)]) == 1
    assert capsys.readouterr().err.startswith(
        "notes.txt: line 1 is not an exported event\n"
    )
    assert main(["events", "verify", str(tmp_path / "missing.ndjson")]) == 2


def test_projections_rebuild_switches_in_new_tables_and_says_how_fast(
    capsys: pytest.CaptureFixture[str], last: int
) -> None:
    assert main(["projections", "rebuild", "code_usage", "audit_log"]) == 0

    captured = capsys.readouterr()
    assert captured.out.startswith(f"rebuilt code_usage, audit_log: {last} events in ")
    # Nothing was wrong with the live tables: the switch finds no row to change.
    assert re.search(
        rf"switched in \d+\.\d s changing 0 rows, at position {last}\n", captured.out
    )
    assert "rebuilding [####################] position" in captured.err
    assert main(["projections", "verify"]) == 0


def test_projections_rebuild_refuses_an_unknown_read_model(
    capsys: pytest.CaptureFixture[str], last: int
) -> None:
    assert main(["projections", "rebuild", "codez"]) == 2

    assert capsys.readouterr().err == (
        "qualify: there is no read model 'codez'; the read models are "
        "code_usage, learners, course_activity, training_records, path_progress, "
        "access, audit_log.\n"
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda lines: lines[:20] + lines[21:],
            "line 21: position 22 follows position 20, but the store's next event "
            "is at 21",
        ),
        (
            lambda lines: [*lines[:20], lines[19], *lines[20:]],
            "line 21: position 20 follows position 20, but the store's next event "
            "is at 21",
        ),
        (
            lambda lines: [*lines[:10], lines[11], lines[10], *lines[12:]],
            "line 11: position 12 follows position 10, but the store's next event "
            "is at 11",
        ),
        (lambda lines: [], "the file holds no events"),
    ],
    ids=["line left out", "line repeated", "lines swapped", "empty"],
)
def test_an_export_with_lines_left_out_or_moved_is_caught_where_it_happens(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, last: int, edit, message: str
) -> None:
    lines = [json.dumps(item) for item in export(capsys)]
    path = tmp_path / "log.ndjson"
    path.write_text("".join(line + "\n" for line in edit(lines)))

    assert main(["events", "verify", str(path)]) == 1
    assert capsys.readouterr().err == f"log.ndjson: {message}\n"


def test_a_slice_from_the_middle_verifies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, last: int
) -> None:
    lines = [json.dumps(item) for item in export(capsys)]
    path = tmp_path / "slice.ndjson"
    path.write_text("".join(line + "\n" for line in lines[30:60]))

    assert main(["events", "verify", str(path)]) == 0


def test_an_export_whose_reader_stops_early_ends_quietly(database_url: str) -> None:
    with opened(database_url) as backend:
        for number in range(300):
            backend.handle(CreateCode(f"PIPE{number}"), SYSTEM)
    env = {**os.environ, "QUALIFY_DATABASE_URL": database_url}

    # More than a pipe holds: the export is still writing when the reader stops.
    process = subprocess.Popen(
        [Path(sys.executable).with_name("qualify"), "events", "export"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    first = process.stdout.read(100)
    process.stdout.close()
    _, errors = process.communicate(timeout=60)

    assert first.startswith(b'{"actor": "system"')
    assert process.returncode == 1
    assert b"Traceback" not in errors
