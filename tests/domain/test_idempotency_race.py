"""The same idempotency key sent to two servers of one store at the same moment.

A command reads its key first and the aggregates it changes after. Here the other
server carries out the twin request in between those reads, deterministically, the
way a request on another machine could: the late one must answer with the first
answer, not with the error its second read would suggest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain import commands as c
from domain import unit_of_work
from domain.errors import CodeTaken, IdempotencyKeyReused
from domain.idempotency import IdempotencyKey
from domain.principal import SYSTEM
from qualify.bootstrap import Backend
from tests.support import live_code_names


@pytest.fixture
def two_servers(
    durable_url: str, open_backend: Callable[[str], Backend]
) -> tuple[Backend, Backend]:
    return open_backend(durable_url), open_backend(durable_url)


def _after_the_key_is_read(
    monkeypatch: pytest.MonkeyPatch, action: Callable[[], Any]
) -> None:
    """Run ``action`` once, when a command first reads past its key."""
    original = unit_of_work.Unit.find
    pending = [action]

    def find(unit: Any, cls: type, id: Any) -> Any:
        if cls is not IdempotencyKey and pending:
            pending.pop()()
        return original(unit, cls, id)

    monkeypatch.setattr(unit_of_work.Unit, "find", find)


def _created_events(backend: Backend) -> int:
    return sum(
        1
        for notification in backend.log.recorder.select_notifications(1, 1000)
        if notification.topic.endswith("CodeCreated")
    )


def test_the_late_twin_gets_the_first_answer(
    two_servers: tuple[Backend, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    first_server, second_server = two_servers
    command = c.CreateCode("TWIN", "Sent twice")
    answers = []
    _after_the_key_is_read(
        monkeypatch,
        lambda: answers.append(
            first_server.handle(command, SYSTEM, idempotency_key="k-1")
        ),
    )

    late = second_server.handle(command, SYSTEM, idempotency_key="k-1")

    [first] = answers
    assert (first.value, first.replayed) == ("TWIN", False)
    assert (late.value, late.replayed) == ("TWIN", True)
    assert _created_events(second_server) == 1
    assert live_code_names(second_server) == ["TWIN"]


def test_another_request_under_the_same_key_is_still_refused(
    two_servers: tuple[Backend, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    first_server, second_server = two_servers
    _after_the_key_is_read(
        monkeypatch,
        lambda: first_server.handle(
            c.CreateCode("TWIN", "First"), SYSTEM, idempotency_key="k-1"
        ),
    )

    with pytest.raises(IdempotencyKeyReused, match="different request"):
        second_server.handle(
            c.CreateCode("TWIN", "Second"), SYSTEM, idempotency_key="k-1"
        )
    assert _created_events(second_server) == 1


def test_without_a_twin_the_error_stands(
    two_servers: tuple[Backend, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    first_server, second_server = two_servers
    _after_the_key_is_read(
        monkeypatch,
        lambda: first_server.handle(c.CreateCode("TWIN", "First"), SYSTEM),
    )

    with pytest.raises(CodeTaken):
        second_server.handle(
            c.CreateCode("TWIN", "First"), SYSTEM, idempotency_key="k-1"
        )
    assert _created_events(second_server) == 1
