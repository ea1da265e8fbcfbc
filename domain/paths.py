"""Learning paths: ordered steps, each with its own code and points, and the rule
that decides when a learner's codes complete the path.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from domain.content import Status
from domain.errors import InvalidInput
from domain.events import Aggregate, Event

MAX_STEPS = 100
MAX_POINTS = 100_000


@dataclass(frozen=True)
class Step:
    """One step of a path: satisfied by any active record carrying its code."""

    step_id: str
    code_id: str
    title: str
    points: int
    mandatory: bool

    def as_dict(self) -> dict[str, Any]:
        """The step as stored in events."""
        return {
            "step_id": self.step_id,
            "code_id": self.code_id,
            "title": self.title,
            "points": self.points,
            "mandatory": self.mandatory,
        }


def step_id_for(path_id: UUID, code_id: UUID) -> UUID:
    """A step keeps its id while its path keeps a step with that code."""
    return uuid5(path_id, str(code_id))


def check_points(points: int, field: str) -> int:
    """Points are whole numbers from 0 up."""
    if points < 0 or points > MAX_POINTS:
        raise InvalidInput(
            f"Points are a whole number from 0 to {MAX_POINTS}; got {points}.",
            field=field,
        )
    return points


def check_pass_mark(pass_mark: int | None, total: int) -> int | None:
    """A pass mark, when given, lies between 1 and the total points of the steps."""
    if pass_mark is None:
        return None
    # A pass mark of 0 would complete the path the moment a learner joins it.
    if pass_mark < 1 or pass_mark > total:
        raise InvalidInput(
            f"The pass mark must be from 1 to the steps' total of {total} points; "
            f"got {pass_mark}.",
            field="passMark",
        )
    return pass_mark


@dataclass(frozen=True)
class Progress:
    """How far a set of held codes goes along a path."""

    points_earned: int
    points_total: int
    satisfied: tuple[Step, ...]
    missing: tuple[Step, ...]
    complete: bool
    expired: tuple[Step, ...] = ()
    """The missing steps whose code the learner holds only on expired records."""

    @property
    def percent(self) -> int:
        """Whole-number percentage, 0 to 100, rounded down so 100 means all points."""
        if self.points_total == 0:
            return 0 if self.missing else 100
        return self.points_earned * 100 // self.points_total


def measure(
    steps: tuple[Step, ...],
    pass_mark: int | None,
    held: Collection[str],
    expired: Collection[str] = (),
) -> Progress:
    """Progress of a learner holding valid codes ``held`` on a path with ``steps``.

    ``expired`` are codes the learner holds only on expired records: they count for
    nothing, and are named so the learner can see why a step is missing.
    """
    satisfied = tuple(step for step in steps if step.code_id in held)
    missing = tuple(step for step in steps if step.code_id not in held)
    earned = sum(step.points for step in satisfied)
    total = sum(step.points for step in steps)

    # Without a pass mark every step is needed, even one worth no points.
    enough = not missing if pass_mark is None else earned >= pass_mark
    complete = bool(steps) and enough and not any(s.mandatory for s in missing)
    lapsed = tuple(step for step in missing if step.code_id in expired)
    return Progress(earned, total, satisfied, missing, complete, lapsed)


class LearningPath(Aggregate):
    """A path with its own code, awarded once a learner's codes satisfy it."""

    TOPIC = "qualify:LearningPath"

    def __init__(
        self,
        id: UUID,
        created_on: datetime,
        event: PathCreated,
    ) -> None:
        super().__init__(id, created_on)
        self.code_id = event.code_id
        self.title = event.title
        self.description = event.description
        self.status = Status(event.status)
        self.pass_mark: int | None = None
        self.steps: tuple[Step, ...] = ()
        self.counts_expired = False

    @property
    def is_live(self) -> bool:
        """Whether learners can join it."""
        return self.status is Status.LIVE

    @property
    def total_points(self) -> int:
        """The sum of the steps' points."""
        return sum(step.points for step in self.steps)

    def measure(self, held: Collection[str]) -> Progress:
        """Progress of a learner holding the codes ``held``."""
        return measure(self.steps, self.pass_mark, held)

    def count_expired(self, counts_expired: bool) -> None:
        """Choose whether expired records still satisfy this path's steps."""
        if counts_expired != self.counts_expired:
            self.trigger(PathExpiryRuleSet, counts_expired=counts_expired)

    def set_steps(self, steps: tuple[Step, ...], pass_mark: int | None) -> None:
        """Replace the whole list of steps (and the pass mark with it)."""
        if steps != self.steps or pass_mark != self.pass_mark:
            self.trigger(
                PathStepsSet,
                steps=[step.as_dict() for step in steps],
                pass_mark=pass_mark,
            )


class PathCreated(Event):
    TOPIC = "qualify:PathCreated"
    code_id: str
    title: str
    description: str
    status: str

    def create(self) -> LearningPath:
        return LearningPath(self.originator_id, self.timestamp, self)

    def apply(self, aggregate: LearningPath) -> None:
        pass


class PathStepsSet(Event):
    TOPIC = "qualify:PathStepsSet"
    steps: list[dict[str, Any]]
    pass_mark: int | None

    def apply(self, aggregate: LearningPath) -> None:
        aggregate.steps = tuple(Step(**step) for step in self.steps)
        aggregate.pass_mark = self.pass_mark


class PathExpiryRuleSet(Event):
    TOPIC = "qualify:PathExpiryRuleSet"
    counts_expired: bool

    def apply(self, aggregate: LearningPath) -> None:
        aggregate.counts_expired = self.counts_expired


def check_step_count(count: int) -> None:
    """A path has 1 to 100 steps."""
    if not 1 <= count <= MAX_STEPS:
        raise InvalidInput(
            f"A learning path has 1 to {MAX_STEPS} steps; got {count}.", field="steps"
        )
