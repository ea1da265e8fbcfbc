"""The composition root: store, write model, read models, wired once."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.application import EventLog, Outcome, Qualify
from domain.commands import Command
from domain.principal import Principal
from projections.code_usage import CodeUsage
from projections.course_activity import CourseActivity
from projections.database import ReadStore
from projections.follower import Follower
from projections.learners import Learners
from projections.path_progress import PathProgress, participant_ids
from projections.projection import Projection
from projections.training_records import TrainingRecords, learner_of_record
from qualify.config import Settings, sqlite_path


def all_projections() -> list[Projection]:
    """Every read model, in the order each batch is applied to them."""
    return [
        CodeUsage(),
        Learners(),
        CourseActivity(),
        TrainingRecords(),
        PathProgress(),
    ]


class _ReadModelLookups:
    """Answers the write model's look-ups from the (caught-up) read models."""

    def __init__(self, store: ReadStore) -> None:
        self._store = store

    def learner_of_record(self, record_id: str) -> UUID | None:
        with self._store.reading() as db:
            found = learner_of_record(db, record_id)
        return UUID(found) if found else None

    def participants(self, path_id: str) -> list[UUID]:
        with self._store.reading() as db:
            return [UUID(i) for i in participant_ids(db, path_id)]


@dataclass
class Backend:
    """Everything a request needs: commands in, caught-up read models out."""

    settings: Settings
    log: EventLog
    write_model: Qualify
    store: ReadStore
    follower: Follower

    def handle(
        self,
        command: Command,
        principal: Principal,
        correlation_id: str | None = None,
    ) -> Outcome:
        """Run a command and bring the read models up to its last event.

        Returning only after the catch-up is what lets the next query, from the
        same client or any other, read this command's effect.
        """
        outcome = self.write_model.execute(command, principal, correlation_id)
        if outcome.position is not None:
            self.follower.catch_up(until=outcome.position)
        return outcome

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()
        self.log.close()


def build(settings: Settings) -> Backend:
    """Open the store named by ``settings`` and bring its read models up to date."""
    path = sqlite_path(settings.database_url)
    if path == ":memory:":
        env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    else:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }

    store = ReadStore(path)
    log = EventLog(env)
    follower = Follower(log, store, all_projections())
    write_model = Qualify(log, _ReadModelLookups(store))
    follower.catch_up()
    return Backend(settings, log, write_model, store, follower)
