"""The load generator: N concurrent clients over real HTTP, in a process of its own.

Reads request bodies (one JSON object a line) and POSTs them to ``--url`` from
``--concurrency`` asyncio workers, each over its own keep-alive HTTP/1.1
connection. The client is a few lines over asyncio's streams rather than a
library: it shares the machine's cores with the server it measures, and a
general-purpose client spent more CPU per request than the server did. Each body
is sent once, in order, unless ``--cycle`` repeats the file. Requests started during
``--warmup`` are not counted; after it, requests are started for ``--duration``
seconds or until ``--max-requests`` have been sent. A request succeeds when the
answer is 200 with JSON holding no ``errors`` and no non-empty ``userErrors``.

Prints one JSON object on stdout: counts, throughput, latency percentiles (ms),
successes per second of the run, the first few failures, and the CPU this process
used.

    python -m bench.load --url http://127.0.0.1:8000/graphql --bodies q.jsonl \\
        --concurrency 32 --duration 15 --header 'Authorization: Bearer ...'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.stats import summary_ms

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
REQUEST_TIMEOUT_SECONDS = 60.0
FAILURE_SAMPLES = 5


@dataclass
class Plan:
    """What to send, how hard, and for how long."""

    url: str
    bodies: list[bytes]
    concurrency: int
    duration: float
    warmup: float
    cycle: bool
    headers: dict[str, str]
    max_requests: int | None = None


@dataclass
class Tally:
    """What the workers saw, filled in as they go."""

    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    warmup_requests: int = 0
    sent: int = 0
    next_body: int = 0
    exhausted: bool = False
    last_finish: float = 0.0
    seconds_done: Counter[int] = field(default_factory=Counter)
    """Successes finished in each second of the measured window."""


def failure(status: int, content: bytes) -> str | None:
    """Why a response is a failure, or None when it is a success."""
    if status != 200:
        return f"HTTP {status}: {content[:200].decode(errors='replace')}"
    try:
        document = json.loads(content)
    except ValueError:
        return "the answer is not JSON"
    if isinstance(document, dict) and document.get("errors"):
        first = document["errors"][0]
        return f"error: {first.get('message', first)}"[:300]
    problem = _user_errors(document.get("data") if isinstance(document, dict) else None)
    return None if problem is None else f"userErrors: {problem}"[:300]


def _user_errors(node: Any) -> str | None:
    if isinstance(node, dict):
        errors = node.get("userErrors")
        if errors:
            return json.dumps(errors)
        for value in node.values():
            found = _user_errors(value)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _user_errors(value)
            if found is not None:
                return found
    return None


def _next_body(plan: Plan, tally: Tally) -> bytes | None:
    index = tally.next_body
    if index >= len(plan.bodies):
        if not plan.cycle:
            tally.exhausted = True
            return None
        index %= len(plan.bodies)
    tally.next_body += 1
    return plan.bodies[index]


Connect = Callable[[Plan], Awaitable["Connection"]]


class Connection:
    """One keep-alive HTTP/1.1 connection to the plan's URL."""

    def __init__(self, plan: Plan) -> None:
        parts = urlsplit(plan.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        head = [
            f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} "
            "HTTP/1.1",
            f"Host: {parts.netloc}",
            "Content-Type: application/json",
            *(f"{name}: {value}" for name, value in plan.headers.items()),
        ]
        self.head = ("\r\n".join(head) + "\r\n").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, body: bytes) -> tuple[int, bytes]:
        """The status and content of the answer to ``body``; reconnects if closed."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port
            )
        assert self.reader is not None
        self.writer.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = await self._chunks()
        else:
            content = await self.reader.readexactly(
                int(headers.get("content-length", "0"))
            )
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, content

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        pieces: list[bytes] = []
        while True:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            piece = await self.reader.readexactly(size + 2)
            if size == 0:
                return b"".join(pieces)
            pieces.append(piece[:-2])

    async def close(self) -> None:
        """Close the connection; the next ``send`` opens a new one."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _connect(plan: Plan) -> Connection:
    return Connection(plan)


async def _worker(
    connection: Connection, plan: Plan, tally: Tally, measure_from: float
) -> None:
    measure_until = measure_from + plan.duration
    while True:
        started = time.perf_counter()
        if started >= measure_until:
            return
        measured = started >= measure_from
        if measured and plan.max_requests is not None:
            if tally.sent >= plan.max_requests:
                return
            tally.sent += 1
        body = _next_body(plan, tally)
        if body is None:
            return
        try:
            status, content = await asyncio.wait_for(
                connection.send(body), REQUEST_TIMEOUT_SECONDS
            )
            problem = failure(status, content)
        except (
            OSError,
            ValueError,
            asyncio.IncompleteReadError,
            TimeoutError,
        ) as error:
            problem = f"{type(error).__name__}: {error}"
            # Whatever was half read is lost: the next request starts afresh.
            await connection.close()
        finished = time.perf_counter()
        if not measured:
            tally.warmup_requests += 1
            continue
        tally.last_finish = max(tally.last_finish, finished)
        if problem is None:
            tally.latencies.append(finished - started)
            tally.seconds_done[int(finished - measure_from)] += 1
        else:
            tally.failures[problem] += 1


async def run(plan: Plan, connect: Connect = _connect) -> dict[str, Any]:
    """Send the plan's load (over ``connect``'s connections, for tests) and sum up."""
    tally = Tally()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    connections = [await connect(plan) for _ in range(plan.concurrency)]
    try:
        measure_from = time.perf_counter() + plan.warmup
        await asyncio.gather(
            *(
                _worker(connection, plan, tally, measure_from)
                for connection in connections
            )
        )
    finally:
        for connection in connections:
            await connection.close()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)

    ok = len(tally.latencies)
    failed = sum(tally.failures.values())
    end = max(tally.last_finish, measure_from)
    seconds = end - measure_from
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    return {
        "url": plan.url,
        "concurrency": plan.concurrency,
        "requests": ok + failed,
        "ok": ok,
        "failed": failed,
        "warmup_requests": tally.warmup_requests,
        "seconds": round(seconds, 3),
        "throughput": ok / seconds if seconds > 0 else 0.0,
        "latency_ms": summary_ms(tally.latencies),
        "failures": dict(tally.failures.most_common(FAILURE_SAMPLES)),
        "exhausted": tally.exhausted,
        "per_second": [
            tally.seconds_done[i]
            for i in range(max(tally.seconds_done, default=-1) + 1)
        ],
        "client_cpu_seconds": round(cpu, 2),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", type=Path, required=True, help="JSON lines")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds")
    parser.add_argument("--max-requests", type=int, default=None)
    parser.add_argument("--cycle", action="store_true", help="repeat the bodies")
    parser.add_argument(
        "--header", action="append", default=[], help="'Name: value', repeatable"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the load, print the summary as JSON."""
    args = _parser().parse_args(argv)
    if urlsplit(args.url).hostname not in _LOCAL_HOSTS:
        print("bench.load: only this machine (loopback) is a target", file=sys.stderr)
        return 2
    bodies = [
        line.strip().encode()
        for line in args.bodies.read_text().splitlines()
        if line.strip()
    ]
    if not bodies or args.concurrency < 1:
        print("bench.load: no bodies, or no workers", file=sys.stderr)
        return 2
    headers = {}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    plan = Plan(
        url=args.url,
        bodies=bodies,
        concurrency=args.concurrency,
        duration=args.duration,
        warmup=args.warmup,
        cycle=args.cycle,
        headers=headers,
        max_requests=args.max_requests,
    )
    print(json.dumps(asyncio.run(run(plan))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
