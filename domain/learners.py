"""Learners and their training records.

A learner is the consistency boundary of their own record book: enrolments,
completions, records, the paths they joined and the path awards they hold. Every
change to what a learner holds happens on this one aggregate, so two commands for
the same learner never both award a path.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.errors import InvalidInput
from domain.events import Aggregate, Event
from domain.text import hidden_character, quoted

_LEARNER_NAMESPACE = uuid5(NAMESPACE_URL, "qualify:learner")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_NAME_LENGTH = 100


class RecordType(StrEnum):
    """What produced a training record, as the bulk import names it."""

    TRAINING_RECORD = "TRAINING_RECORD"
    COURSE = "COURSE"
    QUIZ = "QUIZ"
    TRAINING_EVENT = "TRAINING_EVENT"
    LEARNING_PATH = "LEARNING_PATH"


@dataclass(frozen=True)
class TrainingRecord:
    """One entry in a learner's record book."""

    record_id: str
    record_type: RecordType
    object_id: str | None
    title: str
    training_provider: str
    completion_date: date
    other_information: str
    code_id: str | None

    def as_event_fields(self) -> dict[str, Any]:
        """The record as stored in events: plain strings, ISO dates."""
        return {
            "record_id": self.record_id,
            "record_type": self.record_type.value,
            "object_id": self.object_id,
            "title": self.title,
            "training_provider": self.training_provider,
            "completion_date": self.completion_date.isoformat(),
            "other_information": self.other_information,
            "code_id": self.code_id,
        }


def latest_completion_date() -> date:
    """The newest date a completion can have: today somewhere on Earth.

    The newest calendar date anywhere is UTC+14's; a completion dated "today" by a
    learner in Kiribati is not in the future.
    """
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def learner_id(username: str) -> UUID:
    """A learner's id follows from the username, so registering twice collides."""
    return uuid5(_LEARNER_NAMESPACE, username)


def normalise_username(raw: str, field: str = "username") -> str:
    """Usernames are lower-case: letters, digits and . _ @ -, up to 64 characters."""
    stripped = raw.strip()
    # Checked before lower-casing: the Kelvin sign lower-cases to a plain "k".
    text = stripped.lower() if stripped.isascii() else ""
    if not _USERNAME.fullmatch(text):
        raise InvalidInput(
            "A username is 1 to 64 characters: letters, digits and . _ @ -, "
            f"starting with a letter or digit; got {quoted(raw)}.",
            field=field,
        )
    return text


def check_email(raw: str) -> str:
    """A plausible e-mail address: something@domain.tld."""
    text = raw.strip()
    if len(text) > 254 or not _EMAIL.fullmatch(text) or hidden_character(text):
        raise InvalidInput(f"{quoted(raw)} is not an e-mail address.", field="email")
    return text


def check_person_name(raw: str, field: str) -> str:
    """First and last names: trimmed, 1 to 100 characters."""
    text = raw.strip()
    hidden = hidden_character(text)
    if hidden:
        raise InvalidInput(
            f"A name cannot hold the control or invisible character {hidden}.",
            field=field,
        )
    if not text or len(text) > MAX_NAME_LENGTH:
        raise InvalidInput(f"A name is 1 to {MAX_NAME_LENGTH} characters.", field=field)
    return text


class Learner(Aggregate):
    """A registered user and everything they hold."""

    TOPIC = "qualify:Learner"
    SNAPSHOT_SHAPE = 1

    def __init__(
        self,
        id: UUID,
        created_on: datetime,
        event: UserRegistered,
    ) -> None:
        super().__init__(id, created_on)
        self.username = event.username
        self.email = event.email
        self.first_name = event.first_name
        self.last_name = event.last_name
        self.records: dict[str, TrainingRecord] = {}
        self.deleted_records: set[str] = set()
        self.enrolments: set[str] = set()
        self.completions: dict[tuple[str, str], str | None] = {}
        self.joined_paths: set[str] = set()
        self.awarded_paths: dict[str, str] = {}

    def snapshot_state(self) -> dict[str, Any]:
        """Everything the learner holds, as plain JSON values, in the same order."""
        return {
            "username": self.username,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "records": [r.as_event_fields() for r in self.records.values()],
            "deleted_records": sorted(self.deleted_records),
            "enrolments": sorted(self.enrolments),
            "completions": [[*key, value] for key, value in self.completions.items()],
            "joined_paths": sorted(self.joined_paths),
            "awarded_paths": self.awarded_paths,
        }

    @classmethod
    def from_snapshot(
        cls, id: UUID, created_on: datetime, state: dict[str, Any]
    ) -> Learner:
        """The learner ``snapshot_state`` wrote down."""
        learner = cls.__new__(cls)
        Aggregate.__init__(learner, id, created_on)
        learner.username = state["username"]
        learner.email = state["email"]
        learner.first_name = state["first_name"]
        learner.last_name = state["last_name"]
        learner.records = {
            fields["record_id"]: _record_from_fields(fields)
            for fields in state["records"]
        }
        learner.deleted_records = set(state["deleted_records"])
        learner.enrolments = set(state["enrolments"])
        learner.completions = {
            (content_id, day): record_id
            for content_id, day, record_id in state["completions"]
        }
        learner.joined_paths = set(state["joined_paths"])
        learner.awarded_paths = dict(state["awarded_paths"])
        return learner

    def size(self) -> int:
        """The records and completions the learner holds, and the learner."""
        return 1 + len(self.records) + len(self.completions)

    def held_codes(self) -> Counter[str]:
        """How many active records carry each code."""
        return Counter(r.code_id for r in self.records.values() if r.code_id)

    def enrol(self, content_id: str) -> None:
        """Enrol on content; enrolling twice changes nothing."""
        if content_id not in self.enrolments:
            self.trigger(Enrolled, content_id=content_id)

    def complete(
        self, content_id: str, completion_date: date, record: TrainingRecord | None
    ) -> None:
        """Complete content on a date, adding its record when it has one."""
        self.enrol(content_id)
        self.trigger(
            ContentCompleted,
            content_id=content_id,
            completion_date=completion_date.isoformat(),
            record_id=record.record_id if record else None,
        )
        if record is not None:
            self.add_record(record)

    def completed_on(self, content_id: str, completion_date: date) -> bool:
        """Whether this content was already completed on that date."""
        return (content_id, completion_date.isoformat()) in self.completions

    def completion_record(self, content_id: str, completion_date: date) -> str | None:
        """The record id of an earlier completion on that date, if any."""
        return self.completions.get((content_id, completion_date.isoformat()))

    def add_record(self, record: TrainingRecord) -> None:
        """Put a record in the book."""
        self.trigger(TrainingRecordAdded, **record.as_event_fields())

    def update_record(self, record: TrainingRecord) -> None:
        """Replace a record's fields; an identical record changes nothing."""
        previous = self.records[record.record_id]
        if record != previous:
            self.trigger(
                TrainingRecordUpdated,
                **record.as_event_fields(),
                previous_code_id=previous.code_id,
            )

    def delete_record(self, record_id: str) -> None:
        """Take a record out of the book."""
        record = self.records[record_id]
        self.trigger(TrainingRecordDeleted, record_id=record_id, code_id=record.code_id)

    def join(self, path_id: str) -> None:
        """Join a path; joining twice changes nothing."""
        if path_id not in self.joined_paths:
            self.trigger(PathJoined, path_id=path_id)

    def award(self, path_id: str, record: TrainingRecord) -> None:
        """Complete a path and add the record carrying the path's own code."""
        self.trigger(PathCompleted, path_id=path_id, record_id=record.record_id)
        self.add_record(record)


def _record_from(event: TrainingRecordAdded | TrainingRecordUpdated) -> TrainingRecord:
    return TrainingRecord(
        record_id=event.record_id,
        record_type=RecordType(event.record_type),
        object_id=event.object_id,
        title=event.title,
        training_provider=event.training_provider,
        completion_date=date.fromisoformat(event.completion_date),
        other_information=event.other_information,
        code_id=event.code_id,
    )


def _record_from_fields(fields: dict[str, Any]) -> TrainingRecord:
    return TrainingRecord(
        record_id=fields["record_id"],
        record_type=RecordType(fields["record_type"]),
        object_id=fields["object_id"],
        title=fields["title"],
        training_provider=fields["training_provider"],
        completion_date=date.fromisoformat(fields["completion_date"]),
        other_information=fields["other_information"],
        code_id=fields["code_id"],
    )


class UserRegistered(Event):
    TOPIC = "qualify:UserRegistered"
    username: str
    email: str
    first_name: str
    last_name: str

    def create(self) -> Learner:
        return Learner(self.originator_id, self.timestamp, self)

    def apply(self, aggregate: Learner) -> None:
        pass


class Enrolled(Event):
    TOPIC = "qualify:Enrolled"
    content_id: str

    def apply(self, aggregate: Learner) -> None:
        aggregate.enrolments.add(self.content_id)


class ContentCompleted(Event):
    TOPIC = "qualify:ContentCompleted"
    content_id: str
    completion_date: str
    record_id: str | None

    def apply(self, aggregate: Learner) -> None:
        aggregate.completions[(self.content_id, self.completion_date)] = self.record_id


class RecordEvent(Event):
    abstract = True
    record_id: str
    record_type: str
    object_id: str | None
    title: str
    training_provider: str
    completion_date: str
    other_information: str
    code_id: str | None


class TrainingRecordAdded(RecordEvent):
    TOPIC = "qualify:TrainingRecordAdded"

    def apply(self, aggregate: Learner) -> None:
        aggregate.records[self.record_id] = _record_from(self)


class TrainingRecordUpdated(RecordEvent):
    TOPIC = "qualify:TrainingRecordUpdated"
    previous_code_id: str | None

    def apply(self, aggregate: Learner) -> None:
        aggregate.records[self.record_id] = _record_from(self)


class TrainingRecordDeleted(Event):
    TOPIC = "qualify:TrainingRecordDeleted"
    record_id: str
    code_id: str | None

    def apply(self, aggregate: Learner) -> None:
        aggregate.records.pop(self.record_id, None)
        aggregate.deleted_records.add(self.record_id)


class PathJoined(Event):
    TOPIC = "qualify:PathJoined"
    path_id: str

    def apply(self, aggregate: Learner) -> None:
        aggregate.joined_paths.add(self.path_id)


class PathCompleted(Event):
    TOPIC = "qualify:PathCompleted"
    path_id: str
    record_id: str

    def apply(self, aggregate: Learner) -> None:
        aggregate.awarded_paths[self.path_id] = self.record_id
