"""Registered users, by id and by username."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.events import Event
from domain.learners import UserRegistered
from projections.database import Db, Writer
from projections.projection import Apply, Projection


@dataclass(frozen=True)
class LearnerRow:
    learner_id: str
    username: str
    email: str
    first_name: str
    last_name: str
    registered_at: str


class Learners(Projection):
    """One row per registered user."""

    name = "learners"
    version = 1
    tables = ("learners",)
    schema = (
        """CREATE TABLE learners (
            learner_id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            registered_at TEXT NOT NULL
        )""",
    )

    def handlers(self) -> Mapping[type[Event], Apply]:
        return {UserRegistered: _registered}


def _registered(db: Writer, e: UserRegistered) -> None:
    db.write(
        "INSERT INTO learners VALUES (?,?,?,?,?,?)",
        (
            db.aggregate_id,
            e.username,
            e.email,
            e.first_name,
            e.last_name,
            db.occurred_at,
        ),
    )


# Queries


def learner_by_username(db: Db, username: str) -> LearnerRow | None:
    """The user registered under ``username``."""
    row = db.execute("SELECT * FROM learners WHERE username = ?", (username,))
    found = row.fetchone()
    return LearnerRow(**found) if found else None


def learners_by_id(db: Db, learner_ids: Sequence[str]) -> dict[str, LearnerRow]:
    """Users by id."""
    found: dict[str, LearnerRow] = {}
    unique = list(dict.fromkeys(learner_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            f"SELECT * FROM learners WHERE learner_id IN ({marks})", chunk
        ):
            found[row["learner_id"]] = LearnerRow(**row)
    return found
