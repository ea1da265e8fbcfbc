"""Baselines: what the store itself manages for the same work, measured in-run.

Each function is named for the figure it stands beside in the table:

- ``sqlite_commit_rate``: single-row INSERT + COMMIT in a loop, into a table shaped
  like the event store's, in a fresh WAL file with the event store's own
  ``synchronous`` setting.
- ``postgres_commit_rate``: the same loop with psycopg against PostgreSQL.
- ``notification_read_rate``: reading the log in pages straight from the
  recorder and decoding each notification into a domain event, which is the
  part of a projection worker's work that is not applying events.
- ``sqlite_executemany_rate``: an import's rows, shaped like the read model's
  training records, inserted by one ``executemany`` and one commit into a fresh
  WAL file.
- ``export_read_rate``: the export's SELECT (same columns, same joins, same
  order) over the read-model tables in one statement, iterated in Python.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.data import TrainingRow
from bench.stats import summary_ms
from domain.application import EventLog
from domain.learners import learner_id

_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


@dataclass(frozen=True)
class SampleEvent:
    """A stored event whose topic and state the raw inserts copy."""

    topic: str
    state: bytes


@dataclass(frozen=True)
class SQLiteSettings:
    """How the event store's SQLite connections are set up."""

    journal_mode: str
    synchronous: str


def sample_event(log: EventLog, last: int = 200) -> SampleEvent:
    """The median-sized event among the log's last ``last`` notifications."""
    head = log.recorder.max_notification_id() or 0
    notifications = log.recorder.select_notifications(
        start=max(head - last + 1, 1), limit=last
    )
    if not notifications:
        raise RuntimeError("the store holds no events to copy")
    ordered = sorted(notifications, key=lambda n: len(n.state))
    middle = ordered[len(ordered) // 2]
    return SampleEvent(middle.topic, bytes(middle.state))


def event_store_sqlite_settings(log: EventLog) -> SQLiteSettings:
    """The journal mode and ``synchronous`` level of the event store's connection."""
    datastore: Any = log.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal = str(cursor.fetchone()[0]).upper()
        cursor.execute("PRAGMA synchronous")
        level = int(cursor.fetchone()[0])
    return SQLiteSettings(journal, _SYNCHRONOUS.get(level, str(level)))


def sqlite_commit_rate(
    path: Path, seconds: float, event: SampleEvent, settings: SQLiteSettings
) -> dict[str, Any]:
    """Single-row INSERT + COMMIT for ``seconds`` into a new SQLite file."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(f"PRAGMA journal_mode={settings.journal_mode}")
        connection.execute(f"PRAGMA synchronous={settings.synchronous}")
        connection.execute(
            "CREATE TABLE raw_commits (originator_id TEXT, originator_version "
            "INTEGER, topic TEXT, state BLOB, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        statement = "INSERT INTO raw_commits VALUES (?, 1, ?, ?)"

        def commit_one() -> None:
            connection.execute("BEGIN")
            connection.execute(statement, (uuid.uuid4().hex, event.topic, event.state))
            connection.execute("COMMIT")

        result = _loop(commit_one, seconds)
    finally:
        connection.close()
    result["settings"] = {
        "journal_mode": settings.journal_mode,
        "synchronous": settings.synchronous,
    }
    return result


def postgres_commit_rate(
    conninfo: str, schema: str, seconds: float, event: SampleEvent
) -> dict[str, Any]:
    """Single-row INSERT + commit for ``seconds`` into a table in ``schema``."""
    table = sql.Identifier(schema, "raw_commits")
    with psycopg.connect(conninfo) as connection:
        connection.execute(
            sql.SQL(
                "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version "
                "bigint NOT NULL, topic text, state bytea, notification_id "
                "bigserial UNIQUE, PRIMARY KEY (originator_id, originator_version))"
            ).format(table)
        )
        connection.commit()
        synchronous = connection.execute("SHOW synchronous_commit").fetchone()
        statement = sql.SQL("INSERT INTO {} VALUES (%s, 1, %s, %s)").format(table)

        def commit_one() -> None:
            connection.execute(statement, (uuid.uuid4(), event.topic, event.state))
            connection.commit()

        result = _loop(commit_one, seconds)
    result["settings"] = {"synchronous_commit": synchronous[0] if synchronous else "?"}
    return result


def _loop(step: Any, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    now = started
    while now < deadline:
        step()
        finished = time.perf_counter()
        latencies.append(finished - now)
        now = finished
    took = now - started
    return {
        "commits": len(latencies),
        "seconds": round(took, 3),
        "rate": len(latencies) / took,
        "latency_ms": summary_ms(latencies),
    }


def notification_read_rate(log: EventLog, page: int, until: int) -> dict[str, Any]:
    """Read notifications 1..``until`` in pages of ``page`` and decode each one."""
    started = time.perf_counter()
    position = 0
    events = 0
    read_seconds = 0.0
    while position < until:
        before = time.perf_counter()
        notifications = log.recorder.select_notifications(
            start=position + 1, limit=page, stop=until
        )
        read_seconds += time.perf_counter() - before
        if not notifications:
            break
        for notification in notifications:
            log.mapper.to_domain_event(notification)
        events += len(notifications)
        position = notifications[-1].id
    took = time.perf_counter() - started
    return {
        "events": events,
        "seconds": round(took, 3),
        "rate": events / took if took > 0 else 0.0,
        "select_seconds": round(read_seconds, 3),
    }


def sqlite_executemany_rate(
    path: Path, rows: Sequence[TrainingRow], settings: SQLiteSettings
) -> dict[str, Any]:
    """``rows`` as training records: one ``executemany`` and one commit, timed.

    The tuples are built before the clock starts; the table has the read model's
    columns and primary key but not its two secondary indexes.
    """
    code_ids = {
        code: str(uuid.uuid5(uuid.NAMESPACE_URL, code))
        for code in {row.code for row in rows}
    }
    recorded_at = "2025-01-01T00:00:00+00:00"
    values = [
        (
            str(uuid.uuid4()),
            str(learner_id(row.username)),
            "TRAINING_RECORD",
            None,
            row.title,
            row.provider,
            row.day.isoformat(),
            row.other_information,
            code_ids[row.code],
            recorded_at,
        )
        for row in rows
    ]
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(f"PRAGMA journal_mode={settings.journal_mode}")
        connection.execute(f"PRAGMA synchronous={settings.synchronous}")
        connection.execute(
            "CREATE TABLE raw_records (record_id TEXT PRIMARY KEY, learner_id TEXT "
            "NOT NULL, record_type TEXT NOT NULL, object_id TEXT, title TEXT NOT "
            "NULL, training_provider TEXT NOT NULL, completion_date TEXT NOT NULL, "
            "other_information TEXT NOT NULL, code_id TEXT, recorded_at TEXT NOT NULL)"
        )
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO raw_records VALUES (?,?,?,?,?,?,?,?,?,?)", values
        )
        connection.execute("COMMIT")
        took = time.perf_counter() - started
    finally:
        connection.close()
    width = sum(len(str(v)) for v in values[0] if v is not None) if values else 0
    return {
        "rows": len(values),
        "seconds": round(took, 3),
        "rate": len(values) / took if took > 0 else 0.0,
        "characters_per_row": width,
        "settings": {
            "journal_mode": settings.journal_mode,
            "synchronous": settings.synchronous,
        },
    }


EXPORT_SELECT = (
    "SELECT r.record_id, r.learner_id, l.username, l.email, l.first_name, "
    "l.last_name, r.record_type, r.object_id, r.title, r.training_provider, "
    "r.completion_date, r.other_information, c.code FROM training_records r "
    "JOIN learners l ON l.learner_id = r.learner_id "
    "LEFT JOIN codes c ON c.code_id = r.code_id "
    "ORDER BY r.learner_id, r.completion_date, r.record_id"
)


def export_read_rate(path: Path) -> dict[str, Any]:
    """The export's rows read from the store's file by one SELECT, row by row.

    The same columns, joins and order as the export's pages, but one statement
    and plain tuples: what reading the rows costs before any CSV is written.
    """
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        started = time.perf_counter()
        rows = 0
        for _ in connection.execute(EXPORT_SELECT):
            rows += 1
        took = time.perf_counter() - started
    finally:
        connection.close()
    return {
        "rows": rows,
        "seconds": round(took, 3),
        "rate": rows / took if took > 0 else 0.0,
    }
