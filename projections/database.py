"""Where the read models live: SQL tables beside the events, in SQLite or PostgreSQL.

The read models are written in one SQL dialect that both engines accept (``?``
placeholders, ``ON CONFLICT`` upserts); the PostgreSQL store translates the
placeholders. Rows behave alike on both: by position and by column name.

A SQLite file is opened in WAL mode with one connection for the projection writer
and one per reading thread, so queries never wait for the writer. An in-memory
database (for tests) is a single connection shared under a lock, since SQLite's
shared in-memory cache fails rather than waits when two connections collide.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

BUSY_TIMEOUT_SECONDS = 30.0
# How much of a scratch file may stay in memory from one batch to the next; a
# ceiling, taken only as pages are read.
SCRATCH_CACHE_KIB = 256 * 1024
# SQLite's own default is 2 MiB: a bulk import's rows land all over tables and
# indexes keyed by random ids, and with so small a cache each insert of a
# 100,000-record import read its pages back from the file again.
WRITER_CACHE_KIB = 64 * 1024
# How much of each file a rebuild's switch maps into memory; SQLite caps it at
# its own limit (2 GiB as usually built) and reads any further pages as before.
SWITCH_MAP_BYTES = 8 * 1024**3


class Cursor(Protocol):
    """The part of a DB-API cursor the read models use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ..., /) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Db(Protocol):
    """A connection inside one transaction."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...


class Writer(Db, Protocol):
    """What a projection writes through: statements whose results it never reads.

    ``write`` may hold a statement back and send it with the next ones of the
    same text as one ``executemany``; the order of statements is kept within each
    ``lane``. Statements in different lanes must touch different tables, so that
    a run in one lane need not be cut short by a statement in another.

    With ``key``, the statement takes the place of one with the same text and key
    still held back in the same run, instead of following it: for a statement
    whose effect, run after that one, is the same as run instead of it (the newer
    of two rows for one primary key, say).
    """

    def write(
        self,
        sql: str,
        params: Sequence[Any] = (),
        /,
        lane: str = "",
        key: Hashable | None = None,
    ) -> None: ...

    @property
    def memo(self) -> dict[str, Any]:
        """Rows a projection looked up once and keeps for the rest of the batch.

        It lives exactly as long as the batch's transaction, so a batch that rolls
        back takes its memo with it.
        """
        ...

    @property
    def position(self) -> int:
        """The log position of the event being applied."""
        ...

    @property
    def aggregate_id(self) -> str:
        """The id of the event's aggregate, as text."""
        ...

    @property
    def occurred_at(self) -> str:
        """When the event was stored, as UTC ISO text."""
        ...

    @property
    def shared(self) -> dict[Any, Any]:
        """What one read model worked out about the batch's events for the others.

        Every read model applying the same batch sees the same mapping, so work
        that depends only on an event (its JSON, say) is done once per event.
        """
        ...


def one_of(column: str, values: Sequence[str] | None) -> tuple[str, list[object]]:
    """A condition that ``column`` is one of ``values``; None means no condition.

    An empty list matches nothing.
    """
    if values is None:
        return "1 = 1", []
    if not values:
        return "1 = 0", []
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


class BufferedWriter:
    """Groups runs of the same write statement into one ``executemany``."""

    def __init__(self, db: Db, shared: dict[Any, Any] | None = None) -> None:
        self._db = db
        self._shared = {} if shared is None else shared
        # Per lane: the statement held back, the rows it is to run with, and where
        # among them the row written with each key is.
        self._held: dict[str, tuple[str, list[Sequence[Any]], dict[Hashable, int]]] = {}
        self._memo: dict[str, Any] = {}
        self.position = 0
        self.aggregate_id = ""
        self.occurred_at = ""

    @property
    def memo(self) -> dict[str, Any]:
        return self._memo

    @property
    def shared(self) -> dict[Any, Any]:
        return self._shared

    def write(
        self,
        sql: str,
        params: Sequence[Any] = (),
        /,
        lane: str = "",
        key: Hashable | None = None,
    ) -> None:
        held = self._held.get(lane)
        if held is None or held[0] != sql:
            self._send(lane)
            held = self._held[lane] = (sql, [], {})
        rows = held[1]
        if key is None:
            rows.append(params)
            return
        at = held[2].get(key)
        if at is None:
            held[2][key] = len(rows)
            rows.append(params)
        else:
            rows[at] = params

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        self.flush()
        return self._db.execute(sql, params)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any:
        self.flush()
        return self._db.executemany(sql, params)

    def flush(self) -> None:
        """Send what is held back, in every lane."""
        for lane in list(self._held):
            self._send(lane)

    def _send(self, lane: str) -> None:
        held = self._held.pop(lane, None)
        if held is None or not held[1]:
            return
        sql, rows, _ = held
        if len(rows) == 1:
            self._db.execute(sql, rows[0])
        else:
            self._db.executemany(sql, rows)


class ReadStore(Protocol):
    """Connections to the read-model tables."""

    dialect: str
    reads_inline: bool
    """Whether a short read may run on the caller's own thread, the event loop's
    included: it never waits for a writer or for the network."""

    def writing(self) -> AbstractContextManager[Db]:
        """One write transaction; it commits at the end of the block or not at all."""

    def reading(self) -> AbstractContextManager[Db]:
        """A consistent snapshot for the statements of one query."""

    def gap_marker(self) -> object:
        """Something to compare later to learn whether a gap in the log is final."""

    def gap_is_final(self, marker: object) -> bool:
        """Whether every transaction running when ``marker`` was taken has ended."""

    def leadership(self) -> Leadership:
        """The lock that lets one projection worker at a time lead."""

    def announce(self, position: int) -> None:
        """Tell waiting servers that the read models reached ``position``."""

    def creating_tables(self) -> AbstractContextManager[None]:
        """Hold off other processes while the event store creates its tables."""

    def wait_for_news(self, timeout: float, channel: str) -> None:
        """Sleep until the event store tells of new events, or ``timeout`` passes."""

    def wait_for_applied(self, timeout: float) -> int | None:
        """The furthest position a worker announced within ``timeout`` seconds."""

    def close(self) -> None:
        """Close every connection this store opened."""


class Leadership(Protocol):
    """Held by the one worker advancing the read models."""

    def hold(self) -> bool:
        """Take the lead if it is free; whether this worker holds it now."""

    def release(self) -> None:
        """Give up the lead, if held, and whatever holding it took."""


class _Alone:
    """On SQLite every writer takes the file's lock in turn: there is no one to lead."""

    def hold(self) -> bool:
        return True

    def release(self) -> None:
        pass


class SQLiteStore:
    """Read models in a SQLite file, or in memory."""

    dialect = "sqlite"

    def __init__(self, path: str, scratch: bool = False) -> None:
        """``scratch`` is for a file that is thrown away unless it is completed."""
        self.path = path
        self.in_memory = path == ":memory:"
        # A file in write-ahead-log mode is read from its own snapshot, whatever a
        # writer is doing; in memory, readers share the writer's connection and lock.
        self.reads_inline = not self.in_memory and not scratch
        self._lock = threading.RLock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._tracer: Callable[[str], None] | None = None

        if not self.in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect()
        if scratch:
            # No journal and no syncing: a crash can leave the file corrupt, and a
            # failed batch's rollback cannot undo what it wrote, but a rebuild that
            # fails discards its scratch file and the next one starts afresh, so
            # nothing in it ever needs recovering.
            self._writer.execute("PRAGMA journal_mode=OFF")
            self._writer.execute("PRAGMA synchronous=OFF")
            self._writer.execute(f"PRAGMA cache_size=-{SCRATCH_CACHE_KIB}")
        elif not self.in_memory:
            self._writer.execute("PRAGMA journal_mode=WAL")
            self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._connections.append(connection)
            connection.set_trace_callback(self._tracer)
        return connection

    def trace(self, tracer: Callable[[str], None] | None) -> None:
        """Tell ``tracer`` every statement any of this store's connections runs.

        For counting statements (a page's cost must not grow with its size);
        None stops it. Connections opened later are traced as well.
        """
        with self._lock:
            self._tracer = tracer
            for connection in self._connections:
                connection.set_trace_callback(tracer)

    @contextmanager
    def writing(self) -> Iterator[Db]:
        """One write transaction; it commits at the end of the block or not at all."""
        with self._lock:
            db = self._writer
            # IMMEDIATE takes the write lock up front, so the transaction never
            # fails half-way to upgrade from reading to writing.
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def writing_beside(self, other: SQLiteStore, name: str) -> Iterator[Db]:
        """One write transaction, ``other``'s file attached to it as ``name``.

        Tables are then compared and copied from one file to the other inside
        SQLite, row by row in its own code, rather than through Python objects.
        Both files are read through memory maps meanwhile: comparing two large
        tables reads every page of both, and a map spares a system call a page.
        """
        with self._lock:
            db = self._writer
            # SQLite attaches only outside a transaction.
            db.execute("ATTACH DATABASE ? AS " + name, (other.path,))
            db.execute(f"PRAGMA main.mmap_size={SWITCH_MAP_BYTES}")
            db.execute(f"PRAGMA {name}.mmap_size={SWITCH_MAP_BYTES}")
            try:
                with self.writing() as inside:
                    yield inside
            finally:
                db.execute("DETACH DATABASE " + name)
                db.execute("PRAGMA main.mmap_size=0")

    @contextmanager
    def reading(self) -> Iterator[Db]:
        """A consistent snapshot for the statements of one query."""
        if self.in_memory:
            with self._lock:
                yield self._writer
            return

        db = getattr(self._local, "connection", None)
        if db is None:
            db = self._connect()
            self._local.connection = db
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def gap_marker(self) -> object:
        """SQLite numbers events under its single write lock: no gap ever fills."""
        return None

    def gap_is_final(self, marker: object) -> bool:
        """Always: a position SQLite skipped is never used later."""
        return True

    def leadership(self) -> Leadership:
        """Always held: batches already take turns on the file's write lock."""
        return _Alone()

    def announce(self, position: int) -> None:
        """Nothing to do: a SQLite server applies its own events at once."""

    @contextmanager
    def creating_tables(self) -> Iterator[None]:
        """SQLite's ``CREATE TABLE IF NOT EXISTS`` is safe from several processes."""
        yield

    def wait_for_news(self, timeout: float, channel: str) -> None:
        """A worker on a SQLite file simply polls."""
        time.sleep(timeout)

    def wait_for_applied(self, timeout: float) -> int | None:
        """Nobody announces on SQLite: the caller looks at the positions itself."""
        time.sleep(min(timeout, 0.005))
        return None

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
