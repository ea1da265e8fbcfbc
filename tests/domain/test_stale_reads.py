"""A command that reads a code's name just before a concurrent delete.

A command finds a code in two reads: first the claim on its name, then the code.
Here a DeleteCode is slipped in between those two reads, deterministically, the way
a thread on another request could. The command must act as if it ran entirely
before or entirely after the delete, never attach the deleted code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain import commands as c
from domain import unit_of_work
from domain.codes import QualificationCode
from domain.errors import NotFound
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    LEARNER,
    code_name_of,
    content,
    course,
    live_code,
    records_of,
    register,
    run,
    uses,
)


@pytest.fixture
def between_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[Callable[[], Any]], None]:
    """Run ``action`` the next time a command loads a qualification code."""

    def arrange(action: Callable[[], Any]) -> None:
        original = unit_of_work.Unit.find
        pending = [action]

        def find(unit: Any, cls: type, id: Any) -> Any:
            if cls is QualificationCode and pending:
                pending.pop()()
            return original(unit, cls, id)

        monkeypatch.setattr(unit_of_work.Unit, "find", find)

    return arrange


def test_setting_a_code_deleted_meanwhile_registers_it_anew(
    backend: Backend, between_reads: Callable[[Callable[[], Any]], None]
) -> None:
    run(backend, c.CreateCode("RACE"))
    deleted_id = live_code(backend, "RACE").code_id
    essentials = course(backend, "Essentials", None)
    between_reads(lambda: run(backend, c.DeleteCode("RACE")))

    run(backend, c.SetContentCode(essentials, "RACE"))

    fresh = live_code(backend, "RACE")
    assert fresh.code_id != deleted_id
    assert content(backend, essentials).code_id == fresh.code_id
    assert code_name_of(backend, fresh.code_id) == "RACE"
    assert uses(backend, "RACE") == [("COURSE", essentials, "Essentials")]


def test_new_content_with_a_code_deleted_meanwhile_gets_a_live_code(
    backend: Backend, between_reads: Callable[[Callable[[], Any]], None]
) -> None:
    run(backend, c.CreateCode("RACE"))
    deleted_id = live_code(backend, "RACE").code_id
    between_reads(lambda: run(backend, c.DeleteCode("RACE")))

    essentials = course(backend, "Essentials", "RACE")

    assert content(backend, essentials).code_id == live_code(backend, "RACE").code_id
    assert live_code(backend, "RACE").code_id != deleted_id


def test_a_record_with_a_code_deleted_meanwhile_is_not_found(
    backend: Backend, between_reads: Callable[[Callable[[], Any]], None]
) -> None:
    run(backend, c.CreateCode("RACE"))
    register(backend, LEARNER)
    between_reads(lambda: run(backend, c.DeleteCode("RACE")))

    with pytest.raises(NotFound) as refused:
        run(backend, c.AddTrainingRecord(LEARNER, "First aid", DAY_1, code="RACE"))

    assert refused.value.message == "The qualification code RACE was deleted."
    assert records_of(backend) == []
