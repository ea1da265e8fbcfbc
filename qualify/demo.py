"""The seed document's own example, loaded into an empty store for a first look.

Everything goes through the real commands, so the demo obeys the same rules, records
the same events and fills the same read models as anything a person would enter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from domain.commands import (
    AddTrainingRecord,
    Command,
    CompleteContent,
    CreateCode,
    CreateContent,
    CreateLearningPath,
    Enrol,
    JoinPath,
    Module,
    RegisterUser,
    Session,
    SetCodeValidity,
    StepInput,
)
from domain.content import ContentKind, Status
from domain.principal import SYSTEM
from qualify.bootstrap import Backend, build

_logger = logging.getLogger(__name__)

# The seed's first page lists these ten of its 21 codes in name order; the eleven
# added after them all sort after EGPG, so the demo's first page is the seed's.
_CODES: tuple[tuple[str, str], ...] = (
    ("CLABEG", "Claromentis Digital Workplace: the beginner's learning path"),
    ("CLADROP", "Claromentis drop-in help, general enquiries"),
    ("CLAESS", "Claromentis Essentials course"),
    ("CLARODROP", "Claromentis Drop-In Session (training event)"),
    ("CLAROTAT", "Claromentis Tips & Tricks (training event)"),
    ("CLATT", "Claromentis train-the-trainer"),
    ("CPR", "Cardiopulmonary resuscitation and basic life support"),
    ("EG012", "Equality and diversity at work, module 12"),
    ("EGMP", "Managing people: essentials for new line managers"),
    ("EGPG", "Policies and guidance: reading the staff handbook"),
    ("EGSEC", "Information security awareness"),
    ("EGTM", "Time management and prioritising work"),
    ("FIRE", "Fire safety awareness and evacuation"),
    ("FSH2", "Food safety and hygiene, level 2"),
    ("GDPR", "Data protection and GDPR essentials"),
    ("HSIND", "Health and safety induction"),
    ("MANHAND", "Manual handling in the workplace"),
    ("MHFA", "Mental health first aid"),
    ("SAFEG", "Safeguarding children and vulnerable adults"),
    ("WELL01", "Workplace wellbeing, part 1"),
    ("WORKDSE", "Display screen equipment: setting up your workstation"),
)

_COURSE_TITLE = "Claromentis Essentials"
_DROP_IN_TITLE = "Claromentis Drop-In Session"
_TIPS_TITLE = "Claromentis Tips & Tricks"
_PATH_CODE = "CLABEG"
_PATH_TITLE = "Claromentis Digital Workplace"

_OVERVIEW = (
    "An introduction to Claromentis and the applications and tools people use "
    "most. By the end, attendees understand the platform as a whole and can "
    "create and manage users and content on the intranet."
)

# (username, e-mail, first name, last name)
_LEARNERS: tuple[tuple[str, str, str, str], ...] = (
    ("amelia.hughes", "amelia.hughes@example.com", "Amelia", "Hughes"),
    ("oliver.bennett", "oliver.bennett@example.com", "Oliver", "Bennett"),
    ("priya.patel", "priya.patel@example.com", "Priya", "Patel"),
    ("daniel.okafor", "daniel.okafor@example.com", "Daniel", "Okafor"),
)


@dataclass(frozen=True)
class DemoSummary:
    """What the demo loaded, or ``loaded=False`` when the store already had events."""

    loaded: bool
    codes: tuple[str, ...] = ()
    course_id: str | None = None
    drop_in_id: str | None = None
    tips_id: str | None = None
    path_code: str | None = None
    usernames: tuple[str, ...] = ()


def load_demo(backend: Backend) -> DemoSummary:
    """Load the seed's example into ``backend`` if its store holds no events yet.

    A store with any history is left untouched, so restarting with ``--demo`` never
    duplicates the example or mixes it into real data.
    """
    if not backend.embedded:
        # Projection workers may not be running yet; each command would wait for
        # them and the example would load by halves. Its loader applies its own.
        loader = build(backend.settings, follow=True)
        try:
            return load_demo(loader)
        finally:
            loader.close()

    # An empty POPO store answers None, an empty SQLite store 0.
    if backend.log.recorder.max_notification_id():
        _logger.info("The store already holds events; the demo was not loaded.")
        return DemoSummary(loaded=False)

    # Both sessions fall in British Summer Time; a fixed offset needs no time-zone
    # database on the machine.
    london = timezone(timedelta(hours=1), "BST")

    for code, description in _CODES:
        _run(backend, CreateCode(code, description))

    course_id = _create_course(backend)
    drop_in_id = _create_event(
        backend,
        _DROP_IN_TITLE,
        "CLARODROP",
        "Bring your questions about Claromentis to an open session with a trainer.",
        datetime(2023, 7, 24, 15, 0, tzinfo=london),
    )
    tips_id = _create_event(
        backend,
        _TIPS_TITLE,
        "CLAROTAT",
        "Shortcuts and lesser-known features that save time in everyday use.",
        datetime(2023, 7, 21, 13, 0, tzinfo=london),
    )
    _create_path(backend)

    usernames = tuple(_register(backend, *learner) for learner in _LEARNERS)
    _add_activity(backend, course_id, drop_in_id)

    _logger.info(
        "Loaded the demo: %d codes, course %s, path %s, %d learners.",
        len(_CODES),
        _COURSE_TITLE,
        _PATH_CODE,
        len(usernames),
    )
    return DemoSummary(
        loaded=True,
        codes=tuple(code for code, _ in _CODES),
        course_id=course_id,
        drop_in_id=drop_in_id,
        tips_id=tips_id,
        path_code=_PATH_CODE,
        usernames=usernames,
    )


def _create_course(backend: Backend) -> str:
    return _run(
        backend,
        CreateContent(
            kind=ContentKind.COURSE,
            title=_COURSE_TITLE,
            description=_OVERVIEW,
            code="CLAESS",
            prerequisite="No previous knowledge of Claromentis required",
            status=Status.LIVE,
            modules=(
                Module("Getting Started 1", _OVERVIEW, 60),
                Module(
                    "Getting Started 2",
                    "Builds on Getting Started 1 with a closer look at people, "
                    "document and content management, plus other applications "
                    "the group chooses because they use them on their intranet.",
                    60,
                ),
            ),
        ),
    )


def _create_event(
    backend: Backend, title: str, code: str, description: str, starts_at: datetime
) -> str:
    return _run(
        backend,
        CreateContent(
            kind=ContentKind.TRAINING_EVENT,
            title=title,
            description=description,
            code=code,
            status=Status.LIVE,
            sessions=(Session(starts_at),),
        ),
    )


def _create_path(backend: Backend) -> None:
    _run(
        backend,
        CreateLearningPath(
            code=_PATH_CODE,
            title=_PATH_TITLE,
            description=_OVERVIEW,
            status=Status.LIVE,
            steps=(
                StepInput("CLAESS", "Claromentis Essentials", 20, mandatory=True),
                StepInput("CLARODROP", "Drop In Session", 10),
                StepInput("CLAROTAT", "Claromentis Tips and Tricks", 10),
            ),
        ),
    )


def _register(
    backend: Backend, username: str, email: str, first_name: str, last_name: str
) -> str:
    return _run(backend, RegisterUser(username, email, first_name, last_name))


def _add_activity(backend: Backend, course_id: str, drop_in_id: str) -> None:
    # Enough for the admin page to show usage: one learner halfway along the path
    # (the course done, 20 of 40 points), another just starting on it.
    amelia, oliver = _LEARNERS[0][0], _LEARNERS[1][0]

    _run(backend, JoinPath(_PATH_CODE, amelia))
    _run(backend, Enrol(course_id, amelia))
    _run(backend, CompleteContent(course_id, amelia, date(2023, 7, 19)))

    _run(backend, JoinPath(_PATH_CODE, oliver))
    _run(backend, Enrol(drop_in_id, oliver))

    # Something for the Certificate Expiration page: CPR lasts two years.
    priya = _LEARNERS[2][0]
    _run(backend, SetCodeValidity("CPR", 24))
    for username, completed in (
        (amelia, date(2023, 9, 14)),
        (priya, date(2025, 11, 20)),
    ):
        _run(
            backend,
            AddTrainingRecord(
                username,
                "Basic life support and CPR",
                completed,
                training_provider="St John Ambulance",
                code="CPR",
            ),
        )


def _run(backend: Backend, command: Command) -> str:
    # Every demo command produces an id or a name; a missing one is a bug here.
    outcome = backend.handle(command, SYSTEM)
    if outcome.value is None:
        raise RuntimeError(f"The demo command {command!r} returned no value.")
    return outcome.value
