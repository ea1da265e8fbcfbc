"""What every resolver can reach: the backend, the principal, the request's id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import strawberry
from anyio import to_thread

from domain.principal import Principal
from projections.database import Db
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
    commands: int = 0

    def next_correlation_id(self) -> str:
        """The request's id for its first command, numbered for any further ones."""
        self.commands += 1
        if self.commands == 1:
            return self.correlation_id
        return f"{self.correlation_id}.{self.commands}"

    async def read(self, query: Callable[[Db], T]) -> T:
        """Run a read-model query in a worker thread, off the event loop."""
        store = self.backend.store

        def run() -> T:
            with store.reading() as db:
                return query(db)

        return await to_thread.run_sync(run)


Info = strawberry.Info[Context, None]
