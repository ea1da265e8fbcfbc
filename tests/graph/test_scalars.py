"""A Date is read as YYYY-MM-DD and nothing else, as the CSV import reads it; a
DateTime in RFC 3339's form, or as a day alone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from strawberry.exceptions import StrawberryInputCoercionError

from graph.scalars import DATE, DATETIME, parse_day, parse_moment

SHAPE = (
    "A moment is written YYYY-MM-DDTHH:MM:SS with Z, or an offset such as +02:00, "
    "as 2023-06-01T14:30:00Z; a day alone is its midnight."
)


def test_a_day_written_yyyy_mm_dd_is_read_as_that_day() -> None:
    assert parse_day("2024-02-29") == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (
            parse_day,
            "2023-02-29",
            'Value cannot represent a Date: "2023-02-29". day is out of range for '
            "month",
        ),
        (
            parse_day,
            "20230601",
            'Value cannot represent a Date: "20230601". A date is written '
            "YYYY-MM-DD, as 2023-06-01.",
        ),
        (
            parse_day,
            "2023-06-01\n",
            'Value cannot represent a Date: "2023-06-01\n". A date is written '
            "YYYY-MM-DD, as 2023-06-01.",
        ),
        (
            parse_day,
            20230601,
            "Value cannot represent a Date: 20230601. Expected a string, written "
            "YYYY-MM-DD.",
        ),
        (
            parse_moment,
            "20261205",
            f'Value cannot represent a DateTime: "20261205". {SHAPE}',
        ),
        (
            parse_moment,
            "2026-W49-6",
            f'Value cannot represent a DateTime: "2026-W49-6". {SHAPE}',
        ),
        (
            parse_moment,
            "20261205T065000Z",
            f'Value cannot represent a DateTime: "20261205T065000Z". {SHAPE}',
        ),
        (
            parse_moment,
            "2026-12-05T06:50:04,5Z",
            f'Value cannot represent a DateTime: "2026-12-05T06:50:04,5Z". {SHAPE}',
        ),
        (
            parse_moment,
            "2026-02-30T00:00Z",
            'Value cannot represent a DateTime: "2026-02-30T00:00Z". day is out of '
            "range for month",
        ),
        (
            parse_moment,
            5,
            "Value cannot represent a DateTime: 5. Expected a string, written "
            "YYYY-MM-DDTHH:MM:SSZ.",
        ),
    ],
)
def test_anything_else_is_refused_saying_why(
    parse: Callable[[object], object], value: object, message: str
) -> None:
    with pytest.raises(StrawberryInputCoercionError) as refused:
        parse(value)

    assert refused.value.message == message


def test_a_day_is_written_yyyy_mm_dd() -> None:
    assert DATE.serialize(date(2023, 6, 1)) == "2023-06-01"


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-12-05T06:50:04Z", datetime(2026, 12, 5, 6, 50, 4, tzinfo=UTC)),
        ("2026-12-05T06:50Z", datetime(2026, 12, 5, 6, 50, tzinfo=UTC)),
        (
            "2026-12-05 06:50:04.5+02:00",
            datetime(
                2026, 12, 5, 6, 50, 4, 500000, tzinfo=timezone(timedelta(hours=2))
            ),
        ),
        ("2026-12-05T06:50:04", datetime(2026, 12, 5, 6, 50, 4)),
        ("2026-12-05", datetime(2026, 12, 5)),
    ],
)
def test_a_moment_in_rfc_3339_form_or_a_day_alone_is_read(
    value: str, moment: datetime
) -> None:
    assert parse_moment(value) == moment


def test_a_moment_is_written_as_python_writes_it() -> None:
    moment = datetime(2026, 12, 5, 6, 50, 4, 738131, tzinfo=UTC)
    assert DATETIME.serialize(moment) == "2026-12-05T06:50:04.738131+00:00"
