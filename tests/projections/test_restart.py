"""A restart over the same durable store keeps everything, counts nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from domain import commands as c
from domain.errors import CodeTaken
from domain.principal import SYSTEM
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    LATER,
    LEARNER,
    SEED_PATH,
    busy_scenario,
    complete,
    live_code,
    path_records,
    points,
    records_of,
    run,
    table_rows,
)

OpenBackend = Callable[[str], Backend]
UNPROJECTED_DAY = date(2024, 8, 1)


def test_a_restart_keeps_every_row_and_the_follower_position(
    durable_url: str, open_backend: OpenBackend
) -> None:
    first = open_backend(durable_url)
    busy_scenario(first)
    rows = table_rows(first.store)
    position = first.follower.position
    count = live_code(first, "CLAESS2").active_record_count
    first.close()

    second = open_backend(durable_url)

    assert second.follower.position == position
    assert table_rows(second.store) == rows
    assert live_code(second, "CLAESS2").active_record_count == count == 2


def test_several_restarts_in_a_row_change_nothing(
    durable_url: str, open_backend: OpenBackend
) -> None:
    backend = open_backend(durable_url)
    busy_scenario(backend)
    rows = table_rows(backend.store)
    backend.close()

    for _ in range(3):
        backend = open_backend(durable_url)
        assert table_rows(backend.store) == rows
        backend.close()


def test_after_a_restart_the_write_model_remembers_every_decision(
    durable_url: str, open_backend: OpenBackend
) -> None:
    first = open_backend(durable_url)
    seed = busy_scenario(first)
    first.close()

    second = open_backend(durable_url)

    with pytest.raises(CodeTaken):
        run(second, c.CreateCode("CLAESS2"))
    assert complete(second, seed.course, DAY_1).position is None
    assert len(path_records(second)) == 1
    assert points(second, SEED_PATH, LEARNER) == (40, 45, 88)


def test_commands_after_a_restart_add_to_the_counts_once(
    durable_url: str, open_backend: OpenBackend
) -> None:
    first = open_backend(durable_url)
    seed = busy_scenario(first)
    before = len(records_of(first))
    first.close()

    second = open_backend(durable_url)
    complete(second, seed.drop_in, LATER)
    second.close()
    third = open_backend(durable_url)

    assert len(records_of(third)) == before + 1
    assert live_code(third, "CLARODROP").active_record_count == 2


def test_events_stored_but_not_yet_projected_are_projected_at_start(
    durable_url: str, open_backend: OpenBackend
) -> None:
    first = open_backend(durable_url)
    seed = busy_scenario(first)
    position = first.follower.position
    # As if the process stopped between storing the events and projecting them.
    outcome = first.write_model.execute(
        c.CompleteContent(seed.drop_in, LEARNER, UNPROJECTED_DAY), SYSTEM
    )
    assert outcome.position is not None
    assert first.follower.position == position
    first.close()

    second = open_backend(durable_url)

    assert second.follower.position == outcome.position
    assert live_code(second, "CLARODROP").active_record_count == 2
    newest = records_of(second)[0]
    assert (newest.code, newest.completion_date) == (
        "CLARODROP",
        UNPROJECTED_DAY.isoformat(),
    )


def test_a_read_model_of_another_version_is_rebuilt_at_start(
    durable_url: str, open_backend: OpenBackend
) -> None:
    first = open_backend(durable_url)
    busy_scenario(first)
    rows = table_rows(first.store)
    # As if the code of that read model had moved on to another version: its
    # rows no longer fit, and a start must rebuild them from the log.
    with first.store.writing() as db:
        db.execute("DELETE FROM training_records")
        db.execute(
            "UPDATE projection_positions SET version = 0 "
            "WHERE name = 'training_records'"
        )
    first.close()

    second = open_backend(durable_url)

    assert table_rows(second.store) == rows
