"""Queries over the read models.

Every resolver reads a whole answer in one worker-thread call with a handful of
statements whose number does not grow with the page size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import strawberry
from anyio import to_thread

from domain.access import access_id
from domain.codes import normalise_code
from domain.content import Status as DomainStatus
from domain.errors import InvalidInput, InvalidReference, NotFound
from domain.events import event_types
from domain.learners import learner_id, normalise_username
from domain.principal import Right, Role
from domain.text import quoted
from domain.validity import (
    CertificateStatus as DomainCertificateStatus,
)
from domain.validity import (
    check_validity_months,
    expiry_date,
    status_on,
    validity_id,
)
from graph.context import Info
from graph.exports import expirations_url, export_url
from graph.scope import code_name, reach_of, record_keys, whose_records
from graph.types import (
    AuditEvent,
    Certificate,
    CertificateStatus,
    CodeUse,
    Connection,
    CourseActivity,
    LearningContent,
    LearningPath,
    PathProgress,
    Permissions,
    QualificationCode,
    TrainingRecord,
    connection,
)
from projections import (
    access,
    audit_log,
    certificates,
    code_usage,
    course_activity,
    integrity,
    learners,
    path_progress,
)
from projections import training_records as records
from projections.applied import Applied
from projections.as_of import events_through, position_at, replayed
from projections.audit_log import EventFilter, event_type_name, instant_text
from projections.database import Db
from projections.paging import check_search

AsOf = Annotated[
    datetime | None,
    strawberry.argument(
        description="Answer as the system would have at this moment, rebuilt from "
        "the events stored by then."
    ),
]


def code_names(db: Db, code_ids: list[str]) -> dict[str, str]:
    """Current names of codes by id (a renamed code shows its new name)."""
    return {i: row.code for i, row in code_usage.codes_by_id(db, code_ids).items()}


def read_code(db: Db, name: str) -> QualificationCode | None:
    """One live code with its uses; a name renamed away answers with where it went."""
    row = code_usage.code_named(db, name)
    if row is None:
        return None
    uses = code_usage.uses_of(db, [row.code_id])[row.code_id]
    changes = code_usage.validity_changes(db, [row.code_id])[row.code_id]
    return QualificationCode.of(row, uses, changes)


def read_content(db: Db, content_id: str) -> LearningContent | None:
    """One content item, showing its code's current name."""
    row = course_activity.content_by_id(db, [content_id]).get(content_id)
    if row is None:
        return None
    names = code_names(db, [row.code_id] if row.code_id else [])
    return LearningContent.of(row, names.get(row.code_id or ""))


def read_path(db: Db, name: str) -> LearningPath | None:
    """The learning path whose own code is ``name``."""
    code = code_usage.code_named(db, name)
    path = path_progress.path_by_code_id(db, code.code_id) if code else None
    if path is None:
        return None
    steps = path_progress.steps_of(db, path.path_id)
    names = code_names(db, [path.code_id, *(s.code_id for s in steps)])
    return LearningPath.of(path, steps, names)


def read_progress(
    db: Db, path_code: str, username: str, on: date
) -> PathProgress | None:
    """A participant's progress, or None when they have not joined the path."""
    code = code_usage.code_named(db, path_code)
    path = path_progress.path_by_code_id(db, code.code_id) if code else None
    if code is None or path is None:
        raise NotFound(
            f"There is no learning path with code {path_code}.", field="pathCode"
        )
    # Found by name in one statement: the learner's own row is read apart only
    # to tell an unknown user from one who has not joined.
    row = path_progress.participant_named(db, path.path_id, username)
    if row is None:
        if learners.learner_by_username(db, username) is None:
            raise NotFound(f"No user is registered as {username}.", field="username")
        return None
    steps = path_progress.steps_of(db, path.path_id)
    progress = path_progress.progress_of(db, path, steps, [row.learner_id], on)
    names = code_names(db, [s.code_id for s in steps])
    return PathProgress.of(code.code, row, progress[row.learner_id], names, on)


def read_record(db: Db, record_id: str) -> TrainingRecord | None:
    """One active training record."""
    row = records.record_by_id(db, record_id)
    return TrainingRecord.of(row) if row else None


def as_of_events(
    db: Db, moment: datetime, aggregate_ids: Sequence[str] = ()
) -> list[Applied]:
    """The catalogue's events and these aggregates', up to ``moment``."""
    return events_through(db, position_at(db, moment), aggregate_ids)


def code_as_of(db: Db, name: str, moment: datetime) -> QualificationCode | None:
    """A code as it stood at ``moment``, its record count included.

    Shortcoming: the name is looked up as it stood at ``moment``, so a name the
    code took later (today's, after a rename since) finds nothing then.
    """
    through = position_at(db, moment)
    with replayed(events_through(db, through)) as names:
        row = code_usage.code_named(names, name)
    if row is None:
        return None
    with replayed(events_through(db, through, [row.code_id])) as scratch:
        found = read_code(scratch, name)
    return replace(found, through=through) if found else None


def read_permissions(
    db: Db, username: str, token_role: Role, role_known: bool
) -> Permissions:
    """A user's permissions; without ``role_known`` their token's role is unknown."""
    principal = access.principal_for(db, username, token_role)
    return Permissions.of(
        principal,
        access.assigned_role(db, username),
        access.manager_of(db, username),
        role_known,
    )


def given_months(months: object) -> int | None:
    """A validity period that must be given, even when it is null.

    Leaving it out must not read as "never expires": that would lift the expiry
    of every record of the code.
    """
    if months is strawberry.UNSET:
        raise InvalidInput(
            "Give months: a number of months from 1 to 600, or null for a "
            "qualification that never expires.",
            field="months",
        )
    assert months is None or isinstance(months, int)
    return months


def canonical_id(value: str) -> str | None:
    """An id in the form this system issues it, or None for anything else."""
    try:
        return str(UUID(value.strip()))
    except ValueError:
        return None


def _visible(info: Info, found: LearningContent | LearningPath | None) -> bool:
    # Drafts are for the people who write them; learners see only live items.
    if found is None or found.status is not DomainStatus.DRAFT:
        return True
    return info.context.principal.can(Right.MANAGE_CONTENT)


@strawberry.type
class Query:
    @strawberry.field(description="Live codes in name order, searchable, paged.")
    async def codes(
        self,
        info: Info,
        search: str | None = None,
        first: int = 10,
        after: str | None = None,
    ) -> Connection[QualificationCode]:
        info.context.page_size(first)
        text = check_search(search.strip()) if search else None

        def query(db: Db) -> Connection[QualificationCode]:
            page = code_usage.code_page(db, text, first, after)
            ids = [row.code_id for row in page.items]
            uses = code_usage.uses_of(db, ids)
            changes = code_usage.validity_changes(db, ids)
            nodes = [
                QualificationCode.of(r, uses[r.code_id], changes[r.code_id])
                for r in page.items
            ]
            return connection(page, nodes)

        return await info.context.read(query)

    @strawberry.field(
        description="A live code by name; a name renamed away answers with the code "
        "it became (its code field shows the new name); null when there is none."
    )
    async def code(
        self,
        info: Info,
        code: str,
        as_of: AsOf = None,
    ) -> QualificationCode | None:
        name = normalise_code(code)
        if as_of is None:
            return await info.context.read(lambda db: read_code(db, name))
        return await info.context.read(
            lambda db: code_as_of(db, name, as_of), aside=True
        )

    @strawberry.field(
        description="A course, quiz or training event by id; drafts for managers."
    )
    async def content(
        self, info: Info, content_id: strawberry.ID
    ) -> LearningContent | None:
        key = _reference(content_id, "contentId")
        found = await info.context.read(lambda db: read_content(db, key))
        return found if _visible(info, found) else None

    @strawberry.field(description="The learning path with this code.")
    async def learning_path(
        self,
        info: Info,
        code: str,
        as_of: AsOf = None,
    ) -> LearningPath | None:
        name = normalise_code(code)

        def query(db: Db) -> LearningPath | None:
            if as_of is None:
                return read_path(db, name)
            through = position_at(db, as_of)
            with replayed(events_through(db, through)) as scratch:
                found = read_path(scratch, name)
            return replace(found, as_of=as_of, through=through) if found else None

        found = await info.context.read(query, aside=as_of is not None)
        return found if _visible(info, found) else None

    @strawberry.field(
        description="A participant's progress on a day (today when left out); null "
        "if not joined."
    )
    async def path_progress(
        self,
        info: Info,
        path_code: str,
        username: str,
        on: date | None = None,
        as_of: AsOf = None,
    ) -> PathProgress | None:
        name = normalise_code(path_code, field="pathCode")
        user = normalise_username(username)
        info.context.principal.require_view(user)
        day = on or info.context.backend.today()

        def query(db: Db) -> PathProgress | None:
            if as_of is None:
                return read_progress(db, name, user, day)
            events = as_of_events(db, as_of, [str(learner_id(user))])
            with replayed(events) as scratch:
                return read_progress(scratch, name, user, day)

        return await info.context.read(query, aside=as_of is not None)

    @strawberry.field(
        description="Active training records, newest first. Learners see their own."
    )
    async def training_records(
        self,
        info: Info,
        username: str | None = None,
        code: str | None = None,
        first: int = 20,
        after: str | None = None,
        as_of: AsOf = None,
    ) -> Connection[TrainingRecord]:
        info.context.page_size(first)
        whose = whose_records(info.context.principal, username)
        name = code_name(code)
        among = whose.learner_ids()
        if as_of is not None and whose.username is None:
            raise InvalidInput(
                "asOf rebuilds one learner's records: name the username.",
                field="username",
            )

        def page_of(db: Db, through: int | None) -> Connection[TrainingRecord]:
            learner_key, code_id = record_keys(db, whose.username, name, whose.implied)
            page = records.record_page(db, learner_key, code_id, first, after, among)
            nodes = [TrainingRecord.of(r, through) for r in page.items]
            return connection(page, nodes)

        def query(db: Db) -> Connection[TrainingRecord]:
            if as_of is None or whose.username is None:
                return page_of(db, None)
            through = position_at(db, as_of)
            events = events_through(db, through, [str(learner_id(whose.username))])
            with replayed(events) as scratch:
                return page_of(scratch, through)

        return await info.context.read(query, aside=as_of is not None)

    @strawberry.field(
        description="The Certificate Expiration report: each learner's newest record "
        "of each code that expires, soonest expiry first, with its status today."
    )
    async def certificate_expirations(
        self,
        info: Info,
        status: CertificateStatus | None = None,  # type: ignore[valid-type]
        before: Annotated[
            date | None,
            strawberry.argument(description="Only those expiring before this day."),
        ] = None,
        code: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[Certificate]:
        principal = info.context.principal
        principal.require(Right.VIEW_REPORTS)
        info.context.page_size(first)
        backend = info.context.backend
        name = code_name(code)
        among = reach_of(principal).learner_ids()
        day = backend.today()
        window = backend.settings.expiring_days

        def query(db: Db) -> Connection[Certificate]:
            _, code_id = record_keys(db, None, name)
            only = certificates.ExpiryFilter(
                status=None if status is None else DomainCertificateStatus(status),
                before=before,
                code_id=code_id,
                among=among,
            )
            page = certificates.expiry_page(db, only, day, window, first, after)
            nodes = [Certificate.of(row, day, window) for row in page.items]
            return connection(page, nodes)

        return await info.context.read(query)

    @strawberry.field(
        description="Where to GET the Certificate Expiration report as CSV, with "
        "these filters."
    )
    def certificate_expirations_export_url(
        self,
        info: Info,
        status: CertificateStatus | None = None,  # type: ignore[valid-type]
        before: date | None = None,
        code: str | None = None,
    ) -> str:
        info.context.principal.require(Right.VIEW_REPORTS)
        name = code_name(code)
        chosen = None if status is None else DomainCertificateStatus(status)
        return expirations_url(chosen, before, name)

    @strawberry.field(
        description="A learner's newest record of a code completed by a day (today "
        "when left out), with its status that day: was she certified on 1 March?"
    )
    async def certificate(
        self, info: Info, username: str, code: str, on: date | None = None
    ) -> Certificate | None:
        user = normalise_username(username)
        info.context.principal.require_view(user)
        name = normalise_code(code)
        backend = info.context.backend
        day = on or backend.today()
        window = backend.settings.expiring_days

        def query(db: Db) -> Certificate | None:
            learner_id, code_id = record_keys(db, user, name)
            # Both were named, so both were found or NotFound was raised.
            assert learner_id is not None
            assert code_id is not None
            row = certificates.held_on(db, learner_id, code_id, day)
            return Certificate.of(row, day, window) if row else None

        return await info.context.read(query)

    @strawberry.field(
        description="What a new validity period would change today: how many "
        "learners' certificates would expire, or become valid again."
    )
    async def validity_impact(
        self,
        info: Info,
        code: str,
        months: Annotated[
            int | None,
            strawberry.argument(
                description="Required: 1 to 600, or null for never expiring."
            ),
        ] = strawberry.UNSET,
    ) -> ValidityImpact | None:
        info.context.principal.require(Right.MANAGE_CODES)
        name = normalise_code(code)
        new_months = check_validity_months(given_months(months))
        backend = info.context.backend
        day = backend.today()
        window = backend.settings.expiring_days

        def query(db: Db) -> ValidityImpact | None:
            row = code_usage.code_named(db, name)
            if row is None:
                return None
            now: Counter[DomainCertificateStatus | None] = Counter()
            then: Counter[DomainCertificateStatus | None] = Counter()
            moves: Counter[tuple[bool, bool]] = Counter()
            for completed, learners_then in certificates.completions_of(
                db, row.code_id
            ):
                before = status_on(
                    completed,
                    expiry_date(completed, row.validity_months),
                    day,
                    window,
                )
                after = status_on(
                    completed, expiry_date(completed, new_months), day, window
                )
                now[before] += learners_then
                then[after] += learners_then
                expired = DomainCertificateStatus.EXPIRED
                moves[(before == expired, after == expired)] += learners_then
            return ValidityImpact(
                code=row.code,
                current_months=row.validity_months,
                new_months=new_months,
                on=day,
                learners=sum(now.values()),
                expired_now=now[DomainCertificateStatus.EXPIRED],
                expired_after=then[DomainCertificateStatus.EXPIRED],
                expiring_after=then[DomainCertificateStatus.EXPIRING],
                would_expire=moves[(False, True)],
                would_become_valid=moves[(True, False)],
            )

        # It goes through every day the code was completed on.
        return await info.context.read(query, aside=True)

    @strawberry.field(
        description="What a user may do: yourself when no username is given; "
        "anyone else's needs the right to manage permissions."
    )
    async def permissions(self, info: Info, username: str | None = None) -> Permissions:
        principal = info.context.principal
        user = normalise_username(username) if username else principal.username
        own = user == principal.username
        if not own:
            principal.require(Right.MANAGE_PERMISSIONS)
        # Another user's token is not at hand: their role is known only if assigned.
        role = principal.role if own else Role.LEARNER
        return await info.context.read(lambda db: read_permissions(db, user, role, own))

    @strawberry.field(
        description="The event log, oldest first, paged by position: who changed "
        "what, when and why. Needs the right to read the audit history."
    )
    async def events(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: EventFilterInput | None = None,
    ) -> Connection[AuditEvent]:
        info.context.principal.require(Right.READ_AUDIT_HISTORY)
        info.context.page_size(first)

        def query(db: Db) -> Connection[AuditEvent]:
            page = audit_log.event_page(db, event_filter(db, filter), first, after)
            return connection(page, [AuditEvent.of(row) for row in page.items])

        return await info.context.read(query)

    @strawberry.field(
        description="Hashes every stored event again and compares it with the "
        "chain recorded when it was first applied: the first position where the "
        "chain breaks shows an event changed behind the application's back. Reads "
        "the whole log."
    )
    async def audit_log_integrity(self, info: Info) -> AuditLogIntegrity:
        info.context.principal.require(Right.READ_AUDIT_HISTORY)
        backend = info.context.backend
        found = await to_thread.run_sync(integrity.check, backend.log, backend.store)
        return AuditLogIntegrity(
            intact=found.intact,
            checked_events=found.checked,
            checked_through=found.through,
            first_broken_position=found.broken_at,
            reason=found.reason,
        )

    @strawberry.field(description="Everything a rename of this code would touch.")
    async def rename_impact(self, info: Info, code: str) -> RenameImpact | None:
        info.context.principal.require(Right.MANAGE_CONTENT)
        name = normalise_code(code)

        def query(db: Db) -> RenameImpact | None:
            found = read_code(db, name)
            row = code_usage.code_named(db, name)
            if found is None or row is None:
                return None
            return RenameImpact(
                code=found.code,
                used_in=found.used_in,
                active_record_count=found.active_record_count,
                learner_count=records.holder_count(db, row.code_id),
            )

        return await info.context.read(query)

    @strawberry.field(description="Enrolments and completions of a content item.")
    async def course_activity(
        self, info: Info, content_id: strawberry.ID
    ) -> CourseActivity | None:
        info.context.principal.require(Right.VIEW_REPORTS)
        key = _reference(content_id, "contentId")

        def query(db: Db) -> CourseActivity | None:
            content = read_content(db, key)
            if content is None:
                return None
            return CourseActivity.of(content, course_activity.activity(db, key))

        return await info.context.read(query)

    @strawberry.field(
        description="Where to GET the training records as CSV, with these filters."
    )
    def training_records_export_url(
        self,
        info: Info,
        username: str | None = None,
        code: str | None = None,
        completed_from: date | None = None,
        completed_to: date | None = None,
    ) -> str:
        user = normalise_username(username) if username else None
        if user is not None:
            info.context.principal.require_view(user)
        name = normalise_code(code) if code else None
        if completed_from and completed_to and completed_from > completed_to:
            raise InvalidInput(
                "completedFrom is later than completedTo: no day lies between them.",
                field="completedFrom",
            )
        return export_url(user, name, completed_from, completed_to)


@strawberry.type(description="Whether the stored events are what was recorded.")
class AuditLogIntegrity:
    intact: bool
    checked_events: int
    checked_through: int = strawberry.field(
        description="The last position compared; newer events are not checked yet."
    )
    first_broken_position: int | None
    reason: str | None


@strawberry.input(description="Which events to list; a field left out matches any.")
class EventFilterInput:
    code: str | None = strawberry.field(
        default=None,
        description="A code's events: by its name now, a name it was renamed "
        "from, or the last name of a deleted code.",
    )
    username: str | None = strawberry.field(
        default=None, description="A learner's events, their records' included."
    )
    path_code: str | None = strawberry.field(
        default=None, description="A learning path's events."
    )
    content_id: strawberry.ID | None = None
    record_id: strawberry.ID | None = strawberry.field(
        default=None, description="One training record's events."
    )
    aggregate_id: strawberry.ID | None = None
    type: str | None = strawberry.field(
        default=None, description="An event type, e.g. CodeRenamed."
    )
    actor: str | None = None
    correlation_id: str | None = None
    occurred_from: datetime | None = strawberry.field(
        default=None, name="from", description="From this moment on (inclusive)."
    )
    occurred_to: datetime | None = strawberry.field(
        default=None, name="to", description="Before this moment."
    )


# Each chooses the aggregates whose events are listed.
_WHOSE_EVENTS = ("code", "username", "pathCode", "contentId", "aggregateId")


def event_filter(db: Db, given: EventFilterInput | None) -> EventFilter:
    """The store's filter for what a client asked, refused when it names nothing."""
    if given is None:
        return EventFilter()
    _check_event_filter(given)
    ids: list[str] = []
    if given.code is not None:
        name = normalise_code(given.code)
        row = code_usage.code_named(db, name)
        # A deleted code's events stay in the log: an auditor finds them by name.
        code_ids = [row.code_id] if row else code_usage.deleted_codes_named(db, name)
        if not code_ids:
            raise NotFound(f"There is no qualification code {name}.", field="code")
        for code_id in code_ids:
            ids += [code_id, str(validity_id(UUID(code_id)))]
    if given.username is not None:
        # A user's events are those of their learner and of their rights; one
        # given rights by an admin need never have been registered.
        username = normalise_username(given.username)
        user_ids = [str(learner_id(username)), str(access_id(username))]
        if not audit_log.has_events(db, user_ids):
            raise NotFound(
                f"No user named {username} appears in the log.", field="username"
            )
        ids += user_ids
    if given.path_code is not None:
        name = normalise_code(given.path_code, field="pathCode")
        found = read_path(db, name)
        if found is None:
            raise NotFound(
                f"There is no learning path with code {name}.", field="pathCode"
            )
        ids.append(str(found.id))
    for raw, field in (
        (given.content_id, "contentId"),
        (given.aggregate_id, "aggregateId"),
    ):
        if raw is not None:
            ids.append(_reference(raw, field))
    kinds = {event_type_name(cls) for cls in event_types()}
    if given.type is not None and given.type not in kinds:
        raise InvalidInput(
            f"There is no event type {given.type!r}; types are named like "
            "CodeRenamed or TrainingRecordAdded.",
            field="type",
        )
    return EventFilter(
        aggregate_ids=ids or None,
        subject_id=None
        if given.record_id is None
        else _reference(given.record_id, "recordId"),
        event_type=given.type,
        actor=given.actor.strip().lower() if given.actor else None,
        correlation_id=given.correlation_id,
        occurred_from=given.occurred_from,
        occurred_to=given.occurred_to,
    )


def _check_event_filter(given: EventFilterInput) -> None:
    """Refuse a filter that could only ever match nothing, or that says nothing."""
    chosen = [
        name
        for name, value in zip(
            _WHOSE_EVENTS,
            (
                given.code,
                given.username,
                given.path_code,
                given.content_id,
                given.aggregate_id,
            ),
            strict=True,
        )
        if value is not None
    ]
    if len(chosen) > 1:
        # Every event belongs to one aggregate: two of them share no event.
        raise InvalidInput(
            f"{chosen[0]} and {chosen[1]} each choose whose events to list, and an "
            "event belongs to one only: give one of "
            f"{', '.join(_WHOSE_EVENTS)}.",
            field=chosen[1],
        )
    for value, field in (
        (given.type, "type"),
        (given.actor, "actor"),
        (given.correlation_id, "correlationId"),
    ):
        if value is not None and not value.strip():
            raise InvalidInput(
                f"{field} is empty; leave it out to list events of any {field}.",
                field=field,
            )
    start, end = given.occurred_from, given.occurred_to
    if start and end and instant_text(start) > instant_text(end):
        raise InvalidInput(
            "from is later than to: no moment lies between them.", field="from"
        )


def _reference(raw: str, field: str) -> str:
    """An id as this system issues it; anything else was never one of ours."""
    key = canonical_id(raw)
    if key is None:
        raise InvalidReference(
            f"{quoted(raw)} is not an id this system issued.", field=field
        )
    return key


@strawberry.type(
    description="What a new validity period would change, counted for today."
)
class ValidityImpact:
    code: str
    current_months: int | None
    new_months: int | None
    on: date = strawberry.field(description="The day the statuses are counted for.")
    learners: int = strawberry.field(description="Learners holding the code.")
    expired_now: int
    expired_after: int = strawberry.field(description="Expired with the new period.")
    expiring_after: int = strawberry.field(
        description="Expiring soon with the new period."
    )
    would_expire: int = strawberry.field(
        description="Learners valid now who would be expired."
    )
    would_become_valid: int = strawberry.field(
        description="Learners expired now who would be valid again."
    )


@strawberry.type(description="What a rename would change, listed beforehand.")
class RenameImpact:
    code: str
    used_in: list[CodeUse]
    active_record_count: int
    learner_count: int = strawberry.field(
        description="Learners holding an active record with this code."
    )
