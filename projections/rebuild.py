"""Rebuilding read models from position zero while the live ones keep answering.

The new tables are built aside, in a scratch store (a SQLite file beside the live
one, or a schema of its own on PostgreSQL), from the whole log; one rebuild of a
store at a time holds that scratch store. Then the scratch tables catch up to the
end of the log and, in one write transaction on the live store, each live table
is made to hold the same rows (those that differ are written, those gone
deleted), the events stored since that catch-up are applied, and the read
model's position is set: readers see the old rows until that transaction
commits, and the new ones from then on.
"""

from __future__ import annotations

import fcntl
import gc
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from domain.application import EventLog
from projections.collection import paused_collection
from projections.database import Db, ReadStore, SQLiteStore
from projections.follower import Follower, StoreChanged
from projections.postgres import PostgresStore
from projections.projection import Projection

COPY_PAGE = 5000
MERGED_AT_MOST = 1000
"""Rows that may differ in a live table for the switch to write them one by one,
if more than a quarter of it; beyond that, the whole table is replaced."""
_SCRATCH = "scratch"
"""The name a scratch file is attached under while its tables are copied."""
_DIFFERING = "switch_differing"
"""The temporary table holding, during the switch, one table's changed rows."""
# Larger than a live batch: nobody waits on the scratch store's write lock, and
# each commit writes every page the batch touched.
BATCH_SIZE = 20_000

Progress = Callable[[int, int], None]
"""Told (position reached, last position of the log) after each batch."""


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did."""

    names: tuple[str, ...]
    events: int
    position: int
    seconds: float
    """Building the new tables."""
    changed: int
    """Rows the switch deleted, added or rewrote in the live tables: only those
    that differ, but for a table of which too many differ (see
    ``MERGED_AT_MOST``), and every table of a store in memory, which are
    replaced whole."""
    switch_seconds: float = 0.0
    """Putting the new tables' rows in place of the live ones."""

    @property
    def rate(self) -> float:
        """Events applied per second while building."""
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def overall_rate(self) -> float:
        """Events per second of the whole rebuild, the switch included."""
        total = self.seconds + self.switch_seconds
        return self.events / total if total else 0.0


class ScratchUnusable(Exception):
    """The scratch store cannot be had beside the store: it cannot be made, or
    another rebuild of the same store is using it. Nothing was changed.

    The message says where and why.
    """


@contextmanager
def scratch_store(live: ReadStore) -> Iterator[ReadStore]:
    """An empty store beside ``live`` to build new tables in, thrown away after.

    One rebuild of a store at a time holds it. Raises ScratchUnusable when
    another does, when something that is not a file sits where the scratch file
    goes, or when the file cannot be made there.
    """
    if isinstance(live, PostgresStore):
        with _postgres_scratch(live) as aside:
            yield aside
        return
    assert isinstance(live, SQLiteStore)
    if live.in_memory:
        in_memory = SQLiteStore(":memory:")
        try:
            yield in_memory
        finally:
            in_memory.close()
        return
    with _sqlite_scratch(Path(f"{live.path}.rebuild")) as beside:
        yield beside


@contextmanager
def _postgres_scratch(live: PostgresStore) -> Iterator[PostgresStore]:
    lock = live.rebuilding()
    if not lock.hold():
        raise ScratchUnusable(
            f"Another rebuild of the schema {live.schema} is running; wait for it "
            "to end, then rebuild again. Nothing was changed."
        )
    try:
        scratch = PostgresStore(live.conninfo, f"{live.schema}_rebuild")
        try:
            scratch.drop_schema_contents()
            yield scratch
        finally:
            scratch.drop_schema()
            scratch.close()
    finally:
        lock.release()


@contextmanager
def _sqlite_scratch(path: Path) -> Iterator[SQLiteStore]:
    others = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    # Looked at before anything is touched, so a refusal leaves all as it was.
    for found in (path, *others):
        if found.is_dir():
            raise ScratchUnusable(
                f"{found.absolute()} is a directory, where a rebuild keeps its "
                "scratch file beside the store; move it away and rebuild again. "
                "Nothing was changed."
            )
    try:
        claim = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise _unmade(path, error.strerror or str(error)) from None
    try:
        # The lock is on the file itself: a second rebuild opening it is refused
        # until the first has removed it, and a killed one leaves no lock behind.
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScratchUnusable(
                f"Another rebuild of this store is running (it builds in "
                f"{path.absolute()}); wait for it to end, then rebuild again. "
                "Nothing was changed."
            ) from None
        # Whatever a killed rebuild left in it is thrown away.
        os.ftruncate(claim, 0)
        try:
            for found in others:
                found.unlink(missing_ok=True)
            scratch = SQLiteStore(str(path), scratch=True)
        except (OSError, sqlite3.Error) as error:
            raise _unmade(
                path, getattr(error, "strerror", None) or str(error)
            ) from None
        try:
            yield scratch
        finally:
            scratch.close()
            for found in (path, *others):
                found.unlink(missing_ok=True)
    finally:
        os.close(claim)


def _unmade(path: Path, reason: str) -> ScratchUnusable:
    return ScratchUnusable(
        f"cannot make the rebuild's scratch file {path.absolute()}: {reason}; "
        "a rebuild needs to write beside the store. Nothing was changed."
    )


def rebuild(
    log: EventLog,
    live: ReadStore,
    projections: Sequence[Projection],
    progress: Progress | None = None,
) -> Rebuilt:
    """Build ``projections`` anew from the log, then switch the live tables over.

    Raises UnreadableEvent, with the live tables as they were, when a stored
    event no longer decodes: the rebuilt tables would lack it; and the store's
    own error when it cannot be written, before anything is built.
    """
    fixed = [p.name for p in projections if not p.rebuildable]
    if fixed:
        raise ValueError(f"{fixed[0]} is never rebuilt")
    # A store that cannot be written would otherwise be found out only at the
    # switch, once the whole log has been read.
    with live.writing() as db:
        db.execute("UPDATE projection_positions SET position = position")
    with scratch_store(live) as scratch:
        started = time.perf_counter()
        follower = Follower(
            log,
            scratch,
            projections,
            batch_size=BATCH_SIZE,
            read_indexes=False,
            bulk=True,
        )
        if isinstance(scratch, PostgresStore):
            scratch.unlog([t for p in projections for t in p.tables])
        head = log.recorder.max_notification_id() or 0

        def batch_done(at: int) -> None:
            # The young generations hold whatever cycles the batch left; the older
            # objects were there before it, and going through them gains nothing.
            gc.collect(1)
            if progress is not None:
                progress(at, head)

        # Collected by hand in batch_done, when a batch's events are garbage.
        with paused_collection():
            done = follower.catch_up(progress=batch_done)
            follower.end_bulk()
        seconds = time.perf_counter() - started
        changed, position = _switch(live, scratch, follower, projections)
        switch_seconds = time.perf_counter() - started - seconds
    return Rebuilt(
        names=tuple(p.name for p in projections),
        events=done.events,
        position=position,
        seconds=seconds,
        changed=changed,
        switch_seconds=switch_seconds,
    )


def _switch(
    live: ReadStore,
    scratch: ReadStore,
    follower: Follower,
    projections: Sequence[Projection],
) -> tuple[int, int]:
    """Put the scratch tables' rows in place of the live ones; how many rows
    changed, and the position the live read models are at then."""
    # Events stored while building are applied to the scratch tables first, so
    # that few are left to apply inside the switch.
    follower.catch_up()
    changed = 0
    transaction: AbstractContextManager[Db]
    source: str | None = None
    if isinstance(scratch, PostgresStore):
        transaction, source = live.writing(), scratch.schema
    elif isinstance(live, SQLiteStore) and isinstance(scratch, SQLiteStore):
        if scratch.in_memory:
            transaction = live.writing()
        else:
            transaction, source = live.writing_beside(scratch, _SCRATCH), _SCRATCH
    with transaction as db:
        # Positions first (on PostgreSQL locked, in the order workers lock them,
        # so the switch and a worker's batch wait for each other instead of
        # deadlocking).
        lock = " FOR UPDATE" if live.dialect == "postgres" else ""
        rows = db.execute("SELECT name, version FROM projection_positions" + lock)
        _check_versions({row[0]: row[1] for row in rows}, projections)
        for projection in projections:
            # Rows, not tables: a reader's snapshot keeps seeing the old rows
            # until this commits, and takes no lock that could deadlock with it.
            for table in projection.tables:
                if source is None:
                    changed += db.execute(f"DELETE FROM {table}").rowcount
                    changed += _copy(scratch, db, table)
                else:
                    changed += _merge(db, live.dialect, source, table)
        # Events stored since the scratch tables' last catch-up are applied to the
        # live tables, now equal to the scratch ones: what the live read models
        # had applied of them is back, and no position goes back.
        position = follower.apply_beyond(db)
        for projection in projections:
            db.execute(
                "UPDATE projection_positions SET version = ?, position = ? "
                "WHERE name = ?",
                (projection.version, position, projection.name),
            )
    return changed, position


def _check_versions(stored: dict[str, int], projections: Sequence[Projection]) -> None:
    """Refuse to switch in tables of a shape the store no longer has.

    A process of another release may have started while this rebuild ran, and
    rebuilt a read model in its own shape.
    """
    for projection in projections:
        version = stored.get(projection.name)
        if version != projection.version:
            raise StoreChanged(
                f"The {projection.name} read model on this store went to version "
                f"{version} while this rebuild built version {projection.version}; "
                "nothing was switched in. Run the release that matches the store."
            )


def _merge(db: Db, dialect: str, source: str, table: str) -> int:
    """Make the live ``table`` hold the rows of ``source``'s; how many changed.

    ``source`` is the scratch file's name as attached, or the scratch schema.
    Rows are matched by the table's primary key, and only those gone, new or
    different are deleted or written. A rebuild mostly finds the live rows
    already right: comparing them costs reads only, where writing every row
    again sent the whole table and its indexes through the write-ahead log, once
    written and once copied into the store. When more than a quarter of the rows
    of a large table differ (see ``MERGED_AT_MOST``), writing them one by one,
    each to its own place in the table and its indexes, costs more than
    replacing the whole table, which is done instead.
    """
    keys, others = _columns(db, dialect, table)
    live = "main." if dialect == "sqlite" else ""
    same_key = " AND ".join(f"s.{key} = m.{key}" for key in keys)
    # Unlike <>, these tell a NULL from a value, and two NULLs apart from neither.
    unequal = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    differs = " OR ".join(
        [f"m.{keys[0]} IS NULL"] + [f"m.{c} {unequal} s.{c}" for c in others]
    )

    # Looking stops once too many rows are found to differ to merge them.
    rows = db.execute(f"SELECT count(*) FROM {live}{table}").fetchone()[0]
    enough = max(MERGED_AT_MOST, rows // 4) + 1
    db.execute(
        f"CREATE TEMP TABLE {_DIFFERING} AS SELECT s.* FROM {source}.{table} AS s "
        f"LEFT JOIN {live}{table} AS m ON {same_key} WHERE {differs} "
        f"LIMIT {int(enough)}"
    )
    differing = db.execute(f"SELECT count(*) FROM {_DIFFERING}").fetchone()[0]
    if differing == enough:
        changed = _replace(db, dialect, source, table)
    else:
        gone = db.execute(
            f"DELETE FROM {live}{table} AS m WHERE NOT EXISTS "
            f"(SELECT 1 FROM {source}.{table} AS s WHERE {same_key})"
        ).rowcount
        # Every old row is out before a new one goes in: two rows that swapped a
        # value held unique (a username, say) never meet half-way.
        key = ", ".join(keys)
        db.execute(
            f"DELETE FROM {live}{table} WHERE ({key}) IN "
            f"(SELECT {key} FROM {_DIFFERING})"
        )
        db.execute(f"INSERT INTO {live}{table} SELECT * FROM {_DIFFERING}")
        changed = gone + differing
    # Dropped only once all went well: after a failure the rollback drops it.
    db.execute(f"DROP TABLE {_DIFFERING}")
    return changed


def _replace(db: Db, dialect: str, source: str, table: str) -> int:
    """Empty the live ``table`` and copy every row of ``source``'s into it.

    How many rows were deleted and written. On SQLite the table's indexes are
    dropped and made again once its rows are in: SQLite builds an index from all
    the rows at once far faster than it keeps one up to date row by row.
    """
    live = "main." if dialect == "sqlite" else ""
    indexes = []
    if dialect == "sqlite":
        indexes = db.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' "
            "AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        ).fetchall()
    for name, _ in indexes:
        quoted = name.replace('"', '""')
        db.execute(f'DROP INDEX main."{quoted}"')

    deleted = db.execute(f"DELETE FROM {live}{table}").rowcount
    written = db.execute(
        f"INSERT INTO {live}{table} SELECT * FROM {source}.{table}"
    ).rowcount
    for _, sql in indexes:
        db.execute(sql)
    return deleted + written


def _columns(db: Db, dialect: str, table: str) -> tuple[list[str], list[str]]:
    """The live ``table``'s primary key columns, and its other columns, in order.

    Raises ValueError for a table that is missing, or has no primary key: its
    rows could not be matched one to one.
    """
    if dialect == "sqlite":
        info = db.execute(f"PRAGMA main.table_info({table})").fetchall()
        columns = [(row[1], row[5] > 0) for row in info]
    else:
        columns = [
            (row[0], row[1])
            for row in db.execute(
                "SELECT a.attname, coalesce(a.attnum = ANY(i.indkey), false) "
                "FROM pg_attribute a LEFT JOIN pg_index i "
                "ON i.indrelid = a.attrelid AND i.indisprimary "
                "WHERE a.attrelid = ?::regclass AND a.attnum > 0 "
                "AND NOT a.attisdropped ORDER BY a.attnum",
                (table,),
            )
        ]
    if not columns:
        raise ValueError(f"the store has no table {table}")
    keys = [name for name, key in columns if key]
    if not keys:
        raise ValueError(f"the table {table} has no primary key to match rows by")
    return keys, [name for name, key in columns if not key]


def _copy(scratch: ReadStore, db: Db, table: str) -> int:
    """Every row of ``table`` from the scratch store into the live transaction."""
    copied = 0
    with scratch.reading() as source:
        rows = source.execute(f"SELECT * FROM {table}")
        while True:
            page = rows.fetchmany(COPY_PAGE)
            if not page:
                return copied
            marks = ",".join("?" * len(page[0]))
            db.executemany(
                f"INSERT INTO {table} VALUES ({marks})", [tuple(r) for r in page]
            )
            copied += len(page)
