"""Commands waiting together are saved together; cached aggregates stay true.

A group is formed by holding the first command's save until the others have
arrived: they wait for their turn and then run as one group, in arrival order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from domain import application, unit_of_work
from domain import commands as c
from domain.application import Outcome
from domain.content import ContentKind
from domain.errors import CodeInUse, NotFound, QualifyError
from domain.events import Acting, acting_as
from domain.imports import read_file
from domain.learners import (
    Learner,
    RecordType,
    TrainingRecord,
    UserRegistered,
    learner_id,
)
from domain.unit_of_work import AggregateCache
from qualify.bootstrap import Backend
from tests.csv_support import csv_file, import_row
from tests.support import (
    DAY_1,
    DAY_2,
    DAY_3,
    LEARNER,
    OTHER_LEARNER,
    SEED_PATH,
    Seed,
    code_name_of,
    live_code,
    live_code_names,
    path_records,
    records_of,
    run,
)

TODAY = date(2024, 1, 1)
LONG_AGO = date(2020, 1, 1)
PATH_TITLE = "Digital Workplace"


class HeldSaves:
    """Holds the next save until the given number of commands wait behind it."""

    def __init__(self, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        self._backend = backend
        self._original = backend.log.events.put
        self._release = threading.Event()
        self.holding = threading.Event()
        monkeypatch.setattr(backend.log.events, "put", self._put)

    def _put(self, events: Any, **kwargs: Any) -> Any:
        self.sizes.append(len(events))
        if len(self.sizes) == 1:
            self.holding.set()
            self._release.wait(timeout=30)
        return self._original(events, **kwargs)

    def run(self, first: c.Command, then: list[c.Command]) -> list[Future[Outcome]]:
        """Run ``first``, and ``then`` as one group while its save is held."""
        pool = ThreadPoolExecutor(max_workers=len(then) + 1)
        futures = [pool.submit(run, self._backend, first)]
        assert self.holding.wait(timeout=30)
        for arrived, command in enumerate(then, start=1):
            futures.append(pool.submit(run, self._backend, command))
            # One at a time, so the group runs them in this order.
            _wait_until(lambda n=arrived: self._waiting() == n)
        self._release.set()
        pool.shutdown(wait=True)
        return futures

    def release(self) -> None:
        """Let the held save go on."""
        self._release.set()

    def _waiting(self) -> int:
        return self._backend.write_model.waiting


def _wait_until(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(3000):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("the commands did not arrive")


@pytest.fixture
def held(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> HeldSaves:
    return HeldSaves(backend, monkeypatch)


@pytest.fixture
def theirs(durable_backend: Backend, open_backend: Callable[[str], Backend]) -> Backend:
    """A second write model on the durable store, as another process would be."""
    return open_backend(durable_backend.settings.database_url)


def test_commands_that_wait_together_are_saved_in_one_transaction(
    backend: Backend, seed: Seed, held: HeldSaves
) -> None:
    days = [DAY_1, DAY_2, DAY_3]

    futures = held.run(
        c.CreateCode("FIRST"),
        [c.CompleteContent(seed.course, LEARNER, day) for day in days],
    )

    outcomes = [future.result() for future in futures]
    # The code and its name claim; then three completions in one save.
    assert len(held.sizes) == 2
    assert held.sizes[0] == 2
    assert sorted(r.completion_date for r in records_of(backend)) == [
        day.isoformat() for day in days
    ]
    # Every command of a group answers with the position the group ended at.
    head = backend.log.recorder.max_notification_id()
    assert [o.position for o in outcomes[1:]] == [head, head, head]
    assert live_code(backend, "CLAESS").active_record_count == 3


def test_a_failing_command_takes_back_only_its_own_changes(
    backend: Backend, seed: Seed, held: HeldSaves, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second completion breaks after it has changed alice, before it ends.
    counting = application.Qualify._count_records
    calls: list[int] = []

    def count_records(self: application.Qualify, unit: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("broken half-way")
        counting(self, unit)

    monkeypatch.setattr(application.Qualify, "_count_records", count_records)

    futures = held.run(
        c.CreateCode("FIRST"),
        [c.CompleteContent(seed.course, LEARNER, day) for day in (DAY_1, DAY_2, DAY_3)],
    )

    assert futures[1].result().position is not None
    with pytest.raises(RuntimeError, match="broken half-way"):
        futures[2].result()
    assert futures[3].result().position is not None
    assert sorted(r.completion_date for r in records_of(backend)) == [
        DAY_1.isoformat(),
        DAY_3.isoformat(),
    ]
    assert live_code(backend, "CLAESS").active_record_count == 2


def test_an_import_does_not_wait_for_the_group_being_saved(
    backend: Backend, seed: Seed, held: HeldSaves
) -> None:
    data = csv_file(import_row(title="Imported"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(
            run, backend, c.CompleteContent(seed.course, LEARNER, DAY_1)
        )
        assert held.holding.wait(timeout=30)

        # The completion's save is held until the import has been stored.
        imported = run(
            backend, c.ImportTrainingRecords("records.csv", read_file(data, TODAY))
        )
        held.release()

        assert imported.position is not None
        assert first.result().position is not None
    assert sorted(r.title for r in records_of(backend)) == [
        "Claromentis Essentials",
        "Imported",
    ]


def test_a_command_in_a_group_sees_what_the_earlier_ones_decided(
    backend: Backend, held: HeldSaves
) -> None:
    futures = held.run(
        c.CreateCode("FIRST"),
        [c.CreateCode("RACE"), c.CreateCode("race"), c.RenameCode("RACE", "RACE2")],
    )

    assert futures[1].result().value == "RACE"
    with pytest.raises(QualifyError) as taken:
        futures[2].result()
    assert taken.value.code == "CODE_TAKEN"
    assert futures[3].result().value == "RACE2"
    assert live_code_names(backend) == ["FIRST", "RACE2"]


def test_another_writers_change_reaches_the_cached_aggregates(
    durable_backend: Backend, theirs: Backend
) -> None:
    mine = durable_backend
    run(mine, c.CreateCode("CPR"))
    run(mine, c.CreateCode("AED"))
    mine_cached = live_code(mine, "CPR").code_id

    run(theirs, c.RenameCode("CPR", "CPR2"))
    run(theirs, c.DeleteCode("AED"))

    # Both codes were cached by ``mine`` when it created them.
    with pytest.raises(QualifyError) as renamed:
        run(mine, c.CreateContent(ContentKind.COURSE, "First aid", code="CPR"))
    assert renamed.value.code == "CODE_RENAMED"
    with pytest.raises(NotFound):
        run(mine, c.UpdateCodeDescription("AED", "Defibrillator"))
    run(mine, c.UpdateCodeDescription("CPR2", "Resuscitation"))
    assert code_name_of(mine, mine_cached) == "CPR2"
    assert live_code(mine, "CPR2").description == "Resuscitation"


def test_a_validity_set_by_another_writer_counts_in_the_next_award(
    durable_backend: Backend, theirs: Backend
) -> None:
    mine = durable_backend
    _seed(mine)
    run(mine, c.SetPathSteps(SEED_PATH, (c.StepInput("CPR", "First aid", 10),)))
    for username in (LEARNER, OTHER_LEARNER):
        run(mine, c.JoinPath(SEED_PATH, username))
    # Bob's award has ``mine`` look up CPR's validity: it has none yet.
    run(mine, c.AddTrainingRecord(OTHER_LEARNER, "CPR", LONG_AGO, code="CPR"))
    assert [r.title for r in path_records(mine, OTHER_LEARNER)] == [PATH_TITLE]

    # Only the validity changes: nothing ``mine`` saves next would conflict.
    run(theirs, c.SetCodeValidity("CPR", 12))
    run(mine, c.AddTrainingRecord(LEARNER, "CPR", LONG_AGO, code="CPR"))

    assert path_records(mine, LEARNER) == []


def test_write_models_racing_on_one_store_lose_nothing(
    durable_backend: Backend, theirs: Backend
) -> None:
    mine = durable_backend
    _seed(mine)
    days = [date(2023, 1, day) for day in range(1, 17)]
    barrier = threading.Barrier(len(days))

    def complete(index: int) -> Outcome:
        barrier.wait()
        backend = mine if index % 2 else theirs
        return run(backend, c.AddTrainingRecord(LEARNER, "CPR", days[index]))

    with ThreadPoolExecutor(max_workers=len(days)) as pool:
        list(pool.map(complete, range(len(days))))

    for backend in (mine, theirs):
        assert sorted(r.completion_date for r in records_of(backend)) == [
            day.isoformat() for day in days
        ]


def test_a_code_in_use_elsewhere_is_not_deleted_from_a_stale_cache(
    durable_backend: Backend, theirs: Backend
) -> None:
    mine = durable_backend
    run(mine, c.CreateCode("CPR"))
    run(mine, c.UpdateCodeDescription("CPR", "First aid"))
    run(theirs, c.CreateContent(ContentKind.COURSE, "First aid", code="CPR"))

    with pytest.raises(CodeInUse):
        run(mine, c.DeleteCode("CPR"))
    assert live_code_names(mine) == ["CPR"]


def _seed(backend: Backend) -> None:
    """Code CPR, alice, bob, and a path of three steps."""
    run(backend, c.CreateCode("CPR"))
    for username in (LEARNER, OTHER_LEARNER):
        run(
            backend,
            c.RegisterUser(username, f"{username}@example.com", "A", "Learner"),
        )
    run(
        backend,
        c.CreateLearningPath(
            SEED_PATH,
            PATH_TITLE,
            (
                c.StepInput("STEP1", "One", 10),
                c.StepInput("STEP2", "Two", 10),
                c.StepInput("STEP3", "Three", 10),
            ),
        ),
    )


# The cache on its own


def _learner(username: str) -> Learner:
    with acting_as(Acting("test", str(uuid4()))):
        return Learner.start(
            UserRegistered,
            learner_id(username),
            username=username,
            email=f"{username}@example.com",
            first_name="A",
            last_name="B",
        )


def test_the_cache_keeps_at_most_its_capacity_dropping_the_oldest(
    backend: Backend,
) -> None:
    cache = AggregateCache(backend.log, capacity=2)
    first, second, third = (_learner(name) for name in ("a1", "a2", "a3"))

    cache.keep(first.id, first)
    cache.keep(second.id, second)
    cache.keep(third.id, third)

    assert len(cache) == 2
    assert isinstance(cache.take(first.id), unit_of_work._Unknown)
    assert cache.take(third.id) is third


def test_the_cache_holds_at_most_its_weight_of_records(backend: Backend) -> None:
    cache = AggregateCache(backend.log, weight=5)
    light, heavy = _learner("a1"), _learner("a2")
    with acting_as(Acting("test", str(uuid4()))):
        for day in range(1, 5):
            heavy.add_record(_record(date(2024, 1, day)))
    assert (light.size(), heavy.size()) == (1, 5)

    cache.keep(light.id, light)
    cache.keep(heavy.id, heavy)

    # The two together weigh 6: the one kept longest goes.
    assert cache.weight == 5
    assert isinstance(cache.take(light.id), unit_of_work._Unknown)
    assert cache.take(heavy.id) is heavy
    assert cache.weight == 0


def _record(day: date) -> TrainingRecord:
    return TrainingRecord(
        record_id=str(uuid4()),
        record_type=RecordType.TRAINING_RECORD,
        object_id=None,
        title="Drill",
        training_provider="",
        completion_date=day,
        other_information="",
        code_id=None,
    )


def test_the_cache_keeps_the_newer_of_two_versions(backend: Backend) -> None:
    cache = AggregateCache(backend.log)
    older, newer = _learner("a1"), _learner("a1")
    with acting_as(Acting("test", str(uuid4()))):
        newer.join(str(uuid4()))

    cache.keep(newer.id, newer)
    cache.keep(older.id, older)
    cache.keep(older.id, None)

    assert cache.take(newer.id) is newer


def test_the_cache_starts_afresh_after_many_changes_by_others(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unit_of_work, "REFRESH_LIMIT", 2)
    cache = AggregateCache(backend.log)
    cache.refresh()
    kept = _learner("a1")
    cache.keep(kept.id, kept)

    for username in ("b1", "b2", "b3"):
        run(backend, c.RegisterUser(username, f"{username}@example.com", "B", "C"))
    cache.refresh()

    assert len(cache) == 0
    run(backend, c.RegisterUser("b4", "b4@example.com", "B", "C"))
    cache.keep(kept.id, kept)
    cache.refresh()
    assert cache.take(kept.id) is kept


def test_the_cache_forgets_what_another_writer_stored_since(
    backend: Backend,
) -> None:
    cache = AggregateCache(backend.log)
    cache.refresh()
    run(backend, c.RegisterUser(LEARNER, "alice@example.com", "A", "B"))
    alice = backend.log.repository.get(learner_id(LEARNER))
    bob = learner_id(OTHER_LEARNER)
    cache.keep(alice.id, alice)
    cache.keep(bob, None)

    # Alice's own registration is what the cache holds already.
    cache.refresh()
    assert cache.take(alice.id) is alice
    cache.keep(alice.id, alice)

    run(backend, c.RegisterUser(OTHER_LEARNER, "bob@example.com", "B", "C"))
    run(backend, c.AddTrainingRecord(LEARNER, "CPR", DAY_1))
    cache.refresh()

    assert isinstance(cache.take(alice.id), unit_of_work._Unknown)
    assert isinstance(cache.take(bob), unit_of_work._Unknown)
