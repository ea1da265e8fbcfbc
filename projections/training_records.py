"""Training records per learner and per code; a deleted record leaves this table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain import learners as ev
from domain.events import Event
from domain.validity import CodeValiditySet
from projections import certificates
from projections.database import Db, Writer, one_of
from projections.paging import Page, decode_cursor, encode_cursor
from projections.projection import Apply, Projection


@dataclass(frozen=True)
class RecordRow:
    record_id: str
    learner_id: str
    username: str
    record_type: str
    object_id: str | None
    title: str
    training_provider: str
    completion_date: str
    other_information: str
    code_id: str | None
    code: str | None
    recorded_at: str
    validity_months: int | None


class TrainingRecords(Projection):
    """The active records of every learner, and their certificates."""

    name = "training_records"
    version = 2
    tables = ("training_records", *certificates.TABLES)
    schema = (
        """CREATE TABLE training_records (
            record_id TEXT PRIMARY KEY,
            learner_id TEXT NOT NULL,
            record_type TEXT NOT NULL,
            object_id TEXT,
            title TEXT NOT NULL,
            training_provider TEXT NOT NULL,
            completion_date TEXT NOT NULL,
            other_information TEXT NOT NULL,
            code_id TEXT,
            recorded_at TEXT NOT NULL
        )""",
        *certificates.SCHEMA,
    )
    stepwise_indexes = (
        # Choosing a certificate again after a change reads through this one.
        "CREATE INDEX training_records_by_learner "
        "ON training_records (learner_id, completion_date, record_id)",
    )
    read_indexes = (
        "CREATE INDEX training_records_by_code "
        "ON training_records (code_id, completion_date, record_id)",
        *certificates.READ_INDEXES,
    )

    def handlers(self) -> Mapping[type[Event], Apply]:
        return {
            ev.TrainingRecordAdded: _added,
            ev.TrainingRecordUpdated: _updated,
            ev.TrainingRecordDeleted: _deleted,
            CodeValiditySet: certificates.validity_set,
        }

    def bulk_handlers(self) -> Mapping[type[Event], Apply]:
        # The certificates follow from the records and validities alone.
        return {
            ev.TrainingRecordAdded: _row_added,
            ev.TrainingRecordUpdated: _row_updated,
            ev.TrainingRecordDeleted: _row_deleted,
            CodeValiditySet: certificates.validity_stored,
        }

    def end_bulk(self, db: Db) -> None:
        super().end_bulk(db)
        certificates.derive(db)


def _added(db: Writer, e: ev.TrainingRecordAdded) -> None:
    _row_added(db, e)
    if e.code_id is not None:
        certificates.record_added(
            db, db.aggregate_id, e.code_id, e.record_id, e.completion_date
        )


def _row_added(db: Writer, e: ev.TrainingRecordAdded) -> None:
    db.write(
        "INSERT INTO training_records VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            e.record_id,
            db.aggregate_id,
            e.record_type,
            e.object_id,
            e.title,
            e.training_provider,
            e.completion_date,
            e.other_information,
            e.code_id,
            db.occurred_at,
        ),
    )


def _updated(db: Writer, e: ev.TrainingRecordUpdated) -> None:
    _row_updated(db, e)
    codes = {code for code in (e.code_id, e.previous_code_id) if code is not None}
    for code_id in sorted(codes):
        certificates.refresh(db, db.aggregate_id, code_id)


def _row_updated(db: Writer, e: ev.TrainingRecordUpdated) -> None:
    db.write(
        "UPDATE training_records SET title = ?, training_provider = ?, "
        "completion_date = ?, other_information = ?, code_id = ? WHERE record_id = ?",
        (
            e.title,
            e.training_provider,
            e.completion_date,
            e.other_information,
            e.code_id,
            e.record_id,
        ),
    )


def _deleted(db: Writer, e: ev.TrainingRecordDeleted) -> None:
    _row_deleted(db, e)
    if e.code_id is not None:
        certificates.refresh(db, db.aggregate_id, e.code_id)


def _row_deleted(db: Writer, e: ev.TrainingRecordDeleted) -> None:
    db.write("DELETE FROM training_records WHERE record_id = ?", (e.record_id,))


# Queries

_SELECT = (
    "SELECT r.record_id, r.learner_id, l.username, r.record_type, r.object_id, "
    "r.title, r.training_provider, r.completion_date, r.other_information, "
    "r.code_id, c.code, r.recorded_at, v.months AS validity_months "
    "FROM training_records r "
    "JOIN learners l ON l.learner_id = r.learner_id "
    "LEFT JOIN codes c ON c.code_id = r.code_id "
    "LEFT JOIN code_validity v ON v.code_id = r.code_id "
)


def record_page(
    db: Db,
    learner_id: str | None,
    code_id: str | None,
    first: int,
    after: str | None,
    among: Sequence[str] | None = None,
) -> Page[RecordRow]:
    """Records newest first, for a learner, a code, or both, of learners ``among``."""
    condition, params = one_of("r.learner_id", among)
    where = [condition]
    if learner_id is not None:
        where.append("r.learner_id = ?")
        params.append(learner_id)
    if code_id is not None:
        where.append("r.code_id = ?")
        params.append(code_id)
    condition = " AND ".join(where) or "1 = 1"
    count = db.execute(
        f"SELECT COUNT(*) FROM training_records r WHERE {condition}", params
    ).fetchone()[0]

    if after is not None:
        completion_date, record_id = decode_cursor(after, "record", parts=2)
        # A row value lets the index seek to the cursor instead of scanning to it.
        condition += " AND (r.completion_date, r.record_id) < (?, ?)"
        params += [completion_date, record_id]
    rows = db.execute(
        f"{_SELECT} WHERE {condition} "
        "ORDER BY r.completion_date DESC, r.record_id DESC LIMIT ?",
        [*params, first + 1],
    ).fetchall()

    items = [RecordRow(**row) for row in rows[:first]]
    return Page(
        items=items,
        total_count=count,
        has_next_page=len(rows) > first,
        has_previous_page=after is not None,
        cursors=[
            encode_cursor("record", r.completion_date, r.record_id) for r in items
        ],
    )


def record_by_id(db: Db, record_id: str) -> RecordRow | None:
    """One active record."""
    row = db.execute(f"{_SELECT} WHERE r.record_id = ?", (record_id,)).fetchone()
    return RecordRow(**row) if row else None


def learner_of_record(db: Db, record_id: str) -> str | None:
    """The learner holding an active record."""
    row = db.execute(
        "SELECT learner_id FROM training_records WHERE record_id = ?", (record_id,)
    ).fetchone()
    return row[0] if row else None


def holder_count(db: Db, code_id: str) -> int:
    """How many learners hold an active record carrying the code."""
    row = db.execute(
        "SELECT COUNT(DISTINCT learner_id) FROM training_records WHERE code_id = ?",
        (code_id,),
    ).fetchone()
    return int(row[0])


@dataclass(frozen=True)
class ExportRow:
    record_id: str
    learner_id: str
    username: str
    email: str
    first_name: str
    last_name: str
    record_type: str
    object_id: str | None
    title: str
    training_provider: str
    completion_date: str
    other_information: str
    code: str | None


@dataclass(frozen=True)
class ExportFilter:
    """Which records an export holds; None means any."""

    learner_id: str | None = None
    code_id: str | None = None
    completed_from: str | None = None
    completed_to: str | None = None
    among: tuple[str, ...] | None = None
    """Learner ids the export is limited to."""


def export_page(
    db: Db, only: ExportFilter, after: tuple[str, str, str] | None, size: int
) -> list[ExportRow]:
    """The next ``size`` records of an export, by learner, date and id."""
    condition, params = one_of("r.learner_id", only.among)
    where = [condition]
    for condition, value in (
        ("r.learner_id = ?", only.learner_id),
        ("r.code_id = ?", only.code_id),
        ("r.completion_date >= ?", only.completed_from),
        ("r.completion_date <= ?", only.completed_to),
    ):
        if value is not None:
            where.append(condition)
            params.append(value)
    if after is not None:
        # Keyset on the index's own order, as a row value so the index seeks to
        # the cursor: each page costs the same however deep into the export.
        where.append("(r.learner_id, r.completion_date, r.record_id) > (?, ?, ?)")
        params += list(after)

    rows = db.execute(
        "SELECT r.record_id, r.learner_id, l.username, l.email, l.first_name, "
        "l.last_name, r.record_type, r.object_id, r.title, r.training_provider, "
        "r.completion_date, r.other_information, c.code FROM training_records r "
        "JOIN learners l ON l.learner_id = r.learner_id "
        "LEFT JOIN codes c ON c.code_id = r.code_id "
        f"WHERE {' AND '.join(where) or '1 = 1'} "
        "ORDER BY r.learner_id, r.completion_date, r.record_id LIMIT ?",
        [*params, size],
    )
    return [ExportRow(**row) for row in rows]
