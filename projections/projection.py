"""A read model: its tables, its version, and how each event changes its rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from domain.events import Event
from projections.database import Db, Writer

Apply = Callable[[Writer, Any], None]


class Projection:
    """Base of the read models; subclasses list tables, version and handlers.

    A change to a read model's tables bumps ``version``: the follower then drops
    and rebuilds that read model from the log.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[Sequence[str]]
    schema: ClassVar[Sequence[str]]
    read_indexes: ClassVar[Sequence[str]] = ()
    """Indexes that only queries use; applying events never needs them.

    A rebuild's scratch tables go without them: their rows are copied into the
    live tables, which have them, and keeping them up row by row while building
    is much of what each insert costs.
    """
    stepwise_indexes: ClassVar[Sequence[str]] = ()
    """Indexes that applying events reads through only to keep derived rows.

    A build from position zero (see ``bulk_handlers``) derives those rows once
    at its end, and creates these indexes only then.
    """
    retired_tables: ClassVar[Sequence[str]] = ()
    """Tables an earlier version had and this one dropped."""
    rebuildable: ClassVar[bool] = True
    """False for a record that must outlive the log's later contents."""

    def handlers(self) -> Mapping[type[Event], Apply]:
        """Which events change this read model, and how."""
        raise NotImplementedError

    def bulk_handlers(self) -> Mapping[type[Event], Apply]:
        """Handlers for a build from position zero into empty tables.

        They may leave out rows that follow from the others alone, which
        ``end_bulk`` then derives at once: cheaper than keeping them event by
        event through the whole log.
        """
        return self.handlers()

    def end_bulk(self, db: Db) -> None:
        """Derive what ``bulk_handlers`` left out, and create the indexes it skipped.

        From then on the tables are as ``handlers`` would have left them.
        """
        for statement in self.stepwise_indexes:
            db.execute(statement)

    def create(self, db: Db, read_indexes: bool = True, bulk: bool = False) -> None:
        """Create the tables, dropping any older shape first.

        Without ``read_indexes`` the tables hold the same rows, but only the
        indexes that applying events reads through; with ``bulk``, not even the
        ``stepwise_indexes``, which ``end_bulk`` creates.
        """
        for table in (*self.tables, *self.retired_tables):
            db.execute(f"DROP TABLE IF EXISTS {table}")
        statements = [*self.schema]
        if not bulk:
            statements += self.stepwise_indexes
        if read_indexes:
            statements += self.read_indexes
        for statement in statements:
            db.execute(statement)
