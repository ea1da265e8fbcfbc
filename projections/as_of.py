"""State as of a moment: read models rebuilt from the events up to it.

An answer "as of" a moment replays, into scratch tables, only the events that
answer can depend on, up to the last position stored by then: the codes' names
and validity, the paths, and the one learner or code asked about. The same
queries as for the live read models then run on those tables, so the answer is
the one the system would have given at that moment.

The events come from the audit log, which holds each one with its position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

from domain import codes as code_events
from domain import content as content_events
from domain import paths as path_events
from domain import validity as validity_events
from domain.events import Event, event_types
from projections.applied import Applied
from projections.audit_log import AuditRow, event_type_name, instant_text
from projections.code_usage import CodeUsage
from projections.database import Db, SQLiteStore, one_of
from projections.follower import apply
from projections.learners import Learners
from projections.path_progress import PathProgress
from projections.projection import Projection
from projections.training_records import TrainingRecords

# What names, describes and dates the codes, and what every path is: enough to
# show any record, step or code by its name as it was.
CATALOGUE: tuple[type[Event], ...] = (
    code_events.CodeCreated,
    code_events.CodeRenamed,
    code_events.CodeDeleted,
    code_events.CodeDescriptionUpdated,
    code_events.CodeAttached,
    code_events.CodeDetached,
    code_events.CodeNameClaimed,
    code_events.CodeNameReleased,
    validity_events.CodeValiditySet,
    content_events.ContentCreated,
    path_events.PathCreated,
    path_events.PathStepsSet,
    path_events.PathExpiryRuleSet,
)


def position_at(db: Db, moment: datetime) -> int:
    """The last log position stored at or before ``moment`` (0 before the first)."""
    row = db.execute(
        "SELECT MAX(position) FROM audit_events WHERE occurred_at <= ?",
        (instant_text(moment),),
    ).fetchone()
    return int(row[0] or 0)


def events_through(
    db: Db,
    through: int,
    aggregate_ids: Sequence[str] = (),
    types: Sequence[type[Event]] = CATALOGUE,
) -> list[Applied]:
    """The events up to ``through`` of these aggregates or of these types."""
    of_aggregates, params = one_of("aggregate_id", list(aggregate_ids))
    of_types, type_params = one_of("event_type", [event_type_name(t) for t in types])
    rows = db.execute(
        f"SELECT * FROM audit_events WHERE position <= ? AND ({of_aggregates} "
        f"OR {of_types}) ORDER BY position",
        [through, *params, *type_params],
    )
    found = []
    for row in rows:
        audited = AuditRow(**row)
        found.append(
            Applied(
                audited.position,
                _event(audited),
                audited.aggregate_id,
                audited.occurred_at,
            )
        )
    return found


_CLASSES = {event_type_name(cls): cls for cls in event_types()}


def _event(row: AuditRow) -> Event:
    return _CLASSES[row.event_type](
        originator_id=UUID(row.aggregate_id),
        originator_version=row.aggregate_version,
        timestamp=datetime.fromisoformat(row.occurred_at),
        actor=row.actor,
        correlation_id=row.correlation_id,
        **json.loads(row.payload),
    )


def replay_projections() -> list[Projection]:
    """The read models an answer as of a moment is built from."""
    return [CodeUsage(), Learners(), TrainingRecords(), PathProgress()]


@contextmanager
def replayed(events: Sequence[Applied]) -> Iterator[Db]:
    """Scratch tables holding what ``events`` build, open for reading."""
    store = SQLiteStore(":memory:")
    try:
        projections = replay_projections()
        with store.writing() as db:
            for projection in projections:
                projection.create(db)
                apply(db, projection.handlers(), events)
        with store.reading() as db:
            yield db
    finally:
        store.close()
