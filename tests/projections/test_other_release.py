"""A store that a newer release has reshaped is left alone by this one's processes.

A release that changes a read model's tables bumps its version, and its first
process rebuilds them. Here that is played by bumping the stored version.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from domain import commands as c
from projections.follower import OtherRelease
from qualify.bootstrap import Backend
from qualify.cli import main
from tests.support import LEARNER, load_seed, register, run, table_rows

OpenBackend = Callable[[str], Backend]
RESHAPED = "path_progress"


def reshape(backend: Backend) -> int:
    """Bump one read model's stored version, as a newer release's start does."""
    with backend.store.writing() as db:
        db.execute(
            "UPDATE projection_positions SET version = version + 1 WHERE name = ?",
            (RESHAPED,),
        )
        row = db.execute(
            "SELECT version FROM projection_positions WHERE name = ?", (RESHAPED,)
        ).fetchone()
    return int(row[0])


def _positions(backend: Backend) -> dict[str, int]:
    with backend.store.reading() as db:
        rows = db.execute("SELECT name, position FROM projection_positions")
        return {row[0]: row[1] for row in rows}


def test_a_start_leaves_a_newer_read_model_as_it_is(
    durable_url: str, open_backend: OpenBackend
) -> None:
    newer = open_backend(durable_url)
    load_seed(newer)
    version = reshape(newer)
    rows = table_rows(newer.store)

    with pytest.raises(OtherRelease) as refused:
        open_backend(durable_url)

    assert str(refused.value) == (
        f"The {RESHAPED} read model on this store is at version {version}, "
        f"written by a newer release; this release knows version {version - 1} "
        f"and leaves it alone. Run the newer release; to go back to this one, "
        f"delete the {RESHAPED} row of projection_positions, and the next start "
        "rebuilds it from the log."
    )
    assert table_rows(newer.store) == rows


def test_a_running_process_applies_nothing_once_another_release_reshapes(
    durable_url: str, open_backend: OpenBackend
) -> None:
    backend = open_backend(durable_url)
    load_seed(backend)
    before = _positions(backend)
    reshape(backend)

    outcome = run(backend, c.RegisterUser("carol", "c@example.com", "Carol", "T"))

    # Stored, and said to be behind, rather than failing the request.
    assert outcome.value is not None
    assert outcome.caught_up is False
    with pytest.raises(OtherRelease, match="rebuilt it while this one ran"):
        backend.follower.catch_up()
    assert _positions(backend) == before
    with backend.store.reading() as db:
        carol = db.execute("SELECT 1 FROM learners WHERE username = 'carol'")
        assert carol.fetchone() is None


def test_the_command_line_refuses_a_newer_store_in_one_line(
    tmp_path: Path,
    open_backend: OpenBackend,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    backend = open_backend(url)
    register(backend, LEARNER)
    reshape(backend)
    backend.close()
    monkeypatch.setenv("QUALIFY_DATABASE_URL", url)

    status = main(["projections", "verify"])

    error = capsys.readouterr().err
    assert status == 2
    assert f"The {RESHAPED} read model on this store is at version" in error
    assert "Traceback" not in error
