"""What every scenario shares: the scale, progress lines, stores, servers and load.

Servers and projection workers run as subprocesses of the runner, the load
generator as another one; each is stopped (and each temporary store removed) by
the context manager that started it, whatever happens inside.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import psycopg
from psycopg import sql

from domain.principal import Role
from graph.auth import issue_token
from projections.postgres import LEADER_LOCK
from qualify.cli import CHECKING_ROWS
from qualify.config import PostgresLocation, store_location

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
# Benchmarks touch only this machine: any other database host is refused.
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
JWT_SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
_STARTED = time.monotonic()


@dataclass(frozen=True)
class ReadScale:
    """The read path's store and load (``scenarios/read_path.py``)."""

    learners: int
    records: int
    early_records: int
    """The store's size when the dashboard is first measured, for the growth ratio."""
    codes: int
    courses: int
    paths: int
    participants: int
    """Learners on the first path, whose participants are paged through."""
    probes: int
    """Learners whose dashboards are asked for: each has joined three paths."""
    seconds: float
    warmup: float


SMALL_READ = ReadScale(
    learners=3_000,
    records=30_000,
    early_records=3_000,
    codes=200,
    courses=100,
    paths=50,
    participants=1_000,
    probes=50,
    seconds=3,
    warmup=0.5,
)


@dataclass(frozen=True)
class Scale:
    """How much work each scenario does; ``small`` is the two-minute check."""

    name: str
    load_seconds: float
    warmup_seconds: float
    baseline_seconds: float
    catch_up_events: int
    import_rows: int
    import_learners: int
    export_records: int
    export_learners: int
    rebuild_events: int = 50_000
    writer_processes: int = 2
    concurrency: int = 32
    read: ReadScale = SMALL_READ


SCALES = {
    "small": Scale(
        "small",
        load_seconds=6,
        warmup_seconds=1,
        baseline_seconds=3,
        catch_up_events=12_000,
        import_rows=20_000,
        import_learners=500,
        export_records=50_000,
        export_learners=1_000,
        rebuild_events=30_000,
    ),
    "default": Scale(
        "default",
        load_seconds=60,
        warmup_seconds=5,
        baseline_seconds=10,
        catch_up_events=100_000,
        import_rows=100_000,
        import_learners=2_000,
        export_records=1_000_000,
        export_learners=10_000,
        rebuild_events=1_000_000,
        read=ReadScale(
            learners=100_000,
            records=1_000_000,
            early_records=10_000,
            codes=2_000,
            courses=1_000,
            paths=500,
            participants=10_000,
            probes=200,
            seconds=20,
            warmup=3,
        ),
    ),
}


def progress(message: str) -> None:
    """One line on stderr, stamped with the seconds since the run began."""
    elapsed = time.monotonic() - _STARTED
    print(f"[bench {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


def admin_token() -> str:
    """A bearer token the benchmark servers accept, for an admin."""
    return issue_token(JWT_SECRET, "bench", Role.ADMIN)


# Stores


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A private directory, removed at the end."""
    path = Path(tempfile.mkdtemp(prefix=f"qualify-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """The URL of a fresh PostgreSQL schema, dropped at the end."""
    name = f"bench_{prefix}_{uuid4().hex[:10]}"
    url = f"{POSTGRES_URL}?schema={name}"
    conninfo = postgres_conninfo(url)
    try:
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
            )
        progress(f"dropped PostgreSQL schema {name}")


def postgres_conninfo(url: str) -> str:
    """The psycopg conninfo of a PostgreSQL URL on this machine."""
    location = store_location(url)
    if not isinstance(location, PostgresLocation):
        raise ValueError(f"{url} is not a PostgreSQL URL")
    if location.host not in _LOCAL_HOSTS:
        raise ValueError(f"benchmarks run on this machine only, not {location.host}")
    return location.conninfo


def postgres_schema_name(url: str) -> str:
    """The schema a PostgreSQL URL names."""
    location = store_location(url)
    assert isinstance(location, PostgresLocation)
    return location.schema


# Processes


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _qualify_command() -> str:
    beside = Path(sys.executable).parent / "qualify"
    found = str(beside) if beside.exists() else shutil.which("qualify")
    if found is None:
        raise RuntimeError("the qualify command is not installed; run make install")
    return found


def product_env(database_url: str) -> dict[str, str]:
    """The environment of a product process serving ``database_url``."""
    env = dict(os.environ)
    # The product beside this bench/, whichever checkout an installed venv points at.
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(
        PYTHONPATH=path,
        QUALIFY_DATABASE_URL=database_url,
        QUALIFY_JWT_SECRET=JWT_SECRET,
        QUALIFY_ENV="development",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Process:
    """A product subprocess and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def tail(self, lines: int = 30) -> str:
        """The last lines of its output, for error messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def product_process(
    name: str, args: Sequence[str], database_url: str, logs: Path
) -> Iterator[Process]:
    """Run ``qualify ARGS`` until the block ends, then stop it (SIGTERM, then kill)."""
    with subprocess_of(name, [_qualify_command(), *args], database_url, logs) as found:
        yield found


@contextmanager
def subprocess_of(
    name: str, argv: Sequence[str], database_url: str, logs: Path
) -> Iterator[Process]:
    """Run ``argv`` with the product's environment until the block ends."""
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=product_env(database_url),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    process = Process(name, popen, log)
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: Process) -> None:
    if process.popen.poll() is not None:
        return
    process.popen.send_signal(signal.SIGTERM)
    try:
        process.popen.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        progress(f"{process.name} (pid {process.pid}) ignored SIGTERM; killing it")
        process.popen.kill()
        process.popen.wait()


@contextmanager
def server(database_url: str, logs: Path) -> Iterator[Process]:
    """``qualify serve`` on a free loopback port, up and healthy; stopped at the end."""
    port = free_port()
    args = ["serve", "--host", LOOPBACK, "--port", str(port)]
    with product_process("server", args, database_url, logs) as process:
        base = f"http://{LOOPBACK}:{port}"
        process.extra["base"] = base
        process.extra["url"] = f"{base}/graphql"
        _wait_healthy(process, f"{base}/health")
        yield process


@contextmanager
def baseline_server(
    database_url: str,
    logs: Path,
    factory: str = "bench.baseline_api:app_from_env",
    name: str = "baseline",
) -> Iterator[Process]:
    """A baseline app (``bench.baseline_api`` unless ``factory`` names another)
    under uvicorn on a free loopback port, up and healthy."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with subprocess_of(name, argv, database_url, logs) as process:
        base = f"http://{LOOPBACK}:{port}"
        process.extra["base"] = base
        _wait_healthy(process, f"{base}/health")
        yield process


@contextmanager
def projection_worker(database_url: str, logs: Path) -> Iterator[Process]:
    """``qualify projections run``, leading, until the block ends.

    Start it after the server is healthy: a server and a worker opening a fresh
    store at the same moment can collide creating the event tables.
    """
    with product_process(
        "projections", ["projections", "run"], database_url, logs
    ) as process:
        wait_for_leader(process, database_url)
        yield process


def wait_for_leader(process: Process, database_url: str) -> None:
    """Return once a projection worker holds the store's leader lock."""
    conninfo = postgres_conninfo(database_url)
    schema = postgres_schema_name(database_url)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with psycopg.connect(conninfo, autocommit=True) as connection:
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise RuntimeError(f"the worker exited at start:\n{process.tail()}")
            row = connection.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND classid = %s "
                "AND objid = (hashtext(%s)::bigint & 4294967295)::oid",
                (LEADER_LOCK, schema),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.1)
    raise RuntimeError(f"no projection worker took the lead:\n{process.tail()}")


def _wait_healthy(process: Process, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"the server exited at start:\n{process.tail()}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server was not healthy in time:\n{process.tail()}")


@dataclass(frozen=True)
class Finished:
    """A ``qualify`` command run to its end, timed from outside."""

    name: str
    status: int
    seconds: float
    """From just before the process was started to the moment it was reaped."""
    cpu_seconds: float
    """User plus system time of the process."""
    max_rss_mb: float
    stdout: str
    stderr: list[tuple[float, str]]
    """Each piece of standard error (split at CR and LF) and when it arrived, in
    seconds since the start: a progress bar redrawn with CR is seen as it goes."""

    def first(self, text: str) -> float | None:
        """When a piece of standard error holding ``text`` first arrived."""
        return next((at for at, piece in self.stderr if text in piece), None)

    def tail(self, lines: int = 30) -> str:
        """The last pieces of standard error, for error messages."""
        return "\n".join(piece for _, piece in self.stderr[-lines:])


def run_product(
    name: str,
    args: Sequence[str],
    database_url: str,
    logs: Path,
    timeout: float = 1800.0,
) -> Finished:
    """Run ``qualify ARGS`` to its end, as a user would, and time it from outside.

    Standard output and error are kept in ``logs/<name>.out`` and ``.err``; the
    process is killed if it outlives ``timeout`` or the caller is interrupted.
    """
    out_path, err_path = logs / f"{name}.out", logs / f"{name}.err"
    pieces: list[tuple[float, str]] = []
    reaped = threading.Event()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        popen = subprocess.Popen(
            [_qualify_command(), *args],
            cwd=ROOT,
            env=product_env(database_url),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
        )

        stream = popen.stderr
        assert stream is not None

        def read_stderr() -> None:
            pending = b""
            for chunk in iter(lambda: stream.read1(65536), b""):
                at = time.perf_counter() - started
                err.write(chunk)
                *whole, pending = re.split(rb"[\r\n]", pending + chunk)
                pieces.extend((at, p.decode(errors="replace")) for p in whole if p)
            if pending:
                pieces.append((time.perf_counter() - started, pending.decode()))

        def kill_if_running() -> None:
            if not reaped.is_set():
                progress(f"{name} (pid {popen.pid}) ran over {timeout:g} s; killing it")
                popen.kill()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        killer = threading.Timer(timeout, kill_if_running)
        killer.start()
        try:
            # wait4 rather than wait: the process's own CPU time and peak memory.
            _, status, usage = os.wait4(popen.pid, 0)
            seconds = time.perf_counter() - started
            reaped.set()
            popen.returncode = os.waitstatus_to_exitcode(status)
        finally:
            killer.cancel()
            if not reaped.is_set():
                popen.kill()
                popen.wait()
            reader.join(timeout=STOP_TIMEOUT_SECONDS)
            stream.close()
    return Finished(
        name=name,
        status=popen.returncode,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        stdout=out_path.read_text(errors="replace"),
        stderr=pieces,
    )


def import_records(path: Path, url: str, logs: Path, rows: int) -> Finished:
    """``qualify import PATH`` to its end; anything but ``rows`` created fails."""
    finished = run_product(f"import-{path.stem}", ["import", str(path)], url, logs)
    if finished.status != 0:
        raise RuntimeError(
            f"qualify import exited with {finished.status}:\n{finished.tail()}"
        )
    created = re.search(r"changed: (\d+) created", finished.stdout)
    if created is None or int(created.group(1)) != rows:
        raise RuntimeError(f"the import did not create {rows} rows:\n{finished.stdout}")
    return finished


def import_phases(finished: Finished) -> dict[str, float]:
    """Where the import's time went, by the moments its progress lines appeared.

    ``start``: the interpreter, the imports, reading the file's bytes, up to the
    first progress bar; ``read``: parsing and checking every cell, and opening
    the store; ``apply``: checking the rows against the store, saving the events
    in one transaction and projecting them, then the report.
    """
    reading = finished.first("reading [")
    applying = finished.first(CHECKING_ROWS)
    if reading is None or applying is None:
        return {}
    return {
        "start": round(reading, 3),
        "read": round(applying - reading, 3),
        "apply": round(finished.seconds - applying, 3),
    }


# Load


def run_load(
    url: str,
    bodies: Path,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    headers: Mapping[str, str],
    cycle: bool = False,
) -> dict[str, Any]:
    """Run ``bench.load`` as its own process and return the JSON it prints."""
    args = [
        sys.executable,
        "-m",
        "bench.load",
        "--url",
        url,
        "--bodies",
        str(bodies),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
    ]
    if cycle:
        args.append("--cycle")
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    done = subprocess.run(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None,
        timeout=duration + warmup + 120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed with status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def check_loopback(url: str) -> None:
    """Refuse to aim load anywhere but this machine."""
    host = urlsplit(url).hostname
    if host not in _LOCAL_HOSTS:
        raise ValueError(f"load goes to this machine only, not {host}")


# CPU accounting


@dataclass(frozen=True)
class CpuSample:
    """CPU time of the machine and of some processes at one moment."""

    wall: float
    machine_busy: float
    machine_total: float
    processes: dict[str, float]


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_sample(processes: Mapping[str, int]) -> CpuSample:
    """Read /proc for the machine's busy time and each named pid's CPU seconds."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    seconds = {}
    for name, pid in processes.items():
        try:
            with open(f"/proc/{pid}/stat") as stat:
                parts = stat.read().rsplit(")", 1)[1].split()
            seconds[name] = (int(parts[11]) + int(parts[12])) / _TICK
        except OSError:
            seconds[name] = float("nan")
    return CpuSample(time.monotonic(), (total - idle) / _TICK, total / _TICK, seconds)


def cpu_use(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Cores used between two samples: by the machine, and by each process."""
    wall = after.wall - before.wall
    if wall <= 0:
        return {}
    cores = os.cpu_count() or 1
    total = after.machine_total - before.machine_total
    busy = after.machine_busy - before.machine_busy
    use = {"machine_cores_busy": round(cores * busy / total, 2) if total else 0.0}
    for name, seconds in after.processes.items():
        use[f"{name}_cores"] = round((seconds - before.processes[name]) / wall, 2)
    return use


# Memory


def memory_kb(pid: int) -> dict[str, int]:
    """A process's resident set now (VmRSS) and at its peak (VmHWM), in kB."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> bool:
    """Start a process's VmHWM afresh from its VmRSS; False where Linux refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


class RssSampler:
    """VmRSS of one process, read every ``interval`` seconds while the block runs.

    Beside VmHWM, not instead of it: Linux raises VmHWM lazily (a sample can
    exceed it), while a peak between two samples is missed. Where ``reset_peak``
    fails the samples are the only peak there is.
    """

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                rss = memory_kb(self.pid).get("VmRSS", 0)
            except OSError:
                return
            self.peak_kb = max(self.peak_kb, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def postgres_activity(database_url: str) -> dict[str, int]:
    """Counters of the tables in the URL's schema (so other databases' work is out).

    ``scans`` counts sequential and index scans, a rough count of the statements
    that touched a table; ``position_scans`` is the share of them on the read
    models' position table, which waiting servers poll.
    """
    schema = postgres_schema_name(database_url)
    with psycopg.connect(postgres_conninfo(database_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0), "
            "coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)) "
            "FILTER (WHERE relname = 'projection_positions'), 0), "
            "coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0) "
            "FROM pg_stat_user_tables WHERE schemaname = %s",
            (schema,),
        ).fetchone()
    names = ("scans", "position_scans", "rows_inserted", "rows_updated")
    return {n: int(v) for n, v in zip(names, row or (0,) * 4, strict=True)}
