"""The CSV export over HTTP from ``qualify serve`` on SQLite: speed and memory.

Issue 4: rows/s of the whole download of 1,000,000 records (50,000 small) beside
the raw read rate of the same rows (the export's SELECT, same columns, joins and
order, in one statement over the read-model tables, iterated in Python; median
of three), and the server's peak memory, which must not grow with the count.

The store is fresh: 10,000 learners (1,000 small) and 12 codes through
``backend.handle``, then the records through ``qualify import``: first a tenth of
them in one file, then the rest in files of at most 250,000 rows (under the
default 50 MB import limit). A fresh server exports the store at a tenth of the
records and again at all of them. Before each export the server has answered a
one-learner export (so its threads, connections and lazy imports exist), its
VmRSS is read and its VmHWM reset to it (``/proc/<pid>/clear_refs``); VmRSS is
also sampled every 10 ms during the download. Peak growth is the peak minus the
VmRSS before. Goal: growth at N <= growth at N/10 + 20 MB.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from bench.baselines import export_read_rate
from bench.data import (
    Spec,
    TrainingRow,
    build_catalogue,
    handle_with,
    training_rows,
    write_import_file,
)
from bench.harness import (
    RssSampler,
    Scale,
    admin_token,
    check_loopback,
    cpu_sample,
    cpu_use,
    import_records,
    memory_kb,
    progress,
    reset_peak,
    server,
    temp_dir,
)
from bench.report import NO_GOAL, Row
from graph.exports import EXPORT_PATH
from qualify.bootstrap import build
from qualify.config import Settings

ORDER = 40
CODES = 12
FILE_ROWS = 250_000
MEMORY_SLACK_MB = 20.0
CHUNK_BYTES = 65_536


def run(scale: Scale) -> list[Row]:
    """Build a tenth, export it; import the rest, export it all; read it raw."""
    count = scale.export_records
    spec = Spec(learners=scale.export_learners, codes=CODES, courses=0)
    with temp_dir("export") as tmp:
        store = tmp / "qualify.db"
        url = f"sqlite:///{store}"
        progress(f"export: building the store at {store}")
        backend = build(Settings(database_url=url))
        try:
            catalogue = build_catalogue(
                handle_with(backend), spec, lambda m: progress(f"export: {m}")
            )
        finally:
            backend.close()
        rows = training_rows(catalogue.usernames, catalogue.codes, count)
        tenth = count // 10
        probe = catalogue.usernames[0]

        imports = _import(rows[:tenth], url, tmp, "a")
        small = _export(url, tmp, tenth, probe)
        for start in range(tenth, count, FILE_ROWS):
            imports += _import(rows[start : start + FILE_ROWS], url, tmp, str(start))
        del rows
        full = _export(url, tmp, count, probe)

        progress("export: baseline, raw SELECT of the same rows (median of three)")
        runs = sorted((export_read_rate(store) for _ in "abc"), key=lambda r: r["rate"])
        raw = runs[1]
        if raw["rows"] != count:
            raise RuntimeError(f"the raw read found {raw['rows']} rows, not {count}")
        progress(f"export: raw read {raw['rate']:,.0f} rows/s")

    return _rows(count, tenth, small, full, raw, imports, spec)


def _import(
    rows: list[TrainingRow], url: str, tmp: Path, part: str
) -> list[dict[str, Any]]:
    path = tmp / f"records-{part}.csv"
    size = write_import_file(path, rows)
    finished = import_records(path, url, tmp, len(rows))
    path.unlink()
    rate = len(rows) / finished.seconds
    progress(
        f"export: imported {len(rows):,} records ({size / 1e6:.1f} MB) in "
        f"{finished.seconds:.1f} s = {rate:,.0f} rows/s, importer peak "
        f"{finished.max_rss_mb:,.0f} MB"
    )
    return [
        {
            "rows": len(rows),
            "bytes": size,
            "seconds": round(finished.seconds, 2),
            "rate": round(rate),
            "max_rss_mb": round(finished.max_rss_mb, 1),
        }
    ]


def _export(url: str, tmp: Path, expected: int, probe: str) -> dict[str, Any]:
    """One export of every record by a fresh server, with its memory watched."""
    with server(url, tmp) as process:
        base = process.extra["base"]
        check_loopback(base)
        headers = {"Authorization": f"Bearer {admin_token()}"}
        warm = _download(f"{base}{EXPORT_PATH}?username={probe}", headers)
        progress(
            f"export: {expected:,} records; warm-up, {warm['rows']} rows of {probe}"
        )

        before = memory_kb(process.pid)
        reset = reset_peak(process.pid)
        cpu_before = cpu_sample({"server": process.pid, "client": os.getpid()})
        with RssSampler(process.pid) as sampler:
            result = _download(f"{base}{EXPORT_PATH}", headers)
        result["cpu"] = cpu_use(
            cpu_before, cpu_sample({"server": process.pid, "client": os.getpid()})
        )
        after = memory_kb(process.pid)

    if result["rows"] != expected:
        raise RuntimeError(f"the export held {result['rows']} rows, not {expected}")
    # Linux raises VmHWM lazily, so a sample can top it: the higher of the two.
    # Without the reset VmHWM holds the server's start-up peak: samples only then.
    peak = max(after["VmHWM"], sampler.peak_kb) if reset else sampler.peak_kb
    result["memory_kb"] = {
        "rss_before": before["VmRSS"],
        "hwm_before": before["VmHWM"],
        "rss_after": after["VmRSS"],
        "hwm_after": after["VmHWM"],
        "sampled_peak": sampler.peak_kb,
        "samples": sampler.samples,
        "hwm_reset": reset,
    }
    result["growth_mb"] = (peak - before["VmRSS"]) / 1024
    result["peak_mb"] = peak / 1024
    progress(
        f"export: {result['rows']:,} rows, {result['bytes'] / 1e6:.1f} MB in "
        f"{result['seconds']:.2f} s = {result['rate']:,.0f} rows/s; server RSS "
        f"{before['VmRSS'] / 1024:.1f} MB before, peak {peak / 1024:.1f} MB "
        f"(+{result['growth_mb']:.1f}), {after['VmRSS'] / 1024:.1f} MB after"
        f"{'' if reset else ' (VmHWM could not be reset: sampled peak)'}; "
        f"{_cores(result['cpu'])}"
    )
    return result


def _download(url: str, headers: dict[str, str]) -> dict[str, Any]:
    """GET a CSV export to its last byte; rows counted by line ends."""
    started = time.perf_counter()
    with httpx.stream("GET", url, headers=headers, timeout=60.0) as response:
        first = time.perf_counter() - started
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"the export answered {response.status_code}")
        lines = size = 0
        for chunk in response.iter_raw(CHUNK_BYTES):
            lines += chunk.count(b"\n")
            size += len(chunk)
    took = time.perf_counter() - started
    rows = lines - 1  # the headings; no generated cell holds a line break
    return {
        "rows": rows,
        "bytes": size,
        "seconds": round(took, 3),
        "first_byte_seconds": round(first, 3),
        "rate": rows / took if took > 0 else 0.0,
    }


def _rows(
    count: int,
    tenth: int,
    small: dict[str, Any],
    full: dict[str, Any],
    raw: dict[str, Any],
    imports: list[dict[str, Any]],
    spec: Spec,
) -> list[Row]:
    name = f"export over HTTP, SQLite, {count:,} records"
    rates = ", ".join(f"{i['rate']:,}" for i in imports)
    notes = {
        "export": full,
        "export_tenth": small,
        "baseline": raw,
        "imports": imports,
        "spec": spec.__dict__,
        "conditions": (
            f"export: {count:,} rows at {full['rate']:,.0f}/s, {tenth:,} at "
            f"{small['rate']:,.0f}/s; server peak RSS {full['peak_mb']:.0f} MB "
            f"and {small['peak_mb']:.0f} MB; during the full export "
            f"{_cores(full['cpu'])}; the store was built by {len(imports)} imports "
            f"at {rates} rows/s"
        ),
    }
    limit = small["growth_mb"] + MEMORY_SLACK_MB
    return [
        Row(
            scenario=f"{name}: rows/s",
            unit="/s",
            ours=full["rate"],
            baseline=raw["rate"],
            baseline_name="raw SELECT, same joins and order, iterated",
            goal=NO_GOAL,
            notes=notes,
        ),
        Row(
            scenario=f"{name}: server peak RSS growth",
            unit="MB",
            ours=full["growth_mb"],
            baseline=small["growth_mb"],
            baseline_name=f"the same, exporting {tenth:,}",
            goal=f"<= growth({tenth:,}) + {MEMORY_SLACK_MB:g} MB",
            goal_limit=limit,
            higher_is_better=False,
        ),
    ]


def _cores(cpu: dict[str, float]) -> str:
    return (
        f"{cpu.get('machine_cores_busy', float('nan')):.2f} of {os.cpu_count()} "
        f"cores busy (server {cpu.get('server_cores', float('nan')):.2f}, "
        f"client {cpu.get('client_cores', float('nan')):.2f})"
    )
