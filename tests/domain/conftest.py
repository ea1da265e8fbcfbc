"""Every scenario here ends by proving its read models against its log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from projections.verification import verify
from qualify.bootstrap import all_projections


@pytest.fixture(autouse=True)
def read_models_match_the_log(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test, replay the log and compare every read-model table."""
    # Asked for before the test runs, so the backend is torn down after this.
    backend = (
        request.getfixturevalue("backend")
        if "backend" in request.fixturenames
        else None
    )
    yield
    if backend is None:
        return
    verdict = verify(backend.log, backend.store, all_projections())
    assert verdict.ok, [str(difference) for difference in verdict.differences]
