"""Projection catch-up on PostgreSQL: a fresh follower applying the log from zero.

Issue 3: events/s beside the raw notification read rate. The log is written
through the real commands (registrations, path joins and completions from several
processes at once, nothing projected), then, in this process:

- baseline: every notification read from the recorder in pages of the follower's
  batch size and decoded into a domain event;
- ours: a new ``Follower`` over every read model catching up from position 0,
  which reads the same pages, decodes them, and applies them in one transaction
  per batch.
"""

from __future__ import annotations

import time

from bench.baselines import notification_read_rate
from bench.data import (
    Spec,
    build_catalogue,
    by_learner,
    random_completions,
    store_with,
    write_in_processes,
)
from bench.harness import (
    Scale,
    postgres_activity,
    postgres_schema,
    postgres_schema_name,
    progress,
)
from bench.report import Row
from projections.follower import BATCH_SIZE, Follower
from qualify.bootstrap import all_projections, build
from qualify.config import Settings

ORDER = 20
GOAL = "shown beside raw read rate"
# Each learner: registered, joined to a path (2 events); each completion: 4 events.
EVENTS_PER_LEARNER = 2
EVENTS_PER_COMPLETION = 4


def _spec(scale: Scale) -> Spec:
    return Spec(
        learners=max(scale.catch_up_events // 20, 100),
        codes=200,
        courses=200,
        paths=20,
    )


def run(scale: Scale) -> list[Row]:
    """Write about ``scale.catch_up_events`` events, then time both readers."""
    spec = _spec(scale)
    with postgres_schema("catchup") as url:
        settings = Settings(database_url=url)
        progress(f"catch-up: writing the log in schema {postgres_schema_name(url)}")
        backend = build(settings, follow=False)
        try:
            catalogue = build_catalogue(
                store_with(backend),
                spec,
                lambda message: progress(f"catch-up: {message}"),
                register=False,
            )
            head = backend.log.recorder.max_notification_id() or 0
        finally:
            backend.close()

        remaining = scale.catch_up_events - head - EVENTS_PER_LEARNER * spec.learners
        completions = random_completions(
            catalogue, max(remaining // EVENTS_PER_COMPLETION, 0)
        )
        slices = by_learner(catalogue, spec, completions, scale.writer_processes)
        started = time.perf_counter()
        commands = write_in_processes(
            url, slices, lambda message: progress(f"catch-up: {message}")
        )
        write_seconds = time.perf_counter() - started
        progress(
            f"catch-up: {commands} commands from {len(slices)} processes in "
            f"{write_seconds:.1f} s"
        )

        backend = build(settings, follow=False)
        try:
            head = backend.log.recorder.max_notification_id() or 0
            progress(f"catch-up: baseline, raw read up to position {head}")
            # The median of three: one read is short enough for noise to matter.
            runs = sorted(
                (notification_read_rate(backend.log, BATCH_SIZE, head) for _ in "abc"),
                key=lambda run: float(run["rate"]),
            )
            raw = runs[1]
            progress(f"catch-up: raw read {raw['rate']:.0f} events/s")

            follower = Follower(backend.log, backend.store, all_projections())
            if follower.position != 0:
                raise RuntimeError("the read models were not empty before catch-up")
            progress("catch-up: a fresh follower applying the log from zero")
            before = postgres_activity(url)
            started = time.perf_counter()
            result = follower.catch_up()
            took = time.perf_counter() - started
            time.sleep(1.5)  # table counters arrive within a second or so
            after = postgres_activity(url)
            per_event = {
                name: round((after[name] - before[name]) / max(result.events, 1), 2)
                for name in before
            }
            progress(f"catch-up: per event applied, in its schema: {per_event}")
        finally:
            backend.close()

    rate = result.events / took if took > 0 else 0.0
    progress(f"catch-up: {result.events} events in {took:.1f} s = {rate:.0f}/s")
    return [
        Row(
            scenario=f"projection catch-up from zero, PostgreSQL, {result.events:,} "
            "events: events/s",
            unit="/s",
            ours=rate,
            baseline=raw["rate"],
            baseline_name=f"raw read+decode, pages of {BATCH_SIZE} /s",
            goal=GOAL,
            notes={
                "events": result.events,
                "seconds": round(took, 3),
                "position": result.position,
                "baseline": raw,
                "spec": spec.__dict__,
                "completions": len(completions),
                "per_event": per_event,
                "conditions": (
                    f"catch-up: per event applied, in its schema: {per_event}; "
                    f"the log ({head:,} positions) was written by {commands:,} "
                    f"commands from {len(slices)} processes in {write_seconds:.1f} s"
                ),
            },
        )
    ]
