"""What every stored event carries: who acted, when, and the command it belongs to."""

from __future__ import annotations

from datetime import UTC, timedelta

from domain import commands as c
from domain.events import Event
from domain.principal import Principal, Role
from qualify.bootstrap import Backend
from tests.support import Seed, complete


def stored_events(backend: Backend, start: int = 1) -> list[Event]:
    notifications = backend.log.recorder.select_notifications(start=start, limit=1000)
    return [backend.log.mapper.to_domain_event(n) for n in notifications]


def stored_topics(backend: Backend) -> list[str]:
    notifications = backend.log.recorder.select_notifications(start=1, limit=1000)
    return [n.topic for n in notifications]


def test_every_event_of_a_command_shares_its_actor_and_correlation_id(
    backend: Backend,
) -> None:
    manager = Principal("mia", Role.MANAGER)
    before = backend.follower.position

    backend.handle(
        c.CreateLearningPath(
            "CLABEG", "Path", steps=(c.StepInput("CLAESS", "Essentials", 20),)
        ),
        manager,
        correlation_id="req-42",
    )

    events = stored_events(backend, before + 1)
    assert len(events) >= 4
    assert {(e.actor, e.correlation_id) for e in events} == {("mia", "req-42")}


def test_every_event_of_a_command_shares_its_time_and_later_commands_follow(
    backend: Backend,
) -> None:
    admin = Principal("system", Role.ADMIN)
    backend.handle(c.CreateCode("A1"), admin)
    before = backend.follower.position

    # A rename and a path touch several aggregates, created a moment apart.
    backend.handle(c.RenameCode("A1", "A2"), admin)
    backend.handle(
        c.CreateLearningPath("P1", "Path", steps=(c.StepInput("A2", "Step", 5),)),
        admin,
    )

    events = stored_events(backend, before + 1)
    times: dict[str, set[object]] = {}
    for event in events:
        times.setdefault(event.correlation_id, set()).add(event.timestamp)
    assert len(times) == 2
    assert [len(shared) for shared in times.values()] == [1, 1]
    rename, path = (next(iter(shared)) for shared in times.values())
    assert rename < path


def test_commands_without_a_correlation_id_get_one_each(backend: Backend) -> None:
    backend.handle(c.CreateCode("A1"), Principal("system", Role.ADMIN))
    backend.handle(c.CreateCode("B2"), Principal("system", Role.ADMIN))

    # Each CreateCode stores two events: the code and the claim on its name.
    ids = [e.correlation_id for e in stored_events(backend)]
    assert len(ids) == 4
    assert ids[0] == ids[1] != ids[2] == ids[3]


def test_event_timestamps_are_in_utc(backend: Backend, seed: Seed) -> None:
    complete(backend, seed.course)

    offsets = {e.timestamp.utcoffset() for e in stored_events(backend)}
    assert offsets == {timedelta(0)}
    assert all(e.timestamp.tzinfo is UTC for e in stored_events(backend))


def test_stored_topics_are_the_explicit_stable_names(
    backend: Backend, seed: Seed
) -> None:
    complete(backend, seed.course)

    topics = set(stored_topics(backend))
    assert all(topic.startswith("qualify:") for topic in topics)
    assert {
        "qualify:CodeCreated",
        "qualify:CodeNameClaimed",
        "qualify:ContentCreated",
        "qualify:PathCreated",
        "qualify:PathStepsSet",
        "qualify:UserRegistered",
        "qualify:ContentCompleted",
        "qualify:TrainingRecordAdded",
    } <= topics
