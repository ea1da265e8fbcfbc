"""Who is asking, and what they may do.

Rights come in bundles called roles; a user may also be granted single rights.
Rights over training records have three reaches: one's own, one's subordinates'
(the users whose chain of managers reaches you) and everyone's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import Forbidden


class Role(StrEnum):
    """Named bundles of rights."""

    ADMIN = "admin"
    MANAGER = "manager"
    LEARNER = "learner"
    AUDITOR = "auditor"
    ANALYST = "analyst"


class Right(StrEnum):
    """What an operation needs."""

    MANAGE_CODES = "manage codes"
    MANAGE_CONTENT = "manage content and paths"
    MANAGE_USERS = "register users"
    MANAGE_PERMISSIONS = "manage permissions"
    VIEW_OWN_RECORDS = "view their own training records"
    VIEW_SUBORDINATE_RECORDS = "view their subordinates' training records"
    VIEW_ALL_RECORDS = "view everyone's training records"
    EDIT_OWN_RECORDS = "add, edit and delete their own training records"
    EDIT_SUBORDINATE_RECORDS = (
        "add, edit and delete their subordinates' training records"
    )
    EDIT_ALL_RECORDS = "add, edit and delete everyone's training records"
    VIEW_REPORTS = "view reports"
    READ_AUDIT_HISTORY = "read the audit history"
    LEARN = "join paths and enrol"
    """For oneself; auditors and analysts only read."""


ROLE_RIGHTS: dict[Role, frozenset[Right]] = {
    Role.ADMIN: frozenset(Right),
    Role.MANAGER: frozenset(
        {
            Right.MANAGE_CONTENT,
            Right.VIEW_OWN_RECORDS,
            Right.VIEW_SUBORDINATE_RECORDS,
            Right.EDIT_SUBORDINATE_RECORDS,
            Right.VIEW_REPORTS,
            Right.LEARN,
        }
    ),
    Role.LEARNER: frozenset({Right.VIEW_OWN_RECORDS, Right.LEARN}),
    Role.AUDITOR: frozenset(
        {Right.VIEW_ALL_RECORDS, Right.VIEW_REPORTS, Right.READ_AUDIT_HISTORY}
    ),
    Role.ANALYST: frozenset({Right.VIEW_ALL_RECORDS, Right.VIEW_REPORTS}),
}


@dataclass(frozen=True)
class Principal:
    """The user a request acts for, with every right they hold."""

    username: str
    role: Role
    granted: frozenset[Right] = frozenset()
    """Rights granted to this user alone, beyond the role's."""
    subordinates: frozenset[str] = frozenset()
    """Usernames whose chain of managers reaches this user."""

    @property
    def rights(self) -> frozenset[Right]:
        """The role's rights and the user's own grants."""
        return ROLE_RIGHTS[self.role] | self.granted

    def can(self, right: Right) -> bool:
        """Whether the user holds ``right``."""
        return right in self.rights

    def require(self, right: Right) -> None:
        """Refuse unless the user holds ``right``."""
        if not self.can(right):
            raise Forbidden(f"The {self.role.value} role may not {right.value}.")

    def can_view(self, username: str) -> bool:
        """Whether the user may read ``username``'s records, progress and status."""
        return self._reaches(
            username,
            Right.VIEW_OWN_RECORDS,
            Right.VIEW_SUBORDINATE_RECORDS,
            Right.VIEW_ALL_RECORDS,
        )

    def can_edit(self, username: str) -> bool:
        """Whether the user may add, change or delete ``username``'s records."""
        return self._reaches(
            username,
            Right.EDIT_OWN_RECORDS,
            Right.EDIT_SUBORDINATE_RECORDS,
            Right.EDIT_ALL_RECORDS,
        )

    def require_view(self, username: str) -> None:
        """Refuse unless the user may read ``username``'s records."""
        if not self.can_view(username):
            raise Forbidden(self._refusal("read", username))

    def require_edit(self, username: str) -> None:
        """Refuse unless the user may change ``username``'s records."""
        if not self.can_edit(username):
            raise Forbidden(self._refusal("change", username))

    def viewable(self) -> frozenset[str] | None:
        """Whose records the user may list: None for everyone's, else usernames."""
        if self.can(Right.VIEW_ALL_RECORDS):
            return None
        reach: set[str] = set()
        if self.can(Right.VIEW_OWN_RECORDS):
            reach.add(self.username)
        if self.can(Right.VIEW_SUBORDINATE_RECORDS):
            reach |= self.subordinates
        return frozenset(reach)

    def _reaches(self, username: str, own: Right, under: Right, every: Right) -> bool:
        if self.can(every):
            return True
        if username == self.username:
            return self.can(own)
        return username in self.subordinates and self.can(under)

    def _refusal(self, verb: str, username: str) -> str:
        whose = "their own" if username == self.username else f"{username}'s"
        return f"The {self.role.value} role may not {verb} {whose} training records."


SYSTEM = Principal("system", Role.ADMIN)
