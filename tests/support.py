"""Helpers the domain and projection tests share: commands, queries, the seed.

Fixtures live in ``tests/conftest.py``; this module holds plain functions and the
seed example so that tests can import them by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain import commands as c
from domain.application import Outcome
from domain.commands import Command
from domain.content import ContentKind, Status
from domain.paths import Progress
from domain.principal import SYSTEM, Principal, Right, Role
from projections import code_usage, course_activity, learners, path_progress
from projections import training_records as records
from projections.database import ReadStore
from qualify.bootstrap import Backend, all_projections

SEED_PATH = "CLABEG"
SEED_PATH_TITLE = "Claromentis Digital Workplace"
COURSE_TITLE = "Claromentis Essentials"
DROP_IN_TITLE = "Claromentis Drop-In Session"
TIPS_TITLE = "Claromentis Tips & Tricks"
LEARNER = "alice"
OTHER_LEARNER = "bob"
DAY_1 = date(2023, 7, 20)
DAY_2 = date(2023, 7, 21)
DAY_3 = date(2023, 7, 24)
LATER = date(2024, 7, 22)


def learner(username: str = LEARNER) -> Principal:
    """A learner principal acting for ``username``."""
    return Principal(username, Role.LEARNER)


def run(backend: Backend, command: Command, by: Principal = SYSTEM) -> Outcome:
    """Handle one command (as the system administrator unless told otherwise)."""
    return backend.handle(command, by)


def value(backend: Backend, command: Command, by: Principal = SYSTEM) -> str:
    """Handle one command that must produce a value, and return it."""
    result = run(backend, command, by).value
    assert result is not None
    return result


# The seed example


@dataclass(frozen=True)
class Seed:
    """The seed's example: path CLABEG and what it is made of."""

    course: str
    drop_in: str
    tips: str
    path: str = SEED_PATH


SEED_STEPS = (
    c.StepInput("CLAESS", "Claromentis Essentials", 20, mandatory=True),
    c.StepInput("CLARODROP", "Drop In Session", 10),
    c.StepInput("CLAROTAT", "Claromentis Tips and Tricks", 10),
)


def register(backend: Backend, username: str) -> str:
    """Register ``username`` with made-up details."""
    return value(
        backend,
        c.RegisterUser(username, f"{username}@example.com", username.title(), "Test"),
    )


def course(
    backend: Backend,
    title: str,
    code: str | None,
    *,
    recorded: bool = True,
    status: Status = Status.LIVE,
) -> str:
    """Create a course and return its content id."""
    return value(
        backend,
        c.CreateContent(
            ContentKind.COURSE,
            title,
            code=code,
            recorded_in_training_record=recorded,
            status=status,
        ),
    )


def training_event(backend: Backend, title: str, code: str | None) -> str:
    """Create a live training event with one session and return its id."""
    return value(
        backend,
        c.CreateContent(
            ContentKind.TRAINING_EVENT,
            title,
            code=code,
            sessions=(c.Session(datetime(2023, 7, 24, 15, 0), "Online"),),
        ),
    )


def load_seed(backend: Backend, *, pass_mark: int | None = None) -> Seed:
    """The seed's course, two events and path, and two registered learners."""
    essentials = value(
        backend,
        c.CreateContent(
            ContentKind.COURSE,
            COURSE_TITLE,
            description="An overview of Claromentis.",
            code="CLAESS",
            prerequisite="No previous knowledge of Claromentis required",
            modules=(
                c.Module("Getting Started 1", length_minutes=60),
                c.Module("Getting Started 2", length_minutes=60),
            ),
        ),
    )
    drop_in = training_event(backend, DROP_IN_TITLE, "CLARODROP")
    tips = training_event(backend, TIPS_TITLE, "CLAROTAT")
    run(
        backend,
        c.CreateLearningPath(
            SEED_PATH, SEED_PATH_TITLE, steps=SEED_STEPS, pass_mark=pass_mark
        ),
    )
    register(backend, LEARNER)
    register(backend, OTHER_LEARNER)
    return Seed(course=essentials, drop_in=drop_in, tips=tips)


def complete(
    backend: Backend, content_id: str, when: date = DAY_1, username: str = LEARNER
) -> Outcome:
    """Record that ``username`` completed content on ``when``."""
    return run(backend, c.CompleteContent(content_id, username, when))


# Queries


def code_row(backend: Backend, code: str) -> code_usage.CodeRow | None:
    """The live code of that name in the code list."""
    with backend.store.reading() as db:
        return code_usage.live_code(db, code)


def live_code(backend: Backend, code: str) -> code_usage.CodeRow:
    """The live code of that name, which must exist."""
    row = code_row(backend, code)
    assert row is not None, f"{code} is not a live code"
    return row


def code_name_of(backend: Backend, code_id: str | None) -> str | None:
    """The current name of the code with id ``code_id``."""
    if code_id is None:
        return None
    with backend.store.reading() as db:
        return code_usage.codes_by_id(db, [code_id])[code_id].code


def uses(backend: Backend, code: str) -> list[tuple[str, str, str]]:
    """What uses a live code, as (kind, owner id, title)."""
    code_id = live_code(backend, code).code_id
    with backend.store.reading() as db:
        found = code_usage.uses_of(db, [code_id])[code_id]
    return [(use.kind, use.owner_id, use.title) for use in found]


def live_code_names(backend: Backend) -> list[str]:
    """Every live code, in the code list's order."""
    with backend.store.reading() as db:
        page = code_usage.code_page(db, None, 100, None)
    return [row.code for row in page.items]


def learner_id(backend: Backend, username: str = LEARNER) -> str:
    """The id the read models know ``username`` by."""
    with backend.store.reading() as db:
        row = learners.learner_by_username(db, username)
    assert row is not None, f"{username} is not registered"
    return row.learner_id


def records_of(backend: Backend, username: str = LEARNER) -> list[records.RecordRow]:
    """The learner's active training records, newest first."""
    user = learner_id(backend, username)
    with backend.store.reading() as db:
        return list(records.record_page(db, user, None, 100, None).items)


def records_with_code(backend: Backend, code: str) -> list[records.RecordRow]:
    """Everyone's active training records carrying a live code."""
    code_id = live_code(backend, code).code_id
    with backend.store.reading() as db:
        return list(records.record_page(db, None, code_id, 100, None).items)


def path_row(backend: Backend, path_code: str = SEED_PATH) -> path_progress.PathRow:
    """The path whose own code is ``path_code``."""
    code_id = live_code(backend, path_code).code_id
    with backend.store.reading() as db:
        row = path_progress.path_by_code_id(db, code_id)
    assert row is not None, f"no path has the code {path_code}"
    return row


def step_codes(backend: Backend, path_code: str = SEED_PATH) -> list[str | None]:
    """The current code names of a path's steps, in order."""
    path = path_row(backend, path_code)
    with backend.store.reading() as db:
        steps = path_progress.steps_of(db, path.path_id)
    return [code_name_of(backend, step.code_id) for step in steps]


def progress(
    backend: Backend,
    path_code: str = SEED_PATH,
    username: str = LEARNER,
    on: date | None = None,
) -> Progress:
    """How far ``username`` has come on the path on a day (the backend's today)."""
    path = path_row(backend, path_code)
    user = learner_id(backend, username)
    with backend.store.reading() as db:
        steps = path_progress.steps_of(db, path.path_id)
        found = path_progress.progress_of(
            db, path, steps, [user], on or backend.today()
        )
    return found[user]


def points(backend: Backend, path_code: str = SEED_PATH, username: str = LEARNER):
    """(points earned, points total, percent) of ``username`` on the path."""
    measured = progress(backend, path_code, username)
    return measured.points_earned, measured.points_total, measured.percent


def participant(
    backend: Backend, path_code: str = SEED_PATH, username: str = LEARNER
) -> path_progress.ParticipantRow | None:
    """The participant row of ``username`` on the path, if they joined it."""
    path = path_row(backend, path_code)
    user = learner_id(backend, username)
    with backend.store.reading() as db:
        return path_progress.participant(db, path.path_id, user)


def path_records(backend: Backend, username: str = LEARNER) -> list[records.RecordRow]:
    """The learner's records awarded for completing a learning path."""
    return [
        r for r in records_of(backend, username) if r.record_type == "LEARNING_PATH"
    ]


def content(backend: Backend, content_id: str) -> course_activity.ContentRow:
    """One content item as the course-activity read model holds it."""
    with backend.store.reading() as db:
        return course_activity.content_by_id(db, [content_id])[content_id]


def activity(backend: Backend, content_id: str) -> course_activity.Activity:
    """Enrolments and completions of one content item."""
    with backend.store.reading() as db:
        return course_activity.activity(db, content_id)


# Whole read models


def read_model_tables() -> list[str]:
    """Every table of every read model."""
    return [table for p in all_projections() for table in p.tables]


RESHAPED = "path_progress"
"""The read model the tests of another release's store move the version of."""


def reshape(backend: Backend, name: str = RESHAPED, by: int = 1) -> int:
    """Move one read model's stored version, as another release's start does."""
    with backend.store.writing() as db:
        db.execute(
            "UPDATE projection_positions SET version = version + ? WHERE name = ?",
            (by, name),
        )
        row = db.execute(
            "SELECT version FROM projection_positions WHERE name = ?", (name,)
        ).fetchone()
    return int(row[0])


def table_rows(store: ReadStore) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every read-model table and the positions, sorted."""
    with store.reading() as db:
        tables = {
            table: sorted(
                (tuple(row) for row in db.execute(f"SELECT * FROM {table}")),
                key=repr,
            )
            for table in read_model_tables()
        }
        tables["projection_positions"] = sorted(
            tuple(row) for row in db.execute("SELECT * FROM projection_positions")
        )
    return tables


def busy_scenario(backend: Backend) -> Seed:
    """The seed with a bit of everything: awards, renames, deletes, validity."""
    seed = load_seed(backend)
    for username in (LEARNER, OTHER_LEARNER):
        run(backend, c.JoinPath(SEED_PATH, username))
    complete(backend, seed.course, DAY_1)
    complete(backend, seed.drop_in, DAY_2)
    complete(backend, seed.tips, DAY_3)
    complete(backend, seed.course, LATER)
    again = complete(backend, seed.course, DAY_1, username=OTHER_LEARNER).value
    assert again is not None
    run(backend, c.RenameCode("CLAESS", "CLAESS2"))
    run(backend, c.SetCodeValidity("CLAESS2", 12))
    run(backend, c.SetCodeValidity("CLAROTAT", 24))
    run(backend, c.SetCodeValidity("CLAROTAT", None))
    run(backend, c.SetPathCountsExpired(SEED_PATH, True))
    run(backend, c.AssignRole("mia", Role.MANAGER))
    run(backend, c.GrantRight("mia", Right.MANAGE_CODES))
    run(backend, c.SetManager(LEARNER, "mia"))
    run(backend, c.SetManager(OTHER_LEARNER, LEARNER))
    run(backend, c.CreateCode("CPR", "First aid"))
    manual = value(
        backend, c.AddTrainingRecord(OTHER_LEARNER, "First aid", DAY_2, code="CPR")
    )
    run(backend, c.UpdateTrainingRecord(manual, code="CLAROTAT", title="Tips, again"))
    run(backend, c.DeleteRecord(again))
    run(backend, c.DeleteCode("CPR"))
    renamed = c.StepInput("CLAESS2", "Claromentis Essentials", 20, mandatory=True)
    run(
        backend,
        c.SetPathSteps(
            SEED_PATH,
            (renamed, *SEED_STEPS[1:], c.StepInput("EXTRA", "Extra reading", 5)),
        ),
    )
    run(backend, c.SetContentCode(seed.tips, None))
    run(backend, c.Enrol(seed.drop_in, OTHER_LEARNER))
    return seed
