"""Certificates that expire: validity changes, renewals, progress and awards.

Every test fixes "today" on the backend's clock, so statuses are exact whatever
day the suite runs on.
"""

from __future__ import annotations

from datetime import date

import pytest

from domain import commands as c
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.imports import read_file
from domain.principal import SYSTEM, Principal, Role
from domain.validity import CertificateStatus
from projections import certificates, code_usage
from projections.paging import Page
from projections.verification import verify
from qualify.bootstrap import Backend, all_projections
from tests.csv_support import csv_file, import_row
from tests.support import (
    LEARNER,
    OTHER_LEARNER,
    complete,
    course,
    learner,
    learner_id,
    live_code,
    participant,
    path_records,
    progress,
    records_of,
    register,
    run,
    value,
)

TODAY = date(2025, 3, 10)
PATH = "SAFETY"


@pytest.fixture
def cpr(backend: Backend) -> str:
    """A CPR course, a first-aid course and a path needing both; two learners."""
    backend.write_model.clock = lambda: TODAY
    register(backend, LEARNER)
    register(backend, OTHER_LEARNER)
    return course(backend, "CPR Basics", "CPR")


def first_aid(backend: Backend) -> str:
    return course(backend, "First Aid at Work", "FIRSTAID")


def safety_path(backend: Backend, *, counts_expired: bool = False) -> None:
    run(
        backend,
        c.CreateLearningPath(
            PATH,
            "Workplace safety",
            steps=(
                c.StepInput("CPR", "CPR", 10),
                c.StepInput("FIRSTAID", "First aid", 10),
            ),
            counts_expired=counts_expired,
        ),
    )
    run(backend, c.JoinPath(PATH, LEARNER))


def lapsed_cpr(backend: Backend, cpr: str) -> None:
    """Alice on the safety path: first aid done this month, CPR lapsed in 2024."""
    aid = first_aid(backend)
    safety_path(backend)
    run(backend, c.SetCodeValidity("CPR", 12))
    complete(backend, cpr, date(2023, 6, 1))
    complete(backend, aid, date(2025, 3, 1))


def certificate(
    backend: Backend, code: str = "CPR", on: date = TODAY, username: str = LEARNER
) -> tuple[str, str | None] | None:
    """(completion date, expiry date) of the learner's certificate on ``on``."""
    code_id = live_code(backend, code).code_id
    user = learner_id(backend, username)
    with backend.store.reading() as db:
        row = certificates.held_on(db, user, code_id, on)
    return (row.completion_date, row.expires_on) if row else None


def report(
    backend: Backend,
    status: CertificateStatus | None = None,
    *,
    before: date | None = None,
    code: str | None = None,
    first: int = 100,
    after: str | None = None,
) -> Page[certificates.CertificateRow]:
    only = certificates.ExpiryFilter(
        status=status,
        before=before,
        code_id=live_code(backend, code).code_id if code else None,
    )
    with backend.store.reading() as db:
        return certificates.expiry_page(db, only, TODAY, 30, first, after)


def listed(page: Page[certificates.CertificateRow]) -> list[tuple]:
    return [(r.username, r.code, r.completion_date, r.expires_on) for r in page.items]


def expiries(backend: Backend) -> list[tuple[str, str | None]]:
    """(completion date, expiry) of every report row, whatever its status."""
    return [(r.completion_date, r.expires_on) for r in report(backend).items]


def assert_rebuild_equals_live(backend: Backend) -> None:
    verdict = verify(backend.log, backend.store, all_projections())
    assert verdict.ok, [str(d) for d in verdict.differences]


# Validity on a code


def test_a_changed_validity_applies_to_records_already_held(
    backend: Backend, cpr: str
) -> None:
    complete(backend, cpr, date(2024, 2, 29))
    assert certificate(backend) == ("2024-02-29", None)
    assert report(backend).items == []

    run(backend, c.SetCodeValidity("cpr", 12))
    assert certificate(backend) == ("2024-02-29", "2025-02-28")
    assert listed(report(backend, CertificateStatus.EXPIRED)) == [
        (LEARNER, "CPR", "2024-02-29", "2025-02-28")
    ]

    run(backend, c.SetCodeValidity("CPR", 24))
    assert certificate(backend) == ("2024-02-29", "2026-02-28")
    assert listed(report(backend, CertificateStatus.VALID)) == [
        (LEARNER, "CPR", "2024-02-29", "2026-02-28")
    ]

    run(backend, c.SetCodeValidity("CPR", None))
    assert certificate(backend) == ("2024-02-29", None)
    assert report(backend).items == []
    assert_rebuild_equals_live(backend)


def test_every_validity_change_is_kept_with_who_and_the_old_and_new_value(
    backend: Backend, cpr: str
) -> None:
    run(backend, c.SetCodeValidity("CPR", 12))
    run(backend, c.SetCodeValidity("CPR", 12))
    run(backend, c.SetCodeValidity("CPR", 36), by=Principal("carla", Role.ADMIN))
    run(backend, c.SetCodeValidity("CPR", None))

    code = live_code(backend, "CPR")
    with backend.store.reading() as db:
        changes = code_usage.validity_changes(db, [code.code_id])[code.code_id]
    assert [(ch.changed_by, ch.old_months, ch.new_months) for ch in changes] == [
        ("system", None, 12),
        ("carla", 12, 36),
        ("system", 36, None),
    ]
    assert code.validity_months is None


def test_the_same_period_again_stores_nothing(backend: Backend, cpr: str) -> None:
    run(backend, c.SetCodeValidity("CPR", 12))
    assert run(backend, c.SetCodeValidity("CPR", 12)).position is None
    # A code that never had a period gets no event for "never expires" either.
    run(backend, c.CreateCode("AED"))
    assert run(backend, c.SetCodeValidity("AED", None)).position is None


@pytest.mark.parametrize(
    ("command", "error", "field", "message"),
    [
        (
            c.SetCodeValidity("CPR", 0),
            InvalidInput,
            "months",
            "A validity period is 1 to 600 months, or null for a qualification "
            "that never expires; got 0.",
        ),
        (
            c.SetCodeValidity("NOSUCH", 12),
            NotFound,
            "code",
            "There is no qualification code NOSUCH.",
        ),
        (
            c.SetCodeValidity("CP R", 12),
            InvalidInput,
            "code",
            "Character U+0020 SPACE at position 3 is not allowed: a qualification "
            "code has only letters A-Z and digits 0-9.",
        ),
    ],
)
def test_a_bad_validity_command_is_refused_and_changes_nothing(
    backend: Backend,
    cpr: str,
    command: c.SetCodeValidity,
    error: type[Exception],
    field: str,
    message: str,
) -> None:
    before = backend.log.recorder.max_notification_id()
    with pytest.raises(error) as refused:
        run(backend, command)
    assert refused.value.field == field  # type: ignore[attr-defined]
    assert refused.value.message == message  # type: ignore[attr-defined]
    assert backend.log.recorder.max_notification_id() == before
    assert live_code(backend, "CPR").validity_months is None


def test_a_learner_cannot_set_a_validity(backend: Backend, cpr: str) -> None:
    with pytest.raises(Forbidden) as refused:
        run(backend, c.SetCodeValidity("CPR", 12), by=learner())
    assert refused.value.message == "The learner role may not manage codes."
    assert live_code(backend, "CPR").validity_months is None


# Renewal


def test_a_renewal_keeps_both_records_and_the_newest_one_counts(
    backend: Backend, cpr: str
) -> None:
    run(backend, c.SetCodeValidity("CPR", 12))
    complete(backend, cpr, date(2023, 3, 1))
    assert listed(report(backend, CertificateStatus.EXPIRED)) == [
        (LEARNER, "CPR", "2023-03-01", "2024-03-01")
    ]

    complete(backend, cpr, date(2025, 3, 1))

    dates = sorted(r.completion_date for r in records_of(backend))
    assert dates == ["2023-03-01", "2025-03-01"]
    assert certificate(backend) == ("2025-03-01", "2026-03-01")
    # Asked about a day before the renewal, the older record is the one held.
    assert certificate(backend, on=date(2024, 1, 15)) == ("2023-03-01", "2024-03-01")
    assert certificate(backend, on=date(2022, 1, 1)) is None
    assert report(backend, CertificateStatus.EXPIRED).items == []
    assert listed(report(backend, CertificateStatus.VALID)) == [
        (LEARNER, "CPR", "2025-03-01", "2026-03-01")
    ]
    assert_rebuild_equals_live(backend)


def test_an_older_record_imported_later_does_not_replace_the_newer_one(
    backend: Backend, cpr: str
) -> None:
    run(backend, c.SetCodeValidity("CPR", 12))
    complete(backend, cpr, date(2025, 1, 5))
    value(
        backend,
        c.AddTrainingRecord(LEARNER, "CPR (old paper)", date(2020, 6, 1), code="CPR"),
    )
    assert certificate(backend) == ("2025-01-05", "2026-01-05")


def test_deleting_the_newest_record_brings_back_the_one_before(
    backend: Backend, cpr: str
) -> None:
    run(backend, c.SetCodeValidity("CPR", 12))
    complete(backend, cpr, date(2023, 3, 1))
    renewal = complete(backend, cpr, date(2025, 3, 1)).value
    assert renewal is not None

    run(backend, c.DeleteRecord(renewal))
    assert certificate(backend) == ("2023-03-01", "2024-03-01")
    assert listed(report(backend, CertificateStatus.EXPIRED)) == [
        (LEARNER, "CPR", "2023-03-01", "2024-03-01")
    ]

    (only,) = records_of(backend)
    run(backend, c.DeleteRecord(only.record_id))
    assert certificate(backend) is None
    assert report(backend).items == []
    assert_rebuild_equals_live(backend)


def test_correcting_a_records_date_or_code_moves_its_certificate(
    backend: Backend, cpr: str
) -> None:
    run(backend, c.SetCodeValidity("CPR", 12))
    record = value(
        backend, c.AddTrainingRecord(LEARNER, "CPR", date(2023, 5, 1), code="CPR")
    )
    run(backend, c.UpdateTrainingRecord(record, completion_date=date(2025, 1, 31)))
    assert certificate(backend) == ("2025-01-31", "2026-01-31")

    first_aid(backend)
    run(backend, c.UpdateTrainingRecord(record, code="FIRSTAID"))
    assert certificate(backend) is None
    assert certificate(backend, code="FIRSTAID") == ("2025-01-31", None)
    assert report(backend).items == []
    assert_rebuild_equals_live(backend)


# The report


def test_the_report_filters_by_status_day_and_code_and_pages_by_expiry(
    backend: Backend, cpr: str
) -> None:
    aid = first_aid(backend)
    run(backend, c.SetCodeValidity("CPR", 12))
    run(backend, c.SetCodeValidity("FIRSTAID", 36))
    for username in ("carol", "dave", "erin"):
        register(backend, username)
    complete(backend, cpr, date(2024, 3, 20), username=LEARNER)  # expiring
    complete(backend, cpr, date(2023, 12, 31), username=OTHER_LEARNER)  # expired
    complete(backend, cpr, date(2024, 3, 10), username="carol")  # expired today
    complete(backend, cpr, date(2024, 9, 1), username="dave")  # valid
    complete(backend, aid, date(2022, 4, 1), username="erin")  # expiring
    # Never expires: not on the report at all.
    value(backend, c.AddTrainingRecord("erin", "Notes", date(2024, 1, 1)))

    everything = report(backend)
    assert everything.total_count == 5
    assert [(r.username, r.expires_on) for r in everything.items] == [
        (OTHER_LEARNER, "2024-12-31"),
        ("carol", "2025-03-10"),
        (LEARNER, "2025-03-20"),
        ("erin", "2025-04-01"),
        ("dave", "2025-09-01"),
    ]
    expired = report(backend, CertificateStatus.EXPIRED)
    assert [r.username for r in expired.items] == [OTHER_LEARNER, "carol"]
    expiring = report(backend, CertificateStatus.EXPIRING)
    assert [r.username for r in expiring.items] == [LEARNER, "erin"]
    valid = report(backend, CertificateStatus.VALID)
    assert [r.username for r in valid.items] == ["dave"]
    soon = report(backend, before=date(2025, 3, 21))
    assert [r.username for r in soon.items] == [OTHER_LEARNER, "carol", LEARNER]
    aid_only = report(backend, code="FIRSTAID")
    assert [r.username for r in aid_only.items] == ["erin"]

    first = report(backend, first=2)
    assert (first.total_count, first.has_next_page) == (5, True)
    second = report(backend, first=2, after=first.cursors[-1])
    third = report(backend, first=2, after=second.cursors[-1])
    assert [r.username for r in (*first.items, *second.items, *third.items)] == [
        r.username for r in everything.items
    ]
    assert (third.has_next_page, third.has_previous_page) == (False, True)


def test_a_report_cursor_from_another_list_is_refused(
    backend: Backend, cpr: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        report(backend, after="WyJjb2RlIiwiQ1BSIl0")
    assert refused.value.field == "after"


# Path progress and awards


def test_progress_counts_a_step_only_while_its_record_is_valid(
    backend: Backend, cpr: str
) -> None:
    aid = first_aid(backend)
    safety_path(backend)
    run(backend, c.SetCodeValidity("CPR", 12))
    complete(backend, cpr, date(2024, 6, 1))
    complete(backend, aid, date(2024, 6, 2))
    assert participant(backend, PATH) is not None
    assert participant(backend, PATH).completed_at is not None  # type: ignore[union-attr]

    now = progress(backend, PATH)
    assert (now.points_earned, now.complete, now.expired) == (20, True, ())

    later = progress(backend, PATH, on=date(2025, 6, 1))
    assert (later.points_earned, later.complete) == (10, False)
    assert [s.title for s in later.expired] == ["CPR"]
    # The award stays: an expired record never takes it back.
    assert participant(backend, PATH).completed_at is not None  # type: ignore[union-attr]

    complete(backend, cpr, date(2025, 3, 1))
    renewed = progress(backend, PATH, on=date(2025, 6, 1))
    assert (renewed.points_earned, renewed.complete, renewed.expired) == (20, True, ())


def test_a_path_that_counts_expired_records_keeps_their_points(
    backend: Backend, cpr: str
) -> None:
    aid = first_aid(backend)
    safety_path(backend, counts_expired=True)
    run(backend, c.SetCodeValidity("CPR", 12))
    complete(backend, cpr, date(2020, 6, 1))
    complete(backend, aid, date(2025, 3, 1))

    measured = progress(backend, PATH)
    assert (measured.points_earned, measured.complete) == (20, True)
    assert len(path_records(backend)) == 1


def test_an_expired_step_does_not_complete_a_path_until_it_is_renewed(
    backend: Backend, cpr: str
) -> None:
    lapsed_cpr(backend, cpr)
    assert participant(backend, PATH).completed_at is None  # type: ignore[union-attr]
    assert path_records(backend) == []

    complete(backend, cpr, date(2025, 3, 5))
    assert participant(backend, PATH).completed_at is not None  # type: ignore[union-attr]
    (award,) = path_records(backend)
    assert award.completion_date == "2025-03-05"


def test_counting_expired_records_awards_the_path_to_those_it_now_completes(
    backend: Backend, cpr: str
) -> None:
    lapsed_cpr(backend, cpr)
    assert path_records(backend) == []

    run(backend, c.SetPathCountsExpired(PATH, True))
    assert len(path_records(backend)) == 1
    assert_rebuild_equals_live(backend)


def test_a_longer_validity_awards_the_path_to_those_it_now_completes(
    backend: Backend, cpr: str
) -> None:
    lapsed_cpr(backend, cpr)
    assert path_records(backend) == []

    run(backend, c.SetCodeValidity("CPR", 18))
    assert path_records(backend) == []
    run(backend, c.SetCodeValidity("CPR", 24))
    assert len(path_records(backend)) == 1


def test_a_shorter_validity_never_takes_an_award_back(
    backend: Backend, cpr: str
) -> None:
    aid = first_aid(backend)
    safety_path(backend)
    complete(backend, cpr, date(2023, 6, 1))
    complete(backend, aid, date(2025, 3, 1))
    assert len(path_records(backend)) == 1

    run(backend, c.SetCodeValidity("CPR", 12))
    assert len(path_records(backend)) == 1
    assert participant(backend, PATH).completed_at is not None  # type: ignore[union-attr]
    measured = progress(backend, PATH)
    assert (measured.points_earned, measured.complete) == (10, False)


def test_an_imported_newer_record_renews_and_the_old_one_stays(
    backend: Backend, cpr: str
) -> None:
    run(backend, c.SetCodeValidity("CPR", 12))
    complete(backend, cpr, date(2023, 3, 1))
    data = csv_file(
        import_row(title="CPR refresher", completed="2025-02-01", code="CPR"),
        import_row(title="CPR, older paper", completed="2022-01-01", code="CPR"),
    )
    outcome = backend.handle(
        c.ImportTrainingRecords("renewals.csv", read_file(data, TODAY)), SYSTEM
    )
    assert outcome.report is not None
    assert outcome.report.applied

    assert sorted(r.completion_date for r in records_of(backend)) == [
        "2022-01-01",
        "2023-03-01",
        "2025-02-01",
    ]
    assert certificate(backend) == ("2025-02-01", "2026-02-01")
    assert report(backend, CertificateStatus.EXPIRED).items == []
    assert_rebuild_equals_live(backend)
