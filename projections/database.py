"""Where the read models live: SQL tables beside the events.

A file database is opened in WAL mode with one connection for the projection writer
and one per reading thread, so queries never wait for the writer. An in-memory
database (for tests) is a single connection shared under a lock, since SQLite's
shared in-memory cache fails rather than waits when two connections collide.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 30.0


class ReadStore:
    """Connections to the read-model tables."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.in_memory = path == ":memory:"
        self._lock = threading.RLock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []

        if not self.in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect()
        if not self.in_memory:
            self._writer.execute("PRAGMA journal_mode=WAL")

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
        return connection

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
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
    def reading(self) -> Iterator[sqlite3.Connection]:
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

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
