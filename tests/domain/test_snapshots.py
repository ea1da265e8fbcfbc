"""Snapshots of learners and codes: written down whole, read back the same."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from domain import commands as c
from domain import snapshots
from domain.codes import QualificationCode, code_name_id
from domain.learners import Learner, learner_id
from domain.snapshots import Snapshot
from domain.unit_of_work import AggregateCache, Group, replay
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    LEARNER,
    SEED_PATH,
    Seed,
    live_code,
    path_records,
    run,
    value,
)


def _replayed(backend: Backend, id: UUID) -> Any:
    """The aggregate from every one of its events, no snapshot."""
    return replay(None, backend.log.events.get(id))


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending"}


def _busy_learner(backend: Backend, seed: Seed) -> None:
    """Alice with records added, changed and deleted, completions and an award."""
    run(backend, c.JoinPath(SEED_PATH, LEARNER))
    run(backend, c.CompleteContent(seed.course, LEARNER, DAY_1))
    run(backend, c.CompleteContent(seed.drop_in, LEARNER, DAY_1))
    kept = value(
        backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1, code="CLAROTAT")
    )
    run(backend, c.UpdateTrainingRecord(kept, title="First aid, renewed"))
    gone = value(backend, c.AddTrainingRecord(LEARNER, "Fire safety", DAY_1))
    run(backend, c.DeleteRecord(gone))


def test_a_learner_reads_back_from_its_snapshot_as_replayed(
    backend: Backend, seed: Seed
) -> None:
    _busy_learner(backend, seed)
    learner = _replayed(backend, learner_id(LEARNER))
    assert path_records(backend) != []

    restored = Snapshot.of(learner).mutate(None)

    assert isinstance(restored, Learner)
    assert _state(restored) == _state(learner)
    assert list(restored.records) == list(learner.records)


def test_a_code_reads_back_from_its_snapshot_as_replayed(
    backend: Backend, seed: Seed
) -> None:
    _busy_learner(backend, seed)
    run(backend, c.RenameCode("CLAESS", "CLAESS2"))
    code_id = UUID(live_code(backend, "CLAESS2").code_id)
    code = _replayed(backend, code_id)
    assert code.uses
    assert code.record_count

    restored = Snapshot.of(code).mutate(None)

    assert isinstance(restored, QualificationCode)
    assert _state(restored) == _state(code)


def test_a_long_history_is_loaded_from_a_snapshot_next_time(
    backend: Backend, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = [DAY_1 + timedelta(days=n) for n in range(snapshots.SNAPSHOT_AFTER)]
    for day in days:
        run(backend, c.AddTrainingRecord(LEARNER, "Drill", day))
    store = backend.log.snapshots
    assert store is not None
    alice = learner_id(LEARNER)
    assert list(store.get(alice)) == []

    # A group with nothing cached, as in a process that never saw alice.
    first = Group(backend.log, AggregateCache(backend.log))
    loaded = first.load(alice)
    first.save()

    (taken,) = store.get(alice)
    assert loaded is not None
    assert taken.originator_version == loaded.version
    asked: list[int | None] = []
    reading = backend.log.events.get

    def get(id: UUID, **kwargs: Any) -> Any:
        asked.append(kwargs.get("gt"))
        return reading(id, **kwargs)

    monkeypatch.setattr(backend.log.events, "get", get)
    again = Group(backend.log, AggregateCache(backend.log)).load(alice)
    assert asked == [taken.originator_version]
    assert _state(again) == _state(_replayed(backend, alice))


def test_a_snapshot_of_another_shape_is_passed_over(
    backend: Backend, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    _busy_learner(backend, seed)
    alice = learner_id(LEARNER)
    learner = _replayed(backend, alice)
    assert backend.log.snapshots is not None
    backend.log.snapshots.put([Snapshot.of(learner)])
    monkeypatch.setattr(Learner, "SNAPSHOT_SHAPE", Learner.SNAPSHOT_SHAPE + 1)

    loaded = Group(backend.log, AggregateCache(backend.log)).load(alice)

    assert _state(loaded) == _state(learner)


def test_codes_names_are_never_snapshotted(backend: Backend) -> None:
    run(backend, c.CreateCode("CPR"))
    claim = _replayed(backend, code_name_id("CPR"))

    assert not snapshots.takes_snapshots(claim)
