"""Who is asking, and what their role lets them do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import Forbidden


class Role(StrEnum):
    """Named bundles of rights."""

    ADMIN = "admin"
    MANAGER = "manager"
    LEARNER = "learner"


class Right(StrEnum):
    """What an operation needs."""

    MANAGE_CODES = "manage codes"
    MANAGE_CONTENT = "manage content and paths"
    MANAGE_USERS = "register users"
    MANAGE_RECORDS = "manage everyone's training records"
    VIEW_ALL_RECORDS = "view everyone's training records and progress"


_RIGHTS: dict[Role, frozenset[Right]] = {
    Role.ADMIN: frozenset(Right),
    Role.MANAGER: frozenset(
        {Right.MANAGE_CONTENT, Right.MANAGE_RECORDS, Right.VIEW_ALL_RECORDS}
    ),
    Role.LEARNER: frozenset(),
}


@dataclass(frozen=True)
class Principal:
    """The user a request acts for."""

    username: str
    role: Role

    def can(self, right: Right) -> bool:
        """Whether the role carries ``right``."""
        return right in _RIGHTS[self.role]

    def require(self, right: Right) -> None:
        """Refuse unless the role carries ``right``."""
        if not self.can(right):
            raise Forbidden(f"The {self.role.value} role may not {right.value}.")

    def require_self_or(self, username: str, right: Right) -> None:
        """Let a user act on their own behalf; others need ``right``."""
        if username != self.username:
            self.require(right)


SYSTEM = Principal("system", Role.ADMIN)
