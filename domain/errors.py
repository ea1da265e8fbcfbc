"""The product's expected failures.

Every failure a person can cause and fix is a ``QualifyError`` with a stable machine
code and a sentence saying what to do. Anything else is a defect::

    QualifyError
    ├── InvalidInput          INVALID_INPUT     a field is empty, too long, out of range
    │   ├── InvalidCode       INVALID_CODE      not 1-32 letters A-Z and digits 0-9
    │   ├── InvalidDate       INVALID_DATE      a date in the future or malformed
    │   └── InvalidReference  BAD_USER_INPUT    an id or cursor this system never issued
    ├── CodeTaken             CODE_TAKEN        another live code has that name
    ├── CodeRenamed           CODE_RENAMED      the name was renamed; use the new one
    ├── CodeInUse             CODE_IN_USE       content, paths or records still use it
    ├── CodeRequiresTrainingRecord              content not recorded in records
    ├── NotFound              NOT_FOUND         no such code, content, path, record
    ├── AlreadyExists         ALREADY_EXISTS    a username or enrolment already there
    ├── NotLive               NOT_LIVE          content or path still a draft
    ├── ConcurrentUpdate      CONCURRENT_UPDATE lost a race too many times in a row
    ├── IdempotencyKeyReused  IDEMPOTENCY_KEY_REUSED  the key guarded another request
    ├── ImportRefused         IMPORT_REFUSED    a CSV file that cannot be read at all
    ├── ImportRejected        IMPORT_REJECTED   some rows are wrong, so none is applied
    ├── Forbidden             FORBIDDEN         the principal may not do this
    └── Unauthenticated       UNAUTHENTICATED   no valid token
"""

from __future__ import annotations

from typing import ClassVar


class QualifyError(Exception):
    """An expected failure: nothing was changed, and the message says why."""

    code: ClassVar[str] = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(QualifyError):
    """A field's value breaks a rule of its own (empty, too long, out of range)."""

    code = "INVALID_INPUT"


class InvalidCode(InvalidInput):
    """A qualification code that is not 1 to 32 letters A-Z and digits 0-9."""

    code = "INVALID_CODE"


class InvalidDate(InvalidInput):
    """A completion date that is malformed or lies in the future."""

    code = "INVALID_DATE"


class InvalidReference(InvalidInput):
    """An opaque id or cursor that is tampered, truncated or of another kind."""

    code = "BAD_USER_INPUT"


class CodeTaken(QualifyError):
    """Another live code already has the name asked for."""

    code = "CODE_TAKEN"


class CodeRenamed(QualifyError):
    """A code set by its old name, which would otherwise register a new code."""

    code = "CODE_RENAMED"


class CodeInUse(QualifyError):
    """The code cannot be deleted while content, paths, steps or records use it."""

    code = "CODE_IN_USE"


class CodeRequiresTrainingRecord(QualifyError):
    """A code was set on content that is not recorded in training records."""

    code = "CODE_REQUIRES_TRAINING_RECORD"


class NotFound(QualifyError):
    """No code, content, path, learner or record answers to the given key."""

    code = "NOT_FOUND"


class AlreadyExists(QualifyError):
    """The thing to be created exists already (a username, say)."""

    code = "ALREADY_EXISTS"


class NotLive(QualifyError):
    """Learners cannot enrol on, complete or join something still in draft."""

    code = "NOT_LIVE"


class ConcurrentUpdate(QualifyError):
    """The command lost an optimistic-concurrency race on every retry."""

    code = "CONCURRENT_UPDATE"


class IdempotencyKeyReused(QualifyError):
    """An idempotency key sent again with a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"


class Forbidden(QualifyError):
    """The principal's role does not allow this operation."""

    code = "FORBIDDEN"


class Unauthenticated(QualifyError):
    """The request carries no valid bearer token."""

    code = "UNAUTHENTICATED"


# Raised by the CSV import (domain.imports), which defines its own two classes.
IMPORT_CODES = ("IMPORT_REFUSED", "IMPORT_REJECTED")

ERROR_CODES: tuple[str, ...] = tuple(
    sorted(
        {
            cls.code
            for cls in (
                QualifyError,
                InvalidInput,
                InvalidCode,
                InvalidDate,
                InvalidReference,
                CodeTaken,
                CodeRenamed,
                CodeInUse,
                CodeRequiresTrainingRecord,
                NotFound,
                AlreadyExists,
                NotLive,
                ConcurrentUpdate,
                IdempotencyKeyReused,
                Forbidden,
                Unauthenticated,
            )
        }
        | set(IMPORT_CODES)
    )
)
