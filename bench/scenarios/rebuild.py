"""Rebuilding every read model from position zero, and answering as of a moment.

Issue 5: on a SQLite store whose log holds ``scale.rebuild_events`` records
(written by bulk imports of external training records):

- rebuild: ``projections.rebuild.rebuild`` over every read model, events/s of
  the whole of it (building aside and switching in) beside the raw rate of
  reading and decoding the same notifications. Goal: 30,000/s.
- asOf: ``trainingRecords(username, asOf)`` for a learner with 1,000 events,
  p50 and p99 of the whole answer (the replay and the page), beside the same
  page read from the live tables.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime
from pathlib import Path

from bench.baselines import notification_read_rate
from bench.data import (
    Spec,
    TrainingRow,
    build_catalogue,
    handle_with,
    training_rows,
    write_import_file,
)
from bench.harness import Scale, progress, temp_dir
from bench.report import Row
from domain.commands import ImportTrainingRecords
from domain.imports import read_file
from domain.learners import learner_id
from domain.principal import SYSTEM
from projections import training_records as records
from projections.as_of import events_through, position_at, replayed
from projections.follower import BATCH_SIZE
from projections.rebuild import rebuild
from qualify.bootstrap import Backend, all_projections, build
from qualify.config import Settings

ORDER = 50
GOAL = 30_000
FILE_ROWS = 20_000
AS_OF_EVENTS = 1_000
AS_OF_RUNS = 100
CODES = 50


def _import(backend: Backend, rows: list[TrainingRow], path: Path) -> None:
    for start in range(0, len(rows), FILE_ROWS):
        chunk = rows[start : start + FILE_ROWS]
        write_import_file(path, chunk)
        parsed = read_file(path.read_bytes(), date(2100, 1, 1))
        backend.handle(ImportTrainingRecords(path.name, parsed), SYSTEM)
        progress(f"rebuild: imported {start + len(chunk):,} of {len(rows):,} records")


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _time_as_of(backend: Backend, username: str, moment: datetime) -> list[float]:
    learner = str(learner_id(username))
    samples = []
    for _ in range(AS_OF_RUNS):
        started = time.perf_counter()
        with backend.store.reading() as db:
            events = events_through(db, position_at(db, moment), [learner])
        with replayed(events) as scratch:
            records.record_page(scratch, learner, None, 20, None)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _time_live(backend: Backend, username: str) -> list[float]:
    learner = str(learner_id(username))
    samples = []
    for _ in range(AS_OF_RUNS):
        started = time.perf_counter()
        with backend.store.reading() as db:
            records.record_page(db, learner, None, 20, None)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run(scale: Scale) -> list[Row]:
    """Write the log, rebuild every read model, then time asOf answers."""
    with temp_dir("rebuild") as tmp:
        url = f"sqlite:///{tmp / 'qualify.db'}"
        backend = build(Settings(database_url=url))
        try:
            spec = Spec(
                learners=max(scale.rebuild_events // 200, 50), codes=CODES, courses=0
            )
            catalogue = build_catalogue(
                handle_with(backend), spec, lambda m: progress(f"rebuild: {m}")
            )
            rows = training_rows(
                catalogue.usernames, catalogue.codes, scale.rebuild_events
            )
            _import(backend, rows, tmp / "records.csv")
            # One learner with a long history, for the asOf answers.
            busy = catalogue.usernames[0]
            long_rows = training_rows([busy], catalogue.codes, AS_OF_EVENTS, seed=7)
            _import(backend, long_rows, tmp / "busy.csv")
            moment = datetime.now(UTC)

            head = backend.log.recorder.max_notification_id() or 0
            raw = notification_read_rate(backend.log, BATCH_SIZE, head)
            progress(f"rebuild: raw read+decode {raw['rate']:,.0f} events/s")
            done = rebuild(
                backend.log,
                backend.store,
                [p for p in all_projections() if p.rebuildable],
            )
            progress(
                f"rebuild: {done.events:,} events in {done.seconds:.1f} s = "
                f"{done.rate:,.0f} events/s, switched in {done.switch_seconds:.1f} s "
                f"changing {done.changed:,} rows; {done.overall_rate:,.0f} events/s "
                "in all"
            )

            as_of = _time_as_of(backend, busy, moment)
            live = _time_live(backend, busy)
        finally:
            backend.close()

    as_of_p50 = statistics.median(as_of)
    return [
        Row(
            scenario=f"rebuild of every read model, SQLite, {done.events:,} events: "
            "events/s",
            unit="/s",
            ours=done.overall_rate,
            baseline=raw["rate"],
            baseline_name="raw read+decode of the same notifications",
            goal=">= 30,000 events/s",
            goal_limit=GOAL,
            notes={
                "events": done.events,
                "building_seconds": done.seconds,
                "building_rate": done.rate,
                "switch_seconds": done.switch_seconds,
                "rows_changed": done.changed,
            },
        ),
        Row(
            scenario=f"trainingRecords asOf, a learner with {AS_OF_EVENTS:,} events: "
            "p50",
            unit="ms",
            ours=as_of_p50,
            baseline=statistics.median(live),
            baseline_name="p50 of the same page from the live tables",
            higher_is_better=False,
            notes={"p99_ms": _percentile(as_of, 0.99), "runs": AS_OF_RUNS},
        ),
        Row(
            scenario=f"trainingRecords asOf, a learner with {AS_OF_EVENTS:,} events: "
            "p99",
            unit="ms",
            ours=_percentile(as_of, 0.99),
            baseline=_percentile(live, 0.99),
            baseline_name="p99 of the same page from the live tables",
            higher_is_better=False,
        ),
    ]
