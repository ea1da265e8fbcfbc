"""A store that cannot be opened, or a schema that must not be used, is refused in
one line with exit status 2, before anything is made, by every command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest

from qualify import worker
from qualify.bootstrap import StoreUnavailable, build
from qualify.cli import main
from qualify.config import (
    ConfigurationError,
    PostgresLocation,
    Settings,
    store_location,
)
from tests.conftest import POSTGRES, _postgres_unreachable
from tests.csv_support import csv_file, import_row

QUALIFY = Path(sys.executable).with_name("qualify")
CSV = csv_file(import_row())
PASSWORD = "pw-never-shown-4711"
SCHEMA_RULE = (
    "The ?schema= of QUALIFY_DATABASE_URL must be lower-case letters, digits and "
    "underscores, starting with a letter or underscore but not with pg_, at most "
    "55 characters, and not information_schema; not {!r}."
)
CHECK = "; check QUALIFY_DATABASE_URL.\n"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own QUALIFY_* settings must not leak into these tests.
    for name in list(os.environ):
        if name.startswith("QUALIFY_"):
            monkeypatch.delenv(name)


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    """Each command that opens the store, with the arguments it needs."""
    records = tmp_path / "records.csv"
    records.write_bytes(CSV)
    export = tmp_path / "export.ndjson"
    export.write_text('{"position": 1}\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        free = taken.getsockname()[1]
    return {
        "import": ["import", str(records)],
        "import --dry-run": ["import", str(records), "--dry-run"],
        "serve": ["serve", "--host", "127.0.0.1", "--port", str(free)],
        "events export": ["events", "export"],
        "events verify": ["events", "verify", str(export)],
        "projections verify": ["projections", "verify"],
        "projections rebuild": ["projections", "rebuild"],
    }


COMMANDS = [
    "import",
    "import --dry-run",
    "serve",
    "events export",
    "events verify",
    "projections verify",
    "projections rebuild",
]


def _run(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _last_line(err: str) -> str:
    """The error line; an import draws its reading progress bar above it."""
    assert "Traceback" not in err
    return err.rsplit("\r", 1)[-1].splitlines(keepends=True)[-1]


def _closed_port() -> int:
    # Nothing listens on a port just given back.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The schema


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?schema=BT_Upper", SCHEMA_RULE.format("BT_Upper")),
        ("?schema=pg_catalog", SCHEMA_RULE.format("pg_catalog")),
        ("?schema=pg_temp_1", SCHEMA_RULE.format("pg_temp_1")),
        ("?schema=information_schema", SCHEMA_RULE.format("information_schema")),
        ("?schema=1abc", SCHEMA_RULE.format("1abc")),
        ("?schema=a-b", SCHEMA_RULE.format("a-b")),
        ("?schema=%20a", SCHEMA_RULE.format(" a")),
        ("?schema=" + "a" * 56, SCHEMA_RULE.format("a" * 56)),
        (
            "?schema=",
            "QUALIFY_DATABASE_URL gives an empty ?schema=; name a schema, or leave "
            "?schema= out for public.",
        ),
        (
            "?schema",
            "QUALIFY_DATABASE_URL gives an empty ?schema=; name a schema, or leave "
            "?schema= out for public.",
        ),
        (
            "?schema=a&schema=b",
            "QUALIFY_DATABASE_URL gives ?schema= 2 times ('a', 'b'); give it once.",
        ),
    ],
    ids=lambda value: value if value.startswith("?") else "",
)
def test_a_schema_that_must_not_be_used_is_refused_naming_the_rule(
    query: str, message: str
) -> None:
    url = f"postgresql://u:{PASSWORD}@127.0.0.1:5432/test{query}"

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environment({"QUALIFY_DATABASE_URL": url})

    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("query", "schema"),
    [
        ("", "public"),
        ("?schema=public", "public"),
        ("?schema=qualify", "qualify"),
        ("?schema=_x9", "_x9"),
        ("?schema=t_0123456789ab", "t_0123456789ab"),
        ("?schema=" + "a" * 55, "a" * 55),
    ],
)
def test_a_schema_of_lower_case_letters_digits_and_underscores_is_used(
    query: str, schema: str
) -> None:
    location = store_location(f"postgresql://u@127.0.0.1:5432/test{query}")

    assert isinstance(location, PostgresLocation)
    assert location.schema == schema


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_bad_schema_before_connecting(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_connection(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a refused setting must not connect")

    monkeypatch.setattr(psycopg, "connect", no_connection)
    monkeypatch.setenv(
        "QUALIFY_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test?schema=BT_X"
    )

    status, out, err = _run(_commands(tmp_path)[command], capsys)

    assert (status, out, err) == (2, "", f"qualify: {SCHEMA_RULE.format('BT_X')}\n")


# PostgreSQL out of reach


@pytest.mark.parametrize("command", COMMANDS)
def test_a_postgresql_server_not_listening_is_named_without_the_password(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _closed_port()
    monkeypatch.setenv(
        "QUALIFY_DATABASE_URL",
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/test?schema=fx_absent",
    )

    status, out, err = _run(_commands(tmp_path)[command], capsys)

    assert (status, out) == (2, "")
    assert _last_line(err) == (
        f"qualify: cannot open the PostgreSQL store at 127.0.0.1:{port}/test "
        f"(user postgres): Connection refused{CHECK}"
    )
    assert PASSWORD not in err
    if not command.startswith("import"):
        assert err.count("\n") == 1


def test_a_projection_worker_that_cannot_reach_its_store_at_the_start_exits_2(
    tmp_path: Path,
) -> None:
    port = _closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALIFY_")}
    env["QUALIFY_DATABASE_URL"] = (
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/test?schema=fx_absent"
    )

    done = subprocess.run(
        [str(QUALIFY), "projections", "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"qualify: cannot open the PostgreSQL store at 127.0.0.1:{port}/test "
        f"(user postgres): Connection refused{CHECK}"
    )


def _server_or_skip() -> PostgresLocation:
    reason = _postgres_unreachable()
    if reason is not None:
        # CI promises a PostgreSQL server: there, a missing one is a failure.
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    location = store_location(POSTGRES)
    assert isinstance(location, PostgresLocation)
    return location


def _with(url: str, *, user: str | None = None, dbname: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}:{PASSWORD}@{netloc.rpartition('@')[2]}"
    path = parts.path if dbname is None else f"/{dbname}"
    # The schema is never made: the connection fails first.
    return urlunsplit((parts.scheme, netloc, path, "schema=fx_never_made", ""))


@pytest.mark.parametrize("missing", ["database", "user"])
@pytest.mark.parametrize("command", ["import", "events export", "projections verify"])
def test_a_database_or_user_that_does_not_exist_is_named_without_the_password(
    missing: str,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = _server_or_skip()
    absent = f"qualify_absent_{uuid4().hex[:8]}"
    user, dbname = (server.user, absent) if missing == "database" else (absent, None)
    url = _with(POSTGRES, dbname=dbname, user=None if missing == "database" else user)
    monkeypatch.setenv("QUALIFY_DATABASE_URL", url)

    status, out, err = _run(_commands(tmp_path)[command], capsys)

    assert (status, out) == (2, "")
    where = (
        f"qualify: cannot open the PostgreSQL store at {server.host}:{server.port}/"
        f"{dbname or server.dbname} (user {user}): "
    )
    expected = (
        (f'database "{absent}" does not exist',)
        if missing == "database"
        # Which a server says of an unknown user depends on how it authenticates.
        else (
            f'role "{absent}" does not exist',
            f'password authentication failed for user "{absent}"',
        )
    )
    assert _last_line(err) in [f"{where}{reason}{CHECK}" for reason in expected]
    assert PASSWORD not in err
    if server.password:
        assert server.password not in err


# SQLite paths that hold no store


def _sqlite_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """A store path of each kind, and the message that refuses it."""
    directory = tmp_path / "a-directory"
    directory.mkdir()
    other = tmp_path / "ok.csv"
    other.write_bytes(CSV)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"SQLite")
    return {
        "directory": (
            directory,
            f"qualify: {directory} is not a Qualify store: it is a directory; point "
            "QUALIFY_DATABASE_URL at a store file, e.g. "
            "sqlite:////absolute/path/qualify.db.\n",
        ),
        "csv": (
            other,
            f"qualify: {other} is not a Qualify store: the file is not a SQLite "
            "database (it is left as it is); point QUALIFY_DATABASE_URL at the "
            "store file.\n",
        ),
        "short": (
            tiny,
            f"qualify: {tiny} is not a Qualify store: the file is not a SQLite "
            "database (it is left as it is); point QUALIFY_DATABASE_URL at the "
            "store file.\n",
        ),
        "under-a-file": (
            other / "q.db",
            f"qualify: cannot open the SQLite store at {other}/q.db: Not a "
            f"directory{CHECK}",
        ),
    }


def _snapshot(directory: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize("case", ["directory", "csv", "short", "under-a-file"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_sqlite_path_that_holds_no_store_is_refused_and_left_as_it_is(
    case: str,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    path, message = _sqlite_cases(store)[case]
    monkeypatch.setenv("QUALIFY_DATABASE_URL", f"sqlite:///{path}")
    args = _commands(tmp_path)[command]
    before = _snapshot(store)

    status, out, err = _run(args, capsys)

    assert (status, out, _last_line(err)) == (2, "", message)
    if not command.startswith("import"):
        assert err == message
    assert _snapshot(store) == before


def test_a_relative_sqlite_path_is_named_in_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "var").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUALIFY_DATABASE_URL", "sqlite:///var")

    status, out, err = _run(["projections", "verify"], capsys)

    assert (status, out) == (2, "")
    assert err.startswith(f"qualify: {tmp_path}/var is not a Qualify store: ")


def test_an_empty_file_is_taken_for_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    path.touch()

    backend = build(Settings(database_url=f"sqlite:///{path}"))
    backend.close()

    assert path.read_bytes().startswith(b"SQLite format 3\x00")


# The projection worker


def test_a_worker_refuses_a_store_it_never_opened(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}")

    with pytest.raises(StoreUnavailable) as refused:
        worker.run_worker(settings, threading.Event())

    assert str(refused.value).startswith(f"{tmp_path} is not a Qualify store: ")


def test_a_worker_that_opened_its_store_waits_for_it_when_it_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop = threading.Event()
    opened: list[str] = []

    def build_(settings: Settings) -> Any:
        opened.append("attempt")
        if len(opened) == 1:
            return build(Settings(database_url="memory://"))
        if len(opened) == 3:
            stop.set()
        raise StoreUnavailable("cannot open the PostgreSQL store: down")

    def follow(*args: Any) -> None:
        raise psycopg.OperationalError("the connection was lost")

    monkeypatch.setattr(worker, "build", build_)
    monkeypatch.setattr(worker, "_follow", follow)
    monkeypatch.setattr(worker, "RECONNECT_SECONDS", (0.0,))

    stats = worker.run_worker(Settings(), stop)

    assert (len(opened), stats.reconnects) == (3, 1)


# Rights on the database


@pytest.fixture
def users() -> Any:
    """A user with no rights, and one owning a schema made for it; both dropped."""
    server = _server_or_skip()
    tag = uuid4().hex[:8]
    bare, owner = f"qualify_bare_{tag}", f"qualify_owner_{tag}"
    with psycopg.connect(server.conninfo, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {bare} LOGIN")
        admin.execute(f"CREATE ROLE {owner} LOGIN")
        admin.execute(f"CREATE SCHEMA {owner} AUTHORIZATION {owner}")
    try:
        yield server, bare, owner
    finally:
        with psycopg.connect(server.conninfo, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {owner} CASCADE")
            admin.execute(f"DROP SCHEMA IF EXISTS {owner}_rebuild CASCADE")
            admin.execute(f"DROP ROLE {bare}")
            admin.execute(f"DROP ROLE {owner}")


def _as(server: PostgresLocation, user: str, schema: str) -> str:
    return (
        f"postgresql://{user}@{server.host}:{server.port}/{server.dbname}"
        f"?schema={schema}"
    )


def test_a_user_given_only_its_own_schema_opens_the_store_there(
    users: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _, owner = users
    monkeypatch.setenv("QUALIFY_DATABASE_URL", _as(server, owner, owner))

    status, out, err = _run(["projections", "verify"], capsys)

    assert (status, err) == (0, "")
    assert out.startswith("verified ")
    with psycopg.connect(server.conninfo) as admin:
        tables = admin.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (owner,)
        ).fetchone()
    assert tables is not None
    assert tables[0] > 0


@pytest.mark.parametrize("schema", ["fresh", "owned"])
def test_a_user_the_database_refuses_is_told_in_one_line(
    schema: str,
    users: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, bare, owner = users
    name = f"fx_{uuid4().hex[:8]}" if schema == "fresh" else owner
    monkeypatch.setenv("QUALIFY_DATABASE_URL", _as(server, bare, name))

    status, out, err = _run(["projections", "verify"], capsys)

    denied = f"database {server.dbname}" if schema == "fresh" else f"schema {owner}"
    assert (status, out) == (2, "")
    assert err == (
        f"qualify: cannot open the PostgreSQL store at {server.host}:{server.port}/"
        f"{server.dbname} (user {bare}): permission denied for {denied}{CHECK}"
    )


def test_a_rebuild_that_may_not_make_its_scratch_schema_changes_nothing(
    users: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _, owner = users
    monkeypatch.setenv("QUALIFY_DATABASE_URL", _as(server, owner, owner))
    assert _run(["projections", "verify"], capsys)[0] == 0

    status, out, err = _run(["projections", "rebuild"], capsys)

    assert (status, out) == (2, "")
    assert _last_line(err) == (
        "qualify: the store's user lacks a right the rebuild needs: permission "
        f"denied for database {server.dbname}; it builds in <schema>_rebuild, which "
        "the user must be allowed to create (CREATE on the database), and rewrites "
        "the read-model tables. Nothing was changed.\n"
    )
    assert _run(["projections", "verify"], capsys)[0] == 0
