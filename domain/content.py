"""Learning content: courses with modules, quizzes with a pass mark, training events
with sessions. Each may carry a qualification code, but only when it is recorded in
training records, since the code is what ties a completion to a learner's record.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.codes import UseKind
from domain.errors import CodeRequiresTrainingRecord, InvalidInput
from domain.events import Aggregate, Event
from domain.text import hidden_character

MAX_TITLE_LENGTH = 200
MAX_TEXT_LENGTH = 5000


class ContentKind(StrEnum):
    """The three kinds of learning content, named as the code-usage index names them."""

    COURSE = "COURSE"
    QUIZ = "QUIZ"
    TRAINING_EVENT = "TRAINING_EVENT"

    @property
    def use_kind(self) -> UseKind:
        """How a code use by this kind of content is listed."""
        return UseKind(self.value)

    @property
    def label(self) -> str:
        """The name people see ("Training Event")."""
        return self.value.replace("_", " ").title()


class Status(StrEnum):
    """Draft content and paths are invisible to learners; live ones are open."""

    DRAFT = "DRAFT"
    LIVE = "LIVE"


def check_title(title: str, field: str = "title") -> str:
    """Trim a title; it must be 1 to 200 characters, on one line, all visible."""
    text = title.strip()
    hidden = hidden_character(text, allowed="")
    if hidden:
        raise InvalidInput(
            f"A title cannot hold the control or invisible character {hidden}.",
            field=field,
        )
    if not text:
        raise InvalidInput("A title cannot be empty.", field=field)
    if len(text) > MAX_TITLE_LENGTH:
        raise InvalidInput(
            f"A title has at most {MAX_TITLE_LENGTH} characters; "
            f"this one has {len(text)}.",
            field=field,
        )
    return text


def check_text(text: str, field: str) -> str:
    """Trim free text (descriptions, prerequisites) and bound its length."""
    value = text.strip()
    hidden = hidden_character(value, allowed="\n\t")
    if hidden:
        raise InvalidInput(
            f"This text cannot hold the control or invisible character {hidden}.",
            field=field,
        )
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidInput(
            f"This text has at most {MAX_TEXT_LENGTH} characters; "
            f"this one has {len(value)}.",
            field=field,
        )
    return value


class LearningContent(Aggregate):
    """A course, quiz or training event."""

    TOPIC = "qualify:LearningContent"

    def __init__(
        self,
        id: UUID,
        created_on: datetime,
        event: ContentCreated,
    ) -> None:
        super().__init__(id, created_on)
        self.kind = ContentKind(event.kind)
        self.title = event.title
        self.description = event.description
        self.status = Status(event.status)
        self.prerequisite = event.prerequisite
        self.recorded_in_training_record = event.recorded_in_training_record
        self.code_id: str | None = None
        self.details: dict[str, Any] = dict(event.details)

    @property
    def is_live(self) -> bool:
        """Whether learners can enrol on and complete it."""
        return self.status is Status.LIVE

    def check_code_allowed(self) -> None:
        """Refuse a code on content whose completions leave no training record."""
        if not self.recorded_in_training_record:
            raise CodeRequiresTrainingRecord(
                f"'{self.title}' is not recorded in training records, so it cannot "
                "carry a qualification code; turn on recordedInTrainingRecord first.",
                field="code",
            )

    def set_code(self, code_id: UUID | None) -> None:
        """Give the content a code, or take it away with ``None``."""
        new = str(code_id) if code_id else None
        if new != self.code_id:
            self.trigger(ContentCodeSet, code_id=new, previous_code_id=self.code_id)


class ContentCreated(Event):
    TOPIC = "qualify:ContentCreated"
    kind: str
    title: str
    description: str
    status: str
    prerequisite: str
    recorded_in_training_record: bool
    # Modules of a course, pass mark of a quiz, sessions of a training event.
    details: dict[str, Any]

    def create(self) -> LearningContent:
        return LearningContent(self.originator_id, self.timestamp, self)

    def apply(self, aggregate: LearningContent) -> None:
        pass


class ContentCodeSet(Event):
    TOPIC = "qualify:ContentCodeSet"
    code_id: str | None
    previous_code_id: str | None

    def apply(self, aggregate: LearningContent) -> None:
        aggregate.code_id = self.code_id
