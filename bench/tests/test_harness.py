"""The harness's own logic: no store, no server, and no timing asserted.

Run with ``.venv/bin/pytest bench/tests``.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench import baseline_floor, load
from bench.data import (
    Catalogue,
    spread_completions,
    training_rows,
    write_import_file,
)
from bench.harness import Finished, RssSampler, import_phases, memory_kb, reset_peak
from bench.report import Row, render, write_json
from bench.scenarios.complete_content import MUTATION
from bench.stats import percentile, summary_ms
from domain.imports import read_file
from qualify.cli import CHECKING_ROWS


def _row(ours: float, baseline: float | None, **kwargs: object) -> Row:
    return Row("s: m", "/s", ours, baseline, "raw", **kwargs)  # type: ignore[arg-type]


def test_ratio_and_verdict() -> None:
    assert _row(50, 100, goal_ratio=0.5).verdict == "met"
    assert _row(49, 100, goal_ratio=0.5).verdict == "MISSED"
    assert _row(49, 100).verdict == "-"
    assert _row(30, 10, goal_ratio=2.0, higher_is_better=False).verdict == "MISSED"
    assert _row(1, None, goal_ratio=0.5).ratio is None
    assert _row(1, 0).ratio is None


def test_an_absolute_goal_is_met_by_the_figure_itself() -> None:
    assert _row(20_000, 300_000, goal_limit=20_000).verdict == "met"
    assert _row(19_999, 1, goal_limit=20_000).verdict == "MISSED"
    assert _row(5, 0, goal_limit=24, higher_is_better=False).verdict == "met"
    assert _row(25, None, goal_limit=24, higher_is_better=False).verdict == "MISSED"
    # With a ratio goal as well, both must hold.
    assert _row(20_000, 100_000, goal_limit=1, goal_ratio=0.5).verdict == "MISSED"
    assert _row(float("nan"), 1, goal_limit=1).verdict == "MISSED"


def test_table_and_json(tmp_path: Path) -> None:
    rows = [_row(188.4, 6001, goal=">= 0.5 x", goal_ratio=0.5)]
    table = render(rows)
    assert table.splitlines()[0].split(" | ")[0].strip() == "scenario"
    assert "188 /s" in table
    assert "6,001 /s (raw)" in table
    assert "MISSED" in table

    path = tmp_path / "out" / "run.json"
    write_json(path, {"scale": "small"}, rows)
    document = json.loads(path.read_text())
    assert document["scale"] == "small"
    assert document["rows"][0]["ratio"] == 188.4 / 6001
    assert document["rows"][0]["verdict"] == "MISSED"


def test_percentiles_are_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert summary_ms([0.001, 0.002])["max"] == 2.0


def test_spread_completions_never_share_a_learner_or_course_nearby() -> None:
    catalogue = Catalogue(
        usernames=tuple(f"u{i}" for i in range(20)),
        codes=(),
        content_ids=tuple(f"c{i}" for i in range(21)),
        path_codes=(),
    )
    completions = spread_completions(catalogue, 20 * 21)
    triples = {(c.username, c.content_id, c.day) for c in completions}
    assert len(triples) == len(completions)
    for start in range(len(completions) - 16):
        window = completions[start : start + 16]
        assert len({c.username for c in window}) == 16
        assert len({c.content_id for c in window}) == 16


def test_failures_are_told_apart() -> None:
    ok = json.dumps({"data": {"x": {"userErrors": [], "value": 1}}}).encode()
    assert load.failure(200, ok) is None
    refused = json.dumps({"data": {"x": {"userErrors": [{"code": "NOT_FOUND"}]}}})
    assert "NOT_FOUND" in (load.failure(200, refused.encode()) or "")
    errors = json.dumps({"data": None, "errors": [{"message": "boom"}]}).encode()
    assert load.failure(200, errors) == "error: boom"
    assert (load.failure(500, b"oops") or "").startswith("HTTP 500")
    assert load.failure(200, b"<html>") == "the answer is not JSON"


class _Answers:
    """A connection that answers from a table instead of a server."""

    def __init__(self, seen: list[bytes]) -> None:
        self.seen = seen

    async def send(self, body: bytes) -> tuple[int, bytes]:
        self.seen.append(body)
        if body == b'{"n": 3}':
            return 200, json.dumps({"errors": [{"message": "no"}]}).encode()
        return 200, json.dumps({"data": {"ok": True}}).encode()

    async def close(self) -> None:
        pass


async def test_load_counts_every_body_once_without_cycle() -> None:
    seen: list[bytes] = []

    async def connect(plan: load.Plan) -> Any:
        return _Answers(seen)

    plan = load.Plan(
        url="http://127.0.0.1:9/graphql",
        bodies=[json.dumps({"n": n}).encode() for n in range(10)],
        concurrency=4,
        duration=30.0,
        warmup=0.0,
        cycle=False,
        headers={},
    )
    result = await load.run(plan, connect)
    assert sorted(seen) == sorted(plan.bodies)
    assert result["ok"] == 9
    assert result["failed"] == 1
    assert result["failures"] == {"error: no": 1}
    assert result["exhausted"] is True


async def test_the_client_speaks_http_to_a_real_server() -> None:
    got: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Two requests on one connection: the first answered with a length, the
        # second in chunks, as servers do.
        for answer in (
            b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"data": 1}',
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'5\r\n{"dat\r\n6\r\na": 2}\r\n0\r\n\r\n',
        ):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            got.append(head + await reader.readexactly(length))
            writer.write(answer)
            await writer.drain()
        writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    plan = load.Plan(
        url=f"http://127.0.0.1:{port}/graphql",
        bodies=[b'{"a": 1}', b'{"b": 22}'],
        concurrency=1,
        duration=30.0,
        warmup=0.0,
        cycle=False,
        headers={"Authorization": "Bearer t"},
    )
    async with listening:
        result = await load.run(plan)
    assert result["ok"] == 2, result["failures"]
    assert got[0].startswith(b"POST /graphql HTTP/1.1\r\n")
    assert b"Authorization: Bearer t\r\n" in got[0]
    assert got[0].endswith(b'\r\n\r\n{"a": 1}')
    assert got[1].endswith(b'{"b": 22}')


def test_training_rows_are_distinct_and_read_back_by_the_import(
    tmp_path: Path,
) -> None:
    usernames, codes = ("ann", "bob", "cy"), ("Q00000", "Q00001")
    rows = training_rows(usernames, codes, 500, seed=7)
    assert rows == training_rows(usernames, codes, 500, seed=7)
    assert len({(r.username, r.code, r.day) for r in rows}) == 500
    assert {r.username for r in rows} == set(usernames)

    path = tmp_path / "records.csv"
    size = write_import_file(path, rows)
    data = path.read_bytes()
    assert size == len(data)
    assert data.count(b"\r\n") == 501
    parsed = read_file(data, date(2030, 1, 1))
    assert parsed.problems == []
    assert [(r.username, r.code, r.completion_date) for r in parsed.rows] == [
        (r.username, r.code, r.day) for r in rows
    ]


def test_import_phases_follow_the_progress_lines() -> None:
    finished = Finished(
        "import",
        0,
        5.0,
        4.0,
        100.0,
        "",
        [
            (0.1, "INFO x"),
            (0.5, "reading [....] row 2"),
            (0.9, "reading [##]"),
            (2.0, f"{CHECKING_ROWS}; the file is applied only if all are valid..."),
        ],
    )
    assert import_phases(finished) == {"start": 0.5, "read": 1.5, "apply": 3.0}
    assert import_phases(Finished("import", 1, 1.0, 1.0, 1.0, "", [])) == {}


def test_memory_of_this_process() -> None:
    figures = memory_kb(os.getpid())
    assert figures["VmHWM"] >= figures["VmRSS"] > 0
    assert isinstance(reset_peak(os.getpid()), bool)
    with RssSampler(os.getpid(), interval=0.001) as sampler:
        sum(range(10_000))
    assert sampler.samples >= 1
    assert sampler.peak_kb > 0


async def test_the_floor_answers_the_benchmarks_mutation() -> None:
    body = {
        "query": MUTATION,
        "variables": {
            "input": {
                "contentId": "c1",
                "username": "ann",
                "completionDate": "2024-01-02",
            }
        },
    }
    transport = httpx.ASGITransport(app=baseline_floor.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post("/graphql", json=body)

    assert answer.status_code == 200
    assert answer.json() == {
        "data": {
            "completeContent": {
                "trainingRecord": {
                    "recordId": "c1",
                    "code": None,
                    "completionDate": "2024-01-02",
                },
                "userErrors": [],
            }
        }
    }
