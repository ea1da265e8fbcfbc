"""Scalars whose reading differs from Strawberry's own."""

from __future__ import annotations

import json
import re
from datetime import date

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(value: object) -> date:
    """A Date a client sent, written YYYY-MM-DD and nothing else.

    Python's own reading also takes ``20230601`` and week dates (``2023-W22-4``),
    which the CSV import refuses; a day means the same in either place.
    """
    if not isinstance(value, str):
        # Shown as JSON: a number in quotes would read as a string.
        raise StrawberryInputCoercionError(
            f"Value cannot represent a Date: {json.dumps(value)}. Expected a "
            "string, written YYYY-MM-DD."
        )
    if not _DAY.fullmatch(value):
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Date: "{value}". A date is written '
            "YYYY-MM-DD, as 2023-06-01."
        )
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Date: "{value}". {error}'
        ) from None


def _write_day(value: date) -> str:
    return value.isoformat()


DATE: ScalarDefinition = strawberry.scalar(
    name="Date",
    description="A calendar day, written YYYY-MM-DD.",
    serialize=_write_day,
    parse_value=parse_day,
)
# Shortcoming: DateTime keeps Strawberry's own reading, which takes every ISO
# 8601 form (20230601T120000Z, week dates), while a Date is only YYYY-MM-DD.
SCALARS: dict[object, ScalarDefinition] = {date: DATE}
"""The scalars the schema reads its own way, by the Python type they stand for."""
