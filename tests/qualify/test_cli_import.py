"""`qualify import FILE [--dry-run]` on a SQLite file store."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from domain.imports import EXPORT_HEADINGS, RecordsImported
from qualify.bootstrap import Backend, build
from qualify.cli import main
from qualify.config import PostgresLocation, Settings, store_location
from tests.conftest import STORES, _open_store
from tests.csv_support import csv_file, import_row
from tests.support import LEARNER, OTHER_LEARNER, load_seed, records_of

POSTGRES_STORE = next(store for store in STORES if store.name == "postgres")
COUNTS = "{} created, {} updated, {} deleted, {} unchanged, {} duplicate"
DATE_REASON = (
    "The Completion Date must be written YYYY-MM-DD: 03/04/2023 could be "
    "day/month or month/day"
)


@pytest.fixture(autouse=True)
def database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    # The developer's own QUALIFY_* settings must not leak into these tests.
    for name in (
        "QUALIFY_ENV",
        "QUALIFY_JWT_SECRET",
        "QUALIFY_DATABASE_URL",
        "QUALIFY_IMPORT_MAX_BYTES",
    ):
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
def seeded(database_url: str) -> int:
    """The seed in the store; its log position."""
    with opened(database_url) as backend:
        load_seed(backend)
        return position(backend)


def position(backend: Backend) -> int:
    return backend.log.recorder.max_notification_id() or 0


def write(tmp_path: Path, data: bytes, name: str = "records.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


TWO_ROWS = csv_file(import_row(code="CLAESS"), import_row(name=OTHER_LEARNER))


def test_import_applies_the_file_and_prints_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, seeded: int
) -> None:
    path = write(tmp_path, TWO_ROWS)

    status = main(["import", str(path)])

    out = capsys.readouterr().out
    assert status == 0
    found = re.fullmatch(
        f"records.csv changed: {COUNTS.format(2, 0, 0, 0, 0)}\n"
        f"import id ([0-9a-f-]{{36}}), sha256 {hashlib.sha256(TWO_ROWS).hexdigest()}\n",
        out,
    )
    assert found is not None, out
    with opened(database_url) as backend:
        assert [(r.title, r.code) for r in records_of(backend, LEARNER)] == [
            ("First aid", "CLAESS")
        ]
        assert [(r.title, r.code) for r in records_of(backend, OTHER_LEARNER)] == [
            ("First aid", None)
        ]
        events = backend.log.recorder.select_notifications(start=seeded + 1, limit=99)
        stored = [backend.log.mapper.to_domain_event(n) for n in events]
    assert {(e.actor, e.correlation_id) for e in stored} == {("cli", found[1])}
    [imported] = [e for e in stored if isinstance(e, RecordsImported)]
    assert (imported.file_name, imported.checksum) == (
        "records.csv",
        hashlib.sha256(TWO_ROWS).hexdigest(),
    )


def test_reading_shows_a_progress_bar_on_standard_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seeded: int
) -> None:
    path = write(tmp_path, TWO_ROWS)

    assert main(["import", str(path)]) == 0

    assert capsys.readouterr().err == (
        "\rreading [#############.......] row 2"
        "\rreading [####################] row 3\n"
        "checking every row; the file is applied only if all are valid...\n"
    )


def test_a_dry_run_prints_what_would_change_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, seeded: int
) -> None:
    path = write(tmp_path, TWO_ROWS)

    status = main(["import", str(path), "--dry-run"])

    assert status == 0
    assert capsys.readouterr().out == (
        f"records.csv would change: {COUNTS.format(2, 0, 0, 0, 0)}\n"
    )
    with opened(database_url) as backend:
        assert position(backend) == seeded
        assert records_of(backend) == []


def test_importing_the_same_file_twice_changes_nothing_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, seeded: int
) -> None:
    path = write(tmp_path, TWO_ROWS)
    assert main(["import", str(path)]) == 0
    capsys.readouterr()
    with opened(database_url) as backend:
        after_first = position(backend)

    status = main(["import", str(path)])

    assert status == 0
    assert capsys.readouterr().out == (
        f"records.csv changed nothing: {COUNTS.format(0, 0, 0, 2, 0)}\n"
    )
    with opened(database_url) as backend:
        assert position(backend) == after_first


def test_a_rejected_file_exits_1_listing_every_bad_row_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, seeded: int
) -> None:
    data = csv_file(
        import_row(completed="03/04/2023"),
        import_row(code="CLAESS"),
        import_row(name="zed"),
    )
    path = write(tmp_path, data)

    status = main(["import", str(path)])

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == (
        f"records.csv was refused; it would have changed: "
        f"{COUNTS.format(1, 0, 0, 0, 0)}\n"
        f"row 2 Completion Date '03/04/2023': {DATE_REASON}\n"
        "row 4 Name 'zed': No user is registered as zed\n"
    )
    assert captured.err.endswith(
        "qualify: 2 problems in records.csv; nothing was imported. Fix the rows "
        "listed and import the file again.\n"
    )
    with opened(database_url) as backend:
        assert position(backend) == seeded


def test_a_row_with_too_few_cells_is_printed_without_a_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str, seeded: int
) -> None:
    data = csv_file(import_row()).rstrip(b"\r\n") + b"\r\n0,alice,Training Record\r\n"
    path = write(tmp_path, data)

    status = main(["import", str(path)])

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out.splitlines()[1:] == [
        "row 3: The row has 3 cells; the headings have 10"
    ]


def test_ignored_columns_and_blank_rows_are_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seeded: int
) -> None:
    data = (
        csv_file(import_row(code="CLAESS"), headings=EXPORT_HEADINGS, bom=True)
        + b",,,,,,,,,,,,\r\n,,,,,,,,,,,,\r\n"
    )
    path = write(tmp_path, data)

    assert main(["import", str(path), "--dry-run"]) == 0

    assert capsys.readouterr().out == (
        f"records.csv would change: {COUNTS.format(1, 0, 0, 0, 0)}\n"
        "ignored columns: Email, Firstname, Lastname\n"
        "blank rows skipped: 3, 4\n"
    )


# Files refused outright


def test_a_file_over_the_limit_is_refused_naming_its_size(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    seeded: int,
) -> None:
    monkeypatch.setenv("QUALIFY_IMPORT_MAX_BYTES", "100")
    # Parsed, this would be refused as not UTF-8; it is refused for its size.
    path = write(tmp_path, b"\xff" * 150, name="big.csv")

    status = main(["import", str(path)])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err == (
        "qualify: big.csv is 150 bytes, over the import limit of 100 bytes.\n"
    )


def test_a_file_at_the_limit_is_imported(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    seeded: int,
) -> None:
    data = csv_file(import_row())
    monkeypatch.setenv("QUALIFY_IMPORT_MAX_BYTES", str(len(data)))
    path = write(tmp_path, data)

    assert main(["import", str(path)]) == 0

    assert capsys.readouterr().out.startswith(
        f"records.csv changed: {COUNTS.format(1, 0, 0, 0, 0)}\n"
    )


def test_a_bad_limit_setting_exits_2_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUALIFY_IMPORT_MAX_BYTES", "50MB")
    path = write(tmp_path, TWO_ROWS)

    status = main(["import", str(path)])

    assert status == 2
    assert capsys.readouterr().err == (
        "qualify: QUALIFY_IMPORT_MAX_BYTES must be a positive number of bytes, "
        "not '50MB'.\n"
    )


def test_a_file_that_is_not_utf8_exits_2_naming_the_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seeded: int
) -> None:
    path = write(tmp_path, "Record Id,Name,Café".encode("cp1252"))

    status = main(["import", str(path)])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err == (
        "qualify: The file is not UTF-8 text: byte 18 (counting from 0) is 0xE9. "
        "Save it as CSV UTF-8 and try again.\n"
    )


def test_a_file_lacking_a_heading_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seeded: int
) -> None:
    row = import_row()
    headings = tuple(name for name in row if name != "Delete?")
    path = write(tmp_path, csv_file(row, headings=headings))

    status = main(["import", str(path)])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.endswith("qualify: The file lacks the heading 'Delete?'.\n")


def test_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere.csv"

    status = main(["import", str(path)])

    assert status == 2
    assert capsys.readouterr().err == (
        f"qualify: cannot read {path}: No such file or directory.\n"
    )


# Where there is no store


REMEDY = (
    "set QUALIFY_DATABASE_URL to the store the server uses, e.g. "
    "sqlite:////absolute/path/qualify.db or "
    "postgresql://user@host:5432/dbname?schema=name.\n"
)


@pytest.mark.parametrize("dry_run", [["--dry-run"], []], ids=["dry-run", "import"])
def test_an_import_outside_the_store_directory_names_the_store_and_creates_none(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dry_run: list[str],
) -> None:
    # The default store is a path relative to the working directory.
    monkeypatch.delenv("QUALIFY_DATABASE_URL")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(tmp_path, TWO_ROWS)

    status = main(["import", str(path), *dry_run])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err.endswith(
        f"qualify: There is no store at {elsewhere}/var/qualify.db: "
        "QUALIFY_DATABASE_URL is sqlite:///var/qualify.db (the default), a path "
        "relative to the working directory. Run the command where the store is, "
        "or " + REMEDY
    )
    assert list(elsewhere.iterdir()) == []


def test_a_dry_run_into_a_store_file_that_does_not_exist_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    path = write(tmp_path, TWO_ROWS)

    status = main(["import", str(path), "--dry-run"])

    assert status == 2
    assert capsys.readouterr().err.endswith(
        f"qualify: There is no store at {tmp_path}/q.db: QUALIFY_DATABASE_URL is "
        f"{database_url}; " + REMEDY
    )
    assert not (tmp_path / "q.db").exists()


def test_a_dry_run_into_a_store_in_memory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALIFY_DATABASE_URL", "memory://")
    path = write(tmp_path, TWO_ROWS)

    status = main(["import", str(path), "--dry-run"])

    assert status == 2
    assert capsys.readouterr().err.endswith(
        "qualify: There is no store to import into: QUALIFY_DATABASE_URL is "
        "memory://, a store that starts empty and vanishes on exit; " + REMEDY
    )


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL schema no store was ever made in, dropped afterwards if made."""
    yield from _open_store(POSTGRES_STORE, tmp_path)


def test_a_dry_run_into_an_empty_postgresql_schema_creates_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    pg_url: str,
) -> None:
    location = store_location(pg_url)
    assert isinstance(location, PostgresLocation)
    monkeypatch.setenv("QUALIFY_DATABASE_URL", pg_url)
    path = write(tmp_path, TWO_ROWS)

    status = main(["import", str(path), "--dry-run"])

    assert status == 2
    assert capsys.readouterr().err.endswith(
        f"qualify: There is no store in the schema {location.schema} of the "
        f"database {location.dbname} at {location.host}:{location.port}; " + REMEDY
    )
    with psycopg.connect(location.conninfo) as connection:
        schemas = connection.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
            (location.schema,),
        ).fetchall()
    assert schemas == []


def test_an_import_into_a_postgresql_store_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    pg_url: str,
) -> None:
    seeding = build(Settings(database_url=pg_url), follow=True)
    try:
        load_seed(seeding)
    finally:
        seeding.close()
    monkeypatch.setenv("QUALIFY_DATABASE_URL", pg_url)
    path = write(tmp_path, TWO_ROWS)

    status = main(["import", str(path)])

    assert status == 0
    assert capsys.readouterr().out.startswith(
        f"records.csv changed: {COUNTS.format(2, 0, 0, 0, 0)}\n"
    )
    # Read without following: the import itself has applied its events.
    with opened(pg_url) as backend:
        assert [r.title for r in records_of(backend, LEARNER)] == ["First aid"]
