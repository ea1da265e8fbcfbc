"""A batch of many records ends with the certificates that one event at a time gives.

Within a batch the certificates skip records older than one already written and
let a newer record take the place of a row still held back; these tests apply
the same events both ways and compare the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from domain.events import Event
from domain.learners import (
    TrainingRecordAdded,
    TrainingRecordDeleted,
    TrainingRecordUpdated,
)
from domain.validity import CodeValiditySet
from projections.applied import Applied, applied
from projections.database import BufferedWriter, SQLiteStore
from projections.follower import apply
from projections.training_records import TrainingRecords

LEARNER = UUID("00000000-0000-4000-8000-000000000001")
CODE = "10000000-0000-4000-8000-000000000000"
OTHER_CODE = "20000000-0000-4000-8000-000000000000"
WHEN = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _record(n: int, completed: str, code: str = CODE) -> dict[str, object]:
    return {
        "record_id": f"{n:08x}-0000-4000-8000-000000000000",
        "record_type": "TRAINING_RECORD",
        "object_id": None,
        "title": f"record {n}",
        "training_provider": "",
        "completion_date": completed,
        "other_information": "",
        "code_id": code,
    }


def _envelope(version: int) -> dict[str, object]:
    return {
        "originator_id": LEARNER,
        "originator_version": version,
        "timestamp": WHEN,
        "actor": "system",
        "correlation_id": str(uuid4()),
    }


def _events() -> list[Event]:
    dates = ["2024-03-01", "2023-01-01", "2024-03-01", "2025-06-30", "2022-12-31"]
    events: list[Event] = [
        TrainingRecordAdded(**_envelope(n), **_record(n, day))
        for n, day in enumerate(dates, start=1)
    ]
    validity = {
        "originator_id": uuid4(),
        "originator_version": 1,
        "timestamp": WHEN,
        "actor": "admin",
        "correlation_id": str(uuid4()),
    }
    events += [
        TrainingRecordAdded(**_envelope(6), **_record(6, "2024-01-01", OTHER_CODE)),
        # The newest goes: the certificate falls back to an older record, and
        # older records added after that must still count.
        TrainingRecordDeleted(
            **_envelope(7), record_id=_record(4, "")["record_id"], code_id=CODE
        ),
        TrainingRecordAdded(**_envelope(8), **_record(8, "2024-02-01")),
        TrainingRecordAdded(**_envelope(9), **_record(9, "2024-06-01")),
        CodeValiditySet(**validity, code_id=CODE, old_months=None, new_months=12),
        TrainingRecordAdded(**_envelope(10), **_record(10, "2025-01-01")),
        TrainingRecordUpdated(
            **_envelope(11),
            **_record(10, "2021-05-05", OTHER_CODE),
            previous_code_id=CODE,
        ),
        TrainingRecordAdded(**_envelope(12), **_record(12, "2024-06-01")),
        TrainingRecordAdded(**_envelope(13), **_record(13, "2023-03-03")),
        TrainingRecordAdded(**_envelope(14), **_record(14, "2026-01-01")),
        TrainingRecordAdded(**_envelope(15), **_record(15, "2026-01-01")),
        TrainingRecordAdded(**_envelope(16), **_record(16, "2025-01-01", OTHER_CODE)),
    ]
    return events


def _tables(batches: Sequence[Sequence[Applied]]) -> dict[str, list[tuple]]:
    store = SQLiteStore(":memory:")
    projection = TrainingRecords()
    try:
        with store.writing() as db:
            projection.create(db)
        for batch in batches:
            with store.writing() as db:
                apply(db, projection.handlers(), batch)
        with store.reading() as db:
            return {
                table: sorted(tuple(r) for r in db.execute(f"SELECT * FROM {table}"))
                for table in projection.tables
            }
    finally:
        store.close()


@pytest.mark.parametrize("size", [2, 3, 100])
def test_a_batch_of_records_ends_with_the_certificates_of_one_event_at_a_time(
    size: int,
) -> None:
    events = [applied(n, e) for n, e in enumerate(_events(), start=1)]
    one_by_one = _tables([[item] for item in events])

    batched = _tables([events[i : i + size] for i in range(0, len(events), size)])

    assert batched == one_by_one
    assert one_by_one["certificates"]


def test_a_keyed_row_takes_the_place_of_the_held_one_with_its_key() -> None:
    sent: list[tuple[str, list[tuple[object, ...]]]] = []

    class Recording:
        def execute(self, sql: str, params: Sequence[object] = ()) -> None:
            sent.append((sql, [tuple(params)]))

        def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
            sent.append((sql, [tuple(r) for r in rows]))

    writer = BufferedWriter(Recording())  # type: ignore[arg-type]
    writer.write("A", (1, "old"), key=1)
    writer.write("A", (2, "x"), key=2)
    writer.write("A", (1, "new"), key=1)
    writer.write("A", (3, "plain"))
    writer.write("B", ())
    writer.write("A", (1, "again"), key=1)
    writer.flush()

    assert sent == [
        ("A", [(1, "new"), (2, "x"), (3, "plain")]),
        ("B", [()]),
        ("A", [(1, "again")]),
    ]
