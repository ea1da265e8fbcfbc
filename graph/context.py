"""What every resolver can reach: the backend, the principal, the request's id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import strawberry
from anyio import to_thread
from graphql import DocumentNode

from domain.errors import InvalidInput
from domain.idempotency import check_key
from domain.principal import Principal
from projections.database import Db, ReadStore
from projections.paging import check_page_size
from qualify.bootstrap import Backend

T = TypeVar("T")
_Waiting = tuple[Callable[[Db], Any], "asyncio.Future[Any]", bool]


@dataclass
class Context:
    """Per-request state handed to resolvers."""

    backend: Backend
    principal: Principal
    correlation_id: str
    user_errors: list[str] = field(default_factory=list)
    operation: str = "-"
    behind: bool = False
    """Set when a command was stored but the read models had not applied it yet."""
    commands: int = 0

    idempotency_key: str | None = None
    executed: tuple[DocumentNode, str | None] | None = None
    """The query document that reached execution, once it has, and the name of
    the operation that ran (the first one when the request named none)."""
    _waiting: list[_Waiting] = field(default_factory=list, repr=False)
    _batches: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    def next_command(self) -> tuple[str, str | None]:
        """The correlation id and idempotency key of the request's next command.

        The first command uses the request's own; any further ones are numbered,
        so each mutation of a request is guarded and traced apart.
        """
        self.commands += 1
        if self.commands == 1:
            return self.correlation_id, self.idempotency_key
        suffix = f".{self.commands}"
        return self.correlation_id + suffix, _numbered(self.idempotency_key, suffix)

    def page_size(self, first: int) -> int:
        """``first``, refused unless it is a page size this server allows."""
        return check_page_size(first, self.backend.settings.max_page_size)

    async def read(self, query: Callable[[Db], T], *, aside: bool = False) -> T:
        """Run a read-model query; ``aside`` for one that may take long.

        The queries asked for in one turn of the event loop (the fields of one
        level of a GraphQL query start together) share one snapshot, so the
        fields cannot disagree. Where the store's reads never wait (a SQLite
        file), a batch of page reads runs on the event loop itself: handing it
        to a worker thread cost more than the reads, and with 8 requests at once
        the threads and the loop queued for the interpreter lock, which tripled
        the slowest answers (the dashboard's p99 at 8 clients on a 30,000-record
        store: 77 ms through threads, 30 ms inline). A batch with an
        ``aside`` query in it (a replay as of a moment), or on a store that
        waits for the network, goes to a worker thread.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._start_batch)
        self._waiting.append((query, answer, aside))
        return await answer

    def _start_batch(self) -> None:
        batch, self._waiting = self._waiting, []
        store = self.backend.store
        if store.reads_inline and not any(aside for _, _, aside in batch):
            # Nothing here waits, so the batch is read in this very callback,
            # without a task to make and a turn of the loop to wait for.
            try:
                outcomes = _read_all(store, batch)
            except BaseException as error:
                _fail(batch, error)
                raise
            _settle(batch, outcomes)
            return

        task = asyncio.get_running_loop().create_task(self._read_aside(batch))
        # The loop keeps only a weak reference to its tasks.
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _read_aside(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = await to_thread.run_sync(_read_all, self.backend.store, batch)
        except BaseException as error:
            _fail(batch, error)
            raise
        _settle(batch, outcomes)


def _read_all(store: ReadStore, batch: list[_Waiting]) -> list[tuple[bool, Any]]:
    """Each query's answer or error, all read in one snapshot."""
    outcomes: list[tuple[bool, Any]] = []
    with store.reading() as db:
        for query, _, _ in batch:
            try:
                outcomes.append((True, query(db)))
            except Exception as error:
                outcomes.append((False, error))
    return outcomes


def _settle(batch: list[_Waiting], outcomes: list[tuple[bool, Any]]) -> None:
    for (_, answer, _), (ok, value) in zip(batch, outcomes, strict=True):
        if answer.done():
            continue
        if ok:
            answer.set_result(value)
        else:
            answer.set_exception(value)


def _fail(batch: list[_Waiting], error: BaseException) -> None:
    for _, answer, _ in batch:
        if not answer.done():
            answer.set_exception(error)


Info = strawberry.Info[Context, None]


def _numbered(key: str | None, suffix: str) -> str | None:
    """A later mutation's key: the request's, numbered, when it is a valid key.

    A malformed key stays as it was sent, so that every mutation of the request
    is refused for it, not only the first: an empty key numbered would be valid.
    """
    if key is None:
        return None
    try:
        check_key(key)
    except InvalidInput:
        return key
    return key + suffix
