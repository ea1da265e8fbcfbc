"""A projection worker, or a server waiting for one, loses its connections and
carries on.

The worker runs in a thread of the test; every connection the product opens here
carries an application name made of the test's schema, so the test terminates the
worker's connections and no one else's. The worker logs the loss, connects again
and resumes from the positions stored with its last committed batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from projections.follower import BATCH_SIZE
from projections.verification import verify
from qualify.bootstrap import all_projections, build
from qualify.config import Settings
from qualify.worker import WorkerStats, run_worker
from tests.postgres.conftest import (
    application_name,
    connect,
    positions,
    wait_until,
    write_learners,
    write_paths,
)

pytestmark = pytest.mark.slow

WAIT_SECONDS = 20.0
POLL_SECONDS = 0.01


@dataclass
class Worker:
    """A projection worker running in a thread, and what it has done."""

    url: str
    name: str
    stop: threading.Event
    stats: WorkerStats
    thread: threading.Thread

    def terminate_connections(self, *, writing: bool = False) -> int:
        """Terminate the worker's connections (only its open write, with
        ``writing``); how many were terminated."""
        condition = "backend_xid IS NOT NULL" if writing else "true"
        return terminate(self.url, self.name, condition)

    def caught_up(self, position: int) -> bool:
        assert self.thread.is_alive(), "the worker thread died"
        return positions(self.url) == [position] * len(all_projections())


def terminate(url: str, name: str, condition: str) -> int:
    """End the connections named ``name`` that meet ``condition``; how many."""
    with connect(url) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE application_name = %s AND pid <> pg_backend_pid() AND {condition}",
            (name,),
        ).fetchall()
    return sum(1 for (done,) in rows if done)


@pytest.fixture
def worker(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    name = application_name(pg_url, "worker")
    # Every connection this test's product code opens carries the name; the
    # test's own connections name themselves otherwise.
    monkeypatch.setenv("PGAPPNAME", name)
    stop, stats = threading.Event(), WorkerStats()
    thread = threading.Thread(
        target=run_worker,
        args=(Settings(database_url=pg_url), stop, stats, POLL_SECONDS),
        daemon=True,
    )
    running = Worker(pg_url, name, stop, stats, thread)
    yield running
    stop.set()
    if thread.is_alive():
        thread.join(timeout=WAIT_SECONDS)
    assert not thread.is_alive(), "the worker did not stop"


def write(url: str, paths: int, users: int, prefix: str) -> int:
    """Store some events through a short-lived writer; the head position after."""
    writer = build(Settings(database_url=url), follow=False)
    try:
        write_paths(writer, paths, prefix=prefix.upper())
        write_learners(writer, users, records=3, prefix=prefix)
        return writer.log.recorder.max_notification_id() or 0
    finally:
        writer.close()


def assert_verified(url: str, position: int) -> None:
    backend = build(Settings(database_url=url), follow=False)
    try:
        verdict = verify(backend.log, backend.store, all_projections())
    finally:
        backend.close()
    assert verdict.ok, [str(d) for d in verdict.differences]
    assert verdict.position == position


def test_a_worker_whose_connections_are_terminated_reconnects_and_loses_nothing(
    pg_url: str, worker: Worker
) -> None:
    first = write(pg_url, paths=1, users=20, prefix="a")
    worker.thread.start()
    wait_until(
        lambda: worker.caught_up(first),
        WAIT_SECONDS,
        lambda: f"the worker stopped at {positions(pg_url)} of {first}",
    )
    # The writer has closed its connections: those left with the name are the
    # worker's (its event store, its read models, its leadership lock).
    assert worker.terminate_connections() >= 2
    wait_until(
        lambda: worker.stats.reconnects >= 1,
        WAIT_SECONDS,
        lambda: "the worker never noticed its connections were gone",
    )

    second = write(pg_url, paths=1, users=20, prefix="b")
    wait_until(
        lambda: worker.caught_up(second),
        WAIT_SECONDS,
        lambda: f"the reconnected worker stopped at {positions(pg_url)} of {second}",
    )

    # Every event applied once: the count is the log's, and the rows are the log's.
    # (The count moves just after the batch commits.)
    wait_until(
        lambda: worker.stats.events >= second,
        WAIT_SECONDS,
        lambda: f"the worker counted {worker.stats.events} events of {second}",
    )
    assert worker.stats.events == second
    assert_verified(pg_url, second)


def test_a_worker_cut_off_inside_a_batch_redoes_that_batch_once(
    pg_url: str, worker: Worker
) -> None:
    last = write(pg_url, paths=14, users=20, prefix="c")
    assert last > 2 * BATCH_SIZE
    worker.thread.start()

    # Cut the connection that is writing a batch, once one batch is in.
    cut: list[int] = []

    def cut_inside_a_batch() -> bool:
        if min(positions(pg_url)) < BATCH_SIZE:
            return False
        cut.append(worker.terminate_connections(writing=True))
        return cut[-1] > 0

    wait_until(
        cut_inside_a_batch,
        WAIT_SECONDS,
        lambda: f"no batch was caught in flight: {positions(pg_url)} of {last}",
    )
    wait_until(
        lambda: worker.caught_up(last),
        WAIT_SECONDS,
        lambda: f"the worker stopped at {positions(pg_url)} of {last}",
    )

    assert worker.stats.reconnects >= 1
    assert_verified(pg_url, last)


def test_a_server_that_loses_its_listener_still_sees_the_workers_progress(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = application_name(pg_url, "server")
    monkeypatch.setenv("PGAPPNAME", name)
    server = build(Settings(database_url=pg_url), follow=False)
    worker = build(Settings(database_url=pg_url), follow=True)
    try:
        # Listening starts with the first wait.
        assert server.store.wait_for_applied(0) is None
        write_learners(server, 3, 1, prefix="lost")
        position = server.log.recorder.max_notification_id() or 0
        assert terminate(pg_url, name, "query LIKE 'LISTEN%%'") == 1

        # The lost listener answers nothing, then listens again.
        assert server.store.wait_for_applied(0.01) is None
        worker.follower.catch_up()
        worker.store.announce(worker.follower.position)
        assert server.reach(position)
        assert server.store.wait_for_applied(0) is None
        worker.store.announce(position)
        assert server.store.wait_for_applied(5) == position
    finally:
        server.close()
        worker.close()


def test_a_server_whose_connections_were_ended_fails_only_the_read_in_flight(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = application_name(pg_url, "server")
    monkeypatch.setenv("PGAPPNAME", name)
    server = build(Settings(database_url=pg_url), follow=False)
    try:
        # Three readers at once leave three idle connections in the pool.
        with server.store.reading(), server.store.reading(), server.store.reading():
            pass
        assert terminate(pg_url, name, "query NOT LIKE 'LISTEN%%'") >= 3

        with pytest.raises(psycopg.OperationalError), server.store.reading() as db:
            db.execute("SELECT 1")
        # The pool replaced the other dead connections when the first one failed.
        for _ in range(3):
            with server.store.reading() as db:
                assert db.execute("SELECT 1").fetchone()[0] == 1
    finally:
        server.close()
