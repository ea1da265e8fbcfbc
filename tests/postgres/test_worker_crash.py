"""Kill -9 a projection worker in the middle of a batch; the next one loses nothing.

Each batch is applied in one transaction together with the positions, so a worker
killed inside one leaves the read models exactly at the previous batch; the next
worker redoes that batch once. Afterwards the read models equal a full rebuild.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from projections.database import SQLiteStore
from projections.follower import BATCH_SIZE, Follower
from projections.verification import verify
from qualify.bootstrap import Backend, all_projections, build
from qualify.config import Settings
from tests.postgres.conftest import (
    Spawn,
    connect,
    head,
    positions,
    wait_until,
    write_learners,
    write_paths,
)
from tests.support import table_rows

pytestmark = pytest.mark.slow

CATCH_UP_SECONDS = 25.0


@pytest.fixture
def backend(pg_url: str) -> Iterator[Backend]:
    """Writes without following: only the worker moves the read models."""
    opened = build(Settings(database_url=pg_url), follow=False)
    yield opened
    opened.close()


def writing_a_batch(url: str, name: str) -> bool:
    """Whether a connection of the worker is inside a transaction that has written."""
    with connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = %s AND backend_xid IS NOT NULL",
            (name,),
        ).fetchone()
    return row is not None and row[0] > 0


def test_a_worker_killed_mid_batch_is_resumed_to_the_same_rows_as_a_rebuild(
    pg_url: str, backend: Backend, spawn: Spawn
) -> None:
    write_paths(backend, paths=12)
    write_learners(backend, users=100, records=4)
    last = head(backend)
    assert last > 2 * BATCH_SIZE, "too few events for the kill to land mid-catch-up"

    worker = spawn(pg_url, "worker", "projections", "run")
    # Past the first batch and inside another one's transaction: kill it there.
    wait_until(
        lambda: (
            min(positions(pg_url)) >= BATCH_SIZE
            and writing_a_batch(pg_url, worker.name)
        ),
        CATCH_UP_SECONDS,
        lambda: (
            f"the worker never got part-way: {positions(pg_url)}\n" + worker.output()
        ),
    )
    worker.kill9()

    # The batch in flight is gone as a whole: every read model stands at the same
    # batch boundary, short of the head.
    stopped = positions(pg_url)
    assert len(set(stopped)) == 1, stopped
    assert stopped[0] % BATCH_SIZE == 0
    assert BATCH_SIZE <= stopped[0] < last

    again = spawn(pg_url, "worker", "projections", "run")
    wait_until(
        lambda: positions(pg_url) == [last] * len(all_projections()),
        CATCH_UP_SECONDS,
        lambda: (
            f"the restarted worker stopped at {positions(pg_url)} of {last}\n"
            + again.output()
        ),
    )
    again.stop()
    assert again.popen.returncode == 0, again.output()

    verdict = verify(backend.log, backend.store, all_projections())
    assert verdict.ok, [str(d) for d in verdict.differences]
    assert verdict.position == last
    rebuilt = SQLiteStore(":memory:")
    try:
        Follower(backend.log, rebuilt, all_projections()).catch_up()
        live_rows, rebuilt_rows = table_rows(backend.store), table_rows(rebuilt)
    finally:
        rebuilt.close()
    assert {table: len(rows) for table, rows in live_rows.items()} == {
        table: len(rows) for table, rows in rebuilt_rows.items()
    }
    assert live_rows == rebuilt_rows
