"""Without a projection worker, a server still stores commands and says it is behind."""

from __future__ import annotations

import httpx

from projections.code_usage import code_page
from projections.learners import learner_by_username
from qualify.bootstrap import build
from qualify.config import Settings
from qualify.demo import load_demo
from tests.graph.conftest import GraphQLClient, serve

CREATE = (
    'mutation { createCode(input: {code: "CPR"}) { code { code } '
    "userErrors { code } } }"
)


async def test_a_mutation_answered_before_the_read_models_says_so(pg_url: str) -> None:
    backend = build(Settings(database_url=pg_url), follow=False)
    backend.read_timeout = 0.2
    try:
        for server in serve(backend):
            async with httpx.AsyncClient() as http:
                client = GraphQLClient(http, server, server.token())
                response = await client.post(CREATE)
                again = await client.post(CREATE)
    finally:
        backend.close()

    body = response.json()
    assert body["data"]["createCode"] == {"code": None, "userErrors": []}
    assert body["extensions"] == {
        "readModelsBehind": True,
        "cost": {"requested": 5, "limit": 50000},
    }
    # The first one was stored all the same: the write model refuses a second.
    assert again.json()["data"]["createCode"]["userErrors"] == [{"code": "CODE_TAKEN"}]


def test_the_demo_loads_whole_before_any_worker_runs(pg_url: str) -> None:
    backend = build(Settings(database_url=pg_url), follow=False)
    # Were the demo to wait for a worker, each of its commands would give up.
    backend.read_timeout = 0.2
    try:
        summary = load_demo(backend)
        with backend.store.reading() as db:
            codes = code_page(db, None, 100, None)
            learners = [learner_by_username(db, name) for name in summary.usernames]
    finally:
        backend.close()

    assert summary.loaded
    assert codes.total_count == len(summary.codes) == 21
    assert len(learners) == 4
    assert all(learners)
