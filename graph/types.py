"""The GraphQL object types, built from read-model rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, TypeVar

import strawberry

from domain.codes import UseKind as DomainUseKind
from domain.content import ContentKind as DomainContentKind
from domain.content import Status as DomainStatus
from domain.imports import Action
from domain.imports import ImportReport as DomainImportReport
from domain.learners import RecordType as DomainRecordType
from domain.paths import Progress, Step
from domain.principal import Right
from graph.context import Info
from projections import path_progress
from projections.code_usage import CodeRow, Use
from projections.course_activity import Activity, ContentRow
from projections.database import Db
from projections.learners import LearnerRow
from projections.paging import Page, check_page_size
from projections.path_progress import ParticipantRow, PathRow, ProgressRow
from projections.training_records import RecordRow

UseKind = strawberry.enum(DomainUseKind, description="What carries a code.")
ContentKind = strawberry.enum(DomainContentKind, description="Kinds of content.")
Status = strawberry.enum(DomainStatus, description="Draft or live.")
RecordType = strawberry.enum(
    DomainRecordType, description="What produced a training record."
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


@strawberry.type(description="A page of a list, paged by cursor.")
class Connection(Generic[N]):
    total_count: int
    page_info: PageInfo
    edges: list[Edge[N]]

    @strawberry.field(description="The page's items, without their cursors.")
    def nodes(self) -> list[N]:
        return [edge.node for edge in self.edges]


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

    @strawberry.field(description="Whether anything still uses it (delete refused).")
    def in_use(self) -> bool:
        return bool(self.used_in) or self.active_record_count > 0

    @classmethod
    def of(cls, row: CodeRow, uses: list[Use]) -> QualificationCode:
        return cls(
            code=row.code,
            description=row.description,
            active_record_count=row.active_record_count,
            used_in=[CodeUse.of(use) for use in uses],
            created_at=datetime.fromisoformat(row.created_at),
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

    @classmethod
    def of(cls, row: RecordRow) -> TrainingRecord:
        return cls(
            record_id=strawberry.ID(row.record_id),
            username=row.username,
            record_type=DomainRecordType(row.record_type),
            object_id=strawberry.ID(row.object_id) if row.object_id else None,
            title=row.title,
            training_provider=row.training_provider,
            completion_date=date.fromisoformat(row.completion_date),
            other_information=row.other_information,
            code=row.code,
            recorded_at=datetime.fromisoformat(row.recorded_at),
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
    complete: bool = strawberry.field(
        description="Whether the records held now satisfy the path."
    )
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
    ) -> PathProgress:
        return cls(
            path_code=path_code,
            username=row.username,
            points_earned=progress.points_earned,
            points_total=progress.points_total,
            percent=progress.percent,
            satisfied_steps=[PathStep.of(s, names) for s in progress.satisfied],
            missing_steps=[PathStep.of(s, names) for s in progress.missing],
            complete=progress.complete,
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

    names: strawberry.Private[dict[str, str]]

    @strawberry.field(description="Who joined, with their progress, by username.")
    async def participants(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[PathProgress]:
        info.context.principal.require(Right.VIEW_ALL_RECORDS)
        check_page_size(first)
        path_id = str(self.id)

        def query(db: Db) -> Page[ProgressRow]:
            path = path_progress.paths_by_id(db, [path_id])[path_id]
            return path_progress.participant_page(db, path, first, after)

        page = await info.context.read(query)
        nodes = [
            PathProgress.of(self.code, item.participant, item.progress, self.names)
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
            names=names,
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
