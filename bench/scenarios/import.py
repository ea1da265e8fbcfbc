"""A bulk import through ``qualify import``, on SQLite, applied and projected.

Issue 4: rows/s of the whole import (starting the command, reading the file,
checking every row, saving, projecting every read model) beside the same
machine's raw SQLite ``executemany`` rate for the same rows, measured in the
same run. Goal: at least 20,000 rows/s, whatever the baseline.

The store is fresh: 2,000 learners (500 small) and 12 codes through
``backend.handle``. The file holds 100,000 new training records (20,000 small),
distinct (learner, code, date) triples drawn from a fixed seed over two years,
so every row is created. The import runs as its own process, as a user runs it,
and is timed from outside; on SQLite it returns only after the read models have
applied its events, which is checked afterwards against the store.
"""

from __future__ import annotations

from typing import Any

from bench.baselines import event_store_sqlite_settings, sqlite_executemany_rate
from bench.data import (
    Spec,
    build_catalogue,
    handle_with,
    training_rows,
    write_import_file,
)
from bench.harness import Scale, import_phases, import_records, progress, temp_dir
from bench.report import Row
from qualify.bootstrap import build
from qualify.config import Settings

ORDER = 30
CODES = 12
GOAL = ">= 20,000 rows/s"
GOAL_ROWS_PER_SECOND = 20_000.0


def run(scale: Scale) -> list[Row]:
    """Build the store, time the raw baseline, then the import itself."""
    spec = Spec(learners=scale.import_learners, codes=CODES, courses=0)
    with temp_dir("import") as tmp:
        url = f"sqlite:///{tmp / 'qualify.db'}"
        progress(f"import: building the store at {tmp / 'qualify.db'}")
        backend = build(Settings(database_url=url))
        try:
            catalogue = build_catalogue(
                handle_with(backend), spec, lambda m: progress(f"import: {m}")
            )
            settings = event_store_sqlite_settings(backend.log)
        finally:
            backend.close()

        rows = training_rows(catalogue.usernames, catalogue.codes, scale.import_rows)
        path = tmp / "training-records.csv"
        size = write_import_file(path, rows)
        progress(f"import: {len(rows):,} rows in a {size / 1e6:.1f} MB file")

        raw = sqlite_executemany_rate(tmp / "raw.db", rows, settings)
        progress(
            f"import: baseline, raw executemany of {raw['rows']:,} rows and one "
            f"commit: {raw['seconds']:.2f} s = {raw['rate']:,.0f} rows/s"
        )

        progress(f"import: qualify import {path.name}")
        finished = import_records(path, url, tmp, len(rows))
        phases = import_phases(finished)
        rate = len(rows) / finished.seconds
        progress(
            f"import: {len(rows):,} rows in {finished.seconds:.2f} s = {rate:,.0f} "
            f"rows/s ({_phases_text(phases)})"
        )
        check = read_models_current(url)
        if check["records"] != len(rows):
            raise RuntimeError(
                f"the read model holds {check['records']} records, not {len(rows)}"
            )
        progress(f"import: read models current: {check}")

    name = f"import via qualify import, SQLite, {len(rows):,} rows"
    notes: dict[str, Any] = {
        "rows": len(rows),
        "file_bytes": size,
        "seconds": round(finished.seconds, 3),
        "phases": phases,
        "cpu_seconds": round(finished.cpu_seconds, 2),
        "max_rss_mb": round(finished.max_rss_mb, 1),
        "read_models": check,
        "baseline": raw,
        "spec": spec.__dict__,
        "conditions": (
            f"import: {_phases_text(phases)}; the importer used "
            f"{finished.cpu_seconds:.1f} CPU s and peaked at "
            f"{finished.max_rss_mb:,.0f} MB; raw rows {raw['characters_per_row']} "
            f"characters, file rows {size / len(rows):.0f} bytes"
        ),
    }
    return [
        Row(
            scenario=f"{name}: rows/s",
            unit="/s",
            ours=rate,
            baseline=raw["rate"],
            baseline_name=(
                "raw executemany + 1 commit, WAL, "
                f"synchronous={raw['settings']['synchronous']}"
            ),
            goal=GOAL,
            goal_limit=GOAL_ROWS_PER_SECOND,
            notes=notes,
        )
    ]


def _phases_text(phases: dict[str, float]) -> str:
    if not phases:
        return "no progress lines seen"
    return (
        f"{phases['start']:.2f} s to start, {phases['read']:.2f} s reading and "
        f"checking cells, {phases['apply']:.2f} s checking against the store, "
        "saving and projecting"
    )


def read_models_current(url: str) -> dict[str, int]:
    """The log's head, every read model's position and the records they hold.

    Opened without catching up, so a read model left behind by the import shows.
    """
    backend = build(Settings(database_url=url), follow=False)
    try:
        head = backend.log.recorder.max_notification_id() or 0
        position = backend.follower.stored_position()
        with backend.store.reading() as db:
            records = db.execute("SELECT count(*) FROM training_records").fetchone()[0]
    finally:
        backend.close()
    if position != head:
        raise RuntimeError(
            f"the read models are at position {position}, the log at {head}"
        )
    return {"log_head": head, "read_model_position": position, "records": records}
