"""Commands racing each other on a durable store: the write model decides, not luck.

Each thread waits at a barrier so the commands start together. A command that loses
an optimistic-concurrency race is retried on fresh state, so a loss only ever
happens because another command of the race was stored first.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from domain import commands as c
from domain.application import RETRIES
from domain.codes import CodeCreated
from domain.errors import QualifyError
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    LEARNER,
    SEED_PATH,
    activity,
    code_name_of,
    complete,
    content,
    course,
    learner,
    live_code,
    live_code_names,
    load_seed,
    path_records,
    records_of,
    run,
)

pytestmark = pytest.mark.slow


def race(backend: Backend, commands: list[c.Command]) -> Counter[str]:
    """Run ``commands`` at once, one thread each; count successes and error codes."""
    barrier = threading.Barrier(len(commands))

    def attempt(command: c.Command) -> str:
        barrier.wait()
        try:
            run(backend, command)
        except QualifyError as error:
            return error.code
        return "ok"

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return Counter(pool.map(attempt, commands))


def created_events_named(backend: Backend, code: str) -> int:
    notifications = backend.log.recorder.select_notifications(start=1, limit=10_000)
    events = [backend.log.mapper.to_domain_event(n) for n in notifications]
    return sum(isinstance(e, CodeCreated) and e.code == code for e in events)


@pytest.mark.parametrize("threads", [2, 8])
def test_of_simultaneous_create_code_calls_exactly_one_succeeds(
    durable_backend: Backend, threads: int
) -> None:
    for trial in range(3):
        code = f"RACE{trial}"

        outcomes = race(durable_backend, [c.CreateCode(code.lower())] * threads)

        assert outcomes == Counter({"ok": 1, "CODE_TAKEN": threads - 1})
        assert created_events_named(durable_backend, code) == 1
    assert live_code_names(durable_backend) == ["RACE0", "RACE1", "RACE2"]


def test_concurrent_completions_for_one_learner_all_land(
    durable_backend: Backend,
) -> None:
    # With RETRIES commands in the race each can lose at most RETRIES - 1 times.
    seed = load_seed(durable_backend)
    days = [DAY_1 + timedelta(days=i) for i in range(RETRIES)]

    outcomes = race(
        durable_backend, [c.CompleteContent(seed.course, LEARNER, d) for d in days]
    )

    assert outcomes == Counter({"ok": RETRIES})
    assert sorted(r.completion_date for r in records_of(durable_backend)) == [
        d.isoformat() for d in days
    ]
    assert live_code(durable_backend, "CLAESS").active_record_count == RETRIES
    found = activity(durable_backend, seed.course)
    assert (found.enrolments, found.completions) == (1, RETRIES)


def test_a_crowd_of_completions_loses_no_stored_event(durable_backend: Backend) -> None:
    seed = load_seed(durable_backend)
    threads = 8

    days = [DAY_1 + timedelta(days=i) for i in range(threads)]

    outcomes = race(
        durable_backend, [c.CompleteContent(seed.course, LEARNER, d) for d in days]
    )

    # Too many losses in a row give up with CONCURRENT_UPDATE and store nothing;
    # every command that succeeded is in the record book and in the count.
    assert set(outcomes) <= {"ok", "CONCURRENT_UPDATE"}
    assert sum(outcomes.values()) == threads
    assert len(records_of(durable_backend)) == outcomes["ok"]
    assert live_code(durable_backend, "CLAESS").active_record_count == outcomes["ok"]
    assert activity(durable_backend, seed.course).completions == outcomes["ok"]


def test_finishing_the_last_two_steps_at_once_awards_the_path_once(
    durable_backend: Backend,
) -> None:
    seed = load_seed(durable_backend)
    run(durable_backend, c.JoinPath(SEED_PATH, LEARNER), learner())
    complete(durable_backend, seed.course)
    last_two = [seed.drop_in, seed.tips]

    outcomes = race(
        durable_backend, [c.CompleteContent(i, LEARNER, DAY_1) for i in last_two]
    )

    assert outcomes == Counter({"ok": 2})
    assert len(path_records(durable_backend)) == 1
    assert live_code(durable_backend, SEED_PATH).active_record_count == 1


def test_a_code_is_never_deleted_while_a_concurrent_command_attaches_it(
    durable_backend: Backend,
) -> None:
    for trial in range(20):
        code = f"RACE{trial}"
        run(durable_backend, c.CreateCode(code))
        essentials = course(durable_backend, f"Course {trial}", None)
        commands = [c.DeleteCode(code), c.SetContentCode(essentials, code)]

        outcomes = race(durable_backend, commands)

        # Either the delete came first and the content registered the code anew,
        # or the content came first and the delete was refused.
        assert outcomes in (
            Counter({"ok": 2}),
            Counter({"ok": 1, "CODE_IN_USE": 1}),
        )
        code_id = content(durable_backend, essentials).code_id
        assert code_name_of(durable_backend, code_id) == code
        assert live_code(durable_backend, code).code_id == code_id
