"""Who holds which role and rights, and who reports to whom.

Every request reads its user's row here to learn what they may do, so the
tables are keyed by username and small.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain import access as ev
from domain.events import Event
from domain.principal import Principal, Right, Role
from projections.database import Db, Writer
from projections.projection import Apply, Projection


class AccessModel(Projection):
    """Assigned roles, single grants and managers."""

    name = "access"
    version = 1
    tables = ("access_roles", "access_grants", "access_managers")
    schema = (
        """CREATE TABLE access_roles (
            username TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            assigned_at TEXT NOT NULL,
            assigned_by TEXT NOT NULL
        )""",
        """CREATE TABLE access_grants (
            username TEXT NOT NULL,
            right_name TEXT NOT NULL,
            granted_at TEXT NOT NULL,
            granted_by TEXT NOT NULL,
            PRIMARY KEY (username, right_name)
        )""",
        """CREATE TABLE access_managers (
            username TEXT PRIMARY KEY,
            manager TEXT NOT NULL
        )""",
    )
    read_indexes = (
        "CREATE INDEX access_managers_by_manager ON access_managers (manager)",
    )

    def handlers(self) -> Mapping[type[Event], Apply]:
        return {
            ev.RoleAssigned: _assigned,
            ev.RightGranted: _granted,
            ev.RightRevoked: _revoked,
            ev.ManagerSet: _manager_set,
        }


def _assigned(db: Writer, e: ev.RoleAssigned) -> None:
    db.write(
        "INSERT INTO access_roles VALUES (?,?,?,?) ON CONFLICT (username) DO UPDATE "
        "SET role = excluded.role, assigned_at = excluded.assigned_at, "
        "assigned_by = excluded.assigned_by",
        (e.username, e.role, db.occurred_at, e.actor),
    )


def _granted(db: Writer, e: ev.RightGranted) -> None:
    db.write(
        "INSERT INTO access_grants VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
        (e.username, e.right, db.occurred_at, e.actor),
    )


def _revoked(db: Writer, e: ev.RightRevoked) -> None:
    db.write(
        "DELETE FROM access_grants WHERE username = ? AND right_name = ?",
        (e.username, e.right),
    )


def _manager_set(db: Writer, e: ev.ManagerSet) -> None:
    if e.manager is None:
        db.write("DELETE FROM access_managers WHERE username = ?", (e.username,))
        return
    db.write(
        "INSERT INTO access_managers VALUES (?, ?) "
        "ON CONFLICT (username) DO UPDATE SET manager = excluded.manager",
        (e.username, e.manager),
    )


# Queries


def principal_for(db: Db, username: str, token_role: Role) -> Principal:
    """All ``username`` may do: assigned (else token) role, grants, subordinates."""
    role = assigned_role(db, username) or token_role
    granted = frozenset(
        Right[row[0]]
        for row in db.execute(
            "SELECT right_name FROM access_grants WHERE username = ?", (username,)
        )
    )
    return Principal(username, role, granted, subordinates_of(db, username))


def subordinates_of(db: Db, username: str) -> frozenset[str]:
    """Everyone whose chain of managers reaches ``username``."""
    # UNION (not UNION ALL) drops rows already found, so a loop cannot recurse
    # for ever even if two concurrent changes closed one.
    rows = db.execute(
        "WITH RECURSIVE below(username) AS ("
        "SELECT username FROM access_managers WHERE manager = ? "
        "UNION SELECT m.username FROM access_managers m "
        "JOIN below b ON m.manager = b.username) "
        "SELECT username FROM below",
        (username,),
    )
    return frozenset(row[0] for row in rows) - {username}


def manager_of(db: Db, username: str) -> str | None:
    """Whom ``username`` reports to."""
    row = db.execute(
        "SELECT manager FROM access_managers WHERE username = ?", (username,)
    ).fetchone()
    return row[0] if row else None


def assigned_role(db: Db, username: str) -> Role | None:
    """The role assigned in the store, if any (else the token's applies)."""
    row = db.execute(
        "SELECT role FROM access_roles WHERE username = ?", (username,)
    ).fetchone()
    return Role(row[0]) if row else None
