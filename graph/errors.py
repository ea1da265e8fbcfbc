"""How failures reach clients.

Expected failures of mutations come back in the payload's ``userErrors``. Expected
failures of queries (a learner asking for someone else's records) and malformed
requests come back in ``errors`` with a machine code in ``extensions.code``.
Anything else is a defect: the client sees a masked message with the request's id,
and the server logs the trace once.
"""

from __future__ import annotations

import logging
import re
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError

from domain.errors import QualifyError

logger = logging.getLogger(__name__)

# graphql-core ends a message with its guesses at what was meant; they name the
# schema's fields, types and values, which production does not disclose.
_SUGGESTION = re.compile(r"\s*Did you mean .*\Z", re.DOTALL)


@strawberry.enum(description="Why a mutation changed nothing.")
class UserErrorCode(Enum):
    # One value per code in domain.errors.ERROR_CODES; a test holds them together.
    ALREADY_EXISTS = "ALREADY_EXISTS"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CODE_IN_USE = "CODE_IN_USE"
    CODE_RENAMED = "CODE_RENAMED"
    CODE_REQUIRES_TRAINING_RECORD = "CODE_REQUIRES_TRAINING_RECORD"
    CODE_TAKEN = "CODE_TAKEN"
    CONCURRENT_UPDATE = "CONCURRENT_UPDATE"
    FORBIDDEN = "FORBIDDEN"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IMPORT_REFUSED = "IMPORT_REFUSED"
    IMPORT_REJECTED = "IMPORT_REJECTED"
    INVALID_CODE = "INVALID_CODE"
    INVALID_DATE = "INVALID_DATE"
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    NOT_LIVE = "NOT_LIVE"
    UNAUTHENTICATED = "UNAUTHENTICATED"


@strawberry.enum(
    description=(
        "Why a request was refused as a whole, in errors[].extensions.code; an "
        "error from one field carries a UserErrorCode instead."
    )
)
class RequestErrorCode(Enum):
    BAD_REQUEST = "BAD_REQUEST"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    TOO_MANY_FIELDS = "TOO_MANY_FIELDS"
    TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
    UNAUTHENTICATED = "UNAUTHENTICATED"


@strawberry.type(description="A failure the user can fix; nothing was changed.")
class UserError:
    code: UserErrorCode
    field: str | None
    message: str

    @classmethod
    def of(cls, error: QualifyError) -> UserError:
        """The payload form of an expected failure."""
        return cls(
            code=UserErrorCode(error.code),
            field=error.field,
            message=error.message,
        )


def is_defect(error: GraphQLError) -> bool:
    """Whether an error comes from a bug rather than from the request.

    A resolver's error has a path. One without a path but pointing at the request
    text comes from reading the request itself (a variable that is not a valid
    Date, say) and is the caller's to fix; one with neither was raised by the
    server's own code around execution, and is a defect too.
    """
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, QualifyError)
        and (error.path is not None or not error.nodes)
    )


def format_error(
    error: GraphQLError, correlation_id: str, *, suggestions: bool = True
) -> dict[str, Any]:
    """The client's view of one error in ``errors``.

    Without ``suggestions``, graphql-core's "Did you mean ...?" is left off.
    """
    formatted: dict[str, Any] = dict(error.formatted)
    if not suggestions:
        formatted["message"] = _SUGGESTION.sub("", formatted["message"])
    original = error.original_error

    if isinstance(original, QualifyError):
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code}
        if original.field:
            formatted["extensions"]["field"] = original.field
    elif is_defect(error):
        formatted["message"] = (
            f"Internal server error; quote request id {correlation_id} when "
            "reporting it."
        )
        formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
    elif original is not None:
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    else:
        formatted.setdefault("extensions", {})
        formatted["extensions"].setdefault("code", "GRAPHQL_VALIDATION_FAILED")
    return formatted
