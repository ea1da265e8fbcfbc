"""Mutations: one ``input`` argument in, a payload with the result and ``userErrors``
out. A payload is read from the read models after the command's events are
projected, so it shows exactly what the next query will.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import strawberry
from anyio import to_thread
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from domain import commands as c
from domain.application import Outcome
from domain.codes import normalise_code
from domain.content import ContentKind
from domain.content import Status as DomainStatus
from domain.errors import InvalidInput, QualifyError
from domain.imports import ImportRefused, ImportRejected, read_file
from domain.learners import latest_completion_date, normalise_username
from domain.principal import Right
from domain.principal import Role as DomainRole
from graph.context import Info
from graph.errors import UserError
from graph.queries import (
    given_months,
    read_code,
    read_content,
    read_path,
    read_permissions,
    read_progress,
    read_record,
)
from graph.types import (
    ImportReport,
    LearningContent,
    LearningPath,
    PathProgress,
    Permissions,
    QualificationCode,
    RightName,
    Role,
    Status,
    TrainingRecord,
    User,
)
from projections import learners
from projections.database import Db

T = TypeVar("T")


async def _run(
    info: Info, build: Callable[[], c.Command]
) -> tuple[Outcome | None, list[UserError]]:
    """Run a command in a worker thread; an expected failure becomes a user error.

    Shortcoming: a SQLite store whose write lock another process holds past the
    wait (30 s) fails the command as a defect would, INTERNAL_SERVER_ERROR, not
    as a store that is busy.
    """
    context = info.context
    correlation_id, idempotency_key = context.next_command()
    try:
        command = build()
        outcome = await to_thread.run_sync(
            context.backend.handle,
            command,
            context.principal,
            correlation_id,
            idempotency_key,
        )
    except QualifyError as error:
        context.user_errors.append(error.code)
        return None, [UserError.of(error)]
    context.behind = context.behind or not outcome.caught_up
    return outcome, []


async def _result(
    info: Info, outcome: Outcome | None, read: Callable[[Db, str], T]
) -> T | None:
    # Read models that have not applied the command could only answer with what
    # was there before it, or with nothing found: null, and readModelsBehind says
    # why.
    if outcome is None or outcome.value is None or not outcome.caught_up:
        return None
    value = outcome.value
    return await info.context.read(lambda db: read(db, value))


def _unset_to(value: Any, default: Any) -> Any:
    return default if value is strawberry.UNSET else value


# Inputs


@strawberry.input
class CreateCodeInput:
    code: str
    description: str = ""


@strawberry.input
class UpdateCodeDescriptionInput:
    code: str
    description: str


@strawberry.input
class RenameCodeInput:
    code: str
    new_code: str


@strawberry.input
class DeleteCodeInput:
    code: str


@strawberry.input
class SetCodeValidityInput:
    code: str
    months: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Required: months a record with this code stays valid, 1 to "
        "600, or null: it never expires. Applies to every record already held.",
    )


@strawberry.input
class ModuleInput:
    title: str
    description: str = ""
    length_minutes: int


@strawberry.input
class SessionInput:
    starts_at: datetime
    location: str | None = None


@strawberry.input
class _ContentInput:
    """The fields every kind of content shares; each kind adds its own."""

    title: str
    description: str = ""
    recorded_in_training_record: bool = True
    code: str | None = None
    prerequisite: str = ""
    status: Status = DomainStatus.LIVE  # type: ignore[valid-type]


@strawberry.input
class CreateCourseInput(_ContentInput):
    modules: list[ModuleInput] = strawberry.field(default_factory=list)


@strawberry.input
class CreateQuizInput(_ContentInput):
    pass_mark: int = strawberry.field(description="Percent needed to pass, 0-100.")


@strawberry.input
class CreateTrainingEventInput(_ContentInput):
    sessions: list[SessionInput] = strawberry.field(default_factory=list)


@strawberry.input
class SetContentCodeInput:
    content_id: strawberry.ID
    code: str | None = strawberry.field(description="null drops the content's code.")


@strawberry.input
class StepInput:
    code: str
    title: str
    points: int
    mandatory: bool = False


@strawberry.input
class CreateLearningPathInput:
    code: str
    title: str
    steps: list[StepInput]
    description: str = ""
    pass_mark: int | None = strawberry.field(
        default=None, description="Points needed; null means all the steps' points."
    )
    status: Status = DomainStatus.LIVE  # type: ignore[valid-type]
    counts_expired: bool = strawberry.field(
        default=False,
        description="Whether expired records still satisfy the steps.",
    )


@strawberry.input
class SetPathStepsInput:
    path_code: str
    steps: list[StepInput] = strawberry.field(description="The whole new list.")
    pass_mark: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Left out: unchanged. null: all the steps' points.",
    )


@strawberry.input
class SetPathCountsExpiredInput:
    path_code: str
    counts_expired: bool = strawberry.field(
        description="true: a step counts once done, even when its record expired; "
        "false: only while the record is valid."
    )


@strawberry.input
class RegisterUserInput:
    username: str
    email: str
    first_name: str
    last_name: str


@strawberry.input
class JoinPathInput:
    path_code: str
    username: str | None = strawberry.field(
        default=None, description="Left out: the user asking."
    )


@strawberry.input
class EnrolInput:
    content_id: strawberry.ID
    username: str | None = strawberry.field(
        default=None, description="Left out: the user asking."
    )


@strawberry.input
class CompleteContentInput:
    content_id: strawberry.ID
    username: str
    completion_date: date


@strawberry.input
class AddTrainingRecordInput:
    username: str
    title: str
    completion_date: date
    training_provider: str = ""
    other_information: str = ""
    code: str | None = None


@strawberry.input(
    description="Fields left out stay as they are; code: null removes it."
)
class UpdateTrainingRecordInput:
    record_id: strawberry.ID
    title: str | None = strawberry.UNSET
    training_provider: str | None = strawberry.UNSET
    completion_date: date | None = strawberry.UNSET
    other_information: str | None = strawberry.UNSET
    code: str | None = strawberry.UNSET


@strawberry.input
class DeleteRecordInput:
    record_id: strawberry.ID


@strawberry.input
class AssignRoleInput:
    username: str
    role: Role  # type: ignore[valid-type]


@strawberry.input
class RightInput:
    username: str
    right: RightName  # type: ignore[valid-type]


@strawberry.input
class SetManagerInput:
    username: str
    manager: str | None = strawberry.field(description="null: reports to nobody.")


@strawberry.input
class ImportTrainingRecordsInput:
    file: Upload = strawberry.field(description="A CSV file, as the export writes.")
    dry_run: bool = strawberry.field(
        default=False, description="Check and report, and write nothing."
    )


# Payloads


@strawberry.type
class CodePayload:
    code: QualificationCode | None
    user_errors: list[UserError]


@strawberry.type
class DeleteCodePayload:
    deleted_code: str | None
    user_errors: list[UserError]


@strawberry.type
class ContentPayload:
    content: LearningContent | None
    user_errors: list[UserError]


@strawberry.type
class LearningPathPayload:
    learning_path: LearningPath | None
    user_errors: list[UserError]


@strawberry.type
class UserPayload:
    user: User | None
    user_errors: list[UserError]


@strawberry.type
class PathProgressPayload:
    progress: PathProgress | None
    user_errors: list[UserError]


@strawberry.type
class TrainingRecordPayload:
    training_record: TrainingRecord | None = strawberry.field(
        description="Null when the content is not recorded in training records."
    )
    user_errors: list[UserError]


@strawberry.type
class ImportPayload:
    report: ImportReport | None = strawberry.field(
        description="Null only when the file could not be read at all."
    )
    user_errors: list[UserError]


@strawberry.type
class PermissionsPayload:
    permissions: Permissions | None
    user_errors: list[UserError]


@strawberry.type
class DeleteRecordPayload:
    deleted_record_id: strawberry.ID | None
    user_errors: list[UserError]


def _steps(steps: list[StepInput]) -> tuple[c.StepInput, ...]:
    return tuple(c.StepInput(s.code, s.title, s.points, s.mandatory) for s in steps)


def _readable_record(info: Info) -> Callable[[Db, str], TrainingRecord | None]:
    """Reads a command's record for its payload, if the caller may see it now.

    The first answer always may; an idempotent replay is read afresh, after the
    caller may have lost the right to see that learner's records.
    """
    principal = info.context.principal

    def read(db: Db, record_id: str) -> TrainingRecord | None:
        found = read_record(db, record_id)
        return found if found and principal.can_view(found.username) else None

    return read


def _read_user(db: Db, username: str) -> User | None:
    row = learners.learner_by_username(db, username)
    return User.of(row) if row else None


def _content_command(kind: ContentKind, data: Any, **details: Any) -> c.CreateContent:
    return c.CreateContent(
        kind=kind,
        title=data.title,
        description=data.description,
        recorded_in_training_record=data.recorded_in_training_record,
        code=data.code,
        prerequisite=data.prerequisite,
        status=DomainStatus(data.status),
        **details,
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a new qualification code.")
    async def create_code(self, info: Info, input: CreateCodeInput) -> CodePayload:
        outcome, errors = await _run(
            info, lambda: c.CreateCode(input.code, input.description)
        )
        return CodePayload(
            code=await _result(info, outcome, read_code), user_errors=errors
        )

    @strawberry.mutation(description="Change the description shown beside a code.")
    async def update_code_description(
        self, info: Info, input: UpdateCodeDescriptionInput
    ) -> CodePayload:
        outcome, errors = await _run(
            info, lambda: c.UpdateCodeDescription(input.code, input.description)
        )
        return CodePayload(
            code=await _result(info, outcome, read_code), user_errors=errors
        )

    @strawberry.mutation(
        description="Rename a code everywhere at once; the old name becomes free."
    )
    async def rename_code(self, info: Info, input: RenameCodeInput) -> CodePayload:
        outcome, errors = await _run(
            info, lambda: c.RenameCode(input.code, input.new_code)
        )
        return CodePayload(
            code=await _result(info, outcome, read_code), user_errors=errors
        )

    @strawberry.mutation(description="Delete a code that nothing uses any more.")
    async def delete_code(
        self, info: Info, input: DeleteCodeInput
    ) -> DeleteCodePayload:
        outcome, errors = await _run(info, lambda: c.DeleteCode(input.code))
        return DeleteCodePayload(
            deleted_code=outcome.value if outcome else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Set how long records with this code stay valid, or that they "
        "never expire; every record already held follows at once."
    )
    async def set_code_validity(
        self, info: Info, input: SetCodeValidityInput
    ) -> CodePayload:
        outcome, errors = await _run(
            info, lambda: c.SetCodeValidity(input.code, given_months(input.months))
        )
        return CodePayload(
            code=await _result(info, outcome, read_code), user_errors=errors
        )

    @strawberry.mutation(description="Create a course with its modules.")
    async def create_course(
        self, info: Info, input: CreateCourseInput
    ) -> ContentPayload:
        modules = tuple(
            c.Module(m.title, m.description, m.length_minutes) for m in input.modules
        )
        outcome, errors = await _run(
            info,
            lambda: _content_command(ContentKind.COURSE, input, modules=modules),
        )
        return ContentPayload(
            content=await _result(info, outcome, read_content), user_errors=errors
        )

    @strawberry.mutation(description="Create a quiz with its pass mark.")
    async def create_quiz(self, info: Info, input: CreateQuizInput) -> ContentPayload:
        outcome, errors = await _run(
            info,
            lambda: _content_command(
                ContentKind.QUIZ, input, pass_mark=input.pass_mark
            ),
        )
        return ContentPayload(
            content=await _result(info, outcome, read_content), user_errors=errors
        )

    @strawberry.mutation(description="Create a training event with its sessions.")
    async def create_training_event(
        self, info: Info, input: CreateTrainingEventInput
    ) -> ContentPayload:
        sessions = tuple(c.Session(s.starts_at, s.location) for s in input.sessions)
        outcome, errors = await _run(
            info,
            lambda: _content_command(
                ContentKind.TRAINING_EVENT, input, sessions=sessions
            ),
        )
        return ContentPayload(
            content=await _result(info, outcome, read_content), user_errors=errors
        )

    @strawberry.mutation(
        description="Set or drop a content item's code; a new code is registered."
    )
    async def set_content_code(
        self, info: Info, input: SetContentCodeInput
    ) -> ContentPayload:
        outcome, errors = await _run(
            info, lambda: c.SetContentCode(str(input.content_id), input.code)
        )
        return ContentPayload(
            content=await _result(info, outcome, read_content), user_errors=errors
        )

    @strawberry.mutation(description="Create a learning path with its steps.")
    async def create_learning_path(
        self, info: Info, input: CreateLearningPathInput
    ) -> LearningPathPayload:
        outcome, errors = await _run(
            info,
            lambda: c.CreateLearningPath(
                code=input.code,
                title=input.title,
                steps=_steps(input.steps),
                description=input.description,
                pass_mark=input.pass_mark,
                status=DomainStatus(input.status),
                counts_expired=input.counts_expired,
            ),
        )
        return LearningPathPayload(
            learning_path=await _result(info, outcome, read_path), user_errors=errors
        )

    @strawberry.mutation(
        description="Replace a path's steps; every participant is re-measured."
    )
    async def set_path_steps(
        self, info: Info, input: SetPathStepsInput
    ) -> LearningPathPayload:
        outcome, errors = await _run(
            info,
            lambda: c.SetPathSteps(
                path_code=input.path_code,
                steps=_steps(input.steps),
                pass_mark=_unset_to(input.pass_mark, c.UNCHANGED),
            ),
        )
        return LearningPathPayload(
            learning_path=await _result(info, outcome, read_path), user_errors=errors
        )

    @strawberry.mutation(
        description="Choose whether expired records still satisfy a path's steps."
    )
    async def set_path_counts_expired(
        self, info: Info, input: SetPathCountsExpiredInput
    ) -> LearningPathPayload:
        outcome, errors = await _run(
            info,
            lambda: c.SetPathCountsExpired(input.path_code, input.counts_expired),
        )
        return LearningPathPayload(
            learning_path=await _result(info, outcome, read_path), user_errors=errors
        )

    @strawberry.mutation(description="Register a user who can hold records.")
    async def register_user(self, info: Info, input: RegisterUserInput) -> UserPayload:
        outcome, errors = await _run(
            info,
            lambda: c.RegisterUser(
                input.username, input.email, input.first_name, input.last_name
            ),
        )
        return UserPayload(
            user=await _result(info, outcome, _read_user), user_errors=errors
        )

    @strawberry.mutation(description="Join a learning path to see your progress.")
    async def join_path(self, info: Info, input: JoinPathInput) -> PathProgressPayload:
        username = input.username or info.context.principal.username
        outcome, errors = await _run(
            info, lambda: c.JoinPath(input.path_code, username)
        )
        progress = None
        user = normalise_username(username)
        # A replayed answer is read afresh, so only what the caller may see now.
        if (
            outcome is not None
            and outcome.caught_up
            and info.context.principal.can_view(user)
        ):
            path_code = normalise_code(input.path_code)
            day = info.context.backend.today()
            progress = await info.context.read(
                lambda db: read_progress(db, path_code, user, day)
            )
        return PathProgressPayload(progress=progress, user_errors=errors)

    @strawberry.mutation(description="Enrol a learner on a course, quiz or event.")
    async def enrol(self, info: Info, input: EnrolInput) -> ContentPayload:
        username = input.username or info.context.principal.username
        outcome, errors = await _run(
            info, lambda: c.Enrol(str(input.content_id), username)
        )
        return ContentPayload(
            content=await _result(info, outcome, read_content), user_errors=errors
        )

    @strawberry.mutation(
        description="Complete content on a date; recorded content adds a record."
    )
    async def complete_content(
        self, info: Info, input: CompleteContentInput
    ) -> TrainingRecordPayload:
        outcome, errors = await _run(
            info,
            lambda: c.CompleteContent(
                str(input.content_id), input.username, input.completion_date
            ),
        )
        return TrainingRecordPayload(
            training_record=await _result(info, outcome, _readable_record(info)),
            user_errors=errors,
        )

    @strawberry.mutation(description="Add a manual or external training record.")
    async def add_training_record(
        self, info: Info, input: AddTrainingRecordInput
    ) -> TrainingRecordPayload:
        outcome, errors = await _run(
            info,
            lambda: c.AddTrainingRecord(
                username=input.username,
                title=input.title,
                completion_date=input.completion_date,
                training_provider=input.training_provider,
                other_information=input.other_information,
                code=input.code,
            ),
        )
        return TrainingRecordPayload(
            training_record=await _result(info, outcome, _readable_record(info)),
            user_errors=errors,
        )

    @strawberry.mutation(description="Correct a record's fields or remove its code.")
    async def update_training_record(
        self, info: Info, input: UpdateTrainingRecordInput
    ) -> TrainingRecordPayload:
        def build() -> c.UpdateTrainingRecord:
            return c.UpdateTrainingRecord(
                record_id=str(input.record_id),
                title=_required(input.title, "title"),
                training_provider=_required(
                    input.training_provider, "trainingProvider"
                ),
                completion_date=_required(input.completion_date, "completionDate"),
                other_information=_required(
                    input.other_information, "otherInformation"
                ),
                code=_unset_to(input.code, c.UNCHANGED),
            )

        outcome, errors = await _run(info, build)
        return TrainingRecordPayload(
            training_record=await _result(info, outcome, _readable_record(info)),
            user_errors=errors,
        )

    @strawberry.mutation(
        description="Import training records from CSV: all rows or none."
    )
    async def import_training_records(
        self, info: Info, input: ImportTrainingRecordsInput
    ) -> ImportPayload:
        context = info.context
        limit = context.backend.settings.import_max_bytes
        try:
            name, data = await _read_upload(input.file, limit)
            parsed = await to_thread.run_sync(read_file, data, latest_completion_date())
        except ImportRefused as error:
            context.user_errors.append(error.code)
            return ImportPayload(report=None, user_errors=[UserError.of(error)])

        command = c.ImportTrainingRecords(name, parsed, dry_run=input.dry_run)
        correlation_id, idempotency_key = context.next_command()
        try:
            outcome = await to_thread.run_sync(
                context.backend.handle,
                command,
                context.principal,
                correlation_id,
                idempotency_key,
            )
        except ImportRejected as error:
            context.user_errors.append(error.code)
            return ImportPayload(
                report=ImportReport.of(error.report), user_errors=[UserError.of(error)]
            )
        except QualifyError as error:
            context.user_errors.append(error.code)
            return ImportPayload(report=None, user_errors=[UserError.of(error)])
        context.behind = context.behind or not outcome.caught_up
        report = ImportReport.of(outcome.report) if outcome.report else None
        return ImportPayload(report=report, user_errors=[])

    @strawberry.mutation(
        description="Delete a training record; course activity keeps the completion."
    )
    async def delete_record(
        self, info: Info, input: DeleteRecordInput
    ) -> DeleteRecordPayload:
        outcome, errors = await _run(info, lambda: c.DeleteRecord(str(input.record_id)))
        return DeleteRecordPayload(
            deleted_record_id=strawberry.ID(outcome.value)
            if outcome and outcome.value
            else None,
            user_errors=errors,
        )

    @strawberry.mutation(description="Give a user a role in place of any earlier one.")
    async def assign_role(
        self, info: Info, input: AssignRoleInput
    ) -> PermissionsPayload:
        return await _permissions_change(
            info, lambda: c.AssignRole(input.username, DomainRole(input.role))
        )

    @strawberry.mutation(description="Grant a user one right beyond their role's.")
    async def grant_right(self, info: Info, input: RightInput) -> PermissionsPayload:
        return await _permissions_change(
            info, lambda: c.GrantRight(input.username, Right(input.right))
        )

    @strawberry.mutation(description="Take back a right granted to a user alone.")
    async def revoke_right(self, info: Info, input: RightInput) -> PermissionsPayload:
        return await _permissions_change(
            info, lambda: c.RevokeRight(input.username, Right(input.right))
        )

    @strawberry.mutation(
        description="Set whom a user reports to; their manager's chain sees their "
        "records with subordinates' rights."
    )
    async def set_manager(
        self, info: Info, input: SetManagerInput
    ) -> PermissionsPayload:
        return await _permissions_change(
            info, lambda: c.SetManager(input.username, input.manager)
        )


async def _permissions_change(
    info: Info, build: Callable[[], c.Command]
) -> PermissionsPayload:
    outcome, errors = await _run(info, build)
    principal = info.context.principal

    def read(db: Db, username: str) -> Permissions:
        own = username == principal.username
        # Another user's token is not at hand: their role is known only if assigned.
        role = principal.role if own else DomainRole.LEARNER
        return read_permissions(db, username, role, own)

    return PermissionsPayload(
        permissions=await _result(info, outcome, read), user_errors=errors
    )


async def _read_upload(upload: object, limit: int) -> tuple[str, bytes]:
    if not isinstance(upload, UploadFile):
        # A plain form field or a JSON string where the file should be.
        raise ImportRefused(
            "file must be an uploaded file (a multipart part with a filename).",
            field="file",
        )
    # Read one byte past the limit: enough to know, never the whole of a huge file.
    try:
        data = await upload.read(limit + 1)
    finally:
        await upload.close()
    if len(data) > limit:
        raise ImportRefused(
            f"The file is larger than the import limit of {limit} bytes.",
            field="file",
        )
    return upload.filename or "upload.csv", data


def _required(value: T | None, field: str) -> T | c.Unchanged:
    # Only the code can be cleared; the other fields can be left out, not nulled.
    if value is strawberry.UNSET:
        return c.UNCHANGED
    if value is None:
        raise InvalidInput(
            f"{field} cannot be null; leave it out to keep it.", field=field
        )
    return value
