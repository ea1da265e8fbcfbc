"""Expiry arithmetic and statuses: month ends, leap days, the expiring window."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import InvalidInput
from domain.validity import (
    CertificateStatus,
    add_months,
    check_expiring_days,
    check_validity_months,
    expiry_date,
    status_on,
)


@pytest.mark.parametrize(
    ("completed", "months", "expires"),
    [
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2024, 2, 29), 1, date(2024, 3, 29)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 3, 31), 1, date(2024, 4, 30)),
        (date(2024, 8, 31), 6, date(2025, 2, 28)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 11, 30), 3, date(2025, 2, 28)),
        (date(2024, 5, 10), 600, date(2074, 5, 10)),
    ],
)
def test_a_period_in_months_ends_on_the_same_day_or_the_months_last(
    completed: date, months: int, expires: date
) -> None:
    assert add_months(completed, months) == expires
    assert expiry_date(completed, months) == expires


def test_no_period_means_no_expiry() -> None:
    assert expiry_date(date(2024, 2, 29), None) is None


@pytest.mark.parametrize(
    ("on", "status"),
    [
        (date(2024, 2, 28), None),
        (date(2024, 2, 29), CertificateStatus.VALID),
        (date(2025, 1, 28), CertificateStatus.VALID),
        (date(2025, 1, 29), CertificateStatus.EXPIRING),
        (date(2025, 2, 27), CertificateStatus.EXPIRING),
        (date(2025, 2, 28), CertificateStatus.EXPIRED),
        (date(2030, 1, 1), CertificateStatus.EXPIRED),
    ],
)
def test_status_on_each_side_of_the_window_and_the_expiry(
    on: date, status: CertificateStatus | None
) -> None:
    # Completed 2024-02-29, 12 months: valid up to 2025-02-27, expired from 28.
    assert status_on(date(2024, 2, 29), date(2025, 2, 28), on, 30) is status


def test_a_window_of_no_days_goes_straight_from_valid_to_expired() -> None:
    expires = date(2025, 2, 28)
    assert status_on(date(2024, 2, 29), expires, date(2025, 2, 27), 0) is (
        CertificateStatus.VALID
    )
    assert status_on(date(2024, 2, 29), expires, expires, 0) is (
        CertificateStatus.EXPIRED
    )


def test_a_record_that_never_expires_is_valid_on_any_later_day() -> None:
    assert status_on(date(2001, 1, 1), None, date(2090, 1, 1), 30) is (
        CertificateStatus.VALID
    )


@pytest.mark.parametrize("months", [0, -1, 601])
def test_a_period_outside_1_to_600_months_is_refused(months: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_validity_months(months)
    assert refused.value.code == "INVALID_INPUT"
    assert refused.value.field == "months"
    assert refused.value.message == (
        "A validity period is 1 to 600 months, or null for a qualification that "
        f"never expires; got {months}."
    )


@pytest.mark.parametrize("months", [None, 1, 600])
def test_a_period_of_1_to_600_months_or_none_is_kept(months: int | None) -> None:
    assert check_validity_months(months) == months


@pytest.mark.parametrize(
    ("days", "ok"), [(-1, False), (0, True), (366, True), (367, False)]
)
def test_the_expiring_window_is_0_to_366_days(days: int, ok: bool) -> None:
    if ok:
        assert check_expiring_days(days) == days
        return
    with pytest.raises(InvalidInput) as refused:
        check_expiring_days(days)
    assert refused.value.message == f"The expiring window is 0 to 366 days; got {days}."
