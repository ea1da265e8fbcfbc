"""Read models in PostgreSQL, in the same database (and schema) as the events."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from projections.database import Cursor, Db, Leadership

POOL_SIZE = 8
# Any fixed number: workers of one store agree on it to elect a leader.
LEADER_LOCK = 7_441_204
TABLES_LOCK = 7_441_205


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
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return type("Row", (Row,), {"names": names})


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
        with self._connection.cursor() as cursor:
            cursor.executemany(self._sql(text), params)


class PostgresStore:
    """Read models in a PostgreSQL schema, through a small pool of connections."""

    dialect = "postgres"
    reads_inline = False

    def __init__(self, conninfo: str, schema: str) -> None:
        self.schema = schema
        self._conninfo = conninfo
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
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
        self._listener: psycopg.Connection[Any] | None = None

    @contextmanager
    def writing(self) -> Iterator[Db]:
        """One write transaction; it commits at the end of the block or not at all."""
        with (
            self._writer,
            self._writers.connection() as connection,
            connection.transaction(),
        ):
            yield _Db(connection)

    @contextmanager
    def reading(self) -> Iterator[Db]:
        """A consistent snapshot for the statements of one query."""
        with self._pool.connection() as connection, connection.transaction():
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
        return _SessionLock(self._conninfo, self.schema)

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

    def announce(self) -> None:
        """Wake the workers listening on this schema's channel."""
        with self._writers.connection() as connection:
            connection.execute(
                sql.SQL("NOTIFY {}").format(sql.Identifier(self._channel))
            )

    def wait_for_news(self, timeout: float) -> None:
        """Wait on this schema's channel for up to ``timeout`` seconds."""
        if self._listener is None:
            listener = psycopg.connect(self._conninfo, autocommit=True)
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self._listener = listener
        for _ in self._listener.notifies(timeout=timeout, stop_after=1):
            break

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
        """Close the pool and the listening connection."""
        if self._listener is not None:
            self._listener.close()
        self._pool.close()
        self._writers.close()


class _SessionLock:
    """A PostgreSQL advisory lock held by one connection for as long as it lives."""

    def __init__(self, conninfo: str, schema: str) -> None:
        self._conninfo = conninfo
        self._schema = schema
        self._connection: psycopg.Connection[Any] | None = None

    def hold(self) -> bool:
        if self._connection is not None:
            # A lost connection has lost the lock too; this query finds out.
            self._connection.execute("SELECT 1")
            return True
        connection = psycopg.connect(self._conninfo, autocommit=True)
        # Keyed by schema: stores sharing a database elect their leaders apart.
        row = connection.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
            (LEADER_LOCK, self._schema),
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
