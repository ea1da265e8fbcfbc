"""Rebuilding read models aside, then switching them in at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from domain import commands as c
from projections import rebuild as rebuilding
from projections.code_usage import CodeUsage
from projections.follower import CatchUp, Follower
from projections.learners import Learners
from projections.projection import Projection
from projections.rebuild import ScratchUnusable, rebuild, scratch_store
from projections.verification import verify
from qualify.bootstrap import Backend, all_projections
from tests.support import busy_scenario, live_code, run, table_rows

REBUILDABLE = [p for p in all_projections() if p.rebuildable]


def _description(backend: Backend, code: str) -> str:
    return live_code(backend, code).description


def _tamper(backend: Backend) -> None:
    with backend.store.writing() as db:
        db.execute("UPDATE codes SET description = ? WHERE code = ?", ("x", "CLAROTAT"))


def test_a_rebuild_restores_a_damaged_read_model(durable_backend: Backend) -> None:
    backend = durable_backend
    busy_scenario(backend)
    expected = _description(backend, "CLAROTAT")
    _tamper(backend)
    assert not verify(backend.log, backend.store, all_projections()).ok

    done = rebuild(backend.log, backend.store, [CodeUsage()])

    assert done.names == ("code_usage",)
    assert done.position == backend.log.recorder.max_notification_id()
    assert done.changed == 1
    assert _description(backend, "CLAROTAT") == expected
    assert verify(backend.log, backend.store, all_projections()).ok


def test_the_live_tables_answer_until_the_rebuilt_ones_switch_in(
    durable_backend: Backend,
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    _tamper(backend)
    seen: list[str] = []

    def during(position: int, head: int) -> None:
        seen.append(_description(backend, "CLAROTAT"))

    rebuild(backend.log, backend.store, [CodeUsage()], during)

    assert seen
    assert set(seen) == {"x"}
    assert _description(backend, "CLAROTAT") != "x"


def test_events_stored_while_building_are_in_the_switched_tables(
    durable_backend: Backend,
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    created: list[str] = []

    def during(position: int, head: int) -> None:
        if not created:
            run(backend, c.CreateCode("AED", "Defibrillator"))
            created.append("AED")

    done = rebuild(backend.log, backend.store, REBUILDABLE, during)

    assert created == ["AED"]
    assert _description(backend, "AED") == "Defibrillator"
    assert done.position == backend.log.recorder.max_notification_id()
    assert verify(backend.log, backend.store, all_projections()).ok


def test_events_stored_right_before_the_switch_stay_in_the_live_tables(
    durable_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    tables = [table for p in REBUILDABLE for table in p.tables]
    added: list[int] = []
    catch_up = Follower.catch_up

    def then_a_command(self: Follower, *args: Any, **kwargs: Any) -> CatchUp:
        done = catch_up(self, *args, **kwargs)
        # The scratch tables' last catch-up, the one without a progress bar: the
        # command's events reach the live tables before the switch begins.
        if self.store is not backend.store and not kwargs and not added:
            before = table_rows(backend.store)
            run(backend, c.CreateCode("AED", "Defibrillator"))
            after = table_rows(backend.store)
            added.append(sum(len(after[t]) - len(before[t]) for t in tables))
        return done

    monkeypatch.setattr(Follower, "catch_up", then_a_command)

    done = rebuild(backend.log, backend.store, REBUILDABLE)

    head = backend.log.recorder.max_notification_id()
    # The switch took the command's rows out with the rest of what the scratch
    # tables lack, then its events put them back: counted once, as deleted.
    assert done.changed == added[0] > 0
    assert done.position == head
    assert _description(backend, "AED") == "Defibrillator"
    assert {row[2] for row in table_rows(backend.store)["projection_positions"]} == {
        head
    }
    assert verify(backend.log, backend.store, all_projections()).ok


def test_a_rebuild_reports_events_and_rate(durable_backend: Backend) -> None:
    busy_scenario(durable_backend)
    done = rebuild(durable_backend.log, durable_backend.store, REBUILDABLE)

    assert done.events > 50
    assert done.rate > 0
    assert done.names == tuple(p.name for p in REBUILDABLE)


def test_the_audit_chain_is_never_rebuilt(durable_backend: Backend) -> None:
    busy_scenario(durable_backend)
    chain = [p for p in all_projections() if not p.rebuildable]

    assert [p.name for p in chain] == ["audit_chain"]
    with pytest.raises(ValueError, match="audit_chain is never rebuilt"):
        rebuild(durable_backend.log, durable_backend.store, chain)


def _index_names(backend: Backend) -> set[str]:
    with backend.store.reading() as db:
        if backend.store.dialect == "postgres":
            rows = db.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            )
        else:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {row[0] for row in rows}


def test_a_full_rebuild_leaves_every_row_and_index_as_it_was(
    durable_backend: Backend,
) -> None:
    busy_scenario(durable_backend)
    rows = table_rows(durable_backend.store)
    indexes = _index_names(durable_backend)
    read_only = {
        statement.split()[2] for p in REBUILDABLE for statement in p.read_indexes
    }

    rebuild(durable_backend.log, durable_backend.store, REBUILDABLE)

    assert table_rows(durable_backend.store) == rows
    assert _index_names(durable_backend) == indexes
    assert read_only <= indexes


class _CodeUsageOverAMissingTable(CodeUsage):
    # The switch brings the real tables in line first, then fails on this one.
    tables = (*CodeUsage.tables, "no_such_table")


class _CodeUsageWithAKeylessTable(CodeUsage):
    tables = (*CodeUsage.tables, "keyless")
    schema = (*CodeUsage.schema, "CREATE TABLE keyless (note TEXT)")


@pytest.mark.parametrize(
    ("projection", "refusal"),
    [
        (_CodeUsageOverAMissingTable(), "no_such_table"),
        (_CodeUsageWithAKeylessTable(), "the table keyless has no primary key"),
    ],
    ids=["missing table", "table without a primary key"],
)
def test_a_switch_that_fails_leaves_the_live_tables_as_they_were(
    durable_backend: Backend, projection: CodeUsage, refusal: str
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    with backend.store.writing() as db:
        db.execute("CREATE TABLE keyless (note TEXT)")
    # A damaged row the switch mends, before failing, and must then leave damaged.
    _tamper(backend)
    before = table_rows(backend.store)

    with pytest.raises(Exception, match=refusal):
        rebuild(backend.log, backend.store, [projection])

    assert table_rows(backend.store) == before
    if backend.store.dialect == "sqlite":
        # The scratch file it copied from is no longer attached to the writer,
        # and the table of differing rows went with the rollback.
        with backend.store.writing() as db:
            names = [row[1] for row in db.execute("PRAGMA database_list")]
            kept = db.execute("SELECT name FROM temp.sqlite_master").fetchall()
        assert [name for name in names if name != "temp"] == ["main"]
        assert kept == []


def test_a_rebuild_of_sound_tables_changes_no_row(durable_backend: Backend) -> None:
    busy_scenario(durable_backend)
    before = table_rows(durable_backend.store)

    done = rebuild(durable_backend.log, durable_backend.store, REBUILDABLE)

    assert done.changed == 0
    assert done.switch_seconds > 0
    assert table_rows(durable_backend.store) == before


def _mended(backend: Backend, projection: Projection, *damage: str) -> int:
    """How many rows a rebuild of ``projection`` changed, after each statement of
    ``damage`` changed one row; every row is checked to be back as it was."""
    busy_scenario(backend)
    expected = table_rows(backend.store)
    with backend.store.writing() as db:
        for statement in damage:
            assert db.execute(statement).rowcount == 1, statement

    done = rebuild(backend.log, backend.store, [projection])

    assert table_rows(backend.store) == expected
    return done.changed


def test_the_switch_writes_the_rows_that_differ_and_deletes_those_gone(
    durable_backend: Backend,
) -> None:
    # A value changed, a NULL given a value, a value made NULL, a row lost and a
    # row the log never made.
    changed = _mended(
        durable_backend,
        CodeUsage(),
        "UPDATE codes SET description = 'x' WHERE code = 'CLAROTAT'",
        "UPDATE codes SET deleted_at = '2020-01-01' WHERE code_id = (SELECT code_id "
        "FROM codes WHERE deleted_at IS NULL AND code <> 'CLAROTAT' ORDER BY code "
        "LIMIT 1)",
        "UPDATE code_names SET renamed_to = NULL WHERE name = (SELECT name FROM "
        "code_names WHERE renamed_to IS NOT NULL ORDER BY name LIMIT 1)",
        "DELETE FROM use_titles WHERE owner_id = (SELECT owner_id FROM use_titles "
        "ORDER BY owner_id LIMIT 1)",
        "INSERT INTO code_uses VALUES ('ghost', 'ghost', 'course', '')",
    )

    assert changed == 5


def test_rows_that_swapped_a_unique_value_are_mended_together(
    durable_backend: Backend,
) -> None:
    changed = _mended(
        durable_backend,
        Learners(),
        "UPDATE learners SET username = 'x' WHERE username = 'alice'",
        "UPDATE learners SET username = 'alice' WHERE username = 'bob'",
        "UPDATE learners SET username = 'bob' WHERE username = 'x'",
    )

    assert changed == 2


def test_a_table_that_mostly_differs_is_replaced_whole_with_its_indexes(
    durable_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = durable_backend
    # The scenario's tables are small: any of them would be merged row by row.
    monkeypatch.setattr(rebuilding, "MERGED_AT_MOST", 0)
    busy_scenario(backend)
    expected = table_rows(backend.store)
    with backend.store.writing() as db:
        # An analyst's own index, under a name that must be quoted.
        db.execute('CREATE INDEX "codes by-description" ON codes (description)')
    indexes = _index_names(backend)
    with backend.store.writing() as db:
        codes = db.execute("UPDATE codes SET description = 'x'").rowcount
    assert codes > 4

    done = rebuild(backend.log, backend.store, [CodeUsage()])

    # Every old row deleted and every new one written, in that table alone.
    assert done.changed == 2 * codes
    assert table_rows(backend.store) == expected
    assert _index_names(backend) == indexes
    assert {"codes_live", "codes by-description"} <= indexes


def test_a_store_in_memory_has_every_row_replaced(
    open_backend: Callable[[str], Backend],
) -> None:
    backend = open_backend("sqlite:///:memory:")
    busy_scenario(backend)
    before = table_rows(backend.store)
    held = sum(len(before[table]) for table in CodeUsage.tables)

    done = rebuild(backend.log, backend.store, [CodeUsage()])

    # Deleted, then written again: the scratch store cannot be attached to it.
    assert done.changed == 2 * held > 0
    assert table_rows(backend.store) == before


def test_a_second_rebuild_of_a_store_is_refused_while_the_first_runs(
    durable_backend: Backend,
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    _tamper(backend)
    before = table_rows(backend.store)

    # The first rebuild holds the scratch store as long as it builds.
    with scratch_store(backend.store):
        with pytest.raises(ScratchUnusable, match=r"Another rebuild of .* is running"):
            rebuild(backend.log, backend.store, [CodeUsage()])
        assert table_rows(backend.store) == before

    assert rebuild(backend.log, backend.store, [CodeUsage()]).changed == 1


def test_a_scratch_file_left_by_a_killed_rebuild_is_emptied_first(
    open_backend: Callable[[str], Backend], tmp_path: Path
) -> None:
    backend = open_backend(f"sqlite:///{tmp_path / 'store.db'}")
    busy_scenario(backend)
    _tamper(backend)
    left = tmp_path / "store.db.rebuild"
    left.write_bytes(b"not a database at all")

    done = rebuild(backend.log, backend.store, [CodeUsage()])

    assert done.changed == 1
    assert not left.exists()
    assert verify(backend.log, backend.store, all_projections()).ok
