"""kill -9 of the server in the middle of a bulk import: all of the file or none."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from domain import commands as c
from domain.principal import SYSTEM, Role
from graph.auth import issue_token
from qualify.bootstrap import build
from qualify.config import PostgresLocation, Settings, store_location

ROOT = Path(__file__).resolve().parents[2]
QUALIFY = ROOT / ".venv" / "bin" / "qualify"
LEARNERS = 200
ROWS = 20_000
HEADINGS = (
    "Record Id,Name,Record Type,Object Id,Title,Training Provider,"
    "Completion Date,Other Information,Qualification Code,Delete?"
)
UPLOAD = (
    "mutation($f: Upload!) { importTrainingRecords(input: {file: $f}) "
    "{ report { created } userErrors { code } } }"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _record_events(url: str) -> int:
    backend = build(Settings(database_url=url), follow=False)
    try:
        count = 0
        start = 1
        while True:
            page = backend.log.recorder.select_notifications(start, 5000)
            if not page:
                return count
            count += sum(n.topic == "qualify:TrainingRecordAdded" for n in page)
            start = page[-1].id + 1
    finally:
        backend.close()


def _prepare(url: str, tmp_path: Path) -> Path:
    backend = build(Settings(database_url=url), follow=True)
    try:
        backend.handle(c.CreateCode("CPR"), SYSTEM)
        for number in range(LEARNERS):
            backend.handle(
                c.RegisterUser(f"u{number}", f"u{number}@example.com", "U", "V"),
                SYSTEM,
            )
    finally:
        backend.close()
    lines = [HEADINGS] + [
        f",u{n % LEARNERS},Training Record,0,Course {n},Provider,2024-01-01,,CPR,"
        for n in range(ROWS)
    ]
    path = tmp_path / "big.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def _wait_until_saving(url: str, server: subprocess.Popen[bytes]) -> None:
    location = store_location(url)
    deadline = time.monotonic() + 60
    if not isinstance(location, PostgresLocation):
        # SQLite shows no statement in flight: kill once the file is uploaded
        # and being checked; all or nothing must hold wherever the kill lands.
        time.sleep(1.0)
        return
    with psycopg.connect(location.conninfo, autocommit=True) as watcher:
        while time.monotonic() < deadline:
            assert server.poll() is None, "the server died by itself"
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND query ILIKE '%%INSERT INTO%%' AND query ILIKE %s",
                (f"%{location.schema}%",),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.005)
    pytest.fail("the import never reached its save")


@pytest.mark.slow
def test_a_server_killed_during_an_import_keeps_all_of_the_file_or_none(
    durable_url: str, tmp_path: Path
) -> None:
    csv_file = _prepare(durable_url, tmp_path)
    before = _record_events(durable_url)
    port = _free_port()
    env = {**os.environ, "QUALIFY_DATABASE_URL": durable_url}
    server = subprocess.Popen(
        [str(QUALIFY), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)

        token = issue_token(Settings().jwt_secret, "admin", Role.ADMIN)
        upload = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _UPLOADER,
                f"http://127.0.0.1:{port}/graphql",
                token,
                str(csv_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until_saving(durable_url, server)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        upload.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    after = _record_events(durable_url)
    assert after in (before, before + ROWS), (before, after)


_UPLOADER = f"""
import json, sys, httpx
url, token, path = sys.argv[1:]
operations = json.dumps({{"query": {json.dumps(UPLOAD)}, "variables": {{"f": None}}}})
files = {{
    "operations": (None, operations),
    "map": (None, json.dumps({{"0": ["variables.f"]}})),
    "0": ("big.csv", open(path, "rb"), "text/csv"),
}}
try:
    headers = {{"Authorization": "Bearer " + token, "GraphQL-Preflight": "1"}}
    httpx.post(url, files=files, headers=headers, timeout=120)
except httpx.HTTPError:
    pass
"""
