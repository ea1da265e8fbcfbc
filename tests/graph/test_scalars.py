"""A Date is read as YYYY-MM-DD and nothing else, as the CSV import reads it."""

from __future__ import annotations

from datetime import date

import pytest
from strawberry.exceptions import StrawberryInputCoercionError

from graph.scalars import DATE, parse_day


def test_a_day_written_yyyy_mm_dd_is_read_as_that_day() -> None:
    assert parse_day("2024-02-29") == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2023-02-29",
            'Value cannot represent a Date: "2023-02-29". day is out of range for '
            "month",
        ),
        (
            "20230601",
            'Value cannot represent a Date: "20230601". A date is written '
            "YYYY-MM-DD, as 2023-06-01.",
        ),
        (
            "2023-06-01\n",
            'Value cannot represent a Date: "2023-06-01\n". A date is written '
            "YYYY-MM-DD, as 2023-06-01.",
        ),
        (
            20230601,
            "Value cannot represent a Date: 20230601. Expected a string, written "
            "YYYY-MM-DD.",
        ),
    ],
)
def test_anything_else_is_refused_saying_why(value: object, message: str) -> None:
    with pytest.raises(StrawberryInputCoercionError) as refused:
        parse_day(value)

    assert refused.value.message == message


def test_a_day_is_written_yyyy_mm_dd() -> None:
    assert DATE.serialize(date(2023, 6, 1)) == "2023-06-01"
