"""A command that loses a race is run again on fresh state, and never twice."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from domain import application
from domain import commands as c
from domain.errors import ConcurrentUpdate
from qualify.bootstrap import Backend
from tests.support import live_code_names, run


def _losing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, losses: int
) -> list[int]:
    """Make the next ``losses`` saves lose the race, as a concurrent writer would."""
    original = backend.log.events.put
    attempts: list[int] = []

    def put(events: Any, **kwargs: Any) -> Any:
        attempts.append(len(events))
        if len(attempts) <= losses:
            raise IntegrityError("another command saved first")
        return original(events, **kwargs)

    monkeypatch.setattr(backend.log.events, "put", put)
    monkeypatch.setattr(application, "BACKOFF_SECONDS", 0.0)
    return attempts


def test_a_lost_race_is_retried_and_applied_once(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = backend.log.recorder.max_notification_id() or 0
    attempts = _losing(backend, monkeypatch, losses=3)

    outcome = run(backend, c.CreateCode("CPR", "First aid"))

    assert len(attempts) == 4
    assert live_code_names(backend) == ["CPR"]
    # One code and its name claim: two events, however many attempts it took.
    assert outcome.position == head + 2


def test_losing_every_attempt_reports_concurrent_update_and_stores_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = backend.log.recorder.max_notification_id() or 0
    attempts = _losing(backend, monkeypatch, losses=application.RETRIES)

    with pytest.raises(ConcurrentUpdate) as refused:
        run(backend, c.CreateCode("CPR"))

    assert refused.value.code == "CONCURRENT_UPDATE"
    assert len(attempts) == application.RETRIES
    assert (backend.log.recorder.max_notification_id() or 0) == head
    assert live_code_names(backend) == []
