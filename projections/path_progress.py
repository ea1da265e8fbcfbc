"""Learning paths, their participants, and how far each participant has come.

The tables hold the facts (steps, who joined); which codes a learner holds, and
until when, comes from the certificates of the training-records read model.
Progress is measured from them when asked, for the day asked, with the same rule
the write model awards paths by: a change of steps or of a code's validity
re-measures every participant at once, and a step's record that expired since
yesterday no longer counts today.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain import learners as lev
from domain import paths as ev
from domain.events import Event
from domain.paths import Progress, Step, measure
from domain.validity import still_valid
from projections.certificates import months_of
from projections.database import Db, Writer, one_of
from projections.paging import Page, decode_cursor, encode_cursor
from projections.projection import Apply, Projection


@dataclass(frozen=True)
class PathRow:
    path_id: str
    code_id: str
    title: str
    description: str
    status: str
    pass_mark: int | None
    created_at: str
    counts_expired: bool


@dataclass(frozen=True)
class ParticipantRow:
    path_id: str
    learner_id: str
    username: str
    joined_at: str
    completed_at: str | None
    award_record_id: str | None


@dataclass(frozen=True)
class ProgressRow:
    participant: ParticipantRow
    progress: Progress


class PathProgress(Projection):
    """Paths, steps, participants and the codes each learner holds."""

    name = "path_progress"
    version = 3
    tables = ("learning_paths", "path_steps", "path_participants", "path_learners")
    retired_tables = ("held_codes",)
    schema = (
        """CREATE TABLE learning_paths (
            path_id TEXT PRIMARY KEY,
            code_id TEXT NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            status TEXT NOT NULL,
            pass_mark INTEGER,
            created_at TEXT NOT NULL,
            counts_expired INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE path_steps (
            path_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            step_id TEXT NOT NULL,
            code_id TEXT NOT NULL,
            title TEXT NOT NULL,
            points INTEGER NOT NULL,
            mandatory INTEGER NOT NULL,
            PRIMARY KEY (path_id, position)
        )""",
        """CREATE TABLE path_participants (
            path_id TEXT NOT NULL,
            learner_id TEXT NOT NULL,
            username TEXT NOT NULL,
            joined_at TEXT NOT NULL,
            completed_at TEXT,
            award_record_id TEXT,
            PRIMARY KEY (path_id, learner_id)
        )""",
        # Participants are listed by username: each join's row carries it, and
        # it is found here, since the learners read model may stand elsewhere
        # in the log (or not be in a rebuild's scratch store at all).
        """CREATE TABLE path_learners (
            learner_id TEXT PRIMARY KEY,
            username TEXT NOT NULL
        )""",
    )
    read_indexes = (
        "CREATE INDEX learning_paths_by_code ON learning_paths (code_id)",
        "CREATE INDEX path_participants_by_learner ON path_participants (learner_id)",
        # A page of participants in username order reads just that page.
        "CREATE INDEX path_participants_by_name "
        "ON path_participants (path_id, username)",
    )

    def handlers(self) -> Mapping[type[Event], Apply]:
        return {
            ev.PathCreated: _created,
            ev.PathStepsSet: _steps_set,
            ev.PathExpiryRuleSet: _expiry_rule_set,
            lev.UserRegistered: _registered,
            lev.PathJoined: _joined,
            lev.PathCompleted: _completed,
        }


def _created(db: Writer, e: ev.PathCreated) -> None:
    db.write(
        "INSERT INTO learning_paths VALUES (?,?,?,?,?,NULL,?,0)",
        (
            db.aggregate_id,
            e.code_id,
            e.title,
            e.description,
            e.status,
            db.occurred_at,
        ),
    )


def _steps_set(db: Writer, e: ev.PathStepsSet) -> None:
    path_id = db.aggregate_id
    db.write(
        "UPDATE learning_paths SET pass_mark = ? WHERE path_id = ?",
        (e.pass_mark, path_id),
    )
    db.write("DELETE FROM path_steps WHERE path_id = ?", (path_id,))
    db.executemany(
        "INSERT INTO path_steps VALUES (?,?,?,?,?,?,?)",
        [
            (
                path_id,
                position,
                s["step_id"],
                s["code_id"],
                s["title"],
                s["points"],
                int(s["mandatory"]),
            )
            for position, s in enumerate(e.steps)
        ],
    )


def _expiry_rule_set(db: Writer, e: ev.PathExpiryRuleSet) -> None:
    db.write(
        "UPDATE learning_paths SET counts_expired = ? WHERE path_id = ?",
        (int(e.counts_expired), db.aggregate_id),
    )


def _registered(db: Writer, e: lev.UserRegistered) -> None:
    db.write("INSERT INTO path_learners VALUES (?, ?)", (db.aggregate_id, e.username))


def _joined(db: Writer, e: lev.PathJoined) -> None:
    # Registering comes before joining, in the same lane: the name is there.
    db.write(
        "INSERT INTO path_participants "
        "SELECT ?, learner_id, username, ?, NULL, NULL FROM path_learners "
        "WHERE learner_id = ? ON CONFLICT DO NOTHING",
        (e.path_id, db.occurred_at, db.aggregate_id),
    )


def _completed(db: Writer, e: lev.PathCompleted) -> None:
    db.write(
        "UPDATE path_participants SET completed_at = ?, award_record_id = ? "
        "WHERE path_id = ? AND learner_id = ?",
        (db.occurred_at, e.record_id, e.path_id, db.aggregate_id),
    )


# Queries

_PATH_COLUMNS = (
    "path_id, code_id, title, description, status, pass_mark, created_at, "
    "counts_expired"
)


def _path(row: Mapping[str, Any]) -> PathRow:
    return PathRow(**{**row, "counts_expired": bool(row["counts_expired"])})


def path_by_code_id(db: Db, code_id: str) -> PathRow | None:
    """The path whose own code is ``code_id``."""
    row = db.execute(
        f"SELECT {_PATH_COLUMNS} FROM learning_paths WHERE code_id = ?", (code_id,)
    ).fetchone()
    return _path(row) if row else None


def paths_by_id(db: Db, path_ids: Sequence[str]) -> dict[str, PathRow]:
    """Paths by id."""
    unique = list(dict.fromkeys(path_ids))
    marks = ",".join("?" * len(unique))
    rows = db.execute(
        f"SELECT {_PATH_COLUMNS} FROM learning_paths WHERE path_id IN ({marks})",
        unique,
    )
    return {row["path_id"]: _path(row) for row in rows}


def steps_of(db: Db, path_id: str) -> tuple[Step, ...]:
    """A path's steps in order."""
    rows = db.execute(
        "SELECT step_id, code_id, title, points, mandatory FROM path_steps "
        "WHERE path_id = ? ORDER BY position",
        (path_id,),
    )
    return tuple(
        Step(
            step_id=row["step_id"],
            code_id=row["code_id"],
            title=row["title"],
            points=row["points"],
            mandatory=bool(row["mandatory"]),
        )
        for row in rows
    )


_PARTICIPANT = (
    "SELECT p.path_id, p.learner_id, p.username, p.joined_at, p.completed_at, "
    "p.award_record_id FROM path_participants p "
)


def participant(db: Db, path_id: str, learner_id: str) -> ParticipantRow | None:
    """One participant of a path."""
    return _one_participant(db, "p.learner_id", path_id, learner_id)


def participant_named(db: Db, path_id: str, username: str) -> ParticipantRow | None:
    """One participant of a path, found by username in the same statement."""
    return _one_participant(db, "p.username", path_id, username)


def _one_participant(
    db: Db, column: str, path_id: str, value: str
) -> ParticipantRow | None:
    row = db.execute(
        f"{_PARTICIPANT} WHERE p.path_id = ? AND {column} = ?", (path_id, value)
    ).fetchone()
    return ParticipantRow(**row) if row else None


def participant_ids(db: Db, path_id: str) -> list[str]:
    """Everyone who joined a path."""
    rows = db.execute(
        "SELECT learner_id FROM path_participants WHERE path_id = ?", (path_id,)
    )
    return [row[0] for row in rows]


def progress_of(
    db: Db,
    path: PathRow,
    steps: tuple[Step, ...],
    learner_ids: Sequence[str],
    on: date,
) -> dict[str, Progress]:
    """Progress of each learner on ``path`` on day ``on``, in two queries.

    A step counts while the learner's newest record of its code is valid on
    ``on`` (any record at all, on a path that counts expired ones). Only records
    completed by ``on`` are held on that day.
    """
    valid: dict[str, set[str]] = defaultdict(set)
    expired: dict[str, set[str]] = defaultdict(set)
    if learner_ids and steps:
        codes = sorted({step.code_id for step in steps})
        months = months_of(db, codes)
        learners = ",".join("?" * len(learner_ids))
        # The learners' own records are few; a step's code may be on a million.
        # Comparing ``code_id || ''`` keeps both databases' planners from reading
        # every record of each step's code to find these learners' ones.
        rows = db.execute(
            "SELECT r.learner_id, r.code_id, MAX(r.completion_date) AS newest "
            "FROM training_records r "
            f"WHERE r.learner_id IN ({learners}) AND r.completion_date <= ? "
            f"AND (r.code_id || '') IN ({','.join('?' * len(codes))}) "
            "GROUP BY r.learner_id, r.code_id",
            [*learner_ids, on.isoformat(), *codes],
        )
        for row in rows:
            code_id = row["code_id"]
            newest = date.fromisoformat(row["newest"])
            if path.counts_expired or still_valid(newest, months.get(code_id), on):
                valid[row["learner_id"]].add(code_id)
            else:
                expired[row["learner_id"]].add(code_id)
    return {
        learner_id: measure(
            steps, path.pass_mark, valid[learner_id], expired[learner_id]
        )
        for learner_id in learner_ids
    }


def participant_page(
    db: Db,
    path: PathRow,
    first: int,
    after: str | None,
    on: date,
    among: Sequence[str] | None = None,
) -> Page[ProgressRow]:
    """Participants in username order, with their progress, of learners ``among``."""
    reach, params = one_of("p.learner_id", among)
    condition = f"p.path_id = ? AND {reach}"
    params.insert(0, path.path_id)
    count = db.execute(
        f"SELECT COUNT(*) FROM path_participants p WHERE {condition}", params
    ).fetchone()[0]
    if after is not None:
        condition += " AND p.username > ?"
        params += decode_cursor(after, "participant")
    rows = db.execute(
        f"{_PARTICIPANT} WHERE {condition} ORDER BY p.username LIMIT ?",
        [*params, first + 1],
    ).fetchall()

    participants = [ParticipantRow(**row) for row in rows[:first]]
    steps = steps_of(db, path.path_id)
    progress = progress_of(db, path, steps, [p.learner_id for p in participants], on)
    return Page(
        items=[ProgressRow(p, progress[p.learner_id]) for p in participants],
        total_count=count,
        has_next_page=len(rows) > first,
        has_previous_page=after is not None,
        cursors=[encode_cursor("participant", p.username) for p in participants],
    )
