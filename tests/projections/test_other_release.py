"""A store that a newer release has reshaped is left alone by this one's processes.

A release that changes a read model's tables bumps its version, and its first
process rebuilds them. Here that is played by bumping the stored version.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from domain import commands as c
from projections.follower import StoreChanged
from projections.rebuild import rebuild
from qualify.bootstrap import Backend, all_projections
from qualify.cli import main
from tests.support import (
    LEARNER,
    RESHAPED,
    load_seed,
    register,
    reshape,
    run,
    table_rows,
)

OpenBackend = Callable[[str], Backend]


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

    with pytest.raises(StoreChanged) as refused:
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
    with pytest.raises(StoreChanged, match="rebuilt it while this one ran"):
        backend.follower.catch_up()
    assert _positions(backend) == before
    with backend.store.reading() as db:
        carol = db.execute("SELECT 1 FROM learners WHERE username = 'carol'")
        assert carol.fetchone() is None


@pytest.mark.parametrize(
    ("name", "by", "said"),
    [
        (RESHAPED, 1, f"The {RESHAPED} read model on this store is at version"),
        # Never rebuilt, so an older one is refused too.
        ("audit_chain", -1, "The audit_chain read model is at version 0"),
    ],
)
def test_the_command_line_refuses_another_releases_store_in_one_line(
    name: str,
    by: int,
    said: str,
    tmp_path: Path,
    open_backend: OpenBackend,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    backend = open_backend(url)
    register(backend, LEARNER)
    reshape(backend, name, by)
    backend.close()
    monkeypatch.setenv("QUALIFY_DATABASE_URL", url)

    status = main(["projections", "verify"])

    error = capsys.readouterr().err
    assert status == 2
    assert said in error
    assert "Traceback" not in error


def test_a_read_model_never_rebuilt_is_not_offered_a_rebuild(
    durable_url: str, open_backend: OpenBackend
) -> None:
    newer = open_backend(durable_url)
    reshape(newer, "audit_chain")

    with pytest.raises(StoreChanged) as refused:
        open_backend(durable_url)

    assert str(refused.value).endswith(
        "Run the newer release; going back to this one means migrating it by hand."
    )
    assert "delete" not in str(refused.value)


def test_a_deleted_position_stops_a_running_process_saying_so(
    durable_url: str, open_backend: OpenBackend
) -> None:
    backend = open_backend(durable_url)
    load_seed(backend)
    with backend.store.writing() as db:
        db.execute("DELETE FROM projection_positions WHERE name = ?", (RESHAPED,))

    outcome = run(backend, c.RegisterUser("carol", "c@example.com", "Carol", "T"))

    assert outcome.caught_up is False
    with pytest.raises(StoreChanged, match="row was deleted from projection_positions"):
        backend.follower.catch_up()


def test_a_rebuild_switches_nothing_in_once_another_release_reshapes(
    durable_url: str, open_backend: OpenBackend
) -> None:
    backend = open_backend(durable_url)
    load_seed(backend)
    reshaped: list[int] = []

    def meanwhile(position: int, head: int) -> None:
        # A process of a newer release starts while the tables are built aside.
        if not reshaped:
            reshaped.append(reshape(backend))

    with pytest.raises(StoreChanged, match="nothing was switched in"):
        rebuild(
            backend.log,
            backend.store,
            [p for p in all_projections() if p.name == RESHAPED],
            meanwhile,
        )

    with backend.store.reading() as db:
        row = db.execute(
            "SELECT version FROM projection_positions WHERE name = ?", (RESHAPED,)
        ).fetchone()
    assert row[0] == reshaped[0]
