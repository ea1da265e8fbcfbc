"""Which training records a request reads: whose, and carrying which code."""

from __future__ import annotations

from dataclasses import dataclass

from domain.codes import normalise_code
from domain.errors import NotFound
from domain.learners import learner_id, normalise_username
from domain.principal import Principal, Right
from projections import code_usage, learners
from projections.database import Db


@dataclass(frozen=True)
class Whose:
    """The learners a listing covers: one by name, some, or (both None) everyone."""

    username: str | None = None
    among: frozenset[str] | None = None
    """Usernames the listing is limited to, when the reader sees only some."""
    implied: bool = False
    """Whether ``username`` is the reader's own, named by nobody: a reader who is
    no registered learner then has no records, rather than a name not found."""

    def learner_ids(self) -> tuple[str, ...] | None:
        """``among`` as the read models' learner ids, in a stable order."""
        if self.among is None:
            return None
        return tuple(sorted(str(learner_id(name)) for name in self.among))


def whose_records(principal: Principal, username: str | None) -> Whose:
    """Whose records a listing is about, refused when the reader may not see them.

    Naming somebody needs the right to see that person's records; naming nobody
    lists everyone the reader may see: everyone, their subordinates and
    themselves, or only themselves.
    """
    if username:
        user = normalise_username(username)
        principal.require_view(user)
        return Whose(username=user)

    reach = principal.viewable()
    if reach is None:
        return Whose()
    if not reach:
        principal.require(Right.VIEW_OWN_RECORDS)
    if reach == {principal.username}:
        return Whose(username=principal.username, implied=True)
    return Whose(among=reach)


def reach_of(principal: Principal) -> Whose:
    """Everyone whose rows a report may show this reader."""
    reach = principal.viewable()
    return Whose() if reach is None else Whose(among=reach)


def code_name(code: str | None) -> str | None:
    """A code filter as typed, normalised."""
    return normalise_code(code) if code else None


def record_keys(
    db: Db, username: str | None, code: str | None, implied: bool = False
) -> tuple[str | None, str | None]:
    """The learner id and code id a listing filters on, or NotFound naming which.

    With ``implied`` (see ``Whose``), a username nobody registered is kept: its
    learner id matches no record.
    """
    learner_key = code_id = None
    if username is not None:
        learner = learners.learner_by_username(db, username)
        if learner is None and not implied:
            raise NotFound(f"No user is registered as {username}.", field="username")
        learner_key = learner.learner_id if learner else str(learner_id(username))
    if code is not None:
        row = code_usage.code_named(db, code)
        if row is None:
            raise NotFound(f"There is no qualification code {code}.", field="code")
        code_id = row.code_id
    return learner_key, code_id
