"""No N+1: the SQL statements a page runs do not grow with the page's size.

Each page is asked for twice, small and large, on a SQLite store that holds
enough for both, and every statement the store's connections run is counted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain import commands as c
from domain.principal import Role
from graph.context import Context
from graph.schema import build_schema
from projections.database import SQLiteStore
from qualify.bootstrap import Backend, build
from qualify.config import Settings
from tests.support import course, register, run

CODES = 12
LEARNERS = 12
SMALL, LARGE = 2, 10

DASHBOARD = """
query Dashboard($first: Int!) {
  trainingRecords(username: "alice", first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { recordId recordType title completionDate code expiresOn status } }
  }
  a: pathProgress(pathCode: "PATH", username: "alice") {
    pointsEarned percent complete missingSteps { code title } expiredSteps { code }
  }
  b: pathProgress(pathCode: "OTHER", username: "alice") { percent }
}
"""
CODES_PAGE = """
query Codes($first: Int!) {
  codes(first: $first) {
    totalCount
    edges { node {
      code description activeRecordCount inUse validityMonths
      usedIn { kind id title pathId }
      validityChanges { newMonths changedBy }
    } }
  }
}
"""
PARTICIPANTS = """
query Participants($first: Int!) {
  learningPath(code: "PATH") {
    code
    steps { code points }
    participants(first: $first) {
      totalCount
      edges { node { username pointsEarned percent missingSteps { code } } }
    }
  }
}
"""
EVENTS = """
query Events($first: Int!) {
  events(first: $first) {
    edges { node { position type aggregateId actor payload } }
  }
}
"""
EXPIRATIONS = """
query Expirations($first: Int!) {
  certificateExpirations(first: $first) {
    totalCount
    edges { node { username code completionDate expiresOn status } }
  }
}
"""


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    path = Path(tmp_path_factory.mktemp("counts")) / "qualify.db"
    backend = build(Settings(database_url=f"sqlite:///{path}"), follow=True)
    try:
        _fill(backend)
        yield backend
    finally:
        backend.close()


def _fill(backend: Backend) -> None:
    codes = [f"C{i:02d}" for i in range(CODES)]
    courses = [course(backend, f"Course {code}", code) for code in codes]
    for code in codes:
        run(backend, c.SetCodeValidity(code, 12))
    for path, steps in (("PATH", codes[:6]), ("OTHER", codes[6:9])):
        run(
            backend,
            c.CreateLearningPath(
                path,
                f"Path {path}",
                steps=tuple(
                    c.StepInput(code, f"Step {code}", 10, False) for code in steps
                ),
            ),
        )
    day = date(2024, 1, 1)
    for index in range(LEARNERS):
        name = "alice" if index == 0 else f"learner{index:02d}"
        register(backend, name)
        run(backend, c.JoinPath("PATH", name))
        run(backend, c.JoinPath("OTHER", name))
        # Alice holds every code; the others hold fewer and fewer.
        count = CODES if index == 0 else CODES - index
        for offset, content in enumerate(courses[:count]):
            when = day + timedelta(days=offset)
            run(backend, c.CompleteContent(content, name, when))


def _answer(backend: Backend, query: str, first: int) -> tuple[Any, list[str]]:
    """The query's data with ``first`` items, and every statement it ran."""
    store = backend.store
    assert isinstance(store, SQLiteStore)
    schema = build_schema(backend.settings)
    principal = backend.principal("admin", Role.ADMIN)
    context = Context(backend=backend, principal=principal, correlation_id="count")
    seen: list[str] = []

    store.trace(seen.append)
    try:
        result = asyncio.run(
            schema.execute(
                query, variable_values={"first": first}, context_value=context
            )
        )
    finally:
        store.trace(None)
    assert not result.errors, result.errors
    return result.data, seen


def _items(data: Any) -> int:
    """How many items the page's list holds, wherever it is."""
    if isinstance(data, dict):
        if "edges" in data:
            return len(data["edges"])
        return max((_items(value) for value in data.values()), default=0)
    return 0


PAGES = {
    "dashboard": DASHBOARD,
    "codes": CODES_PAGE,
    "participants": PARTICIPANTS,
    "events": EVENTS,
    "expirations": EXPIRATIONS,
}


@pytest.mark.parametrize("query", PAGES.values(), ids=PAGES.keys())
def test_a_larger_page_runs_the_same_statements(backend: Backend, query: str) -> None:
    small, few = _answer(backend, query, SMALL)
    large, many = _answer(backend, query, LARGE)

    # Without enough rows both sizes would be the same page and prove nothing.
    assert (_items(small), _items(large)) == (SMALL, LARGE)
    assert few, "no statement was seen"
    assert [_shape(s) for s in many] == [_shape(s) for s in few]


def test_the_count_sees_a_statement_per_item(backend: Backend) -> None:
    # Each record's history is read on its own (in one thread call and one
    # snapshot, but a statement each): the one list that grows, and the proof
    # that the count would catch it anywhere else.
    query = """
    query History($first: Int!) {
      trainingRecords(username: "alice", first: $first) {
        edges { node { recordId history(first: 1) { totalCount } } }
      }
    }
    """
    _, few = _answer(backend, query, SMALL)
    _, many = _answer(backend, query, LARGE)

    assert len(many) > len(few)


def _shape(statement: str) -> str:
    """The statement with its values taken out: a larger page binds other ones."""
    shape = re.sub(r"'(?:[^']|'')*'", "?", statement)
    shape = re.sub(r"\b\d+\b", "?", shape)
    return re.sub(r"\((?:\?,\s*)*\?\)", "(?)", shape)
