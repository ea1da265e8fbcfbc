"""Holes in the log's positions on PostgreSQL: wait for a late commit, step a dead one.

An id is taken from the events table's sequence when a row is inserted, not when it
commits: a transaction can hold id N uncommitted while N + 1 is already visible, and
a transaction that rolls back leaves N empty for good. The tests stage both with
their own transactions writing genuine stored events (built by the domain and
mapped by the application, so every read model's handler runs on them); the
backend does not follow the log itself, so only the test's catch-ups advance it,
except in the last test, where a backend that follows the log answers a command.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql
from psycopg.pq import TransactionStatus

from domain import commands as c
from domain.events import Acting, acting_as
from domain.learners import Learner, UserRegistered, learner_id
from domain.principal import SYSTEM
from projections import follower as follower_module
from projections.verification import verify
from qualify.bootstrap import Backend, all_projections, build
from qualify.config import Settings
from tests.postgres.conftest import connect, location_of

EVENTS_TABLE = "qualify_events"
PROMPTLY_SECONDS = 5.0


@pytest.fixture
def backend(pg_url: str) -> Iterator[Backend]:
    """A backend whose read models move only when the test calls ``catch_up``."""
    opened = build(Settings(database_url=pg_url), follow=False)
    yield opened
    opened.close()


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection of the test's own."""
    with connect(pg_url) as connection:
        yield connection


def register(backend: Backend, username: str) -> int:
    """Register through the write model (not waiting for read models); the position."""
    outcome = backend.write_model.execute(
        c.RegisterUser(username, f"{username}@example.com", "Test", "User"), SYSTEM
    )
    assert outcome.position is not None
    return outcome.position


def insert_registration(
    backend: Backend, connection: psycopg.Connection[Any], username: str
) -> int:
    """Insert the stored event of a registration on ``connection``; its position.

    No table lock is taken (the application's recorder takes one), so the insert
    stands for any writer whose commit order differs from its id order.
    """
    with acting_as(Acting("system", str(uuid4()))):
        learner = Learner.start(
            UserRegistered,
            learner_id(username),
            username=username,
            email=f"{username}@example.com",
            first_name="Test",
            last_name="User",
        )
    (event,) = learner.collect_events()
    stored = backend.log.mapper.to_stored_event(event)
    row = connection.execute(
        sql.SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s) RETURNING notification_id"
        ).format(sql.Identifier(schema_of(backend)), sql.Identifier(EVENTS_TABLE)),
        (stored.originator_id, stored.originator_version, stored.topic, stored.state),
    ).fetchone()
    assert row is not None
    return int(row[0])


def schema_of(backend: Backend) -> str:
    return location_of(backend.settings.database_url).schema


def usernames(backend: Backend) -> list[str]:
    with backend.store.reading() as db:
        return [row[0] for row in db.execute("SELECT username FROM learners")]


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The usernames registered by each event handed to a read model, in order."""
    seen: list[str] = []
    apply: Callable[..., None] = follower_module.apply

    def recording(
        db: Any, handlers: Any, batch: Any, after: int = 0, shared: Any = None
    ) -> None:
        seen.extend(
            item.event.username
            for item in batch
            if item.position > after and isinstance(item.event, UserRegistered)
        )
        apply(db, handlers, batch, after, shared)

    monkeypatch.setattr(follower_module, "apply", recording)
    return seen


def test_an_event_committed_late_is_waited_for_and_applied_in_order(
    backend: Backend,
    conn: psycopg.Connection[Any],
    pg_url: str,
    dispatched: list[str],
) -> None:
    before = register(backend, "first")
    assert backend.follower.catch_up().position == before

    with connect(pg_url, autocommit=False) as late:
        # T1 takes id N and stays open; T2 takes N + 1 and commits.
        late_position = insert_registration(backend, late, "late")
        early_position = insert_registration(backend, conn, "early")
        assert (late_position, early_position) == (before + 1, before + 2)

        for _ in range(3):
            waiting = backend.follower.catch_up()
            assert waiting.events == 0
            assert waiting.position == before
        assert backend.follower.stored_position() == before
        assert sorted(usernames(backend)) == ["first"]

        late.commit()

    dispatched.clear()
    done = backend.follower.catch_up()

    assert done.events == 2
    assert done.position == early_position
    assert backend.follower.stored_position() == early_position
    # Each read model in turn is handed N, then N + 1.
    assert dispatched == ["late", "early"] * len(all_projections())
    assert sorted(usernames(backend)) == ["early", "first", "late"]
    assert verify(backend.log, backend.store, all_projections()).ok


def consume_by_rollback(
    backend: Backend, connection: psycopg.Connection[Any], pg_url: str
) -> int:
    with connect(pg_url, autocommit=False) as failed:
        position = insert_registration(backend, failed, "never")
        failed.rollback()
    return position


def consume_by_nextval(
    backend: Backend, connection: psycopg.Connection[Any], pg_url: str
) -> int:
    row = connection.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))",
        (f"{schema_of(backend)}.{EVENTS_TABLE}",),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    "consume", [consume_by_rollback, consume_by_nextval], ids=["rollback", "nextval"]
)
def test_a_position_no_transaction_will_fill_is_stepped_over_promptly(
    backend: Backend,
    conn: psycopg.Connection[Any],
    pg_url: str,
    consume: Callable[[Backend, psycopg.Connection[Any], str], int],
) -> None:
    before = register(backend, "first")
    backend.follower.catch_up()

    hole = consume(backend, conn, pg_url)
    after = register(backend, "after")
    assert (hole, after) == (before + 1, before + 2)

    # Another transaction anywhere on the server may hold the rule back briefly,
    # never for long: the hole is passed within a few catch-ups.
    deadline = time.monotonic() + PROMPTLY_SECONDS
    applied = 0
    while backend.follower.position < after:
        assert time.monotonic() < deadline, (
            f"the follower stalled at {backend.follower.position} on the hole at "
            f"{hole} for {PROMPTLY_SECONDS} s"
        )
        applied += backend.follower.catch_up().events
        time.sleep(0.01)

    assert applied == 1
    assert backend.follower.stored_position() == after
    assert sorted(usernames(backend)) == ["after", "first"]
    assert verify(backend.log, backend.store, all_projections()).ok


def test_a_commit_landing_between_the_read_and_the_gap_check_is_not_skipped(
    backend: Backend,
    conn: psycopg.Connection[Any],
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The follower reads N + 1 without N, then asks whether the hole at N is final.
    # If T1 commits in between, N is stored but was not in what was read: stepping
    # over the hole on that read would lose N for good.
    before = register(backend, "first")
    backend.follower.catch_up()

    with connect(pg_url, autocommit=False) as late:
        late_position = insert_registration(backend, late, "late")
        early_position = insert_registration(backend, conn, "early")
        assert (late_position, early_position) == (before + 1, before + 2)

        marker = backend.store.gap_marker

        def commit_then_mark() -> object:
            if late.info.transaction_status is TransactionStatus.INTRANS:
                late.commit()
            return marker()

        monkeypatch.setattr(backend.store, "gap_marker", commit_then_mark)

        deadline = time.monotonic() + PROMPTLY_SECONDS
        while backend.follower.position < early_position:
            assert time.monotonic() < deadline, "the follower did not reach N + 1"
            backend.follower.catch_up()

    assert backend.follower.stored_position() == early_position
    assert sorted(usernames(backend)) == ["early", "first", "late"]
    verdict = verify(backend.log, backend.store, all_projections())
    assert verdict.ok, [str(d) for d in verdict.differences]


def test_a_following_backend_answers_only_once_its_event_is_applied_past_a_hole(
    pg_url: str, conn: psycopg.Connection[Any]
) -> None:
    # A hole below the command's event cannot be called final while any older
    # transaction on the server is still open; the answer waits for that, rather
    # than returning with the read models short of the command.
    following = build(Settings(database_url=pg_url), follow=True)
    try:
        hole = consume_by_nextval(following, conn, pg_url)
        with connect(pg_url, autocommit=False) as older:
            older.execute("SELECT pg_current_xact_id()")
            ended = threading.Timer(0.3, older.rollback)
            ended.start()
            try:
                outcome = following.handle(
                    c.RegisterUser("bob", "bob@example.com", "Bob", "Jones"), SYSTEM
                )
            finally:
                ended.join()

        assert outcome.position == hole + 1
        assert following.follower.stored_position() == hole + 1
        assert usernames(following) == ["bob"]
    finally:
        following.close()
