"""Where a resolver's read runs: on the event loop for a SQLite file, else aside."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from domain.principal import SYSTEM
from graph.context import Context
from projections.database import Db
from qualify.bootstrap import Backend

T = TypeVar("T")


def _thread(db: Db) -> int:
    return threading.get_ident()


def _run(backend: Backend, reads: Callable[[Context], Awaitable[T]]) -> tuple[T, int]:
    """What ``reads`` returned, and the event loop's thread."""

    async def main() -> tuple[T, int]:
        context = Context(backend=backend, principal=SYSTEM, correlation_id="c-1")
        return await reads(context), threading.get_ident()

    return asyncio.run(main())


INLINE = {"memory": False, "sqlite": True, "postgres": False}


def test_a_page_read_runs_on_the_loop_only_where_reads_never_wait(
    request: pytest.FixtureRequest, backend: Backend
) -> None:
    # A SQLite file is read from its own snapshot; memory shares the writer's lock
    # and PostgreSQL waits for the network, so those go to a worker thread.
    inline = INLINE[request.node.callspec.params["database_url"].name]

    ran_on, loop = _run(backend, lambda context: context.read(_thread))

    assert (ran_on == loop) is inline


def test_a_read_that_may_take_long_runs_aside_on_every_store(
    backend: Backend,
) -> None:
    ran_on, loop = _run(backend, lambda context: context.read(_thread, aside=True))

    assert ran_on != loop


def test_reads_started_together_share_one_call_aside_when_one_of_them_is(
    backend: Backend,
) -> None:
    async def reads(context: Context) -> list[int]:
        return list(
            await asyncio.gather(
                context.read(_thread), context.read(_thread, aside=True)
            )
        )

    (page, replay), loop = _run(backend, reads)

    assert page == replay != loop


def test_an_error_in_one_read_reaches_only_its_own_caller(backend: Backend) -> None:
    def broken(db: Db) -> int:
        raise LookupError("no such row")

    async def reads(context: Context) -> list[object]:
        return list(
            await asyncio.gather(
                context.read(broken), context.read(_thread), return_exceptions=True
            )
        )

    (error, thread), _ = _run(backend, reads)

    assert isinstance(error, LookupError)
    assert isinstance(thread, int)


@pytest.mark.parametrize("aside", [False, True])
def test_reads_started_together_see_one_snapshot(backend: Backend, aside: bool) -> None:
    def count(db: Db) -> int:
        return int(db.execute("SELECT count(*) FROM codes").fetchone()[0])

    async def reads(context: Context) -> list[int]:
        return list(
            await asyncio.gather(context.read(count), context.read(count, aside=aside))
        )

    counts, _ = _run(backend, reads)

    assert counts == [0, 0]
