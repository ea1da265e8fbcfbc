"""What the organisation has said about one user: role, single rights, manager.

Every grant is an event, so the history answers who gave whom which right, and
when. A user's assigned role replaces the role their token names; a user nobody
assigned a role to keeps the token's (the identity provider's) role.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.events import Aggregate, Event
from domain.principal import Right, Role

_ACCESS_NAMESPACE = uuid5(NAMESPACE_URL, "qualify:access")


def access_id(username: str) -> UUID:
    """The id of a (normalised) username's access, derived from the name."""
    return uuid5(_ACCESS_NAMESPACE, username)


class Access(Aggregate):
    """One user's assigned role, granted rights and manager."""

    TOPIC = "qualify:Access"

    def __init__(self, id: UUID, created_on: datetime, username: str) -> None:
        super().__init__(id, created_on)
        self.username = username
        self.role: Role | None = None
        self.granted: set[Right] = set()
        self.manager: str | None = None

    @classmethod
    def open(cls, username: str) -> Access:
        """Start keeping a user's access."""
        return cls.start(AccessOpened, access_id(username), username=username)

    def assign(self, role: Role) -> None:
        """Give the user a role in place of any earlier one."""
        if role is not self.role:
            self.trigger(RoleAssigned, username=self.username, role=role.value)

    def grant(self, right: Right) -> None:
        """Give the user one right beyond their role's."""
        if right not in self.granted:
            self.trigger(RightGranted, username=self.username, right=right.name)

    def revoke(self, right: Right) -> None:
        """Take back a right granted to the user alone."""
        if right in self.granted:
            self.trigger(RightRevoked, username=self.username, right=right.name)

    def report_to(self, manager: str | None) -> None:
        """Set or clear the user's manager."""
        if manager != self.manager:
            self.trigger(ManagerSet, username=self.username, manager=manager)


class AccessOpened(Event):
    TOPIC = "qualify:AccessOpened"
    username: str

    def create(self) -> Access:
        return Access(self.originator_id, self.timestamp, self.username)

    def apply(self, aggregate: Access) -> None:
        pass


class RoleAssigned(Event):
    TOPIC = "qualify:RoleAssigned"
    username: str
    role: str

    def apply(self, aggregate: Access) -> None:
        aggregate.role = Role(self.role)


class RightGranted(Event):
    TOPIC = "qualify:RightGranted"
    username: str
    right: str

    def apply(self, aggregate: Access) -> None:
        aggregate.granted.add(Right[self.right])


class RightRevoked(Event):
    TOPIC = "qualify:RightRevoked"
    username: str
    right: str

    def apply(self, aggregate: Access) -> None:
        aggregate.granted.discard(Right[self.right])


class ManagerSet(Event):
    TOPIC = "qualify:ManagerSet"
    username: str
    manager: str | None

    def apply(self, aggregate: Access) -> None:
        aggregate.manager = self.manager
