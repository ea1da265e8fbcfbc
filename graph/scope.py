"""Which training records a request reads: whose, and carrying which code."""

from __future__ import annotations

from domain.codes import normalise_code
from domain.errors import NotFound
from domain.learners import normalise_username
from domain.principal import Principal, Right
from projections import code_usage, learners
from projections.database import Db


def whose_records(principal: Principal, username: str | None) -> str | None:
    """The username a listing is about; None means everyone's.

    Learners see only their own records: naming nobody means themselves, and
    naming someone else is refused.
    """
    user = normalise_username(username) if username else None
    if user is None and not principal.can(Right.VIEW_ALL_RECORDS):
        user = principal.username
    if user is not None:
        principal.require_self_or(user, Right.VIEW_ALL_RECORDS)
    return user


def code_name(code: str | None) -> str | None:
    """A code filter as typed, normalised."""
    return normalise_code(code) if code else None


def record_keys(
    db: Db, username: str | None, code: str | None
) -> tuple[str | None, str | None]:
    """The learner id and code id a listing filters on, or NotFound naming which."""
    learner_id = code_id = None
    if username is not None:
        learner = learners.learner_by_username(db, username)
        if learner is None:
            raise NotFound(f"No user is registered as {username}.", field="username")
        learner_id = learner.learner_id
    if code is not None:
        row = code_usage.live_code(db, code)
        if row is None:
            raise NotFound(f"There is no qualification code {code}.", field="code")
        code_id = row.code_id
    return learner_id, code_id
