"""``completeContent`` through GraphQL, 32 concurrent clients, SQLite and PostgreSQL.

Issue 3: mutations/s and p99 latency beside the same machine's raw single-row
commit rate for that store, measured in the same run. Goal: at least half the raw
commit rate.

Each store is fresh and built through the real commands: 200 learners, 211 courses
each carrying its own code, and 10 paths that every learner has joined one of. The
k-th request completes course k mod 211 for learner k mod 200, so each request is a
distinct (learner, content, date) and concurrent requests never race for the same
learner or code. The server runs as ``qualify serve`` (on PostgreSQL beside a
``qualify projections run`` worker); the load comes from ``bench.load``.

On SQLite the same bodies also go to ``bench/baseline_floor.py``, the same
mutation answered by an empty resolver on the same stack: the most any GraphQL
mutation manages here, shown beside the raw commit rate.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from bench.baselines import (
    SampleEvent,
    event_store_sqlite_settings,
    postgres_commit_rate,
    sample_event,
    sqlite_commit_rate,
)
from bench.data import Catalogue, Spec, build_catalogue, spread_completions, store_with
from bench.harness import (
    Process,
    Scale,
    admin_token,
    baseline_server,
    cpu_sample,
    cpu_use,
    postgres_activity,
    postgres_conninfo,
    postgres_schema,
    postgres_schema_name,
    progress,
    projection_worker,
    run_load,
    server,
    temp_dir,
)
from bench.report import NO_GOAL, Row
from qualify.bootstrap import Backend, build
from qualify.config import Settings

ORDER = 10
SPEC = Spec(learners=200, codes=211, courses=211, paths=10)
GOAL = ">= 0.5 x raw commits/s"
GOAL_RATIO = 0.5
FLOOR_APP = "bench.baseline_floor:app"
MUTATION = (
    "mutation Complete($input: CompleteContentInput!) { completeContent(input: "
    "$input) { trainingRecord { recordId code completionDate } "
    "userErrors { code field message } } }"
)


def run(scale: Scale) -> list[Row]:
    """Both stores, one after the other."""
    return _on_sqlite(scale) + _on_postgres(scale)


def _on_sqlite(scale: Scale) -> list[Row]:
    with temp_dir("sqlite") as tmp:
        url = f"sqlite:///{tmp / 'qualify.db'}"
        progress(f"SQLite: building the store at {tmp / 'qualify.db'}")
        catalogue, sample, backend = _build_store(url, "SQLite")
        try:
            settings = event_store_sqlite_settings(backend.log)
        finally:
            backend.close()

        progress(
            f"SQLite: baseline, raw INSERT+COMMIT for {scale.baseline_seconds:g} s "
            f"(journal_mode={settings.journal_mode}, "
            f"synchronous={settings.synchronous}, {len(sample.state)}-byte rows)"
        )
        raw = sqlite_commit_rate(
            tmp / "raw.db", scale.baseline_seconds, sample, settings
        )
        progress(f"SQLite: raw {raw['rate']:.0f} commits/s")

        bodies = _bodies(catalogue, tmp)
        with server(url, tmp) as process:
            load = _load(scale, process, [process], bodies, "SQLite")
        with baseline_server(url, tmp, FLOOR_APP, "floor") as process:
            process.extra["url"] = f"{process.extra['base']}/graphql"
            floor = _load(scale, process, [process], bodies, "the floor")
        baseline_name = f"raw INSERT+COMMIT, WAL, synchronous={settings.synchronous}"
        return [
            *_rows("SQLite", scale, load, raw, baseline_name),
            _floor_row(scale, floor, raw, baseline_name),
        ]


def _on_postgres(scale: Scale) -> list[Row]:
    with postgres_schema("complete") as url, temp_dir("postgres") as tmp:
        schema = postgres_schema_name(url)
        progress(f"PostgreSQL: building the store in schema {schema}")
        catalogue, sample, backend = _build_store(url, "PostgreSQL")
        backend.close()

        progress(
            f"PostgreSQL: baseline, raw INSERT + commit for "
            f"{scale.baseline_seconds:g} s ({len(sample.state)}-byte rows)"
        )
        raw = postgres_commit_rate(
            postgres_conninfo(url), schema, scale.baseline_seconds, sample
        )
        progress(f"PostgreSQL: raw {raw['rate']:.0f} commits/s")

        bodies = _bodies(catalogue, tmp)
        with server(url, tmp) as process, projection_worker(url, tmp) as worker:
            before = postgres_activity(url)
            load = _load(scale, process, [process, worker], bodies, "PostgreSQL")
            # Counters reach pg_stat_database within a second or so of each commit.
            time.sleep(1.5)
            load["postgres"] = _per_mutation(before, postgres_activity(url), load)
            progress(f"PostgreSQL: per mutation, in its schema: {load['postgres']}")
        synchronous = raw["settings"]["synchronous_commit"]
        baseline_name = f"raw INSERT+commit, psycopg, synchronous_commit={synchronous}"
        return _rows("PostgreSQL", scale, load, raw, baseline_name)


def _build_store(url: str, store: str) -> tuple[Catalogue, SampleEvent, Backend]:
    """The catalogue through the write model, projected once at the end.

    The returned backend is open; the caller closes it.
    """
    backend = build(Settings(database_url=url), follow=False)
    try:
        catalogue = build_catalogue(store_with(backend), SPEC, _step(store))
        caught_up = backend.follower.catch_up()
        progress(f"{store}: projected {caught_up.events} events")
        sample = sample_event(backend.log)
    except BaseException:
        backend.close()
        raise
    return catalogue, sample, backend


def _per_mutation(
    before: dict[str, int], after: dict[str, int], load: dict[str, Any]
) -> dict[str, float]:
    # Warm-up requests committed too; count them as mutations.
    mutations = load["requests"] + load["warmup_requests"]
    return {
        name: round((after[name] - before[name]) / max(mutations, 1), 1)
        for name in before
    }


def _step(store: str) -> Any:
    return lambda message: progress(f"{store}: {message}")


def _bodies(catalogue: Catalogue, directory: Path) -> Path:
    count = len(catalogue.usernames) * len(catalogue.content_ids)
    path = directory / "complete-content.jsonl"
    with path.open("w") as out:
        for completion in spread_completions(catalogue, count):
            variables = {
                "input": {
                    "contentId": completion.content_id,
                    "username": completion.username,
                    "completionDate": completion.day.isoformat(),
                }
            }
            out.write(json.dumps({"query": MUTATION, "variables": variables}) + "\n")
    return path


def _load(
    scale: Scale,
    process: Process,
    watched: list[Process],
    bodies: Path,
    store: str,
) -> dict[str, Any]:
    progress(
        f"{store}: load, {scale.concurrency} clients for {scale.load_seconds:g} s "
        f"after {scale.warmup_seconds:g} s of warm-up"
    )
    pids = {p.name: p.pid for p in watched}
    before = cpu_sample(pids)
    result = run_load(
        process.extra["url"],
        bodies,
        concurrency=scale.concurrency,
        duration=scale.load_seconds,
        warmup=scale.warmup_seconds,
        headers={"Authorization": f"Bearer {admin_token()}"},
    )
    result["cpu"] = cpu_use(before, cpu_sample(pids))
    result["cpu"]["client_cores"] = round(
        result["client_cpu_seconds"] / (scale.load_seconds + scale.warmup_seconds), 2
    )
    progress(
        f"{store}: {result['ok']} mutations in {result['seconds']:.1f} s = "
        f"{result['throughput']:.0f}/s, p99 {result['latency_ms']['p99']:.0f} ms, "
        f"{result['failed']} failed; cores busy {result['cpu']}"
    )
    if result["failed"]:
        progress(f"{store}: failures: {result['failures']}")
    if result["exhausted"]:
        progress(f"{store}: the request list ran out before the time was up")
    return result


def _rows(
    store: str,
    scale: Scale,
    load: dict[str, Any],
    raw: dict[str, Any],
    baseline_name: str,
) -> list[Row]:
    name = f"completeContent, {scale.concurrency} clients, {store}"
    notes = {
        "load": load,
        "baseline": raw,
        "spec": SPEC.__dict__,
        "conditions": _conditions(store, load),
    }
    return [
        Row(
            scenario=f"{name}: mutations/s",
            unit="/s",
            ours=load["throughput"],
            baseline=raw["rate"],
            baseline_name=baseline_name,
            goal=GOAL,
            goal_ratio=GOAL_RATIO,
            notes=notes,
        ),
        Row(
            scenario=f"{name}: p99 latency",
            unit="ms",
            ours=load["latency_ms"]["p99"],
            baseline=raw["latency_ms"]["p99"],
            baseline_name="p99 of one raw commit",
            goal=NO_GOAL,
            higher_is_better=False,
        ),
    ]


def _floor_row(
    scale: Scale, floor: dict[str, Any], raw: dict[str, Any], baseline_name: str
) -> Row:
    return Row(
        scenario=f"completeContent, {scale.concurrency} clients: the same mutation "
        "with nothing behind it (bench/baseline_floor.py): mutations/s",
        unit="/s",
        ours=floor["throughput"],
        baseline=raw["rate"],
        baseline_name=baseline_name,
        goal=NO_GOAL,
        notes={"load": floor, "conditions": _conditions("the floor", floor)},
    )


def _conditions(store: str, load: dict[str, Any]) -> str:
    cpu = dict(load.get("cpu", {}))
    busy = cpu.pop("machine_cores_busy", float("nan"))
    ours = ", ".join(f"{k.removesuffix('_cores')} {v:.2f}" for k, v in cpu.items())
    rest = busy - sum(cpu.values())
    text = (
        f"{store} load: {busy:.2f} of {os.cpu_count()} cores busy ({ours}; "
        f"{rest:.2f} every other process, PostgreSQL's among them); "
        f"{load['failed']} failed requests"
    )
    seconds = load.get("per_second", [])[:-1]  # the last second is partial
    if len(seconds) >= 10:
        first, last = sum(seconds[:5]) / 5, sum(seconds[-5:]) / 5
        text += f"; {first:.0f}/s in the first 5 s, {last:.0f}/s in the last 5 s"
    if "postgres" in load:
        text += f"; per mutation in its schema: {load['postgres']}"
    return text
