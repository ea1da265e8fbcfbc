"""The benchmark runner: every scenario in ``bench.scenarios``, then one table.

    python -m bench.run [--scale small|default] [--only NAME ...]

Progress goes to stderr; the table to stdout and, as JSON, to
``bench/out/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg

import bench.scenarios
from bench.harness import POSTGRES_URL, SCALES, Scale, postgres_conninfo, progress
from bench.report import Row, render, write_json

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_ORDER = 100

Scenario = Callable[[Scale], list[Row]]


def scenarios() -> list[tuple[str, Scenario]]:
    """Every scenario module's name and ``run``, in ``ORDER``."""
    found: list[tuple[int, str, ModuleType]] = []
    for info in pkgutil.iter_modules(bench.scenarios.__path__):
        module = importlib.import_module(f"bench.scenarios.{info.name}")
        if callable(getattr(module, "run", None)):
            found.append((getattr(module, "ORDER", DEFAULT_ORDER), info.name, module))
    return [(name, module.run) for _, name, module in sorted(found)]


def _machine() -> dict[str, Any]:
    try:
        with psycopg.connect(postgres_conninfo(POSTGRES_URL)) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            postgres = row[0] if row else "?"
    except psycopg.Error as error:
        postgres = f"unreachable: {error}"
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": postgres,
    }


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios, print the table, write the JSON; 1 if one failed."""
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    parser.add_argument(
        "--only", action="append", default=[], help="a scenario module, repeatable"
    )
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    # A TERM unwinds like an interrupt, so every server and store is cleaned up.
    signal.signal(signal.SIGTERM, _terminate)

    chosen = [(n, s) for n, s in scenarios() if not args.only or n in args.only]
    unknown = set(args.only) - {name for name, _ in chosen}
    if unknown:
        parser.error(f"no such scenario: {', '.join(sorted(unknown))}")

    started = datetime.now(UTC)
    clock = time.monotonic()
    rows: list[Row] = []
    failed: dict[str, str] = {}
    progress(f"scale {scale.name}: {', '.join(name for name, _ in chosen)}")
    for name, scenario in chosen:
        progress(f"scenario {name}")
        try:
            rows += scenario(scale)
        except Exception as error:
            # One broken scenario must not hide the others' figures.
            failed[name] = f"{type(error).__name__}: {error}"
            progress(f"scenario {name} FAILED: {failed[name]}")

    took = time.monotonic() - clock
    table = render(rows)
    path = OUT / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    meta = {
        "started": started.isoformat(),
        "seconds": round(took, 1),
        "scale": asdict(scale),
        "machine": _machine(),
        "failed": failed,
        "table": table.splitlines(),
    }
    write_json(path, meta, rows)
    print(f"\nqualify bench, scale {scale.name}, {took:.0f} s\n")
    print(table)
    conditions = [row.notes["conditions"] for row in rows if "conditions" in row.notes]
    if conditions:
        print()
        for line in conditions:
            print(f"- {line}")
    for name, reason in failed.items():
        print(f"\nscenario {name} failed: {reason}")
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"\nwritten to {shown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
