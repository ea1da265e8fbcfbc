"""How long a qualification stays valid, and what a record's status is on a day.

A code may carry a validity period in whole months. A record with that code is
valid from its completion date up to, but not including, its expiry date: the
completion date moved on by that many months. Moving on lands on the same day of
the month, or on the month's last day when that month is shorter, so a record
completed on 2024-02-29 with 12 months' validity expires on 2025-02-28.

Statuses are never stored: they follow from the completion date, the code's
validity today and the day asked about, so a change of validity applies to every
record at once and "today" is always today.

The validity of a code is an aggregate of its own rather than part of the code's,
so that checking a path award reads a few events per step code instead of every
record that ever carried it.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.errors import InvalidInput
from domain.events import Aggregate, Event

MAX_VALIDITY_MONTHS = 600
DEFAULT_EXPIRING_DAYS = 30
MAX_EXPIRING_DAYS = 366
_VALIDITY_NAMESPACE = uuid5(NAMESPACE_URL, "qualify:code-validity")


class CertificateStatus(StrEnum):
    """Where a record stands on a given day."""

    VALID = "VALID"
    EXPIRING = "EXPIRING"
    EXPIRED = "EXPIRED"


def today() -> date:
    """The day statuses are computed for when none is asked: today in UTC."""
    return datetime.now(UTC).date()


def check_validity_months(months: int | None, field: str = "months") -> int | None:
    """A validity period is 1 to 600 whole months, or none (never expires)."""
    if months is None:
        return None
    if not 1 <= months <= MAX_VALIDITY_MONTHS:
        raise InvalidInput(
            f"A validity period is 1 to {MAX_VALIDITY_MONTHS} months, or null for "
            f"a qualification that never expires; got {months}.",
            field=field,
        )
    return months


def check_expiring_days(days: int, field: str = "expiringWithinDays") -> int:
    """The "expiring soon" window is 0 to 366 days."""
    if not 0 <= days <= MAX_EXPIRING_DAYS:
        raise InvalidInput(
            f"The expiring window is 0 to {MAX_EXPIRING_DAYS} days; got {days}.",
            field=field,
        )
    return days


def add_months(day: date, months: int) -> date:
    """``day`` moved on by ``months``, kept inside the target month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def expiry_date(completed: date, months: int | None) -> date | None:
    """The first day a record completed on ``completed`` is no longer valid."""
    if months is None:
        return None
    return add_months(completed, months)


def status_on(
    completed: date, expires: date | None, on: date, expiring_days: int
) -> CertificateStatus | None:
    """A record's status on ``on``; None when it was completed after that day."""
    if completed > on:
        return None
    if expires is None:
        return CertificateStatus.VALID
    if on >= expires:
        return CertificateStatus.EXPIRED
    if on >= expires - timedelta(days=expiring_days):
        return CertificateStatus.EXPIRING
    return CertificateStatus.VALID


def still_valid(completed: date, months: int | None, on: date) -> bool:
    """Whether a record completed on ``completed`` has not expired by ``on``.

    A completion dated after ``on`` (a learner ahead of UTC) counts as valid: it
    has not expired, and it will be valid on its own day.
    """
    expires = expiry_date(completed, months)
    return expires is None or on < expires


def valid_codes(
    newest: Mapping[str, date], months: Mapping[str, int | None], on: date
) -> set[str]:
    """The codes whose newest record, by completion date, is still valid on ``on``."""
    return {
        code_id
        for code_id, completed in newest.items()
        if still_valid(completed, months.get(code_id), on)
    }


def newest_completions(records: Iterable[tuple[str | None, date]]) -> dict[str, date]:
    """The newest completion date for each code among ``(code_id, date)`` pairs."""
    newest: dict[str, date] = {}
    for code_id, completed in records:
        if code_id is not None and completed > newest.get(code_id, date.min):
            newest[code_id] = completed
    return newest


def validity_id(code_id: UUID) -> UUID:
    """The id of a code's validity, derived from the code's id."""
    return uuid5(_VALIDITY_NAMESPACE, str(code_id))


class CodeValidity(Aggregate):
    """How many months records of one code stay valid; None means for ever."""

    TOPIC = "qualify:CodeValidity"

    def __init__(self, id: UUID, created_on: datetime, code_id: str) -> None:
        super().__init__(id, created_on)
        self.code_id = code_id
        self.months: int | None = None

    @classmethod
    def first(cls, code_id: UUID, months: int) -> CodeValidity:
        """Give a code its first validity period."""
        return cls.start(
            CodeValiditySet,
            validity_id(code_id),
            code_id=str(code_id),
            old_months=None,
            new_months=months,
        )

    def change(self, months: int | None) -> None:
        """Set a new period (or none); the same period again changes nothing."""
        if months != self.months:
            self.trigger(
                CodeValiditySet,
                code_id=self.code_id,
                old_months=self.months,
                new_months=months,
            )


class CodeValiditySet(Event):
    TOPIC = "qualify:CodeValiditySet"
    code_id: str
    old_months: int | None
    new_months: int | None

    def create(self) -> CodeValidity:
        return CodeValidity(self.originator_id, self.timestamp, self.code_id)

    def apply(self, aggregate: CodeValidity) -> None:
        aggregate.months = self.new_months
