"""The audit row and the chain's hash, worked out once per event, say the same."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.events import Acting, acting_as
from domain.learners import Learner, TrainingRecordAdded, UserRegistered, learner_id
from projections import audit_log
from projections.audit_log import GENESIS, chained, entry, envelope, stored_row

ACTORS = [
    "alice",
    'o"brien\\x',
    "zoë",
    "名前",
    "tab\there",
    "\u2028line",
    "emoji \U0001f600",
]


def _event(actor: str, correlation: str) -> TrainingRecordAdded:
    with acting_as(Acting(actor, correlation)):
        learner = Learner.start(
            UserRegistered,
            learner_id("alice"),
            username="alice",
            email="alice@example.com",
            first_name="Zoë",
            last_name='"Quoted" O\'Neil',
        )
    return TrainingRecordAdded(
        originator_id=learner.id,
        originator_version=2,
        timestamp=datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
        actor=actor,
        correlation_id=correlation,
        record_id=str(uuid4()),
        record_type="TRAINING_RECORD",
        object_id=None,
        title='Première aide « CPR » \\ "quoted"',
        training_provider="",
        completion_date="2024-02-29",
        other_information="line\nbreak",
        code_id=None,
    )


def _seen(event: TrainingRecordAdded) -> audit_log._Seen:
    return audit_log._see(event, str(event.originator_id), event.timestamp.isoformat())


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("position", [1, 10**12])
def test_the_written_out_head_is_the_encoders_own_text(
    actor: str, position: int
) -> None:
    event = _event(actor, f"{actor}-correlation")

    head = audit_log._head_json(position, event, _seen(event))

    assert head == audit_log._json(envelope(position, event))


@pytest.mark.parametrize("actor", ACTORS)
def test_the_row_and_the_hash_match_what_verification_recomputes(actor: str) -> None:
    event = _event(actor, str(uuid4()))
    seen = _seen(event)

    digest = audit_log._digest(
        GENESIS, audit_log._head_json(7, event, seen), seen.payload
    )

    assert digest == chained(GENESIS, entry(7, event))
    assert audit_log._row(7, event, seen) == stored_row(7, event)
    assert stored_row(7, event)[7] == event.record_id
