"""Qualification codes: the syntax rule, the code itself, and the claim on a name.

A code's identity is a random id that never changes; its name (``CLAESS``) is an
attribute, so a rename is one event and everything that refers to the code by id
shows the new name at once. Uniqueness of names among live codes is held by a
second aggregate per name, whose id is derived from the name: two commands claiming
the same name write to the same aggregate, and the store lets only one of them win.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from string import ascii_letters, digits
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.errors import InvalidCode, InvalidInput
from domain.events import Aggregate, Event
from domain.text import hidden_character

MAX_CODE_LENGTH = 32
MAX_DESCRIPTION_LENGTH = 2000
_ALLOWED = frozenset(ascii_letters + digits)
_NAME_NAMESPACE = uuid5(NAMESPACE_URL, "qualify:code-name")


def normalise_code(raw: str, field: str = "code") -> str:
    """Trim and upper-case ``raw``, refusing anything but 1-32 letters and digits."""
    text = raw.strip()
    lead = len(raw) - len(raw.lstrip())

    if not text:
        raise InvalidCode(
            "A qualification code needs 1 to 32 letters A-Z or digits 0-9; "
            "this one is empty.",
            field=field,
        )

    for index, char in enumerate(text):
        if char not in _ALLOWED:
            raise InvalidCode(
                f"{_describe(char)} at position {lead + index + 1} is not allowed: "
                "a qualification code has only letters A-Z and digits 0-9.",
                field=field,
            )

    if len(text) > MAX_CODE_LENGTH:
        raise InvalidCode(
            f"A qualification code has at most {MAX_CODE_LENGTH} characters; "
            f"this one has {len(text)}.",
            field=field,
        )
    return text.upper()


def _describe(char: str) -> str:
    name = unicodedata.name(char, "unnamed")
    point = f"U+{ord(char):04X} {name}"
    if char.isprintable() and not char.isspace():
        return f"Character '{char}' ({point})"
    # Spaces and invisible characters are named, since quoting them shows nothing.
    return f"Character {point}"


def check_description(description: str, field: str = "description") -> str:
    """Trim a free-text description and bound its length."""
    text = description.strip()
    hidden = hidden_character(text, allowed="\n\t")
    if hidden:
        raise InvalidInput(
            f"A description cannot hold the control or invisible character {hidden}.",
            field=field,
        )
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"A description has at most {MAX_DESCRIPTION_LENGTH} characters; "
            f"this one has {len(text)}.",
            field=field,
        )
    return text


class UseKind(StrEnum):
    """What can carry a qualification code, besides training records."""

    COURSE = "COURSE"
    QUIZ = "QUIZ"
    TRAINING_EVENT = "TRAINING_EVENT"
    LEARNING_PATH = "LEARNING_PATH"
    LEARNING_STEP = "LEARNING_STEP"


class QualificationCode(Aggregate):
    """A code, what uses it, and how many active training records carry it."""

    TOPIC = "qualify:QualificationCode"
    SNAPSHOT_SHAPE = 1

    def __init__(
        self,
        id: UUID,
        created_on: datetime,
        code: str,
        description: str,
    ) -> None:
        super().__init__(id, created_on)
        self.code = code
        self.description = description
        self.deleted = False
        # owner id -> (kind, id of the path a step belongs to, or the owner itself)
        self.uses: dict[str, tuple[str, str]] = {}
        self.record_count = 0

    def snapshot_state(self) -> dict[str, Any]:
        """The code's name, uses and count, as plain JSON values."""
        return {
            "code": self.code,
            "description": self.description,
            "deleted": self.deleted,
            "uses": [
                [owner, kind, container]
                for owner, (kind, container) in self.uses.items()
            ],
            "record_count": self.record_count,
        }

    @classmethod
    def from_snapshot(
        cls, id: UUID, created_on: datetime, state: dict[str, Any]
    ) -> QualificationCode:
        """The code ``snapshot_state`` wrote down."""
        code = cls(id, created_on, state["code"], state["description"])
        code.deleted = state["deleted"]
        code.uses = {
            owner: (kind, container) for owner, kind, container in state["uses"]
        }
        code.record_count = state["record_count"]
        return code

    def size(self) -> int:
        """The code and each of its uses; its records are only counted."""
        return 1 + len(self.uses)

    @property
    def in_use(self) -> bool:
        """Whether anything still carries this code."""
        return bool(self.uses) or self.record_count > 0

    def describe(self, description: str) -> None:
        """Change the description shown beside the code."""
        self.trigger(CodeDescriptionUpdated, description=description)

    def rename(self, new_code: str) -> None:
        """Give the code a new name; everything refers to it by id, not by name."""
        self.trigger(CodeRenamed, old_code=self.code, new_code=new_code)

    def delete(self) -> None:
        """Retire the code; its history stays."""
        self.trigger(CodeDeleted, code=self.code)

    def attach(self, kind: UseKind, owner_id: str, container_id: str) -> None:
        """Note that ``owner_id`` (content, path or step) carries this code."""
        if self.uses.get(owner_id) != (kind, container_id):
            self.trigger(
                CodeAttached,
                kind=kind.value,
                owner_id=owner_id,
                container_id=container_id,
            )

    def detach(self, owner_id: str) -> None:
        """Note that ``owner_id`` no longer carries this code."""
        if owner_id in self.uses:
            kind, _ = self.uses[owner_id]
            self.trigger(CodeDetached, kind=kind, owner_id=owner_id)

    # Counting records here makes every record with this code append to this
    # aggregate; a snapshot spares a load all but the latest of those events.
    def add_records(self, count: int) -> None:
        """Count ``count`` more active training records carrying this code."""
        if count:
            self.trigger(CodeRecordsAdded, count=count)

    def remove_records(self, count: int) -> None:
        """Count ``count`` fewer active training records carrying this code."""
        if count:
            self.trigger(CodeRecordsRemoved, count=count)


class CodeEvent(Event):
    abstract = True


class CodeCreated(CodeEvent):
    TOPIC = "qualify:CodeCreated"
    code: str
    description: str

    def create(self) -> QualificationCode:
        return QualificationCode(
            self.originator_id, self.timestamp, self.code, self.description
        )

    def apply(self, aggregate: QualificationCode) -> None:
        pass


class CodeDescriptionUpdated(CodeEvent):
    TOPIC = "qualify:CodeDescriptionUpdated"
    description: str

    def apply(self, aggregate: QualificationCode) -> None:
        aggregate.description = self.description


class CodeRenamed(CodeEvent):
    TOPIC = "qualify:CodeRenamed"
    old_code: str
    new_code: str

    def apply(self, aggregate: QualificationCode) -> None:
        aggregate.code = self.new_code


class CodeDeleted(CodeEvent):
    TOPIC = "qualify:CodeDeleted"
    code: str

    def apply(self, aggregate: QualificationCode) -> None:
        aggregate.deleted = True


class CodeAttached(CodeEvent):
    TOPIC = "qualify:CodeAttached"
    kind: str
    owner_id: str
    container_id: str

    def apply(self, aggregate: QualificationCode) -> None:
        aggregate.uses[self.owner_id] = (self.kind, self.container_id)


class CodeDetached(CodeEvent):
    TOPIC = "qualify:CodeDetached"
    kind: str
    owner_id: str

    def apply(self, aggregate: QualificationCode) -> None:
        aggregate.uses.pop(self.owner_id, None)


class CodeRecordsAdded(CodeEvent):
    TOPIC = "qualify:CodeRecordsAdded"
    count: int

    def apply(self, aggregate: QualificationCode) -> None:
        aggregate.record_count += self.count


class CodeRecordsRemoved(CodeEvent):
    TOPIC = "qualify:CodeRecordsRemoved"
    count: int

    def apply(self, aggregate: QualificationCode) -> None:
        aggregate.record_count -= self.count


def code_name_id(code: str) -> UUID:
    """The id of the claim on a (normalised) code name."""
    return uuid5(_NAME_NAMESPACE, code)


class CodeName(Aggregate):
    """Who holds a code name now, and where the name went if it was renamed away."""

    TOPIC = "qualify:CodeName"

    def __init__(self, id: UUID, created_on: datetime, name: str) -> None:
        super().__init__(id, created_on)
        self.name = name
        self.code_id: str | None = None
        self.renamed_to: str | None = None

    @classmethod
    def claim_new(cls, name: str, code_id: UUID) -> CodeName:
        """Claim a name never used before."""
        return cls.start(
            CodeNameClaimed, code_name_id(name), name=name, code_id=str(code_id)
        )

    def claim(self, code_id: UUID) -> None:
        """Claim a name that was released by a rename or a delete."""
        self.trigger(CodeNameClaimed, name=self.name, code_id=str(code_id))

    def release(self, renamed_to: str | None) -> None:
        """Free the name, remembering where it went when that was a rename."""
        self.trigger(CodeNameReleased, name=self.name, renamed_to=renamed_to)


class CodeNameClaimed(Event):
    TOPIC = "qualify:CodeNameClaimed"
    name: str
    code_id: str

    def create(self) -> CodeName:
        return CodeName(self.originator_id, self.timestamp, self.name)

    def apply(self, aggregate: CodeName) -> None:
        aggregate.code_id = self.code_id
        aggregate.renamed_to = None


class CodeNameReleased(Event):
    TOPIC = "qualify:CodeNameReleased"
    name: str
    renamed_to: str | None

    def apply(self, aggregate: CodeName) -> None:
        aggregate.code_id = None
        aggregate.renamed_to = self.renamed_to
