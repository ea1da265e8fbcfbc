"""Proof that the read models are what the log implies.

The whole log is replayed into scratch tables (an in-memory SQLite database, so
nothing live is touched) and every table is compared, row for row, with the live
one. Both sides are read as of the same log position.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from domain.application import EventLog
from projections.database import Db, ReadStore, SQLiteStore
from projections.follower import Follower
from projections.projection import Projection

MAX_REPORTED = 10


@dataclass(frozen=True)
class Difference:
    """A row one side has and the other lacks (or has a different number of)."""

    table: str
    row: tuple[object, ...]
    live: int
    replayed: int

    def __str__(self) -> str:
        return (
            f"{self.table}: {self.row!r} is {self.live}x in the live read model "
            f"and {self.replayed}x in the replay"
        )


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verification."""

    position: int
    tables: int
    differences: Sequence[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences


def verify(
    log: EventLog, live: ReadStore, projections: Sequence[Projection]
) -> Verdict:
    """Replay the log up to the live position and compare every table.

    Raises UnreadableEvent when a stored event no longer decodes: there is then
    nothing the read models could be proved against.
    """
    Follower(log, live, projections).catch_up()
    tables = [table for projection in projections for table in projection.tables]
    scratch = SQLiteStore(":memory:")
    try:
        # Only ever read whole, so without the indexes only queries use.
        replay = Follower(log, scratch, projections, read_indexes=False)
        # One snapshot of the live side: its position and its rows agree.
        with live.reading() as live_db:
            row = live_db.execute(
                "SELECT MIN(position) FROM projection_positions"
            ).fetchone()
            position = int(row[0] or 0)
            replay.catch_up(until=position)

            differences: list[Difference] = []
            with scratch.reading() as scratch_db:
                for table in tables:
                    differences += _compare(table, live_db, scratch_db)
        return Verdict(position, len(tables), differences[:MAX_REPORTED])
    finally:
        scratch.close()


def _compare(table: str, live: Db, replayed: Db) -> list[Difference]:
    live_rows = Counter(_rows(live, table))
    replayed_rows = Counter(_rows(replayed, table))
    return [
        Difference(table, row, live_rows[row], replayed_rows[row])
        for row in sorted(set(live_rows) | set(replayed_rows), key=repr)
        if live_rows[row] != replayed_rows[row]
    ]


def _rows(db: Db, table: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in db.execute(f"SELECT * FROM {table}")]
