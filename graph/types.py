"""The GraphQL object types, built from read-model rows."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Generic, TypeVar
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from domain.codes import UseKind as DomainUseKind
from domain.content import ContentKind as DomainContentKind
from domain.content import Status as DomainStatus
from domain.errors import InvalidInput
from domain.imports import Action
from domain.imports import ImportReport as DomainImportReport
from domain.learners import RecordType as DomainRecordType
from domain.paths import Progress, Step
from domain.principal import Principal, Right
from domain.principal import Role as DomainRole
from domain.validity import CertificateStatus as DomainCertificateStatus
from domain.validity import expiry_date, status_on, validity_id
from graph.context import Context, Info
from graph.execution import READ
from graph.scope import reach_of
from projections import audit_log, path_progress
from projections.audit_log import AuditRow, EventFilter
from projections.certificates import CertificateRow
from projections.code_usage import CodeRow, Use, ValidityChangeRow
from projections.course_activity import Activity, ContentRow
from projections.database import Db
from projections.learners import LearnerRow
from projections.paging import Page
from projections.path_progress import ParticipantRow, PathRow, ProgressRow
from projections.training_records import RecordRow

UseKind = strawberry.enum(DomainUseKind, description="What carries a code.")
ContentKind = strawberry.enum(DomainContentKind, description="Kinds of content.")
Status = strawberry.enum(DomainStatus, description="Draft or live.")
RecordType = strawberry.enum(
    DomainRecordType, description="What produced a training record."
)
Role = strawberry.enum(DomainRole, description="A named bundle of rights.")
RightName = strawberry.enum(Right, name="Right", description="What an operation needs.")
CertificateStatus = strawberry.enum(
    DomainCertificateStatus,
    description="A record on a given day: valid, expiring within the configured "
    "window (30 days unless set otherwise), or expired.",
)

N = TypeVar("N")
T = TypeVar("T")


@strawberry.type(description="Where a page of a list stands in the whole list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="One item of a list, with its cursor.")
class Edge(Generic[N]):
    cursor: str
    node: N


def _nodes_of(page: Connection[N], context: Context | None = None) -> list[N]:
    """A connection's ``nodes``, read directly."""
    return [edge.node for edge in page.edges]


@strawberry.type(description="A page of a list, paged by cursor.")
class Connection(Generic[N]):
    total_count: int
    page_info: PageInfo
    edges: list[Edge[N]]

    @strawberry.field(
        description="The page's items, without their cursors.",
        metadata={READ: _nodes_of},
    )
    def nodes(self) -> list[N]:
        return _nodes_of(self)


def connection(page: Page[T], nodes: list[N]) -> Connection[N]:
    """A connection of ``nodes`` built from the page they came from."""
    cursors = list(page.cursors)
    return Connection(
        total_count=page.total_count,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        edges=[Edge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)],
    )


@strawberry.type(description="Something that carries a qualification code.")
class CodeUse:
    kind: UseKind  # type: ignore[valid-type]
    id: strawberry.ID
    title: str
    path_id: strawberry.ID | None = strawberry.field(
        description="For a step, the path it belongs to."
    )

    @classmethod
    def of(cls, use: Use) -> CodeUse:
        path_id = use.path_id if use.kind == DomainUseKind.LEARNING_STEP else None
        return cls(
            kind=DomainUseKind(use.kind),
            id=strawberry.ID(use.owner_id),
            title=use.title,
            path_id=strawberry.ID(path_id) if path_id else None,
        )


@strawberry.type(description="One stored event: who did what, when, and why.")
class AuditEvent:
    position: int = strawberry.field(description="Its place in the whole log.")
    type: str = strawberry.field(description="The event's name, e.g. CodeRenamed.")
    aggregate_id: strawberry.ID
    aggregate_version: int
    occurred_at: datetime
    actor: str = strawberry.field(description="The username whose command it was.")
    correlation_id: str = strawberry.field(
        description="Shared by every event of one command (the request id)."
    )
    payload: JSON = strawberry.field(description="The event's own fields.")

    @classmethod
    def of(cls, row: AuditRow) -> AuditEvent:
        return cls(
            position=row.position,
            type=row.event_type,
            aggregate_id=strawberry.ID(row.aggregate_id),
            aggregate_version=row.aggregate_version,
            occurred_at=datetime.fromisoformat(row.occurred_at),
            actor=row.actor,
            correlation_id=row.correlation_id,
            payload=json.loads(row.payload),
        )


async def history(
    info: Info, only: EventFilter, first: int, after: str | None
) -> Connection[AuditEvent]:
    """A page of the events ``only`` picks, oldest first."""
    info.context.page_size(first)

    def query(db: Db) -> Connection[AuditEvent]:
        page = audit_log.event_page(db, only, first, after)
        return connection(page, [AuditEvent.of(row) for row in page.items])

    return await info.context.read(query)


@strawberry.type(description="One change of a code's validity period.")
class ValidityChange:
    changed_at: datetime
    changed_by: str = strawberry.field(description="The username who changed it.")
    old_months: int | None = strawberry.field(description="Null: never expired.")
    new_months: int | None = strawberry.field(description="Null: never expires.")

    @classmethod
    def of(cls, change: ValidityChangeRow) -> ValidityChange:
        return cls(
            changed_at=datetime.fromisoformat(change.changed_at),
            changed_by=change.changed_by,
            old_months=change.old_months,
            new_months=change.new_months,
        )


@strawberry.type(description="A qualification code and everything that uses it.")
class QualificationCode:
    code: str
    description: str
    active_record_count: int = strawberry.field(
        description="Active training records carrying this code."
    )
    used_in: list[CodeUse] = strawberry.field(
        description="Content, paths and steps carrying this code."
    )
    created_at: datetime
    validity_months: int | None = strawberry.field(
        description="Months a record with this code stays valid; null: for ever."
    )
    changes: strawberry.Private[list[ValidityChangeRow]]
    code_id: strawberry.Private[str]
    through: strawberry.Private[int | None] = None
    """Set on an answer as of a moment: the last position its history shows."""

    @strawberry.field(
        description="The code's events, oldest first: every name it has had, its "
        "descriptions, uses and validity; for those who may read the audit history."
    )
    async def history(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[AuditEvent]:
        info.context.principal.require(Right.READ_AUDIT_HISTORY)
        ids = [self.code_id, str(validity_id(UUID(self.code_id)))]
        only = EventFilter(aggregate_ids=ids, through=self.through)
        return await history(info, only, first, after)

    def is_used(self, context: Context | None = None) -> bool:
        """Whether anything still uses it: ``inUse``, read directly."""
        return bool(self.used_in) or self.active_record_count > 0

    @strawberry.field(
        description="Whether anything still uses it (delete refused).",
        metadata={READ: is_used},
    )
    def in_use(self) -> bool:
        return self.is_used()

    @strawberry.field(
        description="Every change of the validity period, oldest first, with who "
        "made it: audit history, for those with the right to read it."
    )
    def validity_changes(self, info: Info) -> list[ValidityChange]:
        info.context.principal.require(Right.READ_AUDIT_HISTORY)
        return [ValidityChange.of(change) for change in self.changes]

    @classmethod
    def of(
        cls, row: CodeRow, uses: list[Use], changes: list[ValidityChangeRow]
    ) -> QualificationCode:
        return cls(
            code=row.code,
            description=row.description,
            active_record_count=row.active_record_count,
            used_in=[CodeUse.of(use) for use in uses],
            created_at=datetime.fromisoformat(row.created_at),
            validity_months=row.validity_months,
            changes=changes,
            code_id=row.code_id,
        )


@strawberry.type(description="A module of a course.")
class CourseModule:
    title: str
    description: str
    length_minutes: int


@strawberry.type(description="A session of a training event.")
class TrainingSession:
    starts_at: datetime
    location: str | None


@strawberry.type(description="A course, quiz or training event.")
class LearningContent:
    id: strawberry.ID
    kind: ContentKind  # type: ignore[valid-type]
    title: str
    description: str
    status: Status  # type: ignore[valid-type]
    prerequisite: str
    recorded_in_training_record: bool
    code: str | None
    modules: list[CourseModule] | None
    pass_mark: int | None = strawberry.field(description="A quiz's pass mark, in %.")
    sessions: list[TrainingSession] | None

    @classmethod
    def of(cls, row: ContentRow, code: str | None) -> LearningContent:
        details = row.details
        modules = details.get("modules")
        sessions = details.get("sessions")
        return cls(
            id=strawberry.ID(row.content_id),
            kind=DomainContentKind(row.kind),
            title=row.title,
            description=row.description,
            status=DomainStatus(row.status),
            prerequisite=row.prerequisite,
            recorded_in_training_record=row.recorded_in_training_record,
            code=code,
            modules=None
            if modules is None
            else [CourseModule(**module) for module in modules],
            pass_mark=details.get("pass_mark"),
            sessions=None
            if sessions is None
            else [
                TrainingSession(
                    starts_at=datetime.fromisoformat(s["starts_at"]),
                    location=s["location"],
                )
                for s in sessions
            ],
        )


@strawberry.type(description="Enrolments and completions of one content item.")
class CourseActivity:
    content: LearningContent
    enrolments: int
    completions: int = strawberry.field(
        description="Completions, kept even when their training record is deleted."
    )
    learners_completed: int

    @classmethod
    def of(cls, content: LearningContent, activity: Activity) -> CourseActivity:
        return cls(
            content=content,
            enrolments=activity.enrolments,
            completions=activity.completions,
            learners_completed=activity.learners_completed,
        )


@strawberry.type(description="A registered user.")
class User:
    username: str
    email: str
    first_name: str
    last_name: str

    @classmethod
    def of(cls, row: LearnerRow) -> User:
        return cls(
            username=row.username,
            email=row.email,
            first_name=row.first_name,
            last_name=row.last_name,
        )


@strawberry.type(description="An entry in a learner's training record.")
class TrainingRecord:
    record_id: strawberry.ID
    username: str
    record_type: RecordType  # type: ignore[valid-type]
    object_id: strawberry.ID | None = strawberry.field(
        description="The content or path that produced it; null for manual records."
    )
    title: str
    training_provider: str
    completion_date: date
    other_information: str
    code: str | None
    recorded_at: datetime
    expires_on: date | None = strawberry.field(
        description="The first day it is no longer valid; null: it never expires."
    )
    through: strawberry.Private[int | None] = None
    """Set on an answer as of a moment: the last position its history shows."""

    @strawberry.field(
        description="The record's events, oldest first: added, corrected, deleted. "
        "Whoever may read the record may read its history."
    )
    async def history(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[AuditEvent]:
        info.context.principal.require_view(self.username)
        only = EventFilter(subject_id=str(self.record_id), through=self.through)
        return await history(info, only, first, after)

    def status_today(self, context: Context) -> DomainCertificateStatus | None:
        """Its status today: ``status`` with no day given, read directly."""
        return self.status_for(context, context.backend.today())

    def status_for(self, context: Context, on: date) -> DomainCertificateStatus | None:
        """Its status on ``on``, or None when it was completed after that day."""
        window = context.backend.settings.expiring_days
        return status_on(self.completion_date, self.expires_on, on, window)

    @strawberry.field(
        description="Its status on a day (today when left out); null when it was "
        "completed after that day.",
        metadata={READ: status_today},
    )
    def status(self, info: Info, on: date | None = None) -> CertificateStatus | None:  # type: ignore[valid-type]
        return self.status_for(info.context, on or info.context.backend.today())

    @classmethod
    def of(cls, row: RecordRow, through: int | None = None) -> TrainingRecord:
        completed = date.fromisoformat(row.completion_date)
        return cls(
            record_id=strawberry.ID(row.record_id),
            username=row.username,
            record_type=DomainRecordType(row.record_type),
            object_id=strawberry.ID(row.object_id) if row.object_id else None,
            title=row.title,
            training_provider=row.training_provider,
            completion_date=completed,
            other_information=row.other_information,
            code=row.code,
            recorded_at=datetime.fromisoformat(row.recorded_at),
            expires_on=expiry_date(completed, row.validity_months),
            through=through,
        )


@strawberry.type(
    description="A learner's newest record of a code: the one their status is from."
)
class Certificate:
    username: str
    code: str
    record_id: strawberry.ID
    completion_date: date
    expires_on: date | None = strawberry.field(
        description="The first day it is no longer valid; null: it never expires."
    )
    status: CertificateStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="Its status on the day asked; null when completed after it."
    )

    @classmethod
    def of(cls, row: CertificateRow, on: date, expiring_days: int) -> Certificate:
        completed = date.fromisoformat(row.completion_date)
        expires = date.fromisoformat(row.expires_on) if row.expires_on else None
        return cls(
            username=row.username,
            code=row.code or "",
            record_id=strawberry.ID(row.record_id),
            completion_date=completed,
            expires_on=expires,
            status=status_on(completed, expires, on, expiring_days),
        )


@strawberry.type(description="A step of a learning path.")
class PathStep:
    id: strawberry.ID
    code: str
    title: str
    points: int
    mandatory: bool

    @classmethod
    def of(cls, step: Step, names: dict[str, str]) -> PathStep:
        return cls(
            id=strawberry.ID(step.step_id),
            code=names.get(step.code_id, ""),
            title=step.title,
            points=step.points,
            mandatory=step.mandatory,
        )


@strawberry.type(description="How far a participant has come on a learning path.")
class PathProgress:
    path_code: str
    username: str
    points_earned: int
    points_total: int
    percent: int = strawberry.field(description="Whole percent, 0 to 100.")
    satisfied_steps: list[PathStep]
    missing_steps: list[PathStep]
    expired_steps: list[PathStep] = strawberry.field(
        description="Missing steps whose code the learner holds only on expired "
        "records: renewing them brings the points back."
    )
    complete: bool = strawberry.field(
        description="Whether the records valid on the day measured satisfy the path."
    )
    measured_on: date = strawberry.field(description="The day progress is for.")
    joined_at: datetime
    completed_at: datetime | None = strawberry.field(
        description="When the path was awarded; an award is never taken back."
    )

    @classmethod
    def of(
        cls,
        path_code: str,
        row: ParticipantRow,
        progress: Progress,
        names: dict[str, str],
        on: date,
        shown: dict[str, PathStep] | None = None,
    ) -> PathProgress:
        """``shown`` keeps the path's steps as made for one participant, so that a
        page of participants makes each step once rather than once per learner."""
        made = {} if shown is None else shown

        def step(of: Step) -> PathStep:
            found = made.get(of.step_id)
            if found is None:
                found = made[of.step_id] = PathStep.of(of, names)
            return found

        return cls(
            path_code=path_code,
            username=row.username,
            points_earned=progress.points_earned,
            points_total=progress.points_total,
            percent=progress.percent,
            satisfied_steps=[step(s) for s in progress.satisfied],
            missing_steps=[step(s) for s in progress.missing],
            expired_steps=[step(s) for s in progress.expired],
            complete=progress.complete,
            measured_on=on,
            joined_at=datetime.fromisoformat(row.joined_at),
            completed_at=datetime.fromisoformat(row.completed_at)
            if row.completed_at
            else None,
        )


@strawberry.type(description="A learning path: ordered steps, each with a code.")
class LearningPath:
    id: strawberry.ID
    code: str
    title: str
    description: str
    status: Status  # type: ignore[valid-type]
    pass_mark: int | None = strawberry.field(
        description="Points needed to complete; null means all the steps' points."
    )
    steps: list[PathStep]
    total_points: int
    counts_expired: bool = strawberry.field(
        description="Whether expired records still satisfy steps (proof of having "
        "done it once); otherwise a step counts only while its record is valid."
    )

    names: strawberry.Private[dict[str, str]]
    as_of: strawberry.Private[datetime | None] = None
    """Set when the path was rebuilt as of a moment."""
    through: strawberry.Private[int | None] = None
    """With ``as_of``, the last position its history shows."""

    @strawberry.field(
        description="The path's events, oldest first: created, steps and rules set; "
        "for those who may read the audit history."
    )
    async def history(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[AuditEvent]:
        info.context.principal.require(Right.READ_AUDIT_HISTORY)
        only = EventFilter(aggregate_ids=[str(self.id)], through=self.through)
        return await history(info, only, first, after)

    @strawberry.field(
        description="Who joined, by username, with their progress on a day (today "
        "when left out)."
    )
    async def participants(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        on: date | None = None,
    ) -> Connection[PathProgress]:
        principal = info.context.principal
        principal.require(Right.VIEW_REPORTS)
        info.context.page_size(first)
        if self.as_of is not None:
            # Rebuilding every participant as of a moment would replay them all.
            raise InvalidInput(
                "participants are listed as they are now; for a moment in the "
                "past, ask pathProgress(asOf:) for each learner.",
                field="asOf",
            )
        path_id = str(self.id)
        day = on or info.context.backend.today()
        among = reach_of(principal).learner_ids()

        def query(db: Db) -> Page[ProgressRow]:
            path = path_progress.paths_by_id(db, [path_id])[path_id]
            return path_progress.participant_page(db, path, first, after, day, among)

        page = await info.context.read(query)
        shown: dict[str, PathStep] = {}
        nodes = [
            PathProgress.of(
                self.code, item.participant, item.progress, self.names, day, shown
            )
            for item in page.items
        ]
        return connection(page, nodes)

    @classmethod
    def of(
        cls, row: PathRow, steps: tuple[Step, ...], names: dict[str, str]
    ) -> LearningPath:
        return cls(
            id=strawberry.ID(row.path_id),
            code=names.get(row.code_id, ""),
            title=row.title,
            description=row.description,
            status=DomainStatus(row.status),
            pass_mark=row.pass_mark,
            steps=[PathStep.of(step, names) for step in steps],
            total_points=sum(step.points for step in steps),
            counts_expired=row.counts_expired,
            names=names,
        )


@strawberry.type(description="What a user may do, and where they sit in the hierarchy.")
class Permissions:
    username: str
    role: Role | None = strawberry.field(  # type: ignore[valid-type]
        description="The role in force: the one assigned here, else the one the "
        "user's token names (known only for yourself)."
    )
    assigned_role: Role | None = strawberry.field(  # type: ignore[valid-type]
        description="The role assigned with assignRole; null: the token's applies."
    )
    rights: list[RightName] = strawberry.field(  # type: ignore[valid-type]
        description="Every right held: the role's and the user's own grants."
    )
    granted_rights: list[RightName] = strawberry.field(  # type: ignore[valid-type]
        description="Rights granted to this user alone."
    )
    manager: str | None
    subordinates: list[str] = strawberry.field(
        description="Everyone whose chain of managers reaches this user."
    )

    @classmethod
    def of(
        cls,
        principal: Principal,
        assigned: DomainRole | None,
        manager: str | None,
        role_known: bool,
    ) -> Permissions:
        role = principal.role if role_known or assigned else None
        rights = principal.rights if role is not None else principal.granted
        return cls(
            username=principal.username,
            role=role,
            assigned_role=assigned,
            rights=sorted(rights, key=list(Right).index),
            granted_rights=sorted(principal.granted, key=list(Right).index),
            manager=manager,
            subordinates=sorted(principal.subordinates),
        )


ImportAction = strawberry.enum(Action, description="What an import did with a row.")


@strawberry.type(description="A row an import applied, or would apply.")
class ImportedRow:
    row: int = strawberry.field(description="The row number; the headings are row 1.")
    action: ImportAction  # type: ignore[valid-type]
    record_id: strawberry.ID


@strawberry.type(description="Why one row cannot be imported.")
class ImportProblem:
    row: int
    column: str | None
    value: str
    reason: str


@strawberry.type(description="What an import did, row by row; a dry run says the same.")
class ImportReport:
    import_id: strawberry.ID | None = strawberry.field(
        description="The id that the import's events carry; null for a dry run."
    )
    file_name: str
    checksum: str = strawberry.field(description="SHA-256 of the file's bytes.")
    dry_run: bool
    applied: bool = strawberry.field(description="Whether anything was written.")
    created: int
    updated: int
    deleted: int
    unchanged: int
    duplicates: int
    rows: list[ImportedRow]
    problems: list[ImportProblem]
    ignored_columns: list[str] = strawberry.field(
        description="Export-only columns (Email, Firstname, Lastname) that were read "
        "past."
    )
    blank_rows: list[int]

    @classmethod
    def of(cls, report: DomainImportReport) -> ImportReport:
        return cls(
            import_id=strawberry.ID(report.import_id) if report.import_id else None,
            file_name=report.file_name,
            checksum=report.checksum,
            dry_run=report.dry_run,
            applied=report.applied,
            created=report.count(Action.CREATED),
            updated=report.count(Action.UPDATED),
            deleted=report.count(Action.DELETED),
            unchanged=report.count(Action.UNCHANGED),
            duplicates=report.count(Action.DUPLICATE),
            rows=[
                ImportedRow(
                    row=r.row, action=r.action, record_id=strawberry.ID(r.record_id)
                )
                for r in report.rows
            ],
            problems=[
                ImportProblem(
                    row=p.row, column=p.column, value=p.value, reason=p.reason
                )
                for p in report.problems
            ],
            ignored_columns=report.ignored_columns,
            blank_rows=report.blank_rows,
        )
