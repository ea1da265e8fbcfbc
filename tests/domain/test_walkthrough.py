"""The seed's walk-through, start to finish, on the write and read models."""

from __future__ import annotations

import pytest

from domain import commands as c
from domain.errors import CodeInUse
from qualify.bootstrap import Backend
from tests.support import (
    DAY_1,
    DAY_2,
    DAY_3,
    LEARNER,
    SEED_PATH,
    SEED_STEPS,
    Seed,
    activity,
    code_name_of,
    complete,
    content,
    learner,
    live_code,
    live_code_names,
    path_records,
    points,
    records_with_code,
    run,
    step_codes,
    uses,
)


def test_the_seed_walk_through(backend: Backend, seed: Seed) -> None:
    run(backend, c.JoinPath(SEED_PATH, LEARNER), learner())
    assert points(backend) == (0, 40, 0)

    complete(backend, seed.course, DAY_1)
    assert points(backend) == (20, 40, 50)

    complete(backend, seed.drop_in, DAY_2)
    complete(backend, seed.tips, DAY_3)
    assert points(backend) == (40, 40, 100)
    assert [r.code for r in path_records(backend)] == [SEED_PATH]

    run(backend, c.RenameCode("CLAESS", "CLAESS2"))
    assert step_codes(backend)[0] == "CLAESS2"
    assert code_name_of(backend, content(backend, seed.course).code_id) == "CLAESS2"
    assert [r.code for r in records_with_code(backend, "CLAESS2")] == ["CLAESS2"]
    assert points(backend) == (40, 40, 100)

    with pytest.raises(CodeInUse) as refused:
        run(backend, c.DeleteCode("CLAESS2"))
    assert "course 'Claromentis Essentials'" in refused.value.message
    assert "learning step 'Claromentis Essentials'" in refused.value.message
    assert "1 active training record." in refused.value.message

    run(backend, c.SetContentCode(seed.course, None))
    run(backend, c.SetPathSteps(SEED_PATH, SEED_STEPS[1:]))
    for record in records_with_code(backend, "CLAESS2"):
        run(backend, c.DeleteRecord(record.record_id))
    assert uses(backend, "CLAESS2") == []
    assert live_code(backend, "CLAESS2").active_record_count == 0

    run(backend, c.DeleteCode("CLAESS2"))
    assert "CLAESS2" not in live_code_names(backend)
    found = activity(backend, seed.course)
    assert (found.enrolments, found.completions, found.learners_completed) == (1, 1, 1)
