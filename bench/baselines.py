"""Baselines: what the store itself manages for the same work, measured in-run.

Each function is named for the figure it stands beside in the table:

- ``sqlite_commit_rate``: single-row INSERT + COMMIT in a loop, into a table shaped
  like the event store's, in a fresh WAL file with the event store's own
  ``synchronous`` setting.
- ``postgres_commit_rate``: the same loop with psycopg against PostgreSQL.
- ``notification_read_rate``: reading the log in pages straight from the
  recorder and decoding each notification into a domain event, which is the
  part of a projection worker's work that is not applying events.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.stats import summary_ms
from domain.application import EventLog

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
