"""Commands racing on PostgreSQL: many threads, one store, nothing lost or doubled.

Every thread runs its command through one backend that follows the log itself; a
barrier starts them together. A command may lose its race too often and answer
``CONCURRENT_UPDATE``, but then it stored nothing; whatever succeeded is in the log
once and in every read model once, and ``verify`` replays the log to the same rows.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import pytest

from domain import commands as c
from domain.codes import CodeCreated, CodeNameClaimed, QualificationCode
from domain.errors import QualifyError
from domain.events import Event
from domain.learners import ContentCompleted, PathCompleted, TrainingRecordAdded
from projections.verification import verify
from qualify.bootstrap import Backend, all_projections, build
from qualify.config import Settings
from tests.support import (
    DAY_1,
    LEARNER,
    activity,
    code_row,
    content,
    course,
    learner_id,
    live_code,
    points,
    records_of,
    records_with_code,
    register,
    run,
)

pytestmark = pytest.mark.slow

THREADS = 16
ATTACHERS = 8
TRIALS = 6
SETTLE_SECONDS = 10.0


@pytest.fixture
def backend(pg_url: str) -> Iterator[Backend]:
    opened = build(Settings(database_url=pg_url), follow=True)
    yield opened
    opened.close()


@dataclass(frozen=True)
class Result:
    """How one command of a race ended."""

    code: str
    """``ok`` or the error code."""
    value: str | None = None
    caught_up: bool = True
    """Whether the read models had its events when ``handle`` returned."""


def race(backend: Backend, commands: list[c.Command]) -> list[Result]:
    """Run ``commands`` at once, one thread each; each one's result, in order."""
    barrier = threading.Barrier(len(commands))

    def attempt(command: c.Command) -> Result:
        barrier.wait()
        try:
            outcome = run(backend, command)
        except QualifyError as error:
            return Result(error.code)
        reached = outcome.position is None or (
            backend.follower.stored_position() >= outcome.position
        )
        return Result("ok", outcome.value, reached)

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(attempt, commands))


def settle(backend: Backend) -> None:
    """Bring the read models to the log's head (a race can leave short-lived holes)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    head = backend.log.recorder.max_notification_id() or 0
    while backend.follower.catch_up().position < head:
        assert time.monotonic() < deadline, (
            f"the read models stayed at {backend.follower.position} below {head}"
        )
        time.sleep(0.01)


def stored_events(backend: Backend) -> list[Event]:
    recorder = backend.log.recorder
    notifications = recorder.select_notifications(start=1, limit=100_000)
    return [backend.log.mapper.to_domain_event(n) for n in notifications]


def assert_verified(backend: Backend) -> None:
    verdict = verify(backend.log, backend.store, all_projections())
    assert verdict.ok, [str(d) for d in verdict.differences]


def codes(results: list[Result]) -> Counter[str]:
    return Counter(result.code for result in results)


def test_sixteen_completions_on_one_path_each_land_once(backend: Backend) -> None:
    courses = [course(backend, f"Course {i}", f"STEP{i}") for i in range(THREADS)]
    steps = tuple(c.StepInput(f"STEP{i}", f"Step {i}", 1) for i in range(THREADS))
    run(backend, c.CreateLearningPath("CROWD", "Crowded path", steps=steps))
    register(backend, LEARNER)
    run(backend, c.JoinPath("CROWD", LEARNER))
    day = {
        content_id: DAY_1 + timedelta(days=i) for i, content_id in enumerate(courses)
    }

    results = race(backend, [c.CompleteContent(i, LEARNER, day[i]) for i in courses])
    settle(backend)

    assert set(codes(results)) <= {"ok", "CONCURRENT_UPDATE"}
    done = [
        i for i, result in zip(courses, results, strict=True) if result.code == "ok"
    ]
    awarded = len(done) == THREADS
    assert [r for r in results if r.code == "ok" and not r.caught_up] == []

    # The log: one completion and one record per success; the path's award (and
    # its record) once, and only if every step was completed.
    mine = [
        e
        for e in stored_events(backend)
        if e.originator_id == UUID(learner_id(backend))
    ]
    completed = [e for e in mine if isinstance(e, ContentCompleted)]
    assert sorted(e.content_id for e in completed) == sorted(done)
    added = sum(isinstance(e, TrainingRecordAdded) for e in mine)
    assert added == len(done) + int(awarded)
    assert sum(isinstance(e, PathCompleted) for e in mine) == int(awarded)

    # The read models: the same, in every table that counts them.
    records = records_of(backend)
    assert sorted(r.object_id for r in records if r.record_type == "COURSE") == sorted(
        done
    )
    assert len(records) == len(done) + int(awarded)
    for i, content_id in enumerate(courses):
        expected = 1 if content_id in done else 0
        assert live_code(backend, f"STEP{i}").active_record_count == expected
        found = activity(backend, content_id)
        assert (found.completions, found.learners_completed) == (expected, expected)
    assert live_code(backend, "CROWD").active_record_count == int(awarded)
    assert points(backend, "CROWD") == (
        len(done),
        THREADS,
        len(done) * 100 // THREADS,
    )
    assert_verified(backend)


def test_of_sixteen_creates_of_one_code_exactly_one_wins(backend: Backend) -> None:
    for trial in range(3):
        code = f"SAME{trial}"

        results = race(backend, [c.CreateCode(f" {code.lower()} ")] * THREADS)
        settle(backend)

        assert codes(results) == Counter({"ok": 1, "CODE_TAKEN": THREADS - 1})
        events = stored_events(backend)
        created = [e for e in events if isinstance(e, CodeCreated) and e.code == code]
        claimed = [
            e for e in events if isinstance(e, CodeNameClaimed) and e.name == code
        ]
        assert len(created) == len(claimed) == 1
        assert live_code(backend, code).code_id == str(created[0].originator_id)
    with backend.store.reading() as db:
        assert [r[0] for r in db.execute("SELECT code FROM codes ORDER BY code")] == [
            "SAME0",
            "SAME1",
            "SAME2",
        ]
    assert_verified(backend)


def carrying(backend: Backend, code_id: str) -> tuple[int, int, int | None]:
    """(uses, active records, the code row's record count) of one code id."""
    with backend.store.reading() as db:
        uses = db.execute(
            "SELECT COUNT(*) FROM code_uses WHERE code_id = ?", (code_id,)
        ).fetchone()[0]
        held = db.execute(
            "SELECT COUNT(*) FROM training_records WHERE code_id = ?", (code_id,)
        ).fetchone()[0]
        row = db.execute(
            "SELECT active_record_count FROM codes WHERE code_id = ?", (code_id,)
        ).fetchone()
    return int(uses), int(held), None if row is None else int(row[0])


def test_a_code_is_never_deleted_while_eight_threads_attach_it(
    backend: Backend,
) -> None:
    half = ATTACHERS // 2
    users = [f"user{i}" for i in range(half)]
    for username in users:
        register(backend, username)

    for trial in range(TRIALS):
        code = f"RACE{trial}"
        run(backend, c.CreateCode(code))
        original = live_code(backend, code).code_id
        courses = [course(backend, f"Course {trial}.{i}", None) for i in range(half)]
        attach: list[c.Command] = [c.SetContentCode(i, code) for i in courses]
        attach += [
            c.AddTrainingRecord(u, f"Manual {trial}", DAY_1, code=code) for u in users
        ]
        # The delete starts in the middle of the crowd.
        commands = [*attach[:half], c.DeleteCode(code), *attach[half:]]

        results = race(backend, commands)
        settle(backend)

        deleted = results[half]
        set_content, add_record = results[:half], results[half + 1 :]
        assert deleted.code in {"ok", "CODE_IN_USE", "CONCURRENT_UPDATE"}
        assert set(codes(set_content)) <= {"ok", "CONCURRENT_UPDATE"}
        assert set(codes(add_record)) <= {"ok", "NOT_FOUND", "CONCURRENT_UPDATE"}
        assert [r for r in results if r.code == "ok" and not r.caught_up] == []

        # The write model's own view of the original code.
        aggregate = backend.log.repository.get(UUID(original))
        assert isinstance(aggregate, QualificationCode)
        assert aggregate.deleted is (deleted.code == "ok")
        uses, held, counted = carrying(backend, original)
        assert (uses, held) == (len(aggregate.uses), aggregate.record_count)
        assert counted == held
        live = code_row(backend, code)
        if deleted.code == "ok":
            # Deleted while unused: nothing ever carries the deleted id.
            assert (uses, held) == (0, 0)
            assert live is None or live.code_id != original
        else:
            assert live is not None
            assert live.code_id == original

        # Every attach that succeeded landed on the code now live under that name.
        for content_id, result in zip(courses, set_content, strict=True):
            found = content(backend, content_id).code_id
            if result.code == "ok":
                assert live is not None
                assert found == live.code_id
            else:
                assert found is None
        for username, result in zip(users, add_record, strict=True):
            mine = [
                r for r in records_of(backend, username) if r.title == f"Manual {trial}"
            ]
            if result.code == "ok":
                assert live is not None
                assert [(r.record_id, r.code_id) for r in mine] == [
                    (result.value, live.code_id)
                ]
            else:
                assert mine == []
        if live is not None:
            uses, held, counted = carrying(backend, live.code_id)
            assert uses == codes(set_content)["ok"]
            assert held == counted == codes(add_record)["ok"]
            assert len(records_with_code(backend, code)) == held
    assert_verified(backend)
