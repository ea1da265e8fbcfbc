"""The read path at scale: three pages over GraphQL beside a plain JSON baseline.

Issue 7. One SQLite store built through the real commands and bulk imports:
``scale.read.learners`` learners, codes, courses and paths (5 to 20 steps). The
first ``participants`` learners have joined the first path, and the first
``probes`` of them the second and third too; every other learner has joined one
path at random. The probes' own records (40 each, many of them their paths' step
codes) go in first, with other learners' records, up to ``early_records``; the
rest (the first path's participants holding some of its steps, then records
drawn at random) arrive later, for other learners only, so a probe's page is
the same in the small store and in the large one.

Measured, each from ``bench.load`` in a process of its own over real HTTP:

- the dashboard (a probe's newest 20 records and their progress on their three
  paths), the codes admin page (``codes(first: 10)`` with ``usedIn`` and counts,
  half of the requests a search) and a page of 50 of the first path's
  participants with their progress, each at 32 clients, beside the same page from
  ``bench.baseline_api`` (same token check, same read-model functions, hand-made
  JSON) on the same store, the two servers loaded in turns (ours, the
  baseline's twice, ours again, each for half the time): goal 0.7 of the
  baseline's throughput;
- the dashboard's p99 at 8 clients (goal under 50 ms), beside the baseline's own
  p99 at 8 clients on the same store, and its p50 there in the large store beside
  the small one (goal within 1.5 times);
- the server's VmRSS (goal under 300 MB) after the 8-client dashboard, in the
  large store beside the small one, and after every load;
- cold start: from starting ``qualify serve`` over the large store to its first
  healthy answer (goal under 5 s), beside the baseline's own start.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.data import (
    DAYS,
    FIRST_DAY,
    PROVIDERS,
    SEED,
    Catalogue,
    Spec,
    TrainingRow,
    build_catalogue,
    store_with,
    training_rows,
    write_import_file,
    write_in_processes,
)
from bench.harness import (
    Process,
    ReadScale,
    Scale,
    admin_token,
    baseline_server,
    cpu_sample,
    cpu_use,
    import_records,
    memory_kb,
    progress,
    run_load,
    server,
    temp_dir,
)
from bench.report import Row
from domain import commands as c
from projections import code_usage, path_progress
from projections.database import Db
from projections.paging import encode_cursor
from qualify.bootstrap import build
from qualify.config import Settings

ORDER = 60
PROBE_RECORDS = 40
FILE_ROWS = 250_000
RATIO_GOAL = 0.7
P99_LIMIT_MS = 50.0
GROWTH_LIMIT = 1.5
RSS_LIMIT_MB = 300.0
START_LIMIT_S = 5.0
PAGE = 50

PROGRESS_FIELDS = (
    "pointsEarned pointsTotal percent complete missingSteps { code title }"
)
DASHBOARD = (
    "query Dashboard($username: String!, $a: String!, $b: String!, $c: String!) { "
    "trainingRecords(username: $username, first: 20) { totalCount "
    "pageInfo { hasNextPage endCursor } edges { node { recordId recordType title "
    "trainingProvider completionDate code expiresOn status } } } "
    "a: pathProgress(pathCode: $a, username: $username) { ...progress } "
    "b: pathProgress(pathCode: $b, username: $username) { ...progress } "
    "c: pathProgress(pathCode: $c, username: $username) { ...progress } } "
    f"fragment progress on PathProgress {{ {PROGRESS_FIELDS} }}"
)
CODES = (
    "query Codes($search: String) { codes(search: $search, first: 10) { totalCount "
    "pageInfo { hasNextPage endCursor } edges { node { code description "
    "activeRecordCount validityMonths inUse usedIn { kind id title } } } } }"
)
PARTICIPANTS = (
    "query Participants($path: String!, $after: String) { learningPath(code: $path) "
    "{ code title participants(first: 50, after: $after) { totalCount "
    "pageInfo { hasNextPage endCursor } edges { node { username "
    f"{PROGRESS_FIELDS} }} }} }} }} }}"
)


def run(scale: Scale) -> list[Row]:
    """Build the small store, measure it; grow it, measure everything."""
    read = scale.read
    with temp_dir("read") as tmp:
        url = f"sqlite:///{tmp / 'qualify.db'}"
        catalogue, steps = _build(read, url)
        probes = catalogue.usernames[: read.probes]
        early, late = _records(read, catalogue, steps)
        _import_all(early, url, tmp, "early")
        bodies = _bodies(read, catalogue, probes, tmp)

        with server(url, tmp) as process:
            small = _load(read, process, "graphql", bodies["dashboard"], 8, "small")
            small_rss = _rss_mb(process)
        _import_all(late, url, tmp, "late")
        del early, late

        started = time.monotonic()
        with server(url, tmp) as process:
            start_s = time.monotonic() - started
            progress(f"read: the server answered {start_s:.2f} s after it started")
            # The same load as on the small store first, for the same memory.
            eight = _load(read, process, "graphql", bodies["dashboard"], 8, "large")
            eight_rss = _rss_mb(process)
            started = time.monotonic()
            with baseline_server(url, tmp) as plain:
                baseline_start_s = time.monotonic() - started
                # What the same machine allows: the plain app's own tail at 8
                # clients.
                baseline_eight = _load(
                    read, plain, "baseline", bodies["dashboard-json"], 8, "large"
                )
                ours, theirs = {}, {}
                for name in ("dashboard", "codes", "participants"):
                    ours[name], theirs[name] = _in_turns(
                        read, process, plain, bodies, name
                    )
            rss = _rss_mb(process)

    figures = {
        "small": small,
        "eight": eight,
        "baseline_eight": baseline_eight,
        "rss": rss,
        "eight_rss": eight_rss,
        "small_rss": small_rss,
        "start_s": start_s,
        "baseline_start_s": baseline_start_s,
    }
    return _rows(read, ours, theirs, figures)


def _build(read: ReadScale, url: str) -> tuple[Catalogue, dict[str, list[str]]]:
    spec = Spec(
        learners=read.learners,
        codes=read.codes,
        courses=read.courses,
        paths=read.paths,
    )
    backend = build(Settings(database_url=url), follow=False)
    try:
        catalogue = build_catalogue(
            store_with(backend), spec, lambda m: progress(f"read: {m}"), register=False
        )
        slices: list[list[c.Command]] = [[], []]
        for index, commands in enumerate(_learner_commands(read, catalogue)):
            slices[index % 2].extend(commands)
        write_in_processes(url, slices, lambda m: progress(f"read: {m}"))
        caught_up = backend.follower.catch_up()
        progress(f"read: projected {caught_up.events:,} events")
        with backend.store.reading() as db:
            steps = {path: _step_codes(db, path) for path in catalogue.path_codes[:3]}
    finally:
        backend.close()
    return catalogue, steps


def _step_codes(db: Db, path_code: str) -> list[str]:
    code = code_usage.live_code(db, path_code)
    path = path_progress.path_by_code_id(db, code.code_id) if code else None
    if path is None:
        raise RuntimeError(f"the store has no path {path_code}")
    ids = [step.code_id for step in path_progress.steps_of(db, path.path_id)]
    names = code_usage.codes_by_id(db, ids)
    return [names[i].code for i in ids]


def _learner_commands(
    read: ReadScale, catalogue: Catalogue
) -> Iterator[list[c.Command]]:
    """Registration and joins: the first path's participants, probes on three."""
    rng = random.Random(SEED + 7)
    first, second, third, *others = catalogue.path_codes
    for index, name in enumerate(catalogue.usernames):
        commands: list[c.Command] = [
            c.RegisterUser(name, f"{name}@example.com", "Learner", name.title())
        ]
        if index < read.probes:
            joined = [first, second, third]
        elif index < read.participants:
            joined = [first]
        else:
            joined = [rng.choice(others)]
        commands += [c.JoinPath(path, name) for path in joined]
        yield commands


def _records(
    read: ReadScale, catalogue: Catalogue, steps: dict[str, list[str]]
) -> tuple[list[TrainingRow], list[TrainingRow]]:
    """The early records (probes' and some others') and the late ones."""
    rng = random.Random(SEED + 8)
    probes = catalogue.usernames[: read.probes]
    others = catalogue.usernames[read.probes :]

    early = []
    for name in probes:
        held = {code for path in catalogue.path_codes[:3] for code in steps[path]}
        chosen = rng.sample(sorted(held), min(len(held), PROBE_RECORDS // 2))
        spare = [code for code in catalogue.codes if code not in chosen]
        chosen += rng.sample(spare, PROBE_RECORDS - len(chosen))
        early += [_row(name, code, rng) for code in chosen]
    early += training_rows(others, catalogue.codes, read.early_records - len(early))

    # Late records never fall on a probe, and differ from the early ones by title
    # where they could share a learner, code and day, so none is a duplicate.
    participants = others[: read.participants - read.probes]
    first_steps = steps[catalogue.path_codes[0]]
    late = [
        _row(name, code, rng, "Path training")
        for name in participants
        for code in rng.sample(first_steps, len(first_steps) // 2)
    ]
    count = read.records - len(early) - len(late)
    late += training_rows(others, catalogue.codes, count, seed=SEED + 9)
    return early, late


def _row(
    name: str, code: str, rng: random.Random, title: str = "Training"
) -> TrainingRow:
    return TrainingRow(
        username=name,
        code=code,
        day=FIRST_DAY + timedelta(days=rng.randrange(DAYS)),
        title=f"{title} for {code}",
        provider=PROVIDERS[0],
        other_information="",
    )


def _import_all(rows: Sequence[TrainingRow], url: str, tmp: Path, part: str) -> None:
    for start in range(0, len(rows), FILE_ROWS):
        chunk = rows[start : start + FILE_ROWS]
        path = tmp / f"records-{part}-{start}.csv"
        write_import_file(path, chunk)
        finished = import_records(path, url, tmp, len(chunk))
        path.unlink()
        progress(
            f"read: imported {len(chunk):,} {part} records in {finished.seconds:.1f} s"
        )


def _bodies(
    read: ReadScale, catalogue: Catalogue, probes: Sequence[str], tmp: Path
) -> dict[str, Path]:
    """Request bodies for each page, GraphQL and baseline, in the same order."""
    rng = random.Random(SEED + 10)
    first, second, third = catalogue.path_codes[:3]
    dashboards = [
        {"username": name, "a": first, "b": second, "c": third} for name in probes
    ]
    searches: list[str | None] = []
    for _ in range(200):
        code = rng.choice(catalogue.codes)
        searches += [None, code[: rng.randint(3, len(code))]]
    # Every learner before ``participants`` joined the first path, in name order.
    joined = sorted(catalogue.usernames[: read.participants])
    afters = [None] + [
        encode_cursor("participant", joined[i - 1])
        for i in range(PAGE, len(joined), PAGE)
    ]
    graphql: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "dashboard": [(DASHBOARD, v) for v in dashboards],
        "codes": [(CODES, {"search": s}) for s in searches],
        "participants": [(PARTICIPANTS, {"path": first, "after": a}) for a in afters],
    }
    plain: dict[str, list[dict[str, Any]]] = {
        "dashboard-json": [
            {"username": v["username"], "paths": [first, second, third]}
            for v in dashboards
        ],
        "codes-json": [{"first": 10, "search": s} for s in searches],
        "participants-json": [
            {"path": first, "first": PAGE, "after": a} for a in afters
        ],
    }
    paths = {}
    for name, requests in graphql.items():
        paths[name] = _write(
            tmp / f"{name}.jsonl",
            [{"query": query, "variables": variables} for query, variables in requests],
        )
    for name, documents in plain.items():
        paths[name] = _write(tmp / f"{name}.jsonl", documents)
    return paths


def _write(path: Path, documents: Sequence[dict[str, Any]]) -> Path:
    with path.open("w") as out:
        for document in documents:
            out.write(json.dumps(document) + "\n")
    return path


def _load(
    read: ReadScale,
    process: Process,
    kind: str,
    bodies: Path,
    clients: int,
    label: str,
) -> dict[str, Any]:
    if kind == "graphql":
        url = process.extra["url"]
    else:
        url = f"{process.extra['base']}/{bodies.stem.removesuffix('-json')}"
    before = cpu_sample({"server": process.pid})
    result = run_load(
        url,
        bodies,
        concurrency=clients,
        duration=read.seconds,
        warmup=read.warmup,
        headers={"Authorization": f"Bearer {admin_token()}"},
        cycle=True,
    )
    after = cpu_sample({"server": process.pid})
    # Other work on the machine moves requests/s, but hardly the server's own CPU
    # time for each request it answered, warm-up included.
    answered = result["requests"] + result["warmup_requests"]
    used = after.processes["server"] - before.processes["server"]
    result["server_cpu_ms_per_request"] = used * 1000 / answered if answered else None
    result["cpu"] = cpu_use(before, after)
    progress(
        f"read: {kind} {label}, {clients} clients: {result['throughput']:.0f}/s, "
        f"p50 {result['latency_ms']['p50']:.1f} ms, "
        f"p99 {result['latency_ms']['p99']:.1f} ms, {result['failed']} failed, "
        f"server CPU {used * 1000 / max(answered, 1):.2f} ms/request, "
        f"{result['cpu'].get('machine_cores_busy', 0):.2f} cores busy"
    )
    if result["failed"]:
        raise RuntimeError(f"{kind} {label} failed requests: {result['failures']}")
    return result


TURNS = ("graphql", "baseline", "baseline", "graphql")
"""Who is loaded in turn, each for half the page's time: a machine whose speed
drifts over the run then moves both figures alike."""


def _in_turns(
    read: ReadScale,
    ours: Process,
    plain: Process,
    bodies: dict[str, Path],
    name: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One page, ours beside the plain app's, the two loaded in ``TURNS``."""
    half = replace(read, seconds=read.seconds / 2)
    parts: dict[str, list[dict[str, Any]]] = {"graphql": [], "baseline": []}
    for kind in TURNS:
        if kind == "graphql":
            parts[kind].append(_load(half, ours, kind, bodies[name], 32, name))
        else:
            body = bodies[f"{name}-json"]
            parts[kind].append(_load(half, plain, kind, body, 32, name))
    return _together(parts["graphql"]), _together(parts["baseline"])


def _together(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """One load's figures from its turns: counts and times summed, CPU per
    request over every request answered, and each latency percentile the worst
    turn's."""
    answered = [t["requests"] + t["warmup_requests"] for t in turns]
    cpu_ms = sum(
        t["server_cpu_ms_per_request"] * n for t, n in zip(turns, answered, strict=True)
    )
    requests = sum(t["requests"] for t in turns)
    seconds = sum(t["seconds"] for t in turns)
    return {
        **turns[0],
        "requests": requests,
        "ok": sum(t["ok"] for t in turns),
        "failed": sum(t["failed"] for t in turns),
        "warmup_requests": sum(t["warmup_requests"] for t in turns),
        "seconds": round(seconds, 3),
        "throughput": requests / seconds,
        "latency_ms": {
            key: max(t["latency_ms"][key] for t in turns)
            for key in turns[0]["latency_ms"]
        },
        "per_second": [n for t in turns for n in t["per_second"]],
        "server_cpu_ms_per_request": cpu_ms / sum(answered),
        "turns": turns,
    }


def _rss_mb(process: Process) -> float:
    return memory_kb(process.pid)["VmRSS"] / 1024


def _rows(
    read: ReadScale,
    ours: dict[str, dict[str, Any]],
    theirs: dict[str, dict[str, Any]],
    figures: dict[str, Any],
) -> list[Row]:
    size = f"{read.records:,} records, {read.learners:,} learners"
    pages = {
        "dashboard": "a learner's dashboard",
        "codes": "codes admin page",
        "participants": f"path participants ({read.participants:,}), page of {PAGE}",
    }
    rows = [
        Row(
            scenario=f"{title}, 32 clients, {size}: requests/s",
            unit="/s",
            ours=ours[name]["throughput"],
            baseline=theirs[name]["throughput"],
            baseline_name="plain Starlette JSON, same SQL",
            goal=f">= {RATIO_GOAL} x baseline",
            goal_ratio=RATIO_GOAL,
            notes={"ours": ours[name], "baseline": theirs[name]},
        )
        for name, title in pages.items()
    ]
    rows += [
        Row(
            scenario=f"{title}, 32 clients, {size}: server CPU per request",
            unit="ms",
            ours=ours[name]["server_cpu_ms_per_request"],
            baseline=theirs[name]["server_cpu_ms_per_request"],
            baseline_name="plain Starlette JSON, same SQL",
            goal="-",
            higher_is_better=False,
        )
        for name, title in pages.items()
    ]
    eight = figures["eight"]
    small = figures["small"]
    rows += [
        Row(
            scenario=f"dashboard, 8 clients, {size}: p99",
            unit="ms",
            ours=eight["latency_ms"]["p99"],
            baseline=figures["baseline_eight"]["latency_ms"]["p99"],
            baseline_name="plain Starlette JSON, same SQL, 8 clients",
            goal=f"< {P99_LIMIT_MS:g} ms",
            higher_is_better=False,
            goal_limit=P99_LIMIT_MS,
            notes={"ours": eight, "baseline": figures["baseline_eight"]},
        ),
        Row(
            scenario=f"dashboard p50, 8 clients, {size} vs {read.early_records:,}",
            unit="ms",
            ours=eight["latency_ms"]["p50"],
            baseline=small["latency_ms"]["p50"],
            baseline_name=f"ours at {read.early_records:,} records",
            goal=f"<= {GROWTH_LIMIT} x",
            goal_ratio=GROWTH_LIMIT,
            higher_is_better=False,
            notes={"small": small},
        ),
        Row(
            scenario=f"server RSS after the 8-client dashboard, {size}",
            unit="MB",
            ours=figures["eight_rss"],
            baseline=figures["small_rss"],
            baseline_name=f"the same at {read.early_records:,} records",
            goal=f"< {RSS_LIMIT_MB:g} MB",
            higher_is_better=False,
            goal_limit=RSS_LIMIT_MB,
        ),
        Row(
            scenario=f"server RSS after every load, {size}",
            unit="MB",
            ours=figures["rss"],
            baseline=None,
            baseline_name="-",
            goal=f"< {RSS_LIMIT_MB:g} MB",
            higher_is_better=False,
            goal_limit=RSS_LIMIT_MB,
        ),
        Row(
            scenario=f"cold start to first answer, {size}",
            unit="s",
            ours=figures["start_s"],
            baseline=figures["baseline_start_s"],
            baseline_name="the JSON baseline's start",
            goal=f"< {START_LIMIT_S:g} s",
            higher_is_better=False,
            goal_limit=START_LIMIT_S,
        ),
    ]
    return rows
