"""Learning content and its activity: enrolments and completions per item.

Completions are counted from the completion events, not from training records, so
deleting a record leaves the activity report as it was (as the product promises).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain import content as ev
from domain.events import Event
from domain.learners import ContentCompleted, Enrolled
from projections.database import Db, Writer
from projections.projection import Apply, Projection


@dataclass(frozen=True)
class ContentRow:
    content_id: str
    kind: str
    title: str
    description: str
    status: str
    prerequisite: str
    recorded_in_training_record: bool
    code_id: str | None
    details: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class Activity:
    content_id: str
    enrolments: int
    completions: int
    learners_completed: int


class CourseActivity(Projection):
    """Courses, quizzes and training events, with who enrolled and completed."""

    name = "course_activity"
    version = 1
    tables = ("learning_content", "enrolments", "completions")
    schema = (
        """CREATE TABLE learning_content (
            content_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            status TEXT NOT NULL,
            prerequisite TEXT NOT NULL,
            recorded_in_training_record INTEGER NOT NULL,
            code_id TEXT,
            details TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE enrolments (
            content_id TEXT NOT NULL,
            learner_id TEXT NOT NULL,
            enrolled_at TEXT NOT NULL,
            PRIMARY KEY (content_id, learner_id)
        )""",
        """CREATE TABLE completions (
            content_id TEXT NOT NULL,
            learner_id TEXT NOT NULL,
            completion_date TEXT NOT NULL,
            record_id TEXT,
            completed_at TEXT NOT NULL,
            PRIMARY KEY (content_id, learner_id, completion_date)
        )""",
    )
    read_indexes = (
        "CREATE INDEX learning_content_by_code ON learning_content (code_id)",
    )

    def handlers(self) -> Mapping[type[Event], Apply]:
        return {
            ev.ContentCreated: _created,
            ev.ContentCodeSet: _code_set,
            Enrolled: _enrolled,
            ContentCompleted: _completed,
        }


def _created(db: Writer, e: ev.ContentCreated) -> None:
    db.write(
        "INSERT INTO learning_content VALUES (?,?,?,?,?,?,?,NULL,?,?)",
        (
            db.aggregate_id,
            e.kind,
            e.title,
            e.description,
            e.status,
            e.prerequisite,
            int(e.recorded_in_training_record),
            json.dumps(e.details, sort_keys=True),
            db.occurred_at,
        ),
    )


def _code_set(db: Writer, e: ev.ContentCodeSet) -> None:
    db.write(
        "UPDATE learning_content SET code_id = ? WHERE content_id = ?",
        (e.code_id, db.aggregate_id),
    )


def _enrolled(db: Writer, e: Enrolled) -> None:
    db.write(
        "INSERT INTO enrolments VALUES (?,?,?) ON CONFLICT DO NOTHING",
        (e.content_id, db.aggregate_id, db.occurred_at),
    )


def _completed(db: Writer, e: ContentCompleted) -> None:
    db.write(
        "INSERT INTO completions VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
        (
            e.content_id,
            db.aggregate_id,
            e.completion_date,
            e.record_id,
            db.occurred_at,
        ),
    )


# Queries


def content_by_id(db: Db, content_ids: list[str]) -> dict[str, ContentRow]:
    """Content items by id."""
    found: dict[str, ContentRow] = {}
    unique = list(dict.fromkeys(content_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            f"SELECT * FROM learning_content WHERE content_id IN ({marks})", chunk
        ):
            values = dict(row)
            values["details"] = json.loads(values["details"])
            values["recorded_in_training_record"] = bool(
                values["recorded_in_training_record"]
            )
            found[row["content_id"]] = ContentRow(**values)
    return found


def activity(db: Db, content_id: str) -> Activity:
    """Enrolments and completions of one content item."""
    enrolments = db.execute(
        "SELECT COUNT(*) FROM enrolments WHERE content_id = ?", (content_id,)
    ).fetchone()[0]
    completions, learners = db.execute(
        "SELECT COUNT(*), COUNT(DISTINCT learner_id) FROM completions "
        "WHERE content_id = ?",
        (content_id,),
    ).fetchone()
    return Activity(content_id, enrolments, completions, learners)
