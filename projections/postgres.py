"""Read models in PostgreSQL, in the same database (and schema) as the events."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from projections.database import Cursor, Db, Leadership

POOL_SIZE = 8
# How long a server waits before listening again on a connection it lost.
LISTEN_RETRY_SECONDS = 0.05
_PLAIN_INSERT = re.compile(
    r"INSERT INTO (?P<table>\w+) VALUES \(\?(?:\s*,\s*\?)*\)", re.IGNORECASE
)
# Any fixed number: workers of one store agree on it to elect a leader.
LEADER_LOCK = 7_441_204
TABLES_LOCK = 7_441_205
REBUILD_LOCK = 7_441_206


class Row(tuple[Any, ...]):
    """A result row readable by position and by column name, like ``sqlite3.Row``."""

    names: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self.names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        """Column names, so ``dict(row)`` and ``Cls(**row)`` work."""
        return list(self.names)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    columns = tuple(column.name for column in cursor.description or ())
    return _row_class(columns)


@functools.cache
def _row_class(columns: tuple[str, ...]) -> type[Row]:
    # One class per shape of result: making a class costs more than a query's rows.
    names = {name: i for i, name in enumerate(columns)}
    return type("Row", (Row,), {"names": names})


@functools.cache
def _plain_insert_table(text: str) -> str | None:
    """The table a one-row insert of every column fills, or None for anything else.

    ``INSERT INTO t VALUES (?, ..., ?)`` names every column in order, as a COPY
    of the same rows does; an insert with a conflict clause, a column list or a
    constant among its values is left to executemany.
    """
    found = _PLAIN_INSERT.fullmatch(text.strip())
    return found["table"] if found else None


def _as_reader(connection: psycopg.Connection[Any]) -> None:
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    connection.read_only = True


class _Db:
    """A PostgreSQL connection that takes the read models' ``?`` placeholders."""

    _translated: ClassVar[dict[str, str]] = {}

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def _sql(self, text: str) -> str:
        translated = self._translated.get(text)
        if translated is None:
            translated = text.replace("%", "%%").replace("?", "%s")
            self._translated[text] = translated
        return translated

    def execute(self, text: str, params: Sequence[Any] = (), /) -> Cursor:
        return self._connection.execute(self._sql(text), params)

    def executemany(self, text: str, params: Iterable[Sequence[Any]], /) -> Any:
        table = _plain_insert_table(text)
        if table is None:
            with self._connection.cursor() as cursor:
                cursor.executemany(self._sql(text), params)
            return
        # A run of plain inserts is copied in: psycopg's executemany spends more
        # per row sending one message each than the server spends inserting it.
        with (
            self._connection.cursor() as cursor,
            cursor.copy(
                sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
            ) as copy,
        ):
            for row in params:
                copy.write_row(row)


@contextmanager
def _renewing(pool: ConnectionPool[Any]) -> Iterator[None]:
    """Replace the pool's dead connections once one of them fails.

    A restarted database server, or backends ended by an administrator, leave
    every idle connection of the pool broken. The pool only finds that out as
    each is used, so each would fail one request in turn; checking them all
    the first time one fails limits the failures to the requests in flight.
    """
    try:
        yield
    except psycopg.OperationalError:
        pool.check()
        raise


class PostgresStore:
    """Read models in a PostgreSQL schema, through a small pool of connections."""

    dialect = "postgres"
    reads_inline = False

    def __init__(self, conninfo: str, schema: str) -> None:
        self.schema = schema
        self._conninfo = conninfo
        with psycopg.connect(conninfo, autocommit=True) as connection:
            # Creating a schema, even one that exists, needs the right to create
            # in the database; a user given only a schema made for it lacks that.
            found = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
            ).fetchone()
            if found is None:
                connection.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(schema)
                    )
                )
        options = {"row_factory": _row_factory, "options": f"-c search_path={schema}"}
        # Readers begin each transaction as a read-only snapshot in one statement.
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs=options,
            configure=_as_reader,
            open=True,
        )
        self._writers = ConnectionPool(
            conninfo, min_size=1, max_size=1, kwargs=options, open=True
        )
        self._writer = threading.Lock()
        self._listeners: dict[str, psycopg.Connection[Any]] = {}

    @contextmanager
    def writing(self) -> Iterator[Db]:
        """One write transaction; it commits at the end of the block or not at all."""
        with (
            self._writer,
            _renewing(self._writers),
            self._writers.connection() as connection,
            connection.transaction(),
        ):
            yield _Db(connection)

    @contextmanager
    def reading(self) -> Iterator[Db]:
        """A consistent snapshot for the statements of one query."""
        with (
            _renewing(self._pool),
            self._pool.connection() as connection,
            connection.transaction(),
        ):
            yield _Db(connection)

    def gap_marker(self) -> object:
        """The next transaction id: every transaction now running has a lower one."""
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text"
            ).fetchone()
        return int(row[0]) if row else 0

    def gap_is_final(self, marker: object) -> bool:
        """Whether every transaction running at ``marker`` has committed or not.

        A missing position below a visible one belongs to a transaction that began
        earlier; once the oldest running transaction is younger than the marker,
        that one has ended, and its position is filled (visible now) or never will.

        Shortcoming: PostgreSQL takes the id a moment before the inserting
        transaction gets its transaction id, so a writer that skipped the event
        store's table lock could, in that moment, hide from this test; the event
        store takes that lock on every insert (its database-functions mode, which
        drops it, is never turned on here).
        """
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"
            ).fetchone()
        return row is not None and int(row[0]) >= int(str(marker))

    def leadership(self) -> Leadership:
        """A session lock on a connection of its own: it ends with the worker."""
        return _SessionLock(self._conninfo, self.schema, LEADER_LOCK)

    def rebuilding(self) -> Leadership:
        """The lock one rebuild of this schema at a time holds while it runs."""
        return _SessionLock(self._conninfo, self.schema, REBUILD_LOCK)

    @contextmanager
    def creating_tables(self) -> Iterator[None]:
        """One process at a time: PostgreSQL's DDL races when run concurrently."""
        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            connection.execute(
                "SELECT pg_advisory_lock(%s, hashtext(%s))",
                (TABLES_LOCK, self.schema),
            )
            try:
                yield
            finally:
                connection.execute(
                    "SELECT pg_advisory_unlock(%s, hashtext(%s))",
                    (TABLES_LOCK, self.schema),
                )

    @property
    def _channel(self) -> str:
        return f"qualify_{self.schema}"

    def announce(self, position: int) -> None:
        """Tell the servers of this schema that the read models reached ``position``."""
        with self._writers.connection() as connection:
            connection.execute(
                "SELECT pg_notify(%s, %s)", (self._channel, str(position))
            )

    def wait_for_news(self, timeout: float, channel: str) -> None:
        """Wait up to ``timeout`` seconds for the event store's notice on ``channel``.

        The event store notifies its channel in every transaction that stores
        events, so a worker wakes when a command commits. The channel is named
        after the events table, not the schema: stores sharing a database wake
        each other's workers now and then, which costs them one empty look.
        """
        for _ in self._listener(channel).notifies(timeout=timeout, stop_after=1):
            break

    def wait_for_applied(self, timeout: float) -> int | None:
        """The furthest position a worker announced within ``timeout`` seconds.

        Announcements sent since the previous call are waiting already and come
        back at once. One thread at a time may wait.
        """
        furthest = None
        try:
            listener = self._listener(self._channel)
            for notice in listener.notifies(timeout=timeout, stop_after=1):
                furthest = int(notice.payload)
            # Whatever else has arrived meanwhile is read without waiting.
            for notice in listener.notifies(timeout=0):
                furthest = max(furthest or 0, int(notice.payload))
        except psycopg.OperationalError:
            # A lost listener is opened again next time; until then the caller
            # reads the stored positions, as it does when nothing is announced.
            self._forget_listener(self._channel)
            time.sleep(min(timeout, LISTEN_RETRY_SECONDS))
        return furthest

    def _forget_listener(self, channel: str) -> None:
        listener = self._listeners.pop(channel, None)
        if listener is not None:
            listener.close()

    def _listener(self, channel: str) -> psycopg.Connection[Any]:
        listener = self._listeners.get(channel)
        if listener is None:
            listener = psycopg.connect(self._conninfo, autocommit=True)
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self._listeners[channel] = listener
        return listener

    @property
    def conninfo(self) -> str:
        """How to reach the database this store's schema lives in."""
        return self._conninfo

    def drop_schema_contents(self) -> None:
        """Empty the schema of every table, for a store built anew."""
        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(self.schema)
                )
            )
            connection.execute(
                sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema))
            )

    def unlog(self, tables: Sequence[str]) -> None:
        """Stop writing ``tables`` to the write-ahead log: for tables built aside.

        Their rows are then lost in a crash of the server, which a rebuild's
        scratch tables can afford: a rebuild that fails starts again afresh.
        """
        with self.writing() as db:
            for table in tables:
                db.execute(f"ALTER TABLE {table} SET UNLOGGED")

    def drop_schema(self) -> None:
        """Drop the schema and everything in it."""
        with psycopg.connect(self._conninfo, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(self.schema)
                )
            )

    def close(self) -> None:
        """Close the pools and the listening connections."""
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        self._pool.close()
        self._writers.close()


class _SessionLock:
    """A PostgreSQL advisory lock held by one connection for as long as it lives."""

    def __init__(self, conninfo: str, schema: str, key: int) -> None:
        self._conninfo = conninfo
        self._schema = schema
        self._key = key
        self._connection: psycopg.Connection[Any] | None = None

    def hold(self) -> bool:
        if self._connection is not None:
            # A lost connection has lost the lock too; this query finds out.
            self._connection.execute("SELECT 1")
            return True
        connection = psycopg.connect(self._conninfo, autocommit=True)
        # Keyed by schema: stores sharing a database take their locks apart.
        row = connection.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
            (self._key, self._schema),
        )
        if row.fetchone() == (True,):
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        # Closing the session ends the lock; a lost connection closes quietly.
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
