"""The composition root: store, write model, read models, wired once."""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from uuid import UUID

import psycopg
from eventsourcing.persistence import PersistenceError, Recording
from psycopg.errors import InsufficientPrivilege

from domain.application import EventLog, Outcome, Qualify
from domain.commands import Command, ImportTrainingRecords
from domain.principal import Principal, Role
from projections import database
from projections.access import AccessModel, principal_for
from projections.audit_log import AuditChain, AuditLog
from projections.code_usage import CodeUsage
from projections.collection import paused_collection
from projections.course_activity import CourseActivity
from projections.database import ReadStore, SQLiteStore
from projections.follower import BATCH_SIZE, Follower, StoreChanged
from projections.learners import Learners
from projections.path_progress import PathProgress, participant_ids
from projections.postgres import PostgresStore
from projections.projection import Projection
from projections.training_records import TrainingRecords, learner_of_record
from qualify.config import (
    ConfigurationError,
    PostgresLocation,
    Settings,
    SQLiteLocation,
    store_location,
)
from qualify.event_store import TOPIC as RECORDER_TOPIC

# How long a server waits for projection workers before answering anyway.
READ_TIMEOUT_SECONDS = 10.0
# How often a server waiting for workers reads their position for itself.
LOOK_SECONDS = 0.05
# How often a server that keeps its own read models looks for events another
# process stored and did not apply: an import killed between its commit and its
# catch-up leaves them for whoever looks next.
CATCH_UP_SECONDS = 0.5
# A SQLite commit writes every page its batch touched into the write-ahead log
# and may checkpoint it into the file: a bulk import's 100,000 events applied
# 20,000 at a time spent 0.5 s committing, 2,000 at a time 2 s. A command that
# waits for its own event waits for all earlier ones either way.
SQLITE_BATCH_SIZE = 20_000
# The event store's table on PostgreSQL, named by the library after the
# application (on SQLite it is "stored_events", but a file is looked at instead).
POSTGRES_EVENTS_TABLE = f"{EventLog.name}_events"
# The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"
_LIBPQ_REASON = re.compile(r"\bport \d+ failed: (?P<reason>.+)")
_logger = logging.getLogger(__name__)


def all_projections() -> list[Projection]:
    """Every read model, in the order each batch is applied to them."""
    return [
        CodeUsage(),
        Learners(),
        CourseActivity(),
        TrainingRecords(),
        PathProgress(),
        AccessModel(),
        AuditLog(),
        AuditChain(),
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
    embedded: bool = True
    """Whether this process keeps the read models current (else workers do)."""
    read_timeout: float = READ_TIMEOUT_SECONDS

    watch: Watch = field(init=False)
    """How a server that leaves the read models to workers waits for them."""

    def __post_init__(self) -> None:
        self.watch = Watch(self.follower, self.store)

    @property
    def events_channel(self) -> str:
        """What the event store notifies when it stores events (PostgreSQL only)."""
        return str(getattr(self.log.recorder, "channel_name", ""))

    def principal(self, username: str, token_role: Role) -> Principal:
        """The user a token names, with the rights the store gives them now."""
        with self.store.reading() as db:
            return principal_for(db, username, token_role)

    def today(self) -> date:
        """The day statuses and progress are computed for when none is asked."""
        return self.write_model.clock()

    def handle(
        self,
        command: Command,
        principal: Principal,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Run a command and bring the read models up to its last event.

        Returning only after the catch-up is what lets the next query, from the
        same client or any other, read this command's effect.
        """
        with _collection_paused_for(command):
            return self._handle(command, principal, correlation_id, idempotency_key)

    def _handle(
        self,
        command: Command,
        principal: Principal,
        correlation_id: str | None,
        idempotency_key: str | None,
    ) -> Outcome:
        outcome = self.write_model.execute(
            command, principal, correlation_id, idempotency_key
        )
        target = outcome.position
        if outcome.replayed:
            # The first run may have ended before the read models caught up.
            target = self.log.recorder.max_notification_id() or 0
        if target is None:
            return outcome
        try:
            reached = self.reach(target, outcome.recorded)
        except StoreChanged as error:
            # The command is stored; only its read models cannot follow here.
            _logger.error("%s", error)
            return replace(outcome, caught_up=False)
        if not reached:
            _logger.warning(
                "the read models did not reach position %d within %.0f s; "
                "is a projection worker running?",
                target,
                self.read_timeout,
            )
            return replace(outcome, caught_up=False)
        return outcome

    def reach(self, position: int, recorded: Sequence[Recording[UUID]] = ()) -> bool:
        """Return once the read models have applied ``position``.

        Gives up after ``read_timeout`` seconds when no worker advances them, and
        says so by returning False; the command itself has been stored either way.
        ``recorded``, the events just stored, spares reading them back.
        """
        deadline = time.monotonic() + self.read_timeout
        if not self.embedded:
            return self.watch.wait(position, deadline)

        # A hole below ``position`` is waited for until it fills or is final.
        while self.follower.catch_up(position, recorded=recorded).position < position:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def catch_up_with_others(self) -> int:
        """Apply what other processes stored and left unapplied; how many events."""
        head = self.log.recorder.max_notification_id() or 0
        if head <= self.follower.position:
            return 0
        return self.follower.catch_up().events

    def close(self) -> None:
        """Release the store's connections."""
        try:
            self.store.close()
        finally:
            self.log.close()


@contextmanager
def catching_up(backend: Backend) -> Iterator[None]:
    """While inside, a thread applies what other processes leave unapplied.

    Only where the server keeps its own read models: on PostgreSQL the workers
    follow every writer already.
    """
    if not backend.embedded:
        yield
        return

    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(CATCH_UP_SECONDS):
            try:
                applied = backend.catch_up_with_others()
            except StoreChanged as error:
                # Trying again cannot help: only a restart with the matching
                # release can. Said once, not every half second.
                _logger.error("%s", error)
                return
            except Exception as error:
                # A busy or briefly unreachable store is tried again next time.
                _logger.warning("catching up with other processes failed: %s", error)
                continue
            if applied:
                _logger.info("applied %d events stored by another process", applied)

    thread = threading.Thread(target=follow, name="catch-up", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Watch:
    """Waits, for any number of threads at once, until workers reach a position.

    One waiting thread at a time listens for the workers' announcements and reads
    the stored positions; the others wait for it to tell them what it learned. A
    position is read from the store at least every ``LOOK_SECONDS``, so a lost
    announcement delays an answer by that much, never for good.
    """

    def __init__(self, follower: Follower, store: ReadStore) -> None:
        self._follower = follower
        self._store = store
        self._changed = threading.Condition()
        self._reached = 0
        self._listening = False

    def wait(self, position: int, deadline: float) -> bool:
        """Whether the read models reached ``position`` before ``deadline``."""
        with self._changed:
            while self._reached < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._listening:
                    self._changed.wait(remaining)
                    continue

                self._listening = True
                self._changed.release()
                reached = 0
                try:
                    reached = self._look(position, min(remaining, LOOK_SECONDS))
                finally:
                    self._changed.acquire()
                    self._listening = False
                    self._reached = max(self._reached, reached)
                    # Also when the look failed: another waiter looks in its place.
                    self._changed.notify_all()
        return True

    def _look(self, position: int, timeout: float) -> int:
        # Announcements queue up on the listening connection between looks, so
        # one sent after the read below is still heard.
        announced = self._store.wait_for_applied(0)
        reached = max(announced or 0, self._follower.stored_position())
        deadline = time.monotonic() + timeout
        while reached < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            announced = self._store.wait_for_applied(remaining)
            reached = max(reached, announced or 0)
        return reached


def _batch_size(store: ReadStore) -> int:
    return SQLITE_BATCH_SIZE if store.dialect == "sqlite" else BATCH_SIZE


def _collection_paused_for(command: Command) -> AbstractContextManager[None]:
    # A bulk import holds every row, record and event it makes until it returns.
    if isinstance(command, ImportTrainingRecords):
        return paused_collection()
    return nullcontext()


class StoreUnavailable(ConfigurationError):
    """The store the settings name cannot be opened; the message says where, why.

    A configuration error: an address, a name or a path to put right, which the
    command line reports in one line, as it does a malformed setting.
    """


def store_exists(location: SQLiteLocation | PostgresLocation) -> bool:
    """Whether a store was already made at ``location``, found without making one.

    An in-memory store never exists before it is opened. A SQLite file is taken
    for a store when it holds anything at all: opening it to look would make its
    write-ahead log beside it.
    """
    if isinstance(location, SQLiteLocation):
        if location.path == ":memory:":
            return False
        _check_sqlite_file(location.path)
        path = Path(location.path)
        return path.is_file() and path.stat().st_size > 0
    with _opening(location), psycopg.connect(location.conninfo) as connection:
        found = connection.execute(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = %s",
            (location.schema, POSTGRES_EVENTS_TABLE),
        ).fetchone()
    return found is not None


def _check_sqlite_file(path: str) -> None:
    """Refuse a path SQLite could not keep a store at, before SQLite touches it.

    SQLite says only "file is not a database" or "unable to open database file",
    deep inside the first statement; the first bytes of the file tell which, and
    reading them leaves the file as it is.
    """
    where = Path(path).absolute()
    if where.is_dir():
        raise StoreUnavailable(
            f"{where} is not a Qualify store: it is a directory; point "
            "QUALIFY_DATABASE_URL at a store file, e.g. sqlite:////absolute/path/"
            "qualify.db."
        )
    try:
        with where.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        # A new store is made there.
        return
    except OSError as error:
        raise _sqlite_unavailable(where, error.strerror or str(error)) from None
    # SQLite takes an empty file for an empty database, as a new store starts.
    if header and header != SQLITE_HEADER:
        raise StoreUnavailable(
            f"{where} is not a Qualify store: the file is not a SQLite database "
            "(it is left as it is); point QUALIFY_DATABASE_URL at the store file."
        )


def sqlite_refusal(where: Path, error: BaseException | None) -> str | None:
    """Why the SQLite store at ``where`` refused, when the URL is right and the
    user can act on it: busy, read-only or full; None for any other error."""
    # Extended result codes (SQLITE_BUSY_SNAPSHOT, say) keep the primary one in
    # their low byte.
    code = getattr(error, "sqlite_errorcode", None)
    code = code & 0xFF if isinstance(code, int) else None
    if code == sqlite3.SQLITE_BUSY:
        # Read now, so the message tells the wait that was actually made.
        return (
            f"the SQLite store at {where} is busy: another process has held its "
            f"write lock for {database.BUSY_TIMEOUT_SECONDS:g} s; try again once it "
            "is done."
        )
    if code == sqlite3.SQLITE_READONLY:
        return (
            f"the SQLite store at {where} cannot be written: its file, or the "
            "folder it is in, is read-only to this user."
        )
    if code == sqlite3.SQLITE_FULL:
        return (
            f"the disk of the SQLite store at {where} is full: the store, or a "
            "rebuild's scratch file beside it, could not grow; free some space and "
            "try again."
        )
    return None


def _sqlite_unavailable(
    where: Path, reason: str, cause: BaseException | None = None
) -> StoreUnavailable:
    return StoreUnavailable(
        sqlite_refusal(where, cause)
        or f"cannot open the SQLite store at {where}: {reason}; check "
        "QUALIFY_DATABASE_URL."
    )


@contextmanager
def _opening(location: SQLiteLocation | PostgresLocation) -> Iterator[None]:
    """Report a store that cannot be opened as where and why, not as a traceback."""
    try:
        yield
    except Exception as error:
        refused = _refusal(location, error)
        if refused is None:
            raise
        raise refused from None


def _refusal(
    location: SQLiteLocation | PostgresLocation, error: Exception
) -> StoreUnavailable | None:
    """What to tell of ``error``, met opening the store; None for any other fault."""
    cause: BaseException = error
    if isinstance(error, PersistenceError) and error.__cause__ is not None:
        # The event store's library wraps the driver's error in one of its own.
        cause = error.__cause__
    if isinstance(location, PostgresLocation):
        if isinstance(cause, (psycopg.OperationalError, InsufficientPrivilege)):
            return _postgres_unavailable(location, str(cause))
        return None
    if isinstance(cause, (sqlite3.Error, OSError)):
        reason = getattr(cause, "strerror", None) or str(cause)
        return _sqlite_unavailable(Path(location.path).absolute(), reason, cause)
    return None


def _postgres_unavailable(location: PostgresLocation, message: str) -> StoreUnavailable:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    # libpq names the address it tried before its reason, and adds hints on lines
    # of their own; the address is said here already, so only the reason (the
    # last one, when several addresses were tried) is kept.
    reasons = [
        found["reason"] for line in lines if (found := _LIBPQ_REASON.search(line))
    ]
    reason = reasons[-1] if reasons else (lines[0] if lines else "no reason given")
    reason = " ".join(reason.removeprefix("FATAL:").split())
    if location.password:
        reason = reason.replace(location.password, "***")
    host = f"[{location.host}]" if ":" in location.host else location.host
    return StoreUnavailable(
        f"cannot open the PostgreSQL store at {host}:{location.port}/"
        f"{location.dbname} (user {location.user}): {reason}; check "
        "QUALIFY_DATABASE_URL."
    )


def build(settings: Settings, *, follow: bool | None = None) -> Backend:
    """Open the store named by ``settings`` and bring its read models up to date.

    With ``follow`` this process keeps the read models current itself: the default
    on SQLite and in memory. On PostgreSQL the default is to leave that to
    projection workers (``qualify projections run``) and wait for them after each
    command; tests and one-process set-ups may follow there too.
    """
    location = store_location(settings.database_url)
    store: ReadStore
    if isinstance(location, PostgresLocation):
        with _opening(location):
            store = PostgresStore(location.conninfo, location.schema)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": location.dbname,
            "POSTGRES_HOST": location.host,
            "POSTGRES_PORT": str(location.port),
            "POSTGRES_USER": location.user,
            "POSTGRES_PASSWORD": location.password,
            "POSTGRES_SCHEMA": location.schema,
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_MAX_OVERFLOW": "4",
            "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
        }
    elif location.path == ":memory:":
        store = SQLiteStore(location.path)
        env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    else:
        _check_sqlite_file(location.path)
        with _opening(location):
            store = SQLiteStore(location.path)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": location.path,
            # The event store waits for the file's lock as long as the read models.
            "SQLITE_LOCK_TIMEOUT": str(math.ceil(database.BUSY_TIMEOUT_SECONDS)),
        }

    # No aggregate cache: the library copies a cached aggregate outside the lock
    # that guards bringing it up to date, and under concurrent commands for one
    # learner that copy was seen to fail ("dictionary changed size").
    log: EventLog | None = None
    try:
        with _opening(location):
            with store.creating_tables():
                log = EventLog(env)
            # Creates the read models' tables: the first write a new store sees.
            follower = Follower(
                log, store, all_projections(), batch_size=_batch_size(store)
            )
    except Exception:
        if log is not None:
            log.close()
        store.close()
        raise
    backend = Backend(
        settings=settings,
        log=log,
        write_model=Qualify(log, _ReadModelLookups(store)),
        store=store,
        follower=follower,
        embedded=store.dialect == "sqlite" if follow is None else follow,
    )
    if backend.embedded:
        backend.follower.catch_up()
    return backend
