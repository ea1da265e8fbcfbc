"""Command handling: load aggregates, decide, save every change of a command at once.

Commands waiting at the same moment are saved together, in one transaction (see
``domain.unit_of_work``). A group that loses an optimistic-concurrency race
(another writer saved one of its aggregates first) is run again on fresh state;
since nothing of the losing attempt was stored, a retry never applies a command
twice.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Recording

from domain import commands as c
from domain.access import Access, access_id
from domain.codes import (
    CodeCreated,
    CodeName,
    QualificationCode,
    UseKind,
    check_description,
    code_name_id,
    normalise_code,
)
from domain.content import (
    ContentCreated,
    ContentKind,
    LearningContent,
    check_text,
    check_title,
)
from domain.errors import (
    AlreadyExists,
    CodeInUse,
    CodeRenamed,
    CodeTaken,
    ConcurrentUpdate,
    IdempotencyKeyReused,
    InvalidDate,
    InvalidInput,
    InvalidReference,
    NotFound,
    NotLive,
    QualifyError,
)
from domain.events import Acting, acting_as, at_one_moment, current_acting
from domain.idempotency import (
    CommandAccepted,
    IdempotencyKey,
    check_key,
    fingerprint,
    key_id,
)
from domain.imports import (
    CODE,
    NAME,
    OBJECT_ID,
    RECORD_ID,
    RECORD_TYPE,
    RECORD_TYPE_LABELS,
    Action,
    ImportRejected,
    ImportReport,
    Problem,
    RecordImport,
    RecordsImported,
    RowOutcome,
)
from domain.imports import Row as ImportRow
from domain.learners import (
    Learner,
    RecordType,
    TrainingRecord,
    UserRegistered,
    check_email,
    check_person_name,
    latest_completion_date,
    learner_id,
    normalise_username,
)
from domain.paths import (
    LearningPath,
    PathCreated,
    Step,
    check_pass_mark,
    check_points,
    check_step_count,
    step_id_for,
)
from domain.principal import Principal, Right
from domain.text import quoted
from domain.unit_of_work import AggregateCache, Group, Unit, replay
from domain.validity import (
    CodeValidity,
    check_validity_months,
    newest_completions,
    today,
    valid_codes,
    validity_id,
)

RETRIES = 8
EARLIEST_COMPLETION = date(1900, 1, 1)
MAX_MODULES = 100
MAX_SESSIONS = 500
BACKOFF_SECONDS = 0.005


class Lookups(Protocol):
    """What commands need to find that no aggregate id can be derived from."""

    def learner_of_record(self, record_id: str) -> UUID | None:
        """The learner holding a training record, if it exists."""

    def participants(self, path_id: str) -> list[UUID]:
        """The learners who joined a path."""


@dataclass(frozen=True)
class Outcome:
    """What a command produced and the log position its last event was stored at."""

    value: str | None
    position: int | None
    """Where the command's group ended in the log; None when nothing was stored."""
    replayed: bool = False
    """Whether this is the stored outcome of an earlier run under the same key."""
    report: ImportReport | None = None
    """What an import did, row by row."""
    caught_up: bool = True
    """Whether the read models had applied it when the answer was given."""
    recorded: Sequence[Recording[UUID]] = ()
    """Every event the command's group stored, with its position, in order."""


def _accept(key: UUID, command: c.Command, value: str | None) -> IdempotencyKey:
    return IdempotencyKey.start(
        CommandAccepted,
        key,
        command=type(command).__name__,
        fingerprint=fingerprint(command),
        value=value,
    )


def _replay(earlier: IdempotencyKey, command: c.Command) -> str | None:
    """The value the key's first command answered with."""
    if earlier.fingerprint != fingerprint(command):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different request "
            f"({earlier.command}); send a new key for a new request.",
            field="Idempotency-Key",
        )
    return earlier.value


class _StaleRead(Exception):
    """The reads of one attempt saw another command half-way; run it again."""


@dataclass
class _Request:
    """A command waiting for its turn, and what running it produced."""

    command: c.Command
    principal: Principal
    acting: Acting
    key: UUID | None
    finished: bool = False
    value: str | None = None
    stored: bool = False
    """Whether the command's events are among those its group stored."""
    replayed: bool = False
    report: ImportReport | None = None
    error: BaseException | None = None
    position: int | None = None
    recorded: Sequence[Recording[UUID]] = ()

    def restart(self) -> None:
        self.value, self.stored, self.replayed = None, False, False
        self.report, self.error = None, None

    def outcome(self) -> Outcome:
        if self.error is not None:
            raise self.error
        return Outcome(
            self.value,
            self.position,
            self.replayed,
            self.report,
            recorded=self.recorded if self.stored else (),
        )


Handler = Callable[[Unit, Any, Principal], str | None]


class EventLog(Application[UUID]):
    """The library's application: event store, snapshots and notification log."""

    name = "qualify"
    is_snapshotting_enabled = True


class Qualify:
    """The write model: every command of the product, over one event store."""

    def __init__(
        self, log: EventLog, lookups: Lookups, clock: Callable[[], date] = today
    ) -> None:
        self.log = log
        self.lookups = lookups
        self.clock = clock
        """Today's date, for deciding which records have expired."""
        self._handlers: dict[type, Handler] = {
            c.CreateCode: self._create_code,
            c.UpdateCodeDescription: self._update_code_description,
            c.RenameCode: self._rename_code,
            c.DeleteCode: self._delete_code,
            c.SetCodeValidity: self._set_code_validity,
            c.CreateContent: self._create_content,
            c.SetContentCode: self._set_content_code,
            c.CreateLearningPath: self._create_learning_path,
            c.SetPathSteps: self._set_path_steps,
            c.SetPathCountsExpired: self._set_path_counts_expired,
            c.RegisterUser: self._register_user,
            c.JoinPath: self._join_path,
            c.Enrol: self._enrol,
            c.CompleteContent: self._complete_content,
            c.AddTrainingRecord: self._add_training_record,
            c.UpdateTrainingRecord: self._update_training_record,
            c.DeleteRecord: self._delete_record,
            c.ImportTrainingRecords: self._import_training_records,
            c.AssignRole: self._assign_role,
            c.GrantRight: self._grant_right,
            c.RevokeRight: self._revoke_right,
            c.SetManager: self._set_manager,
        }
        self._cache = AggregateCache(log)
        self._turn = threading.RLock()
        self._arrivals: list[_Request] = []
        self._arrivals_lock = threading.Lock()

    def execute(
        self,
        command: c.Command,
        principal: Principal,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Run ``command`` for ``principal``, retrying lost races on fresh state.

        Commands sent from several threads at once are run one after another and
        saved together (see ``domain.unit_of_work``); each caller gets its own
        command's outcome or error. With ``idempotency_key``, a command already
        carried out under that key is not run again: its first outcome comes
        back, marked ``replayed``.
        """
        key = None
        if idempotency_key is not None:
            key = key_id(principal.username, check_key(idempotency_key))
        acting = Acting(principal.username, correlation_id or str(uuid4()))
        request = _Request(command, principal, acting, key)

        if isinstance(command, c.ImportTrainingRecords):
            # An import checks a whole file before it saves; commands arriving
            # meanwhile should not wait for it, so it runs beside them, on
            # aggregates of its own, and races them for the store like another
            # process would.
            self._run([request], AggregateCache(self.log, capacity=0))
            return request.outcome()

        with self._arrivals_lock:
            self._arrivals.append(request)
        # Whoever holds the turn runs every command waiting by then, this one
        # included unless an earlier turn already did.
        with self._turn:
            if not request.finished:
                with self._arrivals_lock:
                    waiting, self._arrivals = self._arrivals, []
                self._run(waiting)
        return request.outcome()

    @property
    def waiting(self) -> int:
        """How many commands have arrived and wait for the next group."""
        with self._arrivals_lock:
            return len(self._arrivals)

    def _run(
        self, requests: list[_Request], cache: AggregateCache | None = None
    ) -> None:
        """Run ``requests`` as one group, saved at once; retry it if it loses."""
        if cache is None:
            cache = self._cache
        try:
            for attempt in range(RETRIES):
                cache.refresh()
                group = Group(self.log, cache)
                with at_one_moment():
                    for request in requests:
                        self._attempt(group, request)
                try:
                    recordings = group.save()
                except IntegrityError:
                    if len(requests) > 1:
                        # Somebody else changed what one of them changed: each
                        # command races on its own, so the rest are not held up.
                        for request in requests:
                            self._run([request], cache)
                        return
                    # A short random pause keeps racing commands from colliding.
                    time.sleep(random.uniform(0, BACKOFF_SECONDS * (attempt + 1)))
                    continue
                last = recordings[-1].notification.id if recordings else None
                for request in requests:
                    request.position = last if request.stored else None
                    request.recorded = recordings
                    request.finished = True
                return

            for request in requests:
                if request.error is None:
                    request.error = ConcurrentUpdate(
                        "Other changes to the same items kept arriving; "
                        f"{RETRIES} attempts lost the race. Try again."
                    )
                request.finished = True
        except BaseException as error:
            for request in requests:
                if not request.finished:
                    request.error, request.finished = error, True
            raise

    def _attempt(self, group: Group, request: _Request) -> None:
        """Run one command within ``group``; on failure, take back its changes."""
        handler = self._handlers[type(request.command)]
        for _ in range(RETRIES):
            request.restart()
            unit = Unit(group)
            try:
                if request.key is not None:
                    earlier = unit.find(IdempotencyKey, request.key)
                    if earlier is not None:
                        request.value = _replay(earlier, request.command)
                        request.replayed = True
                        return
                with acting_as(request.acting):
                    request.value = handler(unit, request.command, request.principal)
                    self._count_records(unit)
                    if request.key is not None and unit.changed():
                        unit.add(_accept(request.key, request.command, request.value))
            except _StaleRead:
                group.drop(unit, reads=True)
                continue
            except Exception as error:
                group.drop(unit)
                if isinstance(error, QualifyError) and self._done_elsewhere(request):
                    return
                request.error = error
                return

            request.report = unit.report
            if unit.discard:
                group.drop(unit)
            else:
                request.stored = bool(group.keep(unit))
            return

        request.error = ConcurrentUpdate(
            "What this command read kept changing under it; "
            f"{RETRIES} attempts saw it half-way. Try again."
        )

    def _done_elsewhere(self, request: _Request) -> bool:
        """Whether another process has meanwhile carried out ``request``'s key.

        The key was read before the command's other aggregates, so a twin request
        saved in between by another server shows only in what was read after it,
        and the command fails where it should have been answered as a replay.
        The key is saved with the command's effects, so reading it again now
        finds it whenever those effects were seen. Sets ``request``'s answer.
        """
        if request.key is None:
            return False
        earlier = replay(None, self.log.events.get(request.key))
        if not isinstance(earlier, IdempotencyKey):
            return False

        try:
            request.value = _replay(earlier, request.command)
        except IdempotencyKeyReused as reused:
            request.error = reused
            return True
        request.replayed = True
        return True

    # Codes

    def _create_code(self, unit: Unit, cmd: c.CreateCode, by: Principal) -> str:
        by.require(Right.MANAGE_CODES)
        name = normalise_code(cmd.code)
        description = check_description(cmd.description)

        code = self._register(unit, name, description, field="code")
        return code.code

    def _update_code_description(
        self, unit: Unit, cmd: c.UpdateCodeDescription, by: Principal
    ) -> str:
        by.require(Right.MANAGE_CODES)
        code = self._live_code(unit, normalise_code(cmd.code), field="code")
        description = check_description(cmd.description)

        if description != code.description:
            code.describe(description)
        return code.code

    def _rename_code(self, unit: Unit, cmd: c.RenameCode, by: Principal) -> str:
        by.require(Right.MANAGE_CODES)
        old = normalise_code(cmd.code, field="code")
        new = normalise_code(cmd.new_code, field="newCode")
        code = self._live_code(unit, old, field="code")
        if new == old:
            return new

        self._claim(unit, new, code.id, field="newCode")
        old_claim = unit.find(CodeName, code_name_id(old))
        assert old_claim is not None
        old_claim.release(renamed_to=new)
        code.rename(new)
        return new

    def _delete_code(self, unit: Unit, cmd: c.DeleteCode, by: Principal) -> str:
        by.require(Right.MANAGE_CODES)
        name = normalise_code(cmd.code)
        code = self._live_code(unit, name, field="code")

        if code.in_use:
            raise CodeInUse(self._describe_uses(unit, code), field="code")

        claim = unit.find(CodeName, code_name_id(name))
        assert claim is not None
        claim.release(renamed_to=None)
        code.delete()
        return name

    def _set_code_validity(
        self, unit: Unit, cmd: c.SetCodeValidity, by: Principal
    ) -> str:
        by.require(Right.MANAGE_CODES)
        code = self._live_code(unit, normalise_code(cmd.code), field="code")
        months = check_validity_months(cmd.months)

        validity = unit.find(CodeValidity, validity_id(code.id))
        previous = validity.months if validity else None
        if validity is not None:
            validity.change(months)
        elif months is not None:
            unit.add(CodeValidity.first(code.id, months))

        # A longer period, or none, can make expired steps count again.
        if previous is not None and (months is None or months > previous):
            for path_id in sorted(
                container
                for kind, container in code.uses.values()
                if kind == UseKind.LEARNING_STEP
            ):
                self._award_participants(unit, path_id)
        return code.code

    # Content

    def _create_content(self, unit: Unit, cmd: c.CreateContent, by: Principal) -> str:
        by.require(Right.MANAGE_CONTENT)
        details = _content_details(cmd)
        content = unit.add(
            LearningContent.start(
                ContentCreated,
                uuid4(),
                kind=cmd.kind.value,
                title=check_title(cmd.title),
                description=check_text(cmd.description, "description"),
                status=cmd.status.value,
                prerequisite=check_text(cmd.prerequisite, "prerequisite"),
                recorded_in_training_record=cmd.recorded_in_training_record,
                details=details,
            )
        )

        if cmd.code is not None:
            self._set_code(unit, content, cmd.code)
        return str(content.id)

    def _set_content_code(
        self, unit: Unit, cmd: c.SetContentCode, by: Principal
    ) -> str:
        by.require(Right.MANAGE_CONTENT)
        content = self._content(unit, cmd.content_id)

        if cmd.code is None:
            if content.code_id is not None:
                self._code_by_id(unit, content.code_id).detach(str(content.id))
                content.set_code(None)
        else:
            self._set_code(unit, content, cmd.code)
        return str(content.id)

    def _set_code(self, unit: Unit, content: LearningContent, raw: str) -> None:
        content.check_code_allowed()
        code = self._code_for_setting(unit, normalise_code(raw), field="code")
        if content.code_id == str(code.id):
            return

        if content.code_id is not None:
            self._code_by_id(unit, content.code_id).detach(str(content.id))
        code.attach(content.kind.use_kind, str(content.id), str(content.id))
        content.set_code(code.id)

    # Learning paths

    def _create_learning_path(
        self, unit: Unit, cmd: c.CreateLearningPath, by: Principal
    ) -> str:
        by.require(Right.MANAGE_CONTENT)
        path_id = uuid4()
        name = normalise_code(cmd.code, field="code")
        code = self._code_for_setting(unit, name, field="code")
        for kind, _ in code.uses.values():
            if kind == UseKind.LEARNING_PATH:
                raise CodeTaken(
                    f"{name} is already the code of another learning path; "
                    "each path needs its own code.",
                    field="code",
                )

        path = unit.add(
            LearningPath.start(
                PathCreated,
                path_id,
                code_id=str(code.id),
                title=check_title(cmd.title),
                description=check_text(cmd.description, "description"),
                status=cmd.status.value,
            )
        )
        code.attach(UseKind.LEARNING_PATH, str(path_id), str(path_id))
        self._replace_steps(unit, path, cmd.steps, cmd.pass_mark)
        path.count_expired(cmd.counts_expired)
        return name

    def _set_path_steps(self, unit: Unit, cmd: c.SetPathSteps, by: Principal) -> str:
        by.require(Right.MANAGE_CONTENT)
        name = normalise_code(cmd.path_code, field="pathCode")
        path = self._path(unit, name)
        pass_mark = path.pass_mark if cmd.pass_mark is c.UNCHANGED else cmd.pass_mark

        self._replace_steps(unit, path, cmd.steps, pass_mark)

        # Fewer or easier steps can complete the path for learners already on it.
        self._award_participants(unit, str(path.id))
        return name

    def _set_path_counts_expired(
        self, unit: Unit, cmd: c.SetPathCountsExpired, by: Principal
    ) -> str:
        by.require(Right.MANAGE_CONTENT)
        name = normalise_code(cmd.path_code, field="pathCode")
        path = self._path(unit, name)

        path.count_expired(cmd.counts_expired)
        if cmd.counts_expired:
            self._award_participants(unit, str(path.id))
        return name

    def _award_participants(self, unit: Unit, path_id: str) -> None:
        """Award the path to every participant whose records now complete it.

        Shortcoming: participants come from the read model, and a learner whose
        own command (a join, a new record) runs at this same moment measured the
        path as it was; if only the change completes the path for them, their
        award waits for their next change.
        """
        for participant in self.lookups.participants(path_id):
            learner = unit.find(Learner, participant)
            if learner is not None:
                self._award_paths(unit, learner)

    def _replace_steps(
        self,
        unit: Unit,
        path: LearningPath,
        inputs: tuple[c.StepInput, ...],
        pass_mark: int | None,
    ) -> None:
        check_step_count(len(inputs))
        steps: list[Step] = []
        seen: set[str] = set()

        for index, step in enumerate(inputs):
            field = f"steps[{index}]"
            name = normalise_code(step.code, field=f"{field}.code")
            code = self._code_for_setting(unit, name, field=f"{field}.code")
            if str(code.id) == path.code_id:
                raise InvalidInput(
                    f"Step {index + 1} carries the path's own code {name}; a step "
                    "needs a code of its own.",
                    field=f"{field}.code",
                )
            if name in seen:
                raise InvalidInput(
                    f"Two steps carry the code {name}; each step needs its own.",
                    field=f"{field}.code",
                )
            seen.add(name)
            steps.append(
                Step(
                    step_id=str(step_id_for(path.id, code.id)),
                    code_id=str(code.id),
                    title=check_title(step.title, field=f"{field}.title"),
                    points=check_points(step.points, field=f"{field}.points"),
                    mandatory=step.mandatory,
                )
            )
        total = sum(step.points for step in steps)
        pass_mark = check_pass_mark(pass_mark, total)

        kept = {step.step_id for step in steps}
        for old in path.steps:
            if old.step_id not in kept:
                self._code_by_id(unit, old.code_id).detach(old.step_id)
        for new in steps:
            code = self._code_by_id(unit, new.code_id)
            code.attach(UseKind.LEARNING_STEP, new.step_id, str(path.id))
        path.set_steps(tuple(steps), pass_mark)

    # Learners and records

    def _register_user(self, unit: Unit, cmd: c.RegisterUser, by: Principal) -> str:
        by.require(Right.MANAGE_USERS)
        username = normalise_username(cmd.username)
        if unit.find(Learner, learner_id(username)) is not None:
            raise AlreadyExists(
                f"The username {username} is already registered.", field="username"
            )

        unit.add(
            Learner.start(
                UserRegistered,
                learner_id(username),
                username=username,
                email=check_email(cmd.email),
                first_name=check_person_name(cmd.first_name, "firstName"),
                last_name=check_person_name(cmd.last_name, "lastName"),
            )
        )
        return username

    def _join_path(self, unit: Unit, cmd: c.JoinPath, by: Principal) -> str:
        # Rights first, so a learner cannot probe which usernames exist.
        _require_self_or_edit(by, normalise_username(cmd.username))
        learner = self._learner(unit, cmd.username)
        path = self._path(unit, normalise_code(cmd.path_code, field="pathCode"))
        if not path.is_live:
            raise NotLive(f"'{path.title}' is a draft; it cannot be joined yet.")

        learner.join(str(path.id))
        self._award_paths(unit, learner)
        return str(path.id)

    def _enrol(self, unit: Unit, cmd: c.Enrol, by: Principal) -> str:
        _require_self_or_edit(by, normalise_username(cmd.username))
        learner = self._learner(unit, cmd.username)
        content = self._live_content(unit, cmd.content_id)

        learner.enrol(str(content.id))
        return str(content.id)

    def _complete_content(
        self, unit: Unit, cmd: c.CompleteContent, by: Principal
    ) -> str | None:
        by.require_edit(normalise_username(cmd.username))
        learner = self._learner(unit, cmd.username)
        content = self._live_content(unit, cmd.content_id)
        completed = _check_completion_date(cmd.completion_date)
        content_id = str(content.id)

        # The same completion reported twice is one completion.
        if learner.completed_on(content_id, completed):
            earlier = learner.completion_record(content_id, completed)
            if earlier is not None and earlier not in learner.records:
                raise AlreadyExists(
                    f"{learner.username} completed '{content.title}' on "
                    f"{completed.isoformat()} already, and that record was deleted; "
                    "add a training record to restore it.",
                    field="completionDate",
                )
            return earlier

        record = None
        if content.recorded_in_training_record:
            record = TrainingRecord(
                record_id=str(uuid4()),
                record_type=RecordType(content.kind.value),
                object_id=content_id,
                title=content.title,
                training_provider="",
                completion_date=completed,
                other_information="",
                code_id=content.code_id,
            )
            if content.code_id:
                unit.record_deltas[content.code_id] += 1
        learner.complete(content_id, completed, record)
        self._award_paths(unit, learner)
        return record.record_id if record else None

    def _add_training_record(
        self, unit: Unit, cmd: c.AddTrainingRecord, by: Principal
    ) -> str:
        by.require_edit(normalise_username(cmd.username))
        learner = self._learner(unit, cmd.username)
        code_id = None
        if cmd.code is not None:
            code = self._live_code(unit, normalise_code(cmd.code), field="code")
            code_id = str(code.id)
            unit.record_deltas[code_id] += 1

        record = TrainingRecord(
            record_id=str(uuid4()),
            record_type=RecordType.TRAINING_RECORD,
            object_id=None,
            title=check_title(cmd.title),
            training_provider=check_text(cmd.training_provider, "trainingProvider"),
            completion_date=_check_completion_date(cmd.completion_date),
            other_information=check_text(cmd.other_information, "otherInformation"),
            code_id=code_id,
        )
        learner.add_record(record)
        self._award_paths(unit, learner)
        return record.record_id

    def _update_training_record(
        self, unit: Unit, cmd: c.UpdateTrainingRecord, by: Principal
    ) -> str:
        learner, old = self._find_record(unit, cmd.record_id)
        by.require_edit(learner.username)
        code_id = old.code_id
        if cmd.code is None:
            code_id = None
        elif cmd.code is not c.UNCHANGED:
            code_id = str(
                self._live_code(unit, normalise_code(cmd.code), field="code").id
            )

        new = TrainingRecord(
            record_id=old.record_id,
            record_type=old.record_type,
            object_id=old.object_id,
            title=_or(cmd.title, old.title, check_title),
            training_provider=_or(
                cmd.training_provider,
                old.training_provider,
                lambda v: check_text(v, "trainingProvider"),
            ),
            completion_date=_or(
                cmd.completion_date, old.completion_date, _check_completion_date
            ),
            other_information=_or(
                cmd.other_information,
                old.other_information,
                lambda v: check_text(v, "otherInformation"),
            ),
            code_id=code_id,
        )
        if new.code_id != old.code_id:
            if old.code_id:
                unit.record_deltas[old.code_id] -= 1
            if new.code_id:
                unit.record_deltas[new.code_id] += 1
        learner.update_record(new)
        self._award_paths(unit, learner)
        return new.record_id

    def _delete_record(self, unit: Unit, cmd: c.DeleteRecord, by: Principal) -> str:
        learner, record = self._find_record(unit, cmd.record_id)
        by.require_edit(learner.username)

        if record.code_id:
            unit.record_deltas[record.code_id] -= 1
        learner.delete_record(record.record_id)
        return record.record_id

    # Bulk import

    def _import_training_records(
        self, unit: Unit, cmd: c.ImportTrainingRecords, by: Principal
    ) -> str:
        if not by.rights & _EDIT_RIGHTS:
            by.require(Right.EDIT_ALL_RECORDS)
        parsed = cmd.parsed
        import_id = current_acting().correlation_id
        problems = list(parsed.problems)
        outcomes: list[RowOutcome] = []
        batch = _ImportBatch(parsed.checksum)

        for row in parsed.rows:
            found: list[Problem] = []
            outcome = self._import_row(unit, row, batch, found, by)
            problems += found
            if outcome is not None:
                outcomes.append(outcome)

        report = ImportReport(
            import_id=None if cmd.dry_run or problems else import_id,
            file_name=cmd.file_name,
            checksum=parsed.checksum,
            dry_run=cmd.dry_run,
            rows=outcomes,
            problems=sorted(problems, key=lambda p: (p.row, p.column or "")),
            ignored_columns=parsed.ignored_columns,
            blank_rows=parsed.blank_rows,
        )
        if report.problems:
            raise ImportRejected(report)

        for learner in batch.learners.values():
            self._award_paths(unit, learner)
        unit.report = report
        unit.discard = cmd.dry_run
        if not any(learner.has_changes for learner in batch.learners.values()):
            # A file that changes nothing leaves no trace, not even of itself.
            unit.report = replace(report, import_id=None)
            return import_id
        unit.add(
            RecordImport.start(
                RecordsImported,
                UUID(import_id) if _is_uuid(import_id) else uuid4(),
                file_name=cmd.file_name,
                checksum=parsed.checksum,
                created=report.count(Action.CREATED),
                updated=report.count(Action.UPDATED),
                deleted=report.count(Action.DELETED),
                unchanged=report.count(Action.UNCHANGED),
                duplicates=report.count(Action.DUPLICATE),
            )
        )
        return import_id

    def _import_row(
        self,
        unit: Unit,
        row: ImportRow,
        batch: _ImportBatch,
        problems: list[Problem],
        by: Principal,
    ) -> RowOutcome | None:
        # A problem found here shows the cell as read (an id lower-cased, a code
        # trimmed and upper-cased), not as written: the row keeps no raw cells.
        def problem(column: str, value: str, reason: str) -> None:
            problems.append(Problem(row.number, column, value, reason))

        # Checked before the user is looked up, so a file cannot probe usernames.
        if not by.can_edit(row.username):
            problem(
                NAME, row.username, "You may not change this user's training records"
            )
            return None
        learner = batch.learners.get(row.username) or unit.find(
            Learner, learner_id(row.username)
        )
        if learner is None:
            problem(NAME, row.username, f"No user is registered as {row.username}")
        # A row that deletes its record needs no live code: the file that
        # deleted a code's last records still re-imports after the code is gone.
        code_id = None if row.delete else self._import_code(unit, row, batch, problem)
        self._check_object(unit, row, problem)
        if problems or learner is None:
            return None
        batch.learners[row.username] = learner

        if row.record_id is None:
            return self._import_new(unit, learner, row, code_id, batch)
        existing = learner.records.get(row.record_id)
        if existing is None:
            if row.delete and row.record_id in learner.deleted_records:
                return RowOutcome(row.number, Action.UNCHANGED, row.record_id)
            owner = self.lookups.learner_of_record(row.record_id)
            where = "another learner" if owner else "no active record"
            problem(RECORD_ID, row.record_id, f"That Record Id belongs to {where}")
            return None
        if (existing.record_type, existing.object_id) != (
            row.record_type,
            row.object_id,
        ):
            problem(
                RECORD_TYPE,
                RECORD_TYPE_LABELS[row.record_type],
                "A record's type and object cannot change; the record is a "
                f"{RECORD_TYPE_LABELS[existing.record_type]}",
            )
            return None

        # The learner's records change below: their index is rebuilt when next used.
        batch.forget(learner)
        if row.delete:
            if existing.code_id:
                unit.record_deltas[existing.code_id] -= 1
            learner.delete_record(existing.record_id)
            return RowOutcome(row.number, Action.DELETED, existing.record_id)
        updated = _imported_record(row, existing.record_id, code_id)
        if updated == existing:
            return RowOutcome(row.number, Action.UNCHANGED, existing.record_id)
        if updated.code_id != existing.code_id:
            if existing.code_id:
                unit.record_deltas[existing.code_id] -= 1
            if updated.code_id:
                unit.record_deltas[updated.code_id] += 1
        learner.update_record(updated)
        return RowOutcome(row.number, Action.UPDATED, existing.record_id)

    def _import_new(
        self,
        unit: Unit,
        learner: Learner,
        row: ImportRow,
        code_id: str | None,
        batch: _ImportBatch,
    ) -> RowOutcome:
        # Named after the file and the row, so a dry run and the real import of
        # the same file report the same new ids, and importing the file again
        # finds the records it made. A row whose record was since deleted or
        # changed makes another, under the row's next name.
        key = _training_key(
            code_id, row.completion_date, row.training_provider, row.title
        )
        for name in _row_names(batch.checksum, row.number):
            record_id = name_based_id(learner.id, name)
            made = learner.records.get(record_id)
            if made is not None and _key_of(made) == key:
                return RowOutcome(row.number, Action.UNCHANGED, record_id)
            if made is None and record_id not in learner.deleted_records:
                break
        held = batch.trainings(learner)
        earlier = held.get(key)
        if earlier is not None:
            return RowOutcome(row.number, Action.DUPLICATE, earlier)
        if code_id:
            unit.record_deltas[code_id] += 1
        learner.add_record(_imported_record(row, record_id, code_id))
        held[key] = record_id
        return RowOutcome(row.number, Action.CREATED, record_id)

    def _import_code(
        self,
        unit: Unit,
        row: ImportRow,
        batch: _ImportBatch,
        problem: Callable[[str, str, str], None],
    ) -> str | None:
        if row.code is None:
            return None
        if row.code not in batch.codes:
            try:
                code = self._live_code(unit, row.code, field=CODE)
                batch.codes[row.code] = str(code.id)
            except NotFound as error:
                batch.codes[row.code] = error.message.rstrip(".")
                batch.missing.add(row.code)
        if row.code in batch.missing:
            problem(CODE, row.code, batch.codes[row.code])
            return None
        return batch.codes[row.code]

    def _check_object(
        self, unit: Unit, row: ImportRow, problem: Callable[[str, str, str], None]
    ) -> None:
        if row.object_id is None:
            return
        kind = self._object_kind(unit, UUID(row.object_id), row.record_type)
        if kind is row.record_type:
            return
        wanted = RECORD_TYPE_LABELS[row.record_type].lower()
        if kind is None:
            problem(OBJECT_ID, row.object_id, f"There is no {wanted} with that id")
        else:
            found = RECORD_TYPE_LABELS[kind].lower()
            problem(OBJECT_ID, row.object_id, f"That id is a {found}, not a {wanted}")

    def _object_kind(
        self, unit: Unit, object_id: UUID, expected: RecordType
    ) -> RecordType | None:
        """What ``object_id`` names: a path, a kind of content, or nothing."""
        # The expected kind is read first; the other only for a row in error, to
        # say what the id names instead.
        path = RecordType.LEARNING_PATH
        if expected is path and unit.find(LearningPath, object_id) is not None:
            return path
        content = unit.find(LearningContent, object_id)
        if content is not None:
            return RecordType(content.kind.value)
        if expected is not path and unit.find(LearningPath, object_id) is not None:
            return path
        return None

    # Access

    def _assign_role(self, unit: Unit, cmd: c.AssignRole, by: Principal) -> str:
        by.require(Right.MANAGE_PERMISSIONS)
        access, new = self._access(unit, cmd.username)

        access.assign(cmd.role)
        return self._keep(unit, access, new)

    def _grant_right(self, unit: Unit, cmd: c.GrantRight, by: Principal) -> str:
        by.require(Right.MANAGE_PERMISSIONS)
        access, new = self._access(unit, cmd.username)

        access.grant(cmd.right)
        return self._keep(unit, access, new)

    def _revoke_right(self, unit: Unit, cmd: c.RevokeRight, by: Principal) -> str:
        by.require(Right.MANAGE_PERMISSIONS)
        access, new = self._access(unit, cmd.username)

        if cmd.right not in access.granted:
            raise InvalidInput(
                f"{access.username} was never granted the right to "
                f"{cmd.right.value} on its own; a role's rights change only by "
                "assigning another role.",
                field="right",
            )
        access.revoke(cmd.right)
        return self._keep(unit, access, new)

    def _set_manager(self, unit: Unit, cmd: c.SetManager, by: Principal) -> str:
        by.require(Right.MANAGE_PERMISSIONS)
        access, new = self._access(unit, cmd.username)
        manager = (
            None
            if cmd.manager is None
            else normalise_username(cmd.manager, field="manager")
        )

        # Walk up from the new manager: meeting the user would close a loop.
        above = manager
        seen: set[str] = set()
        while above is not None and above not in seen:
            if above == access.username:
                raise InvalidInput(
                    f"{manager} cannot manage {access.username}: "
                    f"{access.username} is already in {manager}'s chain of managers.",
                    field="manager",
                )
            seen.add(above)
            boss = unit.find(Access, access_id(above))
            above = boss.manager if boss else None
        access.report_to(manager)
        return self._keep(unit, access, new)

    def _access(self, unit: Unit, raw: str) -> tuple[Access, bool]:
        """A user's access, and whether it is new (not stored yet)."""
        username = normalise_username(raw)
        found = unit.find(Access, access_id(username))
        if found is not None:
            return found, False
        return Access.open(username), True

    def _keep(self, unit: Unit, access: Access, new: bool) -> str:
        # A new access that decided nothing is not stored, so a no-op leaves no trace.
        if new and access.version > 1:
            unit.add(access)
        return access.username

    def _award_paths(self, unit: Unit, learner: Learner) -> None:
        """Award every joined path the learner's records now complete, once each."""
        awarded_one = True
        on = self.clock()
        # An award carries the path's code, which may be a step of another path.
        while awarded_one:
            awarded_one = False
            held = learner.held_codes()
            for path_id in sorted(learner.joined_paths - learner.awarded_paths.keys()):
                path = unit.find(LearningPath, UUID(path_id))
                if path is None:
                    continue
                progress = path.measure(held)
                # Expiry only takes steps away, so it is looked up only for a path
                # the records would complete.
                if progress.complete and not path.counts_expired:
                    steps = {step.code_id for step in progress.satisfied}
                    progress = path.measure(self._valid(unit, learner, steps, on))
                if not progress.complete:
                    continue

                learner.award(path_id, _path_record(learner, path, progress.satisfied))
                unit.record_deltas[path.code_id] += 1
                held[path.code_id] += 1
                awarded_one = True

    def _valid(
        self, unit: Unit, learner: Learner, code_ids: set[str], on: date
    ) -> set[str]:
        """Which of ``code_ids`` the learner holds on a record still valid ``on``."""
        newest = newest_completions(
            (r.code_id, r.completion_date)
            for r in learner.records.values()
            if r.code_id in code_ids
        )
        months = {}
        for code_id in newest:
            validity = unit.find(CodeValidity, validity_id(UUID(code_id)))
            months[code_id] = validity.months if validity else None
        return valid_codes(newest, months, on)

    def _count_records(self, unit: Unit) -> None:
        """Tell each code how many records now carry it, so a delete sees them."""
        for code_id, delta in sorted(unit.record_deltas.items()):
            code = self._code_by_id(unit, code_id)
            if delta > 0:
                code.add_records(delta)
            elif delta < 0:
                code.remove_records(-delta)

    # Loading

    def _register(
        self, unit: Unit, name: str, description: str, field: str
    ) -> QualificationCode:
        code = unit.add(
            QualificationCode.start(
                CodeCreated, uuid4(), code=name, description=description
            )
        )
        self._claim(unit, name, code.id, field=field)
        return code

    def _claim(self, unit: Unit, name: str, code_id: UUID, field: str) -> None:
        claim = unit.find(CodeName, code_name_id(name))
        if claim is None:
            unit.add(CodeName.claim_new(name, code_id))
        elif claim.code_id is None:
            claim.claim(code_id)
        else:
            raise CodeTaken(
                f"The qualification code {name} is already taken.", field=field
            )

    def _live_code(self, unit: Unit, name: str, field: str) -> QualificationCode:
        claim = unit.find(CodeName, code_name_id(name))
        if claim is None or claim.code_id is None:
            raise NotFound(self._missing_code(unit, name, claim), field=field)
        return self._claimed_code(unit, claim.code_id)

    def _missing_code(self, unit: Unit, name: str, claim: CodeName | None) -> str:
        target = self._renamed_to(unit, claim)
        if target is not None:
            return f"The qualification code {name} was renamed to {target}."
        if claim is not None:
            # The name was a code's once, and that code (by this name or a later
            # one) was deleted.
            return f"The qualification code {name} was deleted."
        return f"There is no qualification code {name}."

    def _renamed_to(self, unit: Unit, claim: CodeName | None) -> str | None:
        """The live name a released name was renamed to, through any chain."""
        seen = {claim.name} if claim else set()
        while claim is not None and claim.renamed_to and claim.renamed_to not in seen:
            target = claim.renamed_to
            seen.add(target)
            claim = unit.find(CodeName, code_name_id(target))
            if claim is not None and claim.code_id is not None:
                return target
        return None

    def _code_for_setting(self, unit: Unit, name: str, field: str) -> QualificationCode:
        """The live code of that name, registered on the spot when it is new."""
        claim = unit.find(CodeName, code_name_id(name))
        if claim is not None and claim.code_id is not None:
            return self._claimed_code(unit, claim.code_id)

        # An old name typed from habit must not quietly become a second code.
        target = self._renamed_to(unit, claim)
        if target is not None:
            raise CodeRenamed(
                f"{name} was renamed to {target}; use {target}, or create {name} "
                "anew with createCode first.",
                field=field,
            )
        return self._register(unit, name, "", field=field)

    def _claimed_code(self, unit: Unit, code_id: str) -> QualificationCode:
        """The code a name's claim points to, which must not be deleted since."""
        code = self._code_by_id(unit, code_id)
        if code.deleted:
            # The claim was read before a concurrent delete, the code after it.
            raise _StaleRead
        return code

    def _code_by_id(self, unit: Unit, code_id: str) -> QualificationCode:
        code = unit.find(QualificationCode, UUID(code_id))
        if code is None:
            raise RuntimeError(f"code {code_id} is referenced but not stored")
        return code

    def _content(self, unit: Unit, content_id: str) -> LearningContent:
        content = unit.find(LearningContent, _parse_id(content_id, "contentId"))
        if content is None:
            raise NotFound(
                f"There is no course, quiz or training event {content_id}.",
                field="contentId",
            )
        return content

    def _live_content(self, unit: Unit, content_id: str) -> LearningContent:
        content = self._content(unit, content_id)
        if not content.is_live:
            raise NotLive(
                f"'{content.title}' is a draft; learners cannot use it yet.",
                field="contentId",
            )
        return content

    def _path(self, unit: Unit, name: str) -> LearningPath:
        claim = unit.find(CodeName, code_name_id(name))
        path = self._path_claimed(unit, claim)
        if path is not None:
            return path
        target = self._renamed_to(unit, claim)
        if target is not None and self._path_claimed(
            unit, unit.find(CodeName, code_name_id(target))
        ):
            raise NotFound(
                f"The learning path code {name} was renamed to {target}.",
                field="pathCode",
            )
        raise NotFound(f"There is no learning path with code {name}.", field="pathCode")

    def _path_claimed(self, unit: Unit, claim: CodeName | None) -> LearningPath | None:
        """The path whose own code holds the name ``claim`` stands for, if any."""
        if claim is None or claim.code_id is None:
            return None
        code = self._code_by_id(unit, claim.code_id)
        for owner_id, (kind, _) in code.uses.items():
            if kind == UseKind.LEARNING_PATH:
                path = unit.find(LearningPath, UUID(owner_id))
                if path is not None:
                    return path
        return None

    def _learner(self, unit: Unit, raw: str) -> Learner:
        username = normalise_username(raw)
        learner = unit.find(Learner, learner_id(username))
        if learner is None:
            raise NotFound(f"No user is registered as {username}.", field="username")
        return learner

    def _find_record(
        self, unit: Unit, record_id: str
    ) -> tuple[Learner, TrainingRecord]:
        record_id = str(_parse_id(record_id, "recordId"))
        owner = self.lookups.learner_of_record(record_id)
        learner = unit.find(Learner, owner) if owner else None
        if learner is None or record_id not in learner.records:
            raise NotFound(
                f"There is no training record {record_id}.", field="recordId"
            )
        return learner, learner.records[record_id]

    def _describe_uses(self, unit: Unit, code: QualificationCode) -> str:
        places = []
        order = [kind.value for kind in UseKind]
        uses = sorted(code.uses.items(), key=lambda u: (order.index(u[1][0]), u[0]))
        for owner_id, (kind, container_id) in uses:
            places.append(self._describe_use(unit, kind, owner_id, container_id))
        if code.record_count:
            noun = "record" if code.record_count == 1 else "records"
            places.append(f"{code.record_count} active training {noun}")
        return (
            f"{code.code} cannot be deleted while it is used by "
            f"{'; '.join(places)}. Remove the code from each of them first."
        )

    def _describe_use(
        self, unit: Unit, kind: str, owner_id: str, container_id: str
    ) -> str:
        if kind == UseKind.LEARNING_STEP:
            path = unit.find(LearningPath, UUID(container_id))
            step = (
                next((s for s in path.steps if s.step_id == owner_id), None)
                if path
                else None
            )
            step_title = step.title if step else owner_id
            path_title = path.title if path else container_id
            return (
                f"learning step '{step_title}' of path '{path_title}' (id {owner_id})"
            )
        if kind == UseKind.LEARNING_PATH:
            path = unit.find(LearningPath, UUID(owner_id))
            title = path.title if path else owner_id
            return f"learning path '{title}' (id {owner_id})"
        content = unit.find(LearningContent, UUID(owner_id))
        title = content.title if content else owner_id
        label = ContentKind(kind).label.lower()
        return f"{label} '{title}' (id {owner_id})"


def _content_details(cmd: c.CreateContent) -> dict[str, Any]:
    if len(cmd.modules) > MAX_MODULES or len(cmd.sessions) > MAX_SESSIONS:
        raise InvalidInput(
            f"Content has at most {MAX_MODULES} modules and {MAX_SESSIONS} sessions.",
            field="modules" if len(cmd.modules) > MAX_MODULES else "sessions",
        )
    if cmd.kind is ContentKind.COURSE:
        return {"modules": [_module(i, m) for i, m in enumerate(cmd.modules)]}
    if cmd.kind is ContentKind.QUIZ:
        if cmd.pass_mark is None or not 0 <= cmd.pass_mark <= 100:
            raise InvalidInput(
                "A quiz needs a pass mark from 0 to 100 percent.", field="passMark"
            )
        return {"pass_mark": cmd.pass_mark}
    return {"sessions": [_session(i, s) for i, s in enumerate(cmd.sessions)]}


def _module(index: int, module: c.Module) -> dict[str, Any]:
    field = f"modules[{index}]"
    if not 0 < module.length_minutes <= 100_000:
        raise InvalidInput(
            "A module's length is a whole number of minutes from 1 to 100000; "
            f"got {module.length_minutes}.",
            field=f"{field}.lengthMinutes",
        )
    return {
        "title": check_title(module.title, field=f"{field}.title"),
        "description": check_text(module.description, f"{field}.description"),
        "length_minutes": module.length_minutes,
    }


def _session(index: int, session: c.Session) -> dict[str, Any]:
    field = f"sessions[{index}]"
    location = None
    if session.location is not None:
        location = check_text(session.location, f"{field}.location") or None
    return {"starts_at": session.starts_at.isoformat(), "location": location}


_EDIT_RIGHTS = frozenset(
    {Right.EDIT_OWN_RECORDS, Right.EDIT_SUBORDINATE_RECORDS, Right.EDIT_ALL_RECORDS}
)


def _require_self_or_edit(by: Principal, username: str) -> None:
    # Learners join paths and enrol for themselves; for others, editing rights.
    if username != by.username:
        by.require_edit(username)
    else:
        by.require(Right.LEARN)


def _check_completion_date(value: date) -> date:
    latest = latest_completion_date()
    if value < EARLIEST_COMPLETION:
        raise InvalidDate(
            f"The completion date {value.isoformat()} is before "
            f"{EARLIEST_COMPLETION.isoformat()}; check the year.",
            field="completionDate",
        )
    if value > latest:
        raise InvalidDate(
            f"The completion date {value.isoformat()} is in the future.",
            field="completionDate",
        )
    return value


def _path_record(
    learner: Learner, path: LearningPath, satisfied: Iterable[Step]
) -> TrainingRecord:
    # A path is completed on the day its last counted step was completed.
    codes = {step.code_id for step in satisfied}
    dates = [r.completion_date for r in learner.records.values() if r.code_id in codes]
    return TrainingRecord(
        record_id=str(uuid4()),
        record_type=RecordType.LEARNING_PATH,
        object_id=str(path.id),
        title=path.title,
        training_provider="",
        completion_date=max(dates, default=datetime.now(UTC).date()),
        other_information="",
        code_id=path.code_id,
    )


def _parse_id(value: str, field: str) -> UUID:
    try:
        return UUID(value.strip())
    except ValueError:
        raise InvalidReference(
            f"{quoted(value)} is not an id this system issued.", field=field
        ) from None


T = TypeVar("T")


def _or(value: T | c.Unchanged, old: T, check: Callable[[T], T]) -> T:
    if value is c.UNCHANGED:
        return old
    return check(value)


def _imported_record(
    row: ImportRow, record_id: str, code_id: str | None
) -> TrainingRecord:
    return TrainingRecord(
        record_id=record_id,
        record_type=row.record_type,
        object_id=row.object_id,
        title=row.title,
        training_provider=row.training_provider,
        completion_date=row.completion_date,
        other_information=row.other_information,
        code_id=code_id,
    )


def name_based_id(namespace: UUID, name: str) -> str:
    """``str(uuid5(namespace, name))``, made fast enough for an import's rows.

    The same SHA-1 and the same version and variant bits, written straight to
    text: building the ``UUID`` object and formatting it took three times as long.
    """
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _row_names(checksum: str, number: int) -> Iterator[str]:
    """The names a file's row gives the records it makes, first to last."""
    yield f"{checksum}:{number}"
    for later in itertools.count(1):
        yield f"{checksum}:{number}:{later}"


def _training_key(
    code_id: str | None, completion_date: date, training_provider: str, title: str
) -> tuple[object, ...]:
    # The import's notion of "the same record again", for one learner: one code,
    # one day, one provider, one title.
    return (code_id, completion_date, training_provider, title)


def _key_of(record: TrainingRecord) -> tuple[object, ...]:
    return _training_key(
        record.code_id, record.completion_date, record.training_provider, record.title
    )


class _ImportBatch:
    """What one import has looked up so far, so each row costs the same."""

    def __init__(self, checksum: str) -> None:
        self.checksum = checksum
        self.learners: dict[str, Learner] = {}
        # A code's id, or for a code in ``missing``, why it cannot be used.
        self.codes: dict[str, str] = {}
        self.missing: set[str] = set()
        self._trainings: dict[str, dict[tuple[object, ...], str]] = {}

    def trainings(self, learner: Learner) -> dict[tuple[object, ...], str]:
        """The learner's records by ``_key_of``, kept current by the import."""
        if learner.username not in self._trainings:
            self._trainings[learner.username] = {
                _key_of(r): r.record_id for r in learner.records.values()
            }
        return self._trainings[learner.username]

    def forget(self, learner: Learner) -> None:
        """Drop the learner's index after a change the index does not follow."""
        self._trainings.pop(learner.username, None)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
