"""Scalars whose reading differs from Strawberry's own."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

T = TypeVar("T")

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339's form, the one every client library writes; a day alone is kept, as
# its midnight. ISO 8601's other forms (20230601T1200Z, week dates) are refused.
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


def parse_day(value: object) -> date:
    """A Date a client sent, written YYYY-MM-DD and nothing else.

    Python's own reading also takes ``20230601`` and week dates (``2023-W22-4``),
    which the CSV import refuses; a day means the same in either place.
    """
    return _parsed(
        value,
        "Date",
        "YYYY-MM-DD",
        _DAY,
        "A date is written YYYY-MM-DD, as 2023-06-01.",
        date.fromisoformat,
    )


def parse_moment(value: object) -> datetime:
    """A DateTime a client sent: YYYY-MM-DDTHH:MM[:SS[.fraction]][Z or offset].

    Python's own reading also takes ``20230601T120000Z``, week dates and a comma
    before the fraction; a moment is written one way, as a day is.
    """
    return _parsed(
        value,
        "DateTime",
        "YYYY-MM-DDTHH:MM:SSZ",
        _MOMENT,
        "A moment is written YYYY-MM-DDTHH:MM:SS with Z, or an offset such as "
        "+02:00, as 2023-06-01T14:30:00Z; a day alone is its midnight.",
        datetime.fromisoformat,
    )


def _parsed(
    value: object,
    name: str,
    written: str,
    form: re.Pattern[str],
    how: str,
    read: Callable[[str], T],
) -> T:
    """``value`` read by ``read`` once it is text of ``form``, or refused saying why."""
    if not isinstance(value, str):
        # Shown as JSON: a number in quotes would read as a string.
        raise StrawberryInputCoercionError(
            f"Value cannot represent a {name}: {json.dumps(value)}. Expected a "
            f"string, written {written}."
        )
    if not form.fullmatch(value):
        raise StrawberryInputCoercionError(
            f'Value cannot represent a {name}: "{value}". {how}'
        )
    try:
        return read(value)
    except ValueError as error:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a {name}: "{value}". {error}'
        ) from None


def _written(value: date) -> str:
    return value.isoformat()


DATE: ScalarDefinition = strawberry.scalar(
    name="Date",
    description="A calendar day, written YYYY-MM-DD.",
    serialize=_written,
    parse_value=parse_day,
)
DATETIME: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description="A moment, written YYYY-MM-DDTHH:MM:SS with Z or an offset such as "
    "+02:00 (UTC when it has neither); a day alone is its midnight.",
    serialize=_written,
    parse_value=parse_moment,
)
SCALARS: dict[object, ScalarDefinition] = {date: DATE, datetime: DATETIME}
"""The scalars the schema reads its own way, by the Python type they stand for."""
