"""Rebuilding read models aside, then switching them in at once."""

from __future__ import annotations

import pytest

from domain import commands as c
from projections.code_usage import CodeUsage
from projections.rebuild import rebuild
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
    assert done.rows > 0
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
    # The switch empties and copies the real tables first, then fails on this one.
    tables = (*CodeUsage.tables, "no_such_table")


def test_a_switch_that_fails_leaves_the_live_tables_as_they_were(
    durable_backend: Backend,
) -> None:
    backend = durable_backend
    busy_scenario(backend)
    before = table_rows(backend.store)

    with pytest.raises(Exception, match="no_such_table"):
        rebuild(backend.log, backend.store, [_CodeUsageOverAMissingTable()])

    assert table_rows(backend.store) == before
    if backend.store.dialect == "sqlite":
        # The scratch file it copied from is no longer attached to the writer.
        with backend.store.writing() as db:
            names = [row[1] for row in db.execute("PRAGMA database_list")]
        assert names == ["main"]


def test_the_switch_reports_every_row_it_put_in_place(
    durable_backend: Backend,
) -> None:
    backend = durable_backend
    busy_scenario(backend)

    done = rebuild(backend.log, backend.store, [CodeUsage()])

    with backend.store.reading() as db:
        held = sum(
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in CodeUsage.tables
        )
    assert done.rows == held > 0
    assert done.switch_seconds > 0
