"""Commands: what a user asks the system to do, as they typed it.

Fields hold raw input; the handlers trim, normalise and check them, so every entry
point (GraphQL, the command line, the demo loader) gets the same rules and errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from domain.content import ContentKind, Status
from domain.imports import ParsedFile
from domain.principal import Right, Role


class Unchanged(Enum):
    """Marks a field an update leaves as it is (``None`` means "clear it")."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class CreateCode:
    code: str
    description: str = ""


@dataclass(frozen=True)
class UpdateCodeDescription:
    code: str
    description: str


@dataclass(frozen=True)
class RenameCode:
    code: str
    new_code: str


@dataclass(frozen=True)
class DeleteCode:
    code: str


@dataclass(frozen=True)
class SetCodeValidity:
    """Months a record with this code stays valid; None means it never expires."""

    code: str
    months: int | None


@dataclass(frozen=True)
class Module:
    title: str
    description: str = ""
    length_minutes: int = 0


@dataclass(frozen=True)
class Session:
    starts_at: datetime
    location: str | None = None


@dataclass(frozen=True)
class CreateContent:
    """CreateCourse, CreateQuiz and CreateTrainingEvent, told apart by ``kind``."""

    kind: ContentKind
    title: str
    description: str = ""
    recorded_in_training_record: bool = True
    code: str | None = None
    prerequisite: str = ""
    status: Status = Status.LIVE
    modules: tuple[Module, ...] = ()
    pass_mark: int | None = None
    sessions: tuple[Session, ...] = ()


@dataclass(frozen=True)
class SetContentCode:
    content_id: str
    code: str | None


@dataclass(frozen=True)
class StepInput:
    code: str
    title: str
    points: int
    mandatory: bool = False


@dataclass(frozen=True)
class CreateLearningPath:
    code: str
    title: str
    steps: tuple[StepInput, ...]
    description: str = ""
    pass_mark: int | None = None
    status: Status = Status.LIVE
    counts_expired: bool = False


@dataclass(frozen=True)
class SetPathSteps:
    path_code: str
    steps: tuple[StepInput, ...]
    pass_mark: int | Unchanged | None = UNCHANGED


@dataclass(frozen=True)
class SetPathCountsExpired:
    """Whether expired records still satisfy the path's steps."""

    path_code: str
    counts_expired: bool


@dataclass(frozen=True)
class RegisterUser:
    username: str
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class JoinPath:
    path_code: str
    username: str


@dataclass(frozen=True)
class Enrol:
    content_id: str
    username: str


@dataclass(frozen=True)
class CompleteContent:
    content_id: str
    username: str
    completion_date: date


@dataclass(frozen=True)
class AddTrainingRecord:
    username: str
    title: str
    completion_date: date
    training_provider: str = ""
    other_information: str = ""
    code: str | None = None


@dataclass(frozen=True)
class UpdateTrainingRecord:
    record_id: str
    title: str | Unchanged = UNCHANGED
    training_provider: str | Unchanged = UNCHANGED
    completion_date: date | Unchanged = UNCHANGED
    other_information: str | Unchanged = UNCHANGED
    code: str | Unchanged | None = UNCHANGED


@dataclass(frozen=True)
class DeleteRecord:
    record_id: str


@dataclass(frozen=True)
class AssignRole:
    username: str
    role: Role


@dataclass(frozen=True)
class GrantRight:
    username: str
    right: Right


@dataclass(frozen=True)
class RevokeRight:
    username: str
    right: Right


@dataclass(frozen=True)
class SetManager:
    """Who ``username`` reports to; None means nobody."""

    username: str
    manager: str | None


@dataclass(frozen=True)
class ImportTrainingRecords:
    """A whole CSV file of records, read already; applied entirely or not at all."""

    file_name: str
    parsed: ParsedFile
    dry_run: bool = False


Command = (
    CreateCode
    | UpdateCodeDescription
    | RenameCode
    | DeleteCode
    | SetCodeValidity
    | CreateContent
    | SetContentCode
    | CreateLearningPath
    | SetPathSteps
    | SetPathCountsExpired
    | RegisterUser
    | JoinPath
    | Enrol
    | CompleteContent
    | AddTrainingRecord
    | UpdateTrainingRecord
    | DeleteRecord
    | ImportTrainingRecords
    | AssignRole
    | GrantRight
    | RevokeRight
    | SetManager
)
