"""What every resolver can reach: the backend, the principal, the request's id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import strawberry
from anyio import to_thread

from domain.principal import Principal
from projections.database import Db
from projections.paging import check_page_size
from qualify.bootstrap import Backend

T = TypeVar("T")


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

    def next_command(self) -> tuple[str, str | None]:
        """The correlation id and idempotency key of the request's next command.

        The first command uses the request's own; any further ones are numbered,
        so each mutation of a request is guarded and traced apart.
        """
        self.commands += 1
        if self.commands == 1:
            return self.correlation_id, self.idempotency_key
        suffix = f".{self.commands}"
        key = self.idempotency_key + suffix if self.idempotency_key else None
        return self.correlation_id + suffix, key

    def page_size(self, first: int) -> int:
        """``first``, refused unless it is a page size this server allows."""
        return check_page_size(first, self.backend.settings.max_page_size)

    async def read(self, query: Callable[[Db], T]) -> T:
        """Run a read-model query in a worker thread, off the event loop."""
        store = self.backend.store

        def run() -> T:
            with store.reading() as db:
                return query(db)

        return await to_thread.run_sync(run)


Info = strawberry.Info[Context, None]
